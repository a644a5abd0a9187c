//! The seam between the connection's state machine and the wire: one
//! framing codec per dialect family, chosen once from the negotiated
//! dialect (enum dispatch). The codec owns header parsing, unmasking,
//! frame building and close bodies, and the state a dialect needs of its
//! own (hybi-04's keys, the close body a -04/-05 acknowledgement repeats,
//! hixie-76's frame kind). The state machine in `recv.rs`, `send.rs` and
//! `timers.rs` asks the codec and never tests the dialect.
//!
//! | codec | dialects | header | masking (client frames) | close body |
//! |---|---|---|---|---|
//! | `Rfc` | 13 (strict), 8 and 7 (lenient) | RFC 6455 §5.2 | 4-byte key in the header, payload only (§5.3) | code + reason (§5.5.1) |
//! | `Draft` | -04, -05, -06 | draft §4.3, behind a 4-byte prefix | the whole frame: prefix as key (-05/-06), SHA-1 frame key (-04) | -04 free form, -05 initiator + reason, -06 code + reason |
//! | `Hixie76` | -00 | type byte, sentinel or 7-bit-group length | none | `0xFF 0x00` |
//!
//! "Lenient" (hybi-07, version 8): non-minimal lengths are accepted and a
//! masked server frame is unmasked rather than refused; only RFC 6455 made
//! those MUSTs.

use alloc::boxed::Box;

use bytes::{Bytes, BytesMut};
use rand_core::Rng;

use crate::Dialect;
use crate::close::{CloseCode, parse_close_body, parse_close_body_in};
use crate::config::{Negotiated, Role};
use crate::error::{Error, PeerError, UsageError};
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, Status};
use crate::legacy::{
    HIXIE_CLOSE, MAX_DRAFT_HEADER_LEN, apply_mask20, emit_draft_header, hybi04_frame_key,
    parse_draft_header,
};
use crate::mask::{apply_mask, apply_mask_ascii};
use crate::utf8::Utf8Bytes;

/// The framing of one dialect family, with its state.
pub(super) enum Codec {
    /// RFC 6455 §5 (`Dialect::Rfc6455`, strict) and hybi-07/08 (lenient).
    Rfc(Dialect),
    /// hybi-04, -05, -06 (boxed: the keys and close body are not carried
    /// by every RFC 6455 connection).
    Draft(Box<Draft>),
    /// hixie-76 (draft-00).
    Hixie76(Hixie),
}

/// State of the hybi-04/05/06 framing.
pub(super) struct Draft {
    dialect: Dialect,
    /// -04: the per-connection masking key (-04 §4.2).
    key: [u8; 20],
    /// -04: the frame key of the frame being received.
    frame_key: [u8; 20],
    /// -04/-05: the body of the close frame we sent; a close with the same
    /// body is its acknowledgement (-04/-05 §4.5.1).
    close_body: Bytes,
}

/// What kind of hixie-76 frame is being received.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Hixie {
    /// The frame ends at the next `0xFF` (its length is not known).
    pub(super) sentinel: bool,
    /// A frame type that carries no message: its bytes are dropped.
    pub(super) discard: bool,
}

/// A frame in wire form.
pub(super) enum Built {
    /// A header to send in front of the payload as given (no copy).
    Split([u8; MAX_HEADER_LEN], usize),
    /// A small frame whole, header and (masked) payload, in place: no
    /// allocation, no shared payload, one slice to write.
    Inline([u8; TX_INLINE], usize),
    /// The whole frame, header and (masked) payload.
    Whole(BytesMut),
}

/// Room for a frame built whole in the send queue's entry: payloads up to
/// `TX_INLINE - MAX_HEADER_LEN` (50) bytes are copied there, header and
/// all (masked in place for a client).
pub(super) const TX_INLINE: usize = 64;

/// What to answer a received close frame with.
pub(super) enum CloseReply {
    /// Nothing (it acknowledges ours).
    Nothing,
    /// Our close frame with this code (and no reason).
    Code(Option<CloseCode>),
    /// The same body back (hybi-04/05: the acknowledgement repeats it).
    Echo(Bytes),
}

/// The -05 close body's first byte: who started the close (-05 §4.5.1).
const fn initiator(role: Role) -> u8 {
    match role {
        Role::Client => b'C',
        Role::Server => b'S',
    }
}

impl Codec {
    /// The codec for the negotiated values. Fails for a dialect without a
    /// framing here and for hybi-04 without its masking key.
    pub(super) fn new(n: &Negotiated) -> Result<Codec, Error> {
        Ok(match n.dialect {
            d @ (Dialect::Rfc6455 | Dialect::Hybi08 | Dialect::Hybi07) => Codec::Rfc(d),
            d @ (Dialect::Hybi06 | Dialect::Hybi05 | Dialect::Hybi04) => {
                let key = match (d, n.hybi04_key) {
                    (Dialect::Hybi04, None) => return Err(UsageError::MissingHybi04Key.into()),
                    (_, key) => key.unwrap_or_default(),
                };
                Codec::Draft(Box::new(Draft {
                    dialect: d,
                    key,
                    frame_key: [0; 20],
                    close_body: Bytes::new(),
                }))
            }
            Dialect::Hixie76 => Codec::Hixie76(Hixie::default()),
            d => return Err(Error::UnsupportedDialect(d)),
        })
    }

    /// RFC 6455 framing (strict, or hybi-07/08).
    #[inline]
    pub(super) fn is_rfc(&self) -> bool {
        matches!(self, Codec::Rfc(_))
    }

    /// The negotiated dialect.
    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Codec::Rfc(d) => *d,
            Codec::Draft(d) => d.dialect,
            Codec::Hixie76(_) => Dialect::Hixie76,
        }
    }

    /// True for RFC 6455 itself: the framing the one-step fast path of
    /// `recv.rs` implements.
    #[inline]
    pub(super) fn is_rfc6455(&self) -> bool {
        matches!(self, Codec::Rfc(Dialect::Rfc6455))
    }

    /// True if the dialect has `op` (hixie-76 has text messages and the
    /// closing handshake only, -00 §4.2, §5.3).
    pub(super) fn has(&self, op: OpCode) -> bool {
        !matches!(self, Codec::Hixie76(_)) || matches!(op, OpCode::Text | OpCode::Close)
    }

    /// True if a message may be sent in several frames (not hixie-76).
    pub(super) fn fragments(&self) -> bool {
        !matches!(self, Codec::Hixie76(_))
    }

    /// True if `code` may be sent in a close frame of this dialect.
    pub(super) fn allows(&self, code: CloseCode) -> bool {
        code.is_valid_in(self.dialect())
    }

    /// The close code sent for the failure `e` (§7.4.1, or the draft's),
    /// `None` when nothing is sent or the dialect has no such code.
    pub(super) fn close_code(&self, e: &Error) -> Option<CloseCode> {
        let dialect = self.dialect();
        e.close_code_in(dialect).filter(|c| c.is_valid_in(dialect))
    }

    /// Parses the next frame header in `data`: the header (for a draft
    /// client frame, its 4-byte prefix as `mask`, so the role checks hold),
    /// the bytes it takes and the key phase at the payload.
    #[inline]
    pub(super) fn parse_header(
        &mut self,
        role: Role,
        data: &[u8],
    ) -> Result<Status<(FrameHeader, usize, u8)>, PeerError> {
        let parsed = match self {
            Codec::Rfc(Dialect::Rfc6455) => FrameHeader::parse(data)?,
            Codec::Rfc(_) => FrameHeader::parse_draft(data)?,
            Codec::Draft(d) => return d.parse_header(role, data),
            // hixie-76 frames are parsed by the connection's hixie path.
            Codec::Hixie76(_) => return Ok(Status::Partial),
        };
        Ok(match parsed {
            Status::Complete((h, n)) => Status::Complete((h, n, 0)),
            Status::Partial => Status::Partial,
        })
    }

    /// The masking rule for a frame received by `role` (§5.1): servers
    /// refuse unmasked frames; RFC 6455 clients refuse masked ones (the
    /// drafts only say that servers do not mask; a hybi-07/08 client
    /// unmasks).
    #[inline]
    pub(super) fn check_mask(&self, role: Role, masked: bool) -> Result<(), PeerError> {
        match (role, masked) {
            (Role::Server, false) => Err(PeerError::UnmaskedFrame),
            (Role::Client, true) if self.is_rfc6455() => Err(PeerError::MaskedFrame),
            _ => Ok(()),
        }
    }

    /// Unmasks payload bytes with the frame's `key` from key byte `phase`;
    /// returns the phase after them and, when `ascii` is asked, whether
    /// they were all ASCII (checked in the same pass).
    #[inline]
    pub(super) fn unmask(
        &self,
        buf: &mut [u8],
        key: [u8; 4],
        phase: u8,
        ascii: bool,
    ) -> (u8, bool) {
        let phase = usize::from(phase);
        let (next, all_ascii) = match self {
            Codec::Draft(d) if d.dialect == Dialect::Hybi04 => {
                (apply_mask20(buf, &d.frame_key, phase), false)
            }
            _ if ascii => apply_mask_ascii(buf, key, phase),
            _ => (apply_mask(buf, key, phase), false),
        };
        (next as u8, all_ascii)
    }

    /// The wire form of a frame from `role`; `rng` is the client's mask
    /// source (§5.3).
    #[inline]
    pub(super) fn build(
        &mut self,
        role: Role,
        rng: Option<&mut (dyn Rng + Send)>,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &Bytes,
    ) -> Built {
        let mask = match (role, rng) {
            (Role::Client, Some(rng)) => Some(rng.next_u32().to_ne_bytes()),
            _ => None,
        };
        match self {
            Codec::Rfc(_) => build_rfc(mask, opcode, fin, rsv, payload),
            Codec::Draft(d) => d.build(mask, opcode, fin, rsv, payload),
            Codec::Hixie76(_) => build_hixie(opcode, payload),
        }
    }

    /// The body of a close frame we send: RFC 6455 and -04/-06 a code and
    /// reason (empty without a code), -05 its initiator byte and the reason;
    /// hixie-76 sends `0xFF 0x00` whatever the body. A draft remembers it
    /// to recognise the acknowledgement.
    pub(super) fn close_body(
        &mut self,
        role: Role,
        code: Option<CloseCode>,
        reason: &[u8],
    ) -> Bytes {
        let mut body = BytesMut::with_capacity(2 + reason.len());
        match (self.dialect(), code) {
            (Dialect::Hybi05, _) => {
                body.extend_from_slice(&[initiator(role)]);
                body.extend_from_slice(reason);
            }
            (_, Some(c)) => {
                body.extend_from_slice(&c.0.to_be_bytes());
                body.extend_from_slice(reason);
            }
            (_, None) => {}
        }
        let body = body.freeze();
        if let Codec::Draft(d) = self {
            d.close_body = body.clone();
        }
        body
    }

    /// A received close frame: the code and reason to report and the
    /// answer. RFC 6455 and -06 parse the body (§5.5.1) and answer with the
    /// same code unless we closed first; -04/-05 recognise the
    /// acknowledgement of our close by its body and echo any other close
    /// (-04/-05 §4.5.1: "The body of the acknowledgement must match the
    /// body of the close message received"), even if we had started one
    /// too; -05 requires the body to start with `C` or `S`.
    pub(super) fn read_close(
        &self,
        close_sent: bool,
        payload: Bytes,
    ) -> Result<(Option<CloseCode>, Utf8Bytes, CloseReply), Error> {
        let d = match self {
            Codec::Draft(d) if d.dialect != Dialect::Hybi06 => d,
            _ => {
                let (code, reason) = parse_close_body_in(payload, self.dialect())?;
                let reply = if close_sent {
                    CloseReply::Nothing
                } else {
                    CloseReply::Code(code)
                };
                return Ok((code, reason, reply));
            }
        };
        let hybi05 = d.dialect == Dialect::Hybi05;
        if hybi05 && !matches!(payload.first(), Some(b'C' | b'S')) {
            return Err(PeerError::InvalidClosePayload.into());
        }
        let reply = if close_sent && payload == d.close_body {
            CloseReply::Nothing
        } else {
            CloseReply::Echo(payload.clone())
        };
        if hybi05 {
            let reason = Utf8Bytes::try_from(payload.slice(1..)).unwrap_or_default();
            return Ok((None, reason, reply));
        }
        // -04 gives the body no structure; report a code if it holds one.
        let (code, reason) = parse_close_body(payload).unwrap_or_default();
        Ok((code, reason, reply))
    }
}

/// RFC 6455 §5.2: a server's header goes in front of the payload as given;
/// a client's payload is copied once, masked, behind its header.
#[inline]
fn build_rfc(mask: Option<[u8; 4]>, opcode: OpCode, fin: bool, rsv: u8, payload: &Bytes) -> Built {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let (head, head_len) = header.to_bytes();
    if payload.len() <= TX_INLINE - MAX_HEADER_LEN {
        let mut frame = [0u8; TX_INLINE];
        let end = head_len + payload.len();
        if let (Some(h), Some(p)) = (frame.get_mut(..head_len), head.get(..head_len)) {
            h.copy_from_slice(p);
        }
        if let Some(body) = frame.get_mut(head_len..end) {
            body.copy_from_slice(payload);
            if let Some(key) = mask {
                apply_mask(body, key, 0);
            }
        }
        return Built::Inline(frame, end);
    }
    let Some(key) = mask else {
        return Built::Split(head, head_len);
    };
    let mut wire = BytesMut::with_capacity(head_len + payload.len());
    wire.extend_from_slice(head.get(..head_len).unwrap_or_default());
    wire.extend_from_slice(payload);
    if let Some(body) = wire.get_mut(head_len..) {
        apply_mask(body, key, 0);
    }
    Built::Whole(wire)
}

/// hixie-76 output (-00 §4.2, §5.3): text as `0x00 UTF-8 0xFF`, the close
/// as `0xFF 0x00`. Nothing else is ever built in this dialect.
fn build_hixie(opcode: OpCode, payload: &Bytes) -> Built {
    let mut wire = BytesMut::with_capacity(payload.len() + 2);
    match opcode {
        OpCode::Close => wire.extend_from_slice(&HIXIE_CLOSE),
        _ => {
            wire.extend_from_slice(&[0x00]);
            wire.extend_from_slice(payload);
            wire.extend_from_slice(&[0xFF]);
        }
    }
    Built::Whole(wire)
}

impl Draft {
    /// On a server, the 4-byte prefix and the header unmasked into a copy
    /// (the input is unmasked in place only once the header is known to be
    /// complete). Server frames carry neither prefix nor mask (§4.1).
    fn parse_header(
        &mut self,
        role: Role,
        data: &[u8],
    ) -> Result<Status<(FrameHeader, usize, u8)>, PeerError> {
        if role == Role::Client {
            return Ok(match parse_draft_header(data)? {
                Status::Complete((h, n)) => Status::Complete((h, n, 0)),
                Status::Partial => Status::Partial,
            });
        }
        let Some(&[a, b, c, d]) = data.get(..4) else {
            return Ok(Status::Partial);
        };
        let prefix = [a, b, c, d];
        let rest = data.get(4..).unwrap_or_default();
        let n = rest.len().min(MAX_DRAFT_HEADER_LEN);
        let mut head = [0u8; MAX_DRAFT_HEADER_LEN];
        let head = head.get_mut(..n).unwrap_or_default();
        head.copy_from_slice(rest.get(..n).unwrap_or_default());
        let cycle = if self.dialect == Dialect::Hybi04 {
            // -04 §4.2: frame-key = SHA-1(masking-nonce ‖ masking-key).
            self.frame_key = hybi04_frame_key(prefix, &self.key);
            apply_mask20(head, &self.frame_key, 0);
            20
        } else {
            // -05/-06 §4.2: the prefix is the key, i MOD 4.
            apply_mask(head, prefix, 0);
            4
        };
        Ok(match parse_draft_header(head)? {
            Status::Complete((mut h, len)) => {
                h.mask = Some(prefix);
                Status::Complete((h, 4 + len, (len % cycle) as u8))
            }
            Status::Partial => Status::Partial,
        })
    }

    /// A server frame is its clear header and the payload as given; a
    /// client frame is the 4-byte prefix and then the whole clear-text
    /// frame masked (§4.2 of each draft).
    fn build(
        &self,
        mask: Option<[u8; 4]>,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &Bytes,
    ) -> Built {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let (clear, hl) = emit_draft_header(&header);
        let clear = clear.get(..hl).unwrap_or_default();
        let Some(prefix) = mask else {
            let mut head = [0u8; MAX_HEADER_LEN];
            if let Some(dst) = head.get_mut(..hl) {
                dst.copy_from_slice(clear);
            }
            return Built::Split(head, hl);
        };
        let mut wire = BytesMut::with_capacity(4 + hl + payload.len());
        wire.extend_from_slice(&prefix);
        wire.extend_from_slice(clear);
        wire.extend_from_slice(payload);
        if let Some(body) = wire.get_mut(4..) {
            if self.dialect == Dialect::Hybi04 {
                apply_mask20(body, &hybi04_frame_key(prefix, &self.key), 0);
            } else {
                apply_mask(body, prefix, 0);
            }
        }
        Built::Whole(wire)
    }
}

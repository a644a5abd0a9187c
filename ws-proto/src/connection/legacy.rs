//! hybi-04/05/06 framing in the connection: the 4-byte prefix in front of
//! every client frame, whole-frame masking, old opcodes (`crate::legacy`),
//! and the -04/-05 closing handshake, where a close whose body matches the
//! one we sent acknowledges it (-04/-05 §4.5.1).

use bytes::{Bytes, BytesMut};

use super::{Connection, Framer, TxFrame};
use crate::close::{CloseCode, parse_close_body};
use crate::config::Role;
use crate::error::{Error, PeerError};
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, Status};
use crate::legacy::{
    MAX_DRAFT_HEADER_LEN, apply_mask20, emit_draft_header, hybi04_frame_key, parse_draft_header,
};
use crate::mask::apply_mask;
use crate::utf8::Utf8Bytes;

/// The -05 close body's first byte: who started the close (-05 §4.5.1).
const fn initiator(role: Role) -> u8 {
    match role {
        Role::Client => b'C',
        Role::Server => b'S',
    }
}

impl Connection {
    /// Parses the next hybi-04/05/06 frame: on a server, the 4-byte prefix
    /// and the header unmasked into a copy (the input is unmasked in place
    /// only once the header is known to be complete). Returns the header
    /// (with the prefix as `mask`, so the role checks hold), the bytes it
    /// took and the key phase at the payload.
    pub(super) fn parse_draft_frame(&mut self) -> Result<Option<(FrameHeader, usize, u8)>, Error> {
        let end = self.data_len();
        let data = self.rx.get(..end).unwrap_or_default();
        if self.role == Role::Client {
            // Server frames carry neither prefix nor mask (§4.1).
            return Ok(match parse_draft_header(data)? {
                Status::Complete((h, n)) => Some((h, n, 0)),
                Status::Partial => None,
            });
        }
        let Some(&[a, b, c, d]) = data.get(..4) else {
            return Ok(None);
        };
        let prefix = [a, b, c, d];
        let rest = data.get(4..).unwrap_or_default();
        let n = rest.len().min(MAX_DRAFT_HEADER_LEN);
        let mut head = [0u8; MAX_DRAFT_HEADER_LEN];
        let head = head.get_mut(..n).unwrap_or_default();
        head.copy_from_slice(rest.get(..n).unwrap_or_default());
        let s = &mut *self.shared;
        let cycle = if s.framer == Framer::Hybi04 {
            // -04 §4.2: frame-key = SHA-1(masking-nonce ‖ masking-key).
            s.key20 = hybi04_frame_key(prefix, &s.hybi04_key);
            apply_mask20(head, &s.key20, 0);
            20
        } else {
            // -05/-06 §4.2: the prefix is the key, i MOD 4.
            apply_mask(head, prefix, 0);
            4
        };
        Ok(match parse_draft_header(head)? {
            Status::Complete((mut h, len)) => {
                h.mask = Some(prefix);
                Some((h, 4 + len, (len % cycle) as u8))
            }
            Status::Partial => None,
        })
    }

    /// A close frame in hybi-04 or -05. A body equal to the one we sent is
    /// the acknowledgement; any other is a close the peer started, answered
    /// with the same body, even if we had started one too (§4.5.1: "The
    /// body of the acknowledgement must match the body of the close message
    /// received"). -05 requires the body to start with `C` or `S`.
    pub(super) fn on_draft_close(
        &mut self,
        payload: Bytes,
    ) -> Result<(Option<CloseCode>, Utf8Bytes), Error> {
        let hybi05 = self.shared.framer == Framer::Hybi0506;
        if hybi05 && !matches!(payload.first(), Some(b'C' | b'S')) {
            return Err(PeerError::InvalidClosePayload.into());
        }
        let ack = self.close_sent && payload == self.shared.close_body;
        if !ack {
            self.queue_frame(OpCode::Close, true, 0, payload.clone());
            self.close_sent = true;
        }
        if hybi05 {
            let reason = Utf8Bytes::try_from(payload.slice(1..)).unwrap_or_default();
            return Ok((None, reason));
        }
        // -04 gives the body no structure; report a code if it holds one.
        Ok(parse_close_body(payload).unwrap_or_default())
    }

    /// The body of a close frame we send: -05's initiator byte and the
    /// reason; -04's (unstructured) and -06's code and reason, as RFC 6455.
    pub(super) fn close_body(&self, code: Option<CloseCode>, reason: &[u8]) -> BytesMut {
        let mut body = BytesMut::with_capacity(2 + reason.len());
        if self.shared.config.dialect == crate::Dialect::Hybi05 {
            body.extend_from_slice(&[initiator(self.role)]);
        } else if let Some(c) = code {
            body.extend_from_slice(&c.0.to_be_bytes());
        } else {
            return body;
        }
        body.extend_from_slice(reason);
        body
    }

    /// The wire form of a hybi-04/05/06 or hixie-76 frame.
    pub(super) fn build_draft_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: Bytes,
    ) -> TxFrame {
        if self.shared.framer == Framer::Hixie76 {
            return self.build_hixie_frame(opcode, payload);
        }
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let (clear, hl) = emit_draft_header(&header);
        let clear = clear.get(..hl).unwrap_or_default();
        let mut head = [0u8; MAX_HEADER_LEN];
        let prefix = match (self.role, self.shared.rng.as_mut()) {
            (Role::Client, Some(rng)) => Some(rng.next_u32().to_ne_bytes()),
            _ => None,
        };
        let Some(prefix) = prefix else {
            if let Some(dst) = head.get_mut(..hl) {
                dst.copy_from_slice(clear);
            }
            if !self.shared.has_stream {
                return TxFrame {
                    head,
                    head_len: hl as u8,
                    head_off: 0,
                    payload,
                };
            }
            let mut wire = BytesMut::with_capacity(hl + payload.len());
            wire.extend_from_slice(clear);
            wire.extend_from_slice(&payload);
            return self.stream_frame(wire);
        };
        // §4.2 of each draft: prefix, then the whole clear-text frame masked.
        let mut wire = BytesMut::with_capacity(4 + hl + payload.len());
        wire.extend_from_slice(&prefix);
        wire.extend_from_slice(clear);
        wire.extend_from_slice(&payload);
        if let Some(body) = wire.get_mut(4..) {
            if self.shared.framer == Framer::Hybi04 {
                let key = hybi04_frame_key(prefix, &self.shared.hybi04_key);
                apply_mask20(body, &key, 0);
            } else {
                apply_mask(body, prefix, 0);
            }
        }
        self.stream_frame(wire)
    }

    /// hixie-76 output (-00 §4.2, §5.3): text as `0x00 UTF-8 0xFF`, the
    /// close as `0xFF 0x00`. Nothing else is ever queued in this dialect.
    fn build_hixie_frame(&mut self, opcode: OpCode, payload: Bytes) -> TxFrame {
        let mut wire = BytesMut::with_capacity(payload.len() + 2);
        match opcode {
            OpCode::Close => wire.extend_from_slice(&crate::legacy::HIXIE_CLOSE),
            _ => {
                wire.extend_from_slice(&[0x00]);
                wire.extend_from_slice(&payload);
                wire.extend_from_slice(&[0xFF]);
            }
        }
        self.stream_frame(wire)
    }

    /// A frame whose bytes are all in `wire` (after the stream extensions).
    fn stream_frame(&mut self, wire: BytesMut) -> TxFrame {
        TxFrame {
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            head_off: 0,
            payload: self.stream_encode(wire),
        }
    }
}

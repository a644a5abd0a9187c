//! Wire formats of the pre-RFC dialects: the hybi-04/05/06 frame (old
//! opcodes, whole-frame masking behind a 4-byte prefix) and the hixie-76
//! (draft-ietf-hybi-thewebsocketprotocol-00) sentinel and length frames.
//!
//! The [`Connection`](crate::Connection) uses these when the handshake
//! produced such a dialect; they are public for tests, fuzzers and tools.
//!
//! # hybi-04, -05, -06
//!
//! The clear-text frame (-04 §4.3, -05 §4.3, -06 §4.3) is RFC 6455's header
//! with bit 8 called RSV4 (must be 0) instead of MASK, no key in the header,
//! and these opcodes:
//!
//! | wire | meaning | | wire | meaning |
//! |---|---|---|---|---|
//! | `0x0` | continuation | | `0x3` | pong |
//! | `0x1` | close | | `0x4` | text |
//! | `0x2` | ping | | `0x5` | binary |
//!
//! `0x6..=0xF` are reserved. Client-to-server frames are masked *as a
//! whole* (header included) and prefixed with 4 bytes (§4.2 of each draft):
//!
//! * -05/-06: the prefix is the masking key; octet *i* of the clear-text
//!   frame is XORed with `key[i mod 4]`;
//! * -04: the prefix is a *masking-nonce*; the frame key is
//!   `SHA-1(nonce ‖ masking-key)` ([`hybi04_frame_key`]), applied as
//!   `key[i mod 20]`, where the masking key is the per-connection
//!   `SHA-1(Sec-WebSocket-Key ‖ Sec-WebSocket-Nonce ‖ GUID)`
//!   (`http_upgrade::Handshake::hybi04_masking_key`).
//!
//! Server-to-client frames are neither masked nor prefixed (§4.1 of each
//! draft: "Frames sent from the server to the client are not masked").
//!
//! The length may be encoded in more bytes than needed: only RFC 6455 made
//! the minimal encoding a MUST, so these parsers accept it.
//!
//! # hixie-76
//!
//! Frames start with a type byte (-00 §4.2, §5.3). Without its high bit the
//! frame runs to the next `0xFF`, and type `0x00` carries UTF-8 text; with
//! the high bit a length follows in 7-bit groups (high bit = more), and
//! `0xFF 0x00` is the closing handshake. Everything else is discarded.

use sha1::{Digest, Sha1};

use crate::error::PeerError;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, RSV_BITS, Status};

/// The GUID of the hybi-04 masking key (-04 §4.2); defined once, with the
/// handshake keys.
pub use http_upgrade::keys::HYBI04_MASK_GUID as HYBI04_GUID;

/// The per-connection hybi-04 masking key (-04 §4.2), computed by the
/// handshake crate: one definition for both.
pub use http_upgrade::keys::hybi04_masking_key;

/// The longest clear-text hybi-04/05/06 header: 2 + 8 length bytes.
pub const MAX_DRAFT_HEADER_LEN: usize = 10;

/// The hixie-76 closing handshake, in both directions (-00 §4.2, §5.3).
pub const HIXIE_CLOSE: [u8; 2] = [0xFF, 0x00];

/// The hybi-04 frame key: `SHA-1(masking-nonce ‖ masking-key)` (-04 §4.2).
pub fn hybi04_frame_key(nonce: [u8; 4], masking_key: &[u8; 20]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(masking_key);
    h.finalize().into()
}

/// XORs `buf` with the 20-byte hybi-04 frame key starting at key byte
/// `phase`, returning the phase after it (`(phase + len) mod 20`).
pub fn apply_mask20(buf: &mut [u8], key: &[u8; 20], phase: usize) -> usize {
    let mut j = phase % 20;
    for b in buf {
        *b ^= key.get(j).copied().unwrap_or(0);
        j = if j == 19 { 0 } else { j + 1 };
    }
    j
}

/// The opcode for a hybi-04/05/06 wire value, `None` for the reserved
/// `0x6..=0xF` (-04/-05 §4.3 `frame-opcode`).
pub const fn draft_opcode(v: u8) -> Option<OpCode> {
    match v {
        0x0 => Some(OpCode::Continuation),
        0x1 => Some(OpCode::Close),
        0x2 => Some(OpCode::Ping),
        0x3 => Some(OpCode::Pong),
        0x4 => Some(OpCode::Text),
        0x5 => Some(OpCode::Binary),
        _ => None,
    }
}

/// The hybi-04/05/06 wire value of `op`.
pub const fn draft_opcode_value(op: OpCode) -> u8 {
    match op {
        OpCode::Continuation => 0x0,
        OpCode::Close => 0x1,
        OpCode::Ping => 0x2,
        OpCode::Pong => 0x3,
        OpCode::Text => 0x4,
        OpCode::Binary => 0x5,
    }
}

/// Parses a clear-text (already unmasked) hybi-04/05/06 header at the start
/// of `buf`: FIN, RSV1-3, the old opcodes, RSV4 (must be 0), the 7/16/63-bit
/// length. The returned header has `mask: None`; the masking prefix is the
/// connection's business.
///
/// FIN means "final fragment" in all three drafts: -04's ABNF and examples
/// say the opposite (`frame-more`), its prose and §4.4 do not; see
/// `docs/architecture.md`, "Legacy dialects".
pub fn parse_draft_header(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, PeerError> {
    let Some(&b0) = buf.first() else {
        return Ok(Status::Partial);
    };
    let raw = b0 & 0x0f;
    let opcode = draft_opcode(raw).ok_or(PeerError::ReservedOpcode(raw))?;
    let Some(&b1) = buf.get(1) else {
        return Ok(Status::Partial);
    };
    if b1 & 0x80 != 0 {
        // RSV4: no extension we implement claims it.
        return Err(PeerError::ReservedBits(0x80));
    }
    let (len, n) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(Status::Partial),
        },
        127 => match buf.get(2..10) {
            Some(s) => {
                let mut v = [0u8; 8];
                v.copy_from_slice(s);
                (u64::from_be_bytes(v), 10)
            }
            None => return Ok(Status::Partial),
        },
        l => (u64::from(l), 2),
    };
    if len >> 63 != 0 {
        return Err(PeerError::LengthTopBit);
    }
    let fin = b0 & 0x80 != 0;
    if opcode.is_control() {
        if len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(PeerError::ControlTooLong(len));
        }
        if !fin {
            return Err(PeerError::FragmentedControl);
        }
    }
    let h = FrameHeader {
        fin,
        rsv: b0 & RSV_BITS,
        opcode,
        mask: None,
        payload_len: len,
    };
    Ok(Status::Complete((h, n)))
}

/// The clear-text hybi-04/05/06 wire form of `h` (its `mask` is ignored),
/// minimal length encoding, and its length.
pub fn emit_draft_header(h: &FrameHeader) -> ([u8; MAX_DRAFT_HEADER_LEN], usize) {
    let mut out = [0u8; MAX_DRAFT_HEADER_LEN];
    out[0] = u8::from(h.fin) << 7 | (h.rsv & RSV_BITS) | draft_opcode_value(h.opcode);
    let n = match h.payload_len {
        len @ 0..=125 => {
            out[1] = len as u8;
            2
        }
        len @ 126..=0xffff => {
            out[1] = 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        len => {
            out[1] = 127;
            out[2..10].copy_from_slice(&(len & (u64::MAX >> 1)).to_be_bytes());
            10
        }
    };
    (out, n)
}

/// The start of a hixie-76 frame (-00 §4.2 / §5.3), as far as its first
/// bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HixieFrame {
    /// `type` without the high bit: data up to the next `0xFF`. Only type
    /// `0x00` is text; others are discarded.
    Sentinel {
        /// The type byte.
        frame_type: u8,
    },
    /// `type` with the high bit and a length; `0xFF` with length 0 is the
    /// closing handshake, every other one is discarded.
    Length {
        /// The type byte.
        frame_type: u8,
        /// The decoded length.
        len: u64,
    },
}

impl HixieFrame {
    /// True for `0xFF 0x00`, the closing handshake.
    pub fn is_close(&self) -> bool {
        matches!(
            self,
            HixieFrame::Length {
                frame_type: 0xFF,
                len: 0
            }
        )
    }
}

/// Parses the type byte (and for length frames the 7-bit-group length) at
/// the start of `buf`; returns the frame kind and the bytes it used.
/// A length over `max_len` (or one that overflows 64 bits) is refused as
/// soon as it is seen, as -00 §4.2/§5.3 allow ("implementation-specific
/// limits on the lengths of invalid frames that they will skip").
pub fn parse_hixie_start(
    buf: &[u8],
    max_len: u64,
) -> Result<Status<(HixieFrame, usize)>, crate::error::CapacityError> {
    let Some(&frame_type) = buf.first() else {
        return Ok(Status::Partial);
    };
    if frame_type & 0x80 == 0 {
        return Ok(Status::Complete((HixieFrame::Sentinel { frame_type }, 1)));
    }
    let mut len: u64 = 0;
    for (i, &b) in buf.iter().enumerate().skip(1) {
        len = len
            .checked_mul(128)
            .map(|l| l | u64::from(b & 0x7f))
            .filter(|&l| l <= max_len)
            .ok_or(crate::error::CapacityError::FrameTooLarge {
                size: len.saturating_mul(128),
                max: max_len,
            })?;
        if b & 0x80 == 0 {
            return Ok(Status::Complete((
                HixieFrame::Length { frame_type, len },
                i + 1,
            )));
        }
    }
    Ok(Status::Partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft04_masking_key_example() {
        let k = hybi04_masking_key("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==");
        assert_eq!(
            k,
            [
                0x41, 0xe1, 0x4f, 0x78, 0x31, 0x1e, 0x4c, 0x34, 0x28, 0x3e, 0x6d, 0x8b, 0x36, 0x3b,
                0x88, 0x48, 0xd5, 0x85, 0x91, 0xa7
            ]
        );
    }

    #[test]
    fn mask20_phases() {
        let key: [u8; 20] = core::array::from_fn(|i| i as u8 + 1);
        let mut a = [0u8; 45];
        let mut b = a;
        apply_mask20(&mut a, &key, 3);
        let (x, y) = b.split_at_mut(17);
        let p = apply_mask20(x, &key, 3);
        assert_eq!(p, 0);
        assert_eq!(apply_mask20(y, &key, p), (3 + 45) % 20);
        assert_eq!(a, b);
    }

    #[test]
    fn draft_header_round_trip_and_rules() {
        for (bytes, fin, op, len) in [
            (&[0x84u8, 0x05][..], true, OpCode::Text, 5u64),
            (&[0x04, 0x03], false, OpCode::Text, 3),
            (&[0x85, 0x7E, 0x01, 0x00], true, OpCode::Binary, 256),
            (
                &[0x85, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0],
                true,
                OpCode::Binary,
                65536,
            ),
        ] {
            let (h, n) = parse_draft_header(bytes).unwrap().complete().unwrap();
            assert_eq!(
                (h.fin, h.opcode, h.payload_len, n),
                (fin, op, len, bytes.len())
            );
            let (out, m) = emit_draft_header(&h);
            assert_eq!(&out[..m], bytes);
            for i in 0..bytes.len() {
                assert!(parse_draft_header(&bytes[..i]).unwrap().is_partial());
            }
        }
        // Non-minimal lengths are not forbidden by the drafts.
        let (h, _) = parse_draft_header(&[0x85, 0x7E, 0, 5])
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(h.payload_len, 5);
        assert_eq!(
            parse_draft_header(&[0x86]),
            Err(PeerError::ReservedOpcode(6))
        );
        assert_eq!(
            parse_draft_header(&[0x84, 0x85]),
            Err(PeerError::ReservedBits(0x80))
        );
        assert_eq!(
            parse_draft_header(&[0x02, 0x00]),
            Err(PeerError::FragmentedControl)
        );
        assert_eq!(
            parse_draft_header(&[0x82, 0x7E, 0, 126]),
            Err(PeerError::ControlTooLong(126))
        );
    }

    #[test]
    fn hixie_starts() {
        let p = |b: &[u8]| parse_hixie_start(b, 1000);
        assert_eq!(
            p(&[0x00, b'a']),
            Ok(Status::Complete((
                HixieFrame::Sentinel { frame_type: 0 },
                1
            )))
        );
        assert!(p(&[0xFF]).unwrap().is_partial());
        let (f, n) = p(&[0xFF, 0x00]).unwrap().complete().unwrap();
        assert!(f.is_close() && n == 2);
        let (f, n) = p(&[0x80, 0x81, 0x01]).unwrap().complete().unwrap();
        assert_eq!(
            (f, n),
            (
                HixieFrame::Length {
                    frame_type: 0x80,
                    len: 129
                },
                3
            )
        );
        assert!(p(&[0x80, 0x81]).unwrap().is_partial());
        assert!(p(&[0x80, 0x88, 0x00]).is_err()); // 1024 > 1000
        assert!(
            parse_hixie_start(
                &[
                    0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
                ],
                u64::MAX
            )
            .is_err()
        );
    }
}

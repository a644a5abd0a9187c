//! The RFC 6455 base framing protocol (§5.2): a checked view over header
//! bytes ([`FrameView`]) and a structured header ([`FrameHeader`]) with
//! `parse` / `emit` / `buffer_len`, in the style of smoltcp's wire module.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! Parsing checks what the header alone can tell (§5.2, §5.5): reserved
//! opcodes, a 64-bit length with its most significant bit set, non-minimal
//! length encodings, control frames longer than 125 bytes or without FIN.
//! What depends on the connection (the role's MASK rule, which RSV bits an
//! extension owns, the fragmentation sequence) is checked by the connection.
//!
//! **Non-minimal lengths are rejected.** §5.2 says "in all cases, the minimal
//! number of bytes MUST be used to encode the length"; a header that encodes
//! e.g. 5 in the 16-bit form is a protocol error (close 1002). Some
//! implementations accept it; we follow the MUST.

use crate::error::PeerError;

/// The longest possible RFC 6455 frame header: 2 + 8 (length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// RSV1, RSV2 and RSV3 as they sit in the first header byte (§5.2).
pub const RSV_BITS: u8 = 0x70;

/// The outcome of parsing input that may be incomplete, as in httparse.
///
/// Every prefix of a valid input parses as [`Status::Partial`]; more bytes
/// are needed before anything can be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The input held a complete item.
    Complete(T),
    /// The input is a valid prefix; feed more bytes.
    Partial,
}

impl<T> Status<T> {
    /// True for [`Status::Partial`].
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The completed value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(v) => Some(v),
            Status::Partial => None,
        }
    }
}

/// A frame opcode defined by RFC 6455 §5.2 (reserved values are rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// `0x0`: continuation of a fragmented message (§5.4).
    Continuation = 0x0,
    /// `0x1`: text data, UTF-8 (§5.6).
    Text = 0x1,
    /// `0x2`: binary data (§5.6).
    Binary = 0x2,
    /// `0x8`: connection close (§5.5.1).
    Close = 0x8,
    /// `0x9`: ping (§5.5.2).
    Ping = 0x9,
    /// `0xA`: pong (§5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, `None` for the reserved values
    /// `0x3..=0x7` and `0xB..=0xF`.
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        match v {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// True for close, ping and pong: opcodes with the high bit set (§5.5).
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A checked, read-only view over the header bytes at the start of `T`.
///
/// Built only by [`FrameView::new_checked`], which guarantees that the
/// buffer holds at least [`header_len`](FrameView::header_len) bytes, so the
/// accessors never index out of bounds.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<T> {
    buffer: T,
    header_len: usize,
}

impl<T: AsRef<[u8]>> FrameView<T> {
    /// Wraps `buffer` if it holds a whole header; [`Status::Partial`] if it
    /// holds only a prefix of one. Only the length of the header is checked
    /// here; semantic checks are [`FrameHeader::parse`]'s.
    pub fn new_checked(buffer: T) -> Status<Self> {
        let b = buffer.as_ref();
        let Some(&b1) = b.get(1) else {
            return Status::Partial;
        };
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
        let header_len = 2 + ext + mask;
        if b.len() < header_len {
            return Status::Partial;
        }
        Status::Complete(FrameView { buffer, header_len })
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// Length of the header: 2, 4, 6, 8, 10 or 14 bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The FIN bit: this is the final fragment of a message (§5.2).
    pub fn fin(&self) -> bool {
        self.byte(0) & 0x80 != 0
    }

    /// RSV1..3 as they sit in the first byte (mask [`RSV_BITS`]).
    pub fn rsv(&self) -> u8 {
        self.byte(0) & RSV_BITS
    }

    /// The raw 4-bit opcode, reserved values included.
    pub fn opcode_raw(&self) -> u8 {
        self.byte(0) & 0x0f
    }

    /// The MASK bit (§5.2, §5.3).
    pub fn masked(&self) -> bool {
        self.byte(1) & 0x80 != 0
    }

    /// The 7-bit length field: 0..=125, or 126 / 127 announcing the 16- /
    /// 64-bit extended length.
    pub fn len_field(&self) -> u8 {
        self.byte(1) & 0x7f
    }

    /// The payload length as encoded, from the 7-, 16- or 64-bit field.
    pub fn payload_len(&self) -> u64 {
        match self.len_field() {
            126 => u64::from(u16::from_be_bytes([self.byte(2), self.byte(3)])),
            127 => {
                let mut v = [0u8; 8];
                for (i, slot) in v.iter_mut().enumerate() {
                    *slot = self.byte(2 + i);
                }
                u64::from_be_bytes(v)
            }
            n => u64::from(n),
        }
    }

    /// The masking key, present when [`masked`](FrameView::masked).
    pub fn mask_key(&self) -> Option<[u8; 4]> {
        if !self.masked() {
            return None;
        }
        let at = self.header_len - 4;
        Some([
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        ])
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// A parsed RFC 6455 frame header (§5.2): the structured representation that
/// [`parse`](FrameHeader::parse)s from and [`emit`](FrameHeader::emit)s to
/// wire bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: final fragment of its message.
    pub fin: bool,
    /// RSV1..3 in header-byte position (`0x40` RSV1, `0x20` RSV2, `0x10` RSV3).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, `Some` when the MASK bit is set (§5.3).
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// A header read by `FrameHeader::parse_small`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SmallHeader {
    /// Text (else binary).
    pub(crate) text: bool,
    /// The masking key.
    pub(crate) key: Option<[u8; 4]>,
    /// Payload length.
    pub(crate) len: usize,
}

impl FrameHeader {
    /// Parses the header at the start of `buf`.
    ///
    /// Returns the header and its length in bytes, [`Status::Partial`] if
    /// `buf` is a prefix of a header, or the violation found (§5.2, §5.5):
    /// reserved opcode, 64-bit length with the top bit set, non-minimal
    /// length encoding, control frame over 125 bytes or fragmented.
    pub fn parse(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, PeerError> {
        Self::parse_with(buf, true)
    }

    /// [`parse`](FrameHeader::parse) for hybi-07 and version 8
    /// (drafts -07..-12): the same header, but a non-minimal length encoding
    /// is accepted, since only RFC 6455 §5.2 made the minimal one a MUST.
    pub fn parse_draft(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, PeerError> {
        Self::parse_with(buf, false)
    }

    #[inline]
    fn parse_with(buf: &[u8], minimal: bool) -> Result<Status<(FrameHeader, usize)>, PeerError> {
        match FrameView::new_checked(buf) {
            Status::Partial => {
                // A reserved opcode is visible in the first byte already:
                // fail as soon as it arrives.
                if let Some(&b0) = buf.first() {
                    if OpCode::from_u8(b0 & 0x0f).is_none() {
                        return Err(PeerError::ReservedOpcode(b0 & 0x0f));
                    }
                }
                Ok(Status::Partial)
            }
            Status::Complete(view) => {
                Self::check_view(&view, minimal).map(|h| Status::Complete((h, view.header_len())))
            }
        }
    }

    /// The header of the common frame, or `None`: a whole text or binary
    /// message in one frame (FIN, no RSV bit) with a 7- or minimal 16-bit
    /// length. Any other header (control frames, fragments, extensions,
    /// 64-bit lengths, violations) or an incomplete one gives `None`, for
    /// [`parse`](FrameHeader::parse) to read exactly; when this returns a
    /// header, `parse` returns the same one (a test checks it on every
    /// 4-byte prefix). The connection's one-step fast path reads headers
    /// with it.
    #[inline]
    pub(crate) fn parse_small(buf: &[u8]) -> Option<(SmallHeader, usize)> {
        let (text, b1) = match *buf.get(..2)? {
            [0x81, b1] => (true, b1),
            [0x82, b1] => (false, b1),
            _ => return None,
        };
        let (len, mut head) = match b1 & 0x7f {
            126 => match *buf.get(2..4)? {
                [hi, lo] => (usize::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return None,
            },
            127 => return None,
            n => (usize::from(n), 2),
        };
        // `len < 126` behind a 126 marker is not minimal: `parse` refuses it.
        if head == 4 && len < 126 {
            return None;
        }
        let key = if b1 & 0x80 != 0 {
            let &[k0, k1, k2, k3] = buf.get(head..head + 4)? else {
                return None;
            };
            head += 4;
            Some([k0, k1, k2, k3])
        } else {
            None
        };
        Some((SmallHeader { text, key, len }, head))
    }

    /// Checks and converts a complete header view.
    pub fn from_view<T: AsRef<[u8]>>(view: &FrameView<T>) -> Result<FrameHeader, PeerError> {
        Self::check_view(view, true)
    }

    #[inline]
    fn check_view<T: AsRef<[u8]>>(
        view: &FrameView<T>,
        minimal: bool,
    ) -> Result<FrameHeader, PeerError> {
        let raw = view.opcode_raw();
        let opcode = OpCode::from_u8(raw).ok_or(PeerError::ReservedOpcode(raw))?;
        let len = view.payload_len();
        match view.len_field() {
            127 if len >> 63 != 0 => return Err(PeerError::LengthTopBit),
            127 if minimal && len <= 0xffff => return Err(PeerError::NonMinimalLength),
            126 if minimal && len < 126 => return Err(PeerError::NonMinimalLength),
            _ => {}
        }
        if opcode.is_control() {
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(PeerError::ControlTooLong(len));
            }
            if !view.fin() {
                return Err(PeerError::FragmentedControl);
            }
        }
        Ok(FrameHeader {
            fin: view.fin(),
            rsv: view.rsv(),
            opcode,
            mask: view.mask_key(),
            payload_len: len,
        })
    }

    /// Bytes [`emit`](FrameHeader::emit) writes: 2 plus 0, 2 or 8 for the
    /// extended length plus 4 if masked.
    pub fn buffer_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length encoding to the start of
    /// `buf`, returning the bytes written, or `None` (nothing written) if
    /// `buf` is shorter than [`buffer_len`](FrameHeader::buffer_len).
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let (bytes, n) = self.to_bytes();
        buf.get_mut(..n)?.copy_from_slice(bytes.get(..n)?);
        Some(n)
    }

    /// The header as a fixed array plus its used length.
    #[inline]
    pub fn to_bytes(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut out = [0u8; MAX_HEADER_LEN];
        out[0] = u8::from(self.fin) << 7 | (self.rsv & RSV_BITS) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = 2;
        match self.payload_len {
            len @ 0..=125 => out[1] = mask_bit | len as u8,
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                n = 4;
            }
            len => {
                out[1] = mask_bit | 127;
                // The top bit must be zero (§5.2); clear it rather than emit
                // an invalid header.
                out[2..10].copy_from_slice(&(len & (u64::MAX >> 1)).to_be_bytes());
                n = 10;
            }
        }
        if let Some(key) = self.mask {
            out[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        (out, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(b: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(b).unwrap().complete().unwrap()
    }

    #[test]
    fn rfc_5_7_unmasked_hello() {
        let b = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (h, n) = parse_ok(&b);
        assert_eq!(n, 2);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.mask, None);
    }

    #[test]
    fn rfc_5_7_masked_header() {
        let b = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
        let (h, n) = parse_ok(&b);
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let (bytes, len) = h.to_bytes();
        assert_eq!(&bytes[..len], &b);
    }

    #[test]
    fn rfc_5_7_extended_lengths() {
        let h256 = [0x82, 0x7E, 0x01, 0x00];
        let (h, n) = parse_ok(&h256);
        assert_eq!((h.payload_len, n), (256, 4));
        let h64k = [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        let (h, n) = parse_ok(&h64k);
        assert_eq!((h.payload_len, n), (65536, 10));
        let (bytes, len) = h.to_bytes();
        assert_eq!(&bytes[..len], &h64k);
        assert_eq!(h.buffer_len(), 10);
    }

    #[test]
    fn every_prefix_is_partial() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00, 1, 2, 3, 4];
        for i in 0..full.len() {
            assert_eq!(
                FrameHeader::parse(&full[..i]),
                Ok(Status::Partial),
                "prefix {i}"
            );
        }
        assert_eq!(parse_ok(&full).1, 14);
    }

    #[test]
    fn rejections() {
        assert_eq!(
            FrameHeader::parse(&[0x83]),
            Err(PeerError::ReservedOpcode(3))
        );
        assert_eq!(
            FrameHeader::parse(&[0x8B, 0]),
            Err(PeerError::ReservedOpcode(0xB))
        );
        let top = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(FrameHeader::parse(&top), Err(PeerError::LengthTopBit));
        assert_eq!(
            FrameHeader::parse(&[0x82, 0x7E, 0, 5]),
            Err(PeerError::NonMinimalLength)
        );
        let nm64 = [0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        assert_eq!(FrameHeader::parse(&nm64), Err(PeerError::NonMinimalLength));
        assert_eq!(
            FrameHeader::parse(&[0x89, 0x7E, 0, 126]),
            Err(PeerError::ControlTooLong(126))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0x00]),
            Err(PeerError::FragmentedControl)
        );
    }

    #[test]
    fn emit_into_short_buffer_is_none() {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: None,
            payload_len: 300,
        };
        assert_eq!(h.emit(&mut [0u8; 3]), None);
        let mut b = [0u8; 4];
        assert_eq!(h.emit(&mut b), Some(4));
        assert_eq!(b, [0x82, 126, 1, 44]);
    }

    #[test]
    fn parse_small_agrees_with_parse() {
        let mut seen = 0;
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for (b2, b3) in [(0, 0), (0, 125), (0, 126), (1, 0), (255, 255)] {
                    let buf = [b0, b1, b2, b3, 9, 8, 7, 6, 5, 4];
                    for end in 0..=buf.len() {
                        let b = &buf[..end];
                        let Some((small, head)) = FrameHeader::parse_small(b) else {
                            continue;
                        };
                        seen += 1;
                        let (h, n) = parse_ok(b);
                        assert_eq!(n, head, "{b:02x?}");
                        assert!(h.fin && h.rsv == 0, "{b:02x?}");
                        let op = if small.text {
                            OpCode::Text
                        } else {
                            OpCode::Binary
                        };
                        assert_eq!(h.opcode, op);
                        assert_eq!(h.mask, small.key);
                        assert_eq!(h.payload_len, small.len as u64);
                    }
                }
            }
        }
        // Both kinds, masked or not, both length forms, at several cut points.
        assert!(seen > 2000, "{seen}");
    }
}

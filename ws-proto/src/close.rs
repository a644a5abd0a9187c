//! Close status codes and the close frame body (RFC 6455 §5.5.1, §7.4).

use bytes::Bytes;

use crate::Dialect;
use crate::error::PeerError;
use crate::utf8::Utf8Bytes;

/// A close status code (§7.4).
///
/// Any `u16` can be held; [`is_sendable`](CloseCode::is_sendable) tells
/// whether it may appear in a close frame on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page left, idle).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame. Never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (e.g. bad UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: (server) an unexpected condition prevented fulfilling the request.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: service restart (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure. Never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// True if the code may be sent in (and accepted from) a close frame:
    /// 1000-1003, 1007-1011, 1012-1014 (registered with IANA after RFC 6455)
    /// and 3000-4999 (§7.4.2). 1004, 1005, 1006, 1015, other 1xxx values and
    /// everything below 1000 or above 4999 are refused.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl CloseCode {
    /// True if the code may appear in a close frame of `dialect`: the
    /// [sendable](CloseCode::is_sendable) codes, plus 1004 ("frame too
    /// large") for hybi-06, -07 and version 8, whose drafts define it
    /// (-06/-07/-09 §7.4.1; RFC 6455 later reserved it). hybi-04/05 and
    /// hixie-76 have no status codes at all.
    pub const fn is_valid_in(self, dialect: Dialect) -> bool {
        match dialect {
            Dialect::Hybi06 | Dialect::Hybi07 | Dialect::Hybi08 => {
                self.0 == 1004 || self.is_sendable()
            }
            _ => self.is_sendable(),
        }
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        CloseCode(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

/// The longest reason that fits a control frame after the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// Parses a received close frame body (§5.5.1): empty, or a 2-byte code
/// followed by a UTF-8 reason.
///
/// A 1-byte body and a code that is not [sendable](CloseCode::is_sendable)
/// are protocol errors (1002); a reason that is not UTF-8 is 1007.
pub fn parse_close_body(body: Bytes) -> Result<(Option<CloseCode>, Utf8Bytes), PeerError> {
    parse_close_body_in(body, Dialect::Rfc6455)
}

/// [`parse_close_body`] with the status codes of `dialect`
/// ([`CloseCode::is_valid_in`]): RFC 6455, hybi-06/07/08.
pub fn parse_close_body_in(
    body: Bytes,
    dialect: Dialect,
) -> Result<(Option<CloseCode>, Utf8Bytes), PeerError> {
    match body.len() {
        0 => return Ok((None, Utf8Bytes::new())),
        1 => return Err(PeerError::InvalidClosePayload),
        _ => {}
    }
    let code = CloseCode(u16::from_be_bytes([
        body.first().copied().unwrap_or(0),
        body.get(1).copied().unwrap_or(0),
    ]));
    if !code.is_valid_in(dialect) {
        return Err(PeerError::InvalidCloseCode(code.0));
    }
    let reason = Utf8Bytes::try_from(body.slice(2..)).map_err(|_| PeerError::InvalidCloseReason)?;
    Ok((Some(code), reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            assert!(CloseCode(ok).is_sendable(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_sendable(), "{bad}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_close_body(Bytes::new()), Ok((None, Utf8Bytes::new())));
        assert_eq!(
            parse_close_body(Bytes::from_static(&[3])),
            Err(PeerError::InvalidClosePayload)
        );
        assert_eq!(
            parse_close_body(Bytes::from_static(&[0x03, 0xED])),
            Err(PeerError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_body(Bytes::from_static(&[0x03, 0xE8, 0xff])),
            Err(PeerError::InvalidCloseReason)
        );
        let b1004 = Bytes::from_static(&[0x03, 0xEC]);
        assert_eq!(
            parse_close_body(b1004.clone()),
            Err(PeerError::InvalidCloseCode(1004))
        );
        for d in [Dialect::Hybi06, Dialect::Hybi07, Dialect::Hybi08] {
            let (code, _) = parse_close_body_in(b1004.clone(), d).unwrap();
            assert_eq!(code, Some(CloseCode(1004)));
        }
        let (code, reason) = parse_close_body(Bytes::from_static(b"\x03\xe8bye")).unwrap();
        assert_eq!(code, Some(CloseCode::NORMAL));
        assert_eq!(reason.as_str(), "bye");
    }
}

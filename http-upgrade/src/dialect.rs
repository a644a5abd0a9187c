//! The WebSocket dialects this family speaks.
//!
//! The handshake decides the dialect; the `ws-proto` connection that follows
//! frames its data accordingly.

/// A version of the WebSocket protocol, as negotiated by the opening handshake.
///
/// | dialect | `Sec-WebSocket-Version` | framing |
/// |---|---|---|
/// | [`Rfc6455`](Dialect::Rfc6455) | 13 | RFC 6455 §5 |
/// | [`Hybi08`](Dialect::Hybi08), [`Hybi07`](Dialect::Hybi07) | 8, 7 | as RFC 6455 |
/// | [`Hybi06`](Dialect::Hybi06), [`Hybi05`](Dialect::Hybi05) | 6, 5 | 4-byte key masks the whole frame; old opcodes |
/// | [`Hybi04`](Dialect::Hybi04) | 4 | nonce prefix, SHA-1 derived frame keys; old opcodes |
/// | [`Hixie76`](Dialect::Hixie76) | none (Key1/Key2) | `0x00 text 0xFF`; `0xFF 0x00` closes |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dialect {
    /// RFC 6455, `Sec-WebSocket-Version: 13`.
    Rfc6455,
    /// draft-ietf-hybi-thewebsocketprotocol-10 .. -17, `Sec-WebSocket-Version: 8`.
    Hybi08,
    /// draft-ietf-hybi-thewebsocketprotocol-07, `Sec-WebSocket-Version: 7`.
    Hybi07,
    /// draft-ietf-hybi-thewebsocketprotocol-06, `Sec-WebSocket-Version: 6`.
    Hybi06,
    /// draft-ietf-hybi-thewebsocketprotocol-05, `Sec-WebSocket-Version: 5`.
    Hybi05,
    /// draft-ietf-hybi-thewebsocketprotocol-04, `Sec-WebSocket-Version: 4`.
    Hybi04,
    /// draft-hixie-thewebsocketprotocol-76 (= draft-ietf-hybi-thewebsocketprotocol-00).
    Hixie76,
}

impl Dialect {
    /// Every dialect, newest first.
    pub const ALL: [Dialect; 7] = [
        Dialect::Rfc6455,
        Dialect::Hybi08,
        Dialect::Hybi07,
        Dialect::Hybi06,
        Dialect::Hybi05,
        Dialect::Hybi04,
        Dialect::Hixie76,
    ];

    /// The `Sec-WebSocket-Version` value, `None` for hixie-76 (which has no version header).
    pub const fn version(self) -> Option<u8> {
        match self {
            Dialect::Rfc6455 => Some(13),
            Dialect::Hybi08 => Some(8),
            Dialect::Hybi07 => Some(7),
            Dialect::Hybi06 => Some(6),
            Dialect::Hybi05 => Some(5),
            Dialect::Hybi04 => Some(4),
            Dialect::Hixie76 => None,
        }
    }

    /// The dialect announced by a `Sec-WebSocket-Version` value, if we speak it.
    pub const fn from_version(version: u8) -> Option<Dialect> {
        match version {
            13 => Some(Dialect::Rfc6455),
            8 => Some(Dialect::Hybi08),
            7 => Some(Dialect::Hybi07),
            6 => Some(Dialect::Hybi06),
            5 => Some(Dialect::Hybi05),
            4 => Some(Dialect::Hybi04),
            _ => None,
        }
    }

    /// True for the dialects whose framing is RFC 6455's (13, 8, 7).
    pub const fn has_rfc6455_framing(self) -> bool {
        matches!(self, Dialect::Rfc6455 | Dialect::Hybi08 | Dialect::Hybi07)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_round_trip() {
        for d in Dialect::ALL {
            if let Some(v) = d.version() {
                assert_eq!(Dialect::from_version(v), Some(d));
            }
        }
        assert_eq!(Dialect::from_version(9), None);
        assert_eq!(Dialect::Hixie76.version(), None);
    }
}

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

impl Dialect {
    /// True for the dialects with a `Sec-WebSocket-Key`/`Accept` handshake
    /// (everything but hixie-76).
    pub const fn is_hybi(self) -> bool {
        !matches!(self, Dialect::Hixie76)
    }

    /// True if the client sends its origin as `Sec-WebSocket-Origin`
    /// (drafts -04 to -10: versions 4-8), not `Origin`.
    pub const fn uses_sec_websocket_origin(self) -> bool {
        matches!(
            self,
            Dialect::Hybi08 | Dialect::Hybi07 | Dialect::Hybi06 | Dialect::Hybi05 | Dialect::Hybi04
        )
    }

    /// True if the server must send `Sec-WebSocket-Nonce` (draft-04 and -05
    /// §5.2.2 step 3.3; removed in -06, see its §13.1 change log).
    pub const fn server_sends_nonce(self) -> bool {
        matches!(self, Dialect::Hybi05 | Dialect::Hybi04)
    }

    /// True if the handshake carries `Sec-WebSocket-Extensions` (every hybi
    /// draft; hixie-76 has no extensions).
    pub const fn has_extensions(self) -> bool {
        self.is_hybi()
    }

    const fn bit(self) -> u8 {
        match self {
            Dialect::Rfc6455 => 1,
            Dialect::Hybi08 => 2,
            Dialect::Hybi07 => 4,
            Dialect::Hybi06 => 8,
            Dialect::Hybi05 => 16,
            Dialect::Hybi04 => 32,
            Dialect::Hixie76 => 64,
        }
    }
}

/// A set of dialects, e.g. the ones a server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DialectSet(u8);

impl DialectSet {
    /// Every dialect (a server's default).
    pub const ALL: DialectSet = DialectSet(127);
    /// No dialect.
    pub const EMPTY: DialectSet = DialectSet(0);
    /// RFC 6455 and the versions that frame like it (13, 8, 7).
    pub const MODERN: DialectSet = DialectSet(7);

    /// The set of the given dialects.
    pub fn of(dialects: &[Dialect]) -> DialectSet {
        dialects.iter().fold(DialectSet::EMPTY, |s, &d| s.with(d))
    }

    /// True if `d` is in the set.
    pub const fn contains(self, d: Dialect) -> bool {
        self.0 & d.bit() != 0
    }

    /// The set plus `d`.
    pub const fn with(self, d: Dialect) -> DialectSet {
        DialectSet(self.0 | d.bit())
    }

    /// The set without `d`.
    pub const fn without(self, d: Dialect) -> DialectSet {
        DialectSet(self.0 & !d.bit())
    }

    /// The dialects in the set, newest first.
    pub fn iter(self) -> impl Iterator<Item = Dialect> {
        Dialect::ALL.into_iter().filter(move |d| self.contains(*d))
    }
}

impl Default for DialectSet {
    fn default() -> Self {
        DialectSet::ALL
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

    #[test]
    fn sets() {
        let s = DialectSet::ALL.without(Dialect::Hixie76);
        assert!(!s.contains(Dialect::Hixie76));
        assert!(s.contains(Dialect::Hybi04));
        assert_eq!(s.iter().count(), 6);
        assert_eq!(
            DialectSet::of(&[Dialect::Rfc6455, Dialect::Hybi08, Dialect::Hybi07]),
            DialectSet::MODERN
        );
        assert_eq!(DialectSet::ALL, DialectSet::of(&Dialect::ALL));
    }
}

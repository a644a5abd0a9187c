//! Errors, grouped by who is at fault, and their close codes (RFC 6455 §7.4.1).
//!
//! [`Error::close_code`] is the one place where an error becomes the status
//! code of the close frame the connection sends when it fails.

use alloc::borrow::Cow;

use crate::Dialect;
use crate::close::CloseCode;

/// Every error the connection reports.
///
/// Errors caused by the peer, by capacity limits or by an extension are
/// fatal: the connection queues a close frame with [`close_code`](Error::close_code)
/// , moves to `Closed` and returns the same error from
/// every later call. [`Error::Usage`] errors are the caller's and change
/// nothing: the call that caused one is simply refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer violated the protocol.
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// The peer exceeded a configured limit (close 1009).
    #[error("capacity: {0}")]
    Capacity(#[from] CapacityError),
    /// An extension failed.
    #[error("extension: {0}")]
    Extension(#[from] ExtensionError),
    /// A deadline passed: the peer stalled a message, stopped reading, or
    /// did not answer a keep-alive ping.
    #[error("timeout: {0}")]
    Timeout(#[from] TimeoutError),
    /// The application ended the connection with this close code
    /// ([`Connection::abort`](crate::Connection::abort)), e.g. a server
    /// shedding load with 1013.
    #[error("aborted with close code {}", .0.0)]
    Aborted(CloseCode),
    /// The caller misused the API; the connection is unaffected.
    #[error("usage: {0}")]
    Usage(#[from] UsageError),
    /// The connection does not implement this dialect's framing (every
    /// [`Dialect`] that exists today is implemented; `Dialect` is
    /// non-exhaustive).
    #[error("dialect {0:?} is not supported by ws-proto's framing")]
    UnsupportedDialect(Dialect),
}

/// Protocol violations by the peer (RFC 6455 §5, §7, §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A reserved opcode (0x3-0x7, 0xB-0xF) was used (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// RSV bits set that no negotiated extension owns (§5.2).
    #[error("reserved bits {0:#04x} set without an extension")]
    ReservedBits(u8),
    /// A 64-bit payload length with the most significant bit set (§5.2).
    #[error("64-bit payload length with the top bit set")]
    LengthTopBit,
    /// The length was not encoded in the minimal number of bytes (§5.2).
    #[error("non-minimal payload length encoding")]
    NonMinimalLength,
    /// A control frame payload over 125 bytes (§5.5).
    #[error("control frame of {0} bytes (max 125)")]
    ControlTooLong(u64),
    /// A control frame without FIN (§5.5).
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A client sent an unmasked frame to a server (§5.1).
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A server sent a masked frame to a client (§5.1).
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A continuation frame with no message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text/binary frame while a fragmented message is in progress (§5.4).
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A text message that is not valid UTF-8 (§8.1, close 1007).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A close frame with a 1-byte body (§5.5.1).
    #[error("close frame with a 1-byte body")]
    InvalidClosePayload,
    /// A close frame with a status code that may not be sent (§7.4).
    #[error("close frame with invalid status code {0}")]
    InvalidCloseCode(u16),
    /// A close reason that is not valid UTF-8 (§5.5.1, close 1007).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// The transport ended without a close handshake (§7.1.5: code 1006).
    #[error("transport closed without a close handshake")]
    UnexpectedEof,
}

/// A peer exceeded a configured limit (close 1009, §7.4.1). Checked before
/// any memory is reserved for the offending data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// A frame's announced payload exceeds `max_frame_size`.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced size.
        size: u64,
        /// Configured limit.
        max: u64,
    },
    /// A message would exceed `max_message_size`.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Size the message would reach.
        size: u64,
        /// Configured limit.
        max: u64,
    },
    /// A message has more fragments than `max_fragments`.
    #[error("message of {size} fragments exceeds the limit of {max}")]
    TooManyFragments {
        /// Fragment count the message would reach.
        size: u64,
        /// Configured limit.
        max: u64,
    },
}

/// A peer held the connection's resources past a deadline of
/// [`Config`](crate::Config). Each one releases what the peer made the
/// connection hold: a half-received message, a queue it does not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutError {
    /// A frame or message was left unfinished and nothing arrived for
    /// `stall_timeout` (close 1008, policy violation).
    #[error("the peer left a message unfinished and went silent")]
    Stalled,
    /// Output waited and not one byte of it could be written for
    /// `write_timeout`: the peer does not read (close 1008; the transport
    /// is closed at once, since the close frame cannot be delivered).
    #[error("the peer stopped reading: no output written")]
    WriteStalled,
    /// No pong answered a keep-alive ping within `pong_timeout` (close
    /// 1001, going away, §5.5.2-3).
    #[error("no pong answered the keep-alive ping")]
    NoPong,
}

/// An extension failed to transform data (see [`Extension`](crate::Extension)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// The peer's data cannot be decoded, e.g. a broken deflate stream (1007).
    #[error("invalid data: {0}")]
    InvalidData(Cow<'static, str>),
    /// Decoded output would exceed the allowed budget (1009).
    #[error("decoded output of {size} bytes exceeds the limit of {max}")]
    TooBig {
        /// Size reached (or a lower bound of it).
        size: u64,
        /// The `max_output` budget that was passed in.
        max: u64,
    },
    /// The peer broke a framing rule of the extension, e.g. RSV1 on a
    /// continuation frame of a permessage-deflate message (RFC 7692 §6.1):
    /// a protocol error (1002).
    #[error("extension protocol error: {0}")]
    Protocol(Cow<'static, str>),
    /// The peer used the extension in a way it did not negotiate (1010).
    #[error("extension misuse: {0}")]
    Negotiation(Cow<'static, str>),
    /// An internal failure of the extension (1011).
    #[error("internal: {0}")]
    Internal(Cow<'static, str>),
}

/// The caller misused the API. Never fatal to the connection. This is the
/// one category for misuse across the core: a `Session` call made in the
/// wrong stage, and a handshake answer the machine refused
/// (`http_upgrade::MisuseError`), come out as this too.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A call that does not fit the session's role or stage (e.g. `accept`
    /// with no upgrade pending).
    #[error("{0} is not possible in this role or stage")]
    WrongState(&'static str),
    /// The handshake machine refused a call: a subprotocol or extension
    /// the client did not offer, an invalid header, a body overrun.
    #[error("handshake: {0}")]
    Handshake(http_upgrade::MisuseError),
    /// A data or control frame was sent after our close frame (§5.5.1).
    #[error("a close frame was already sent")]
    AlreadyClosing,
    /// A control frame payload over 125 bytes (§5.5).
    #[error("control payload of {size} bytes (max 125)")]
    ControlTooLong {
        /// Payload size given.
        size: usize,
    },
    /// A close reason over 123 bytes (§5.5.1).
    #[error("close reason of {size} bytes (max 123)")]
    ReasonTooLong {
        /// Reason size given.
        size: usize,
    },
    /// A status code that may not be sent (§7.4): 1005, 1006, 1015, ...
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// `send_text`/`send_binary` while a streamed message is in progress, or
    /// a fragment of the other kind.
    #[error("a streamed message is in progress")]
    MessageInProgress,
    /// Text data that is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// `recv_commit` of more bytes than `recv_buf` handed out.
    #[error("committed {size} bytes, only {max} were lent")]
    CommitTooLarge {
        /// Bytes committed.
        size: usize,
        /// Bytes lent by the last `recv_buf`.
        max: usize,
    },
    /// A client connection needs an RNG for mask keys (§5.3).
    #[error("a client connection needs a mask-key RNG")]
    MissingRng,
    /// Two extensions claim the same RSV bit, or a bit outside RSV1-3.
    #[error("extensions claim overlapping or invalid RSV bits {0:#04x}")]
    RsvConflict(u8),
    /// More than one stream extension (such as deflate-stream) in the
    /// chain: a connection decodes one on demand.
    #[error("more than one stream extension in the chain")]
    TwoStreamExtensions,
    /// A hybi-04 connection needs `Config::hybi04_key` (draft-04 §4.2).
    #[error("a hybi-04 connection needs the masking key from the handshake")]
    MissingHybi04Key,
    /// The dialect has no such thing: hixie-76 has no binary messages, no
    /// ping/pong and no fragmentation (draft-00 §4.2, §5.3).
    #[error("{op} does not exist in {dialect:?}")]
    NotInDialect {
        /// What was attempted, e.g. `"send_binary"`.
        op: &'static str,
        /// The connection's dialect.
        dialect: Dialect,
    },
}

impl Error {
    /// The close code this error is answered with (§7.4.1), `None` for
    /// caller errors, which close nothing.
    ///
    /// 1002 for protocol violations, 1007 for invalid UTF-8 or undecodable
    /// extension data, 1009 for exceeded limits, 1010 for extension
    /// negotiation failures, 1011 for internal failures, 1008 for a stalled
    /// message or a peer that stopped reading, 1001 for a missing pong, and
    /// 1006 (which is never put on the wire) when the transport ended early.
    pub fn close_code(&self) -> Option<CloseCode> {
        Some(match self {
            Error::Peer(PeerError::InvalidUtf8 | PeerError::InvalidCloseReason) => {
                CloseCode::INVALID_PAYLOAD
            }
            Error::Peer(PeerError::UnexpectedEof) => CloseCode::ABNORMAL,
            Error::Peer(_) => CloseCode::PROTOCOL_ERROR,
            Error::Capacity(_) => CloseCode::TOO_BIG,
            Error::Extension(ExtensionError::InvalidData(_)) => CloseCode::INVALID_PAYLOAD,
            Error::Extension(ExtensionError::TooBig { .. }) => CloseCode::TOO_BIG,
            Error::Extension(ExtensionError::Protocol(_)) => CloseCode::PROTOCOL_ERROR,
            Error::Extension(ExtensionError::Negotiation(_)) => CloseCode::MANDATORY_EXTENSION,
            Error::Extension(ExtensionError::Internal(_)) => CloseCode::INTERNAL_ERROR,
            Error::Timeout(TimeoutError::Stalled | TimeoutError::WriteStalled) => {
                CloseCode::POLICY_VIOLATION
            }
            Error::Timeout(TimeoutError::NoPong) => CloseCode::GOING_AWAY,
            Error::Aborted(code) => *code,
            Error::Usage(_) | Error::UnsupportedDialect(_) => return None,
        })
    }

    /// The close code sent on the wire for this error in `dialect`: as
    /// [`close_code`](Error::close_code), except that hybi-06 and -07, whose
    /// drafts define 1004 "frame too large" and not 1009, get 1004 for
    /// exceeded limits (-06/-07/-09 §7.4.1). Version 8 keeps RFC 6455's
    /// codes: the drafts that used it run up to -12, and living version-8
    /// peers check RFC 6455's list.
    pub fn close_code_in(&self, dialect: Dialect) -> Option<CloseCode> {
        let code = self.close_code()?;
        Some(match dialect {
            Dialect::Hybi06 | Dialect::Hybi07 if code == CloseCode::TOO_BIG => CloseCode(1004),
            _ => code,
        })
    }

    /// True for errors that end the connection (all but [`Error::Usage`]).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Usage(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code RFC 6455 §7.4.1 (and §5.1, §5.2, §5.5, §8.1) asks for,
    /// written as an exhaustive match so a new variant must be placed here.
    fn rfc_code(e: &Error) -> Option<u16> {
        Some(match e {
            Error::Peer(p) => match p {
                PeerError::ReservedOpcode(_)
                | PeerError::ReservedBits(_)
                | PeerError::LengthTopBit
                | PeerError::NonMinimalLength
                | PeerError::ControlTooLong(_)
                | PeerError::FragmentedControl
                | PeerError::UnmaskedFrame
                | PeerError::MaskedFrame
                | PeerError::UnexpectedContinuation
                | PeerError::ExpectedContinuation
                | PeerError::InvalidClosePayload
                | PeerError::InvalidCloseCode(_) => 1002,
                PeerError::InvalidUtf8 | PeerError::InvalidCloseReason => 1007,
                PeerError::UnexpectedEof => 1006,
            },
            Error::Capacity(
                CapacityError::FrameTooLarge { .. }
                | CapacityError::MessageTooLarge { .. }
                | CapacityError::TooManyFragments { .. },
            ) => 1009,
            Error::Extension(x) => match x {
                ExtensionError::InvalidData(_) => 1007,
                ExtensionError::TooBig { .. } => 1009,
                ExtensionError::Protocol(_) => 1002,
                ExtensionError::Negotiation(_) => 1010,
                ExtensionError::Internal(_) => 1011,
            },
            Error::Timeout(t) => match t {
                TimeoutError::Stalled | TimeoutError::WriteStalled => 1008,
                TimeoutError::NoPong => 1001,
            },
            Error::Aborted(code) => code.0,
            Error::Usage(_) | Error::UnsupportedDialect(_) => return None,
        })
    }

    #[test]
    fn every_error_variant_has_the_rfc_close_code() {
        let all: alloc::vec::Vec<Error> = alloc::vec![
            PeerError::ReservedOpcode(3).into(),
            PeerError::ReservedBits(0x40).into(),
            PeerError::LengthTopBit.into(),
            PeerError::NonMinimalLength.into(),
            PeerError::ControlTooLong(126).into(),
            PeerError::FragmentedControl.into(),
            PeerError::UnmaskedFrame.into(),
            PeerError::MaskedFrame.into(),
            PeerError::UnexpectedContinuation.into(),
            PeerError::ExpectedContinuation.into(),
            PeerError::InvalidUtf8.into(),
            PeerError::InvalidClosePayload.into(),
            PeerError::InvalidCloseCode(1005).into(),
            PeerError::InvalidCloseReason.into(),
            PeerError::UnexpectedEof.into(),
            CapacityError::FrameTooLarge { size: 2, max: 1 }.into(),
            CapacityError::MessageTooLarge { size: 2, max: 1 }.into(),
            CapacityError::TooManyFragments { size: 2, max: 1 }.into(),
            ExtensionError::InvalidData("x".into()).into(),
            ExtensionError::TooBig { size: 2, max: 1 }.into(),
            ExtensionError::Protocol("x".into()).into(),
            ExtensionError::Negotiation("x".into()).into(),
            ExtensionError::Internal("x".into()).into(),
            TimeoutError::Stalled.into(),
            TimeoutError::WriteStalled.into(),
            TimeoutError::NoPong.into(),
            Error::Aborted(CloseCode(4001)),
            UsageError::MissingRng.into(),
            Error::UnsupportedDialect(Dialect::Rfc6455),
        ];
        for e in &all {
            assert_eq!(e.close_code().map(|c| c.0), rfc_code(e), "{e:?}");
            assert_eq!(e.is_fatal(), !matches!(e, Error::Usage(_)), "{e:?}");
        }
        // hybi-06/-07 name "too big" 1004 (-06/-07 §7.4.1); others keep 1009.
        let big = Error::from(CapacityError::FrameTooLarge { size: 2, max: 1 });
        assert_eq!(big.close_code_in(Dialect::Hybi07).map(|c| c.0), Some(1004));
        assert_eq!(big.close_code_in(Dialect::Hybi08).map(|c| c.0), Some(1009));
    }

    #[test]
    fn close_codes_in_one_place() {
        let c = |e: Error| e.close_code().map(|c| c.0);
        assert_eq!(c(PeerError::ReservedOpcode(3).into()), Some(1002));
        assert_eq!(c(PeerError::InvalidUtf8.into()), Some(1007));
        assert_eq!(
            c(CapacityError::FrameTooLarge { size: 2, max: 1 }.into()),
            Some(1009)
        );
        assert_eq!(
            c(ExtensionError::InvalidData("x".into()).into()),
            Some(1007)
        );
        assert_eq!(
            c(ExtensionError::TooBig { size: 2, max: 1 }.into()),
            Some(1009)
        );
        assert_eq!(
            c(ExtensionError::Negotiation("x".into()).into()),
            Some(1010)
        );
        assert_eq!(c(ExtensionError::Internal("x".into()).into()), Some(1011));
        assert_eq!(c(ExtensionError::Protocol("x".into()).into()), Some(1002));
        assert_eq!(c(TimeoutError::Stalled.into()), Some(1008));
        assert_eq!(c(TimeoutError::WriteStalled.into()), Some(1008));
        assert_eq!(c(TimeoutError::NoPong.into()), Some(1001));
        assert_eq!(c(Error::Aborted(CloseCode::TRY_AGAIN_LATER)), Some(1013));
        assert_eq!(c(UsageError::MissingRng.into()), None);
        assert!(!Error::from(UsageError::MissingRng).is_fatal());
    }
}

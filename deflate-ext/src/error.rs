//! Errors of the compression extensions, grouped by who is at fault; they
//! reach WebSocket close codes (RFC 6455 §7.4.1, RFC 7692 §6) through one
//! conversion, `From<CodecError> for ws_proto::ExtensionError`.

use core::fmt;

/// A failure while compressing or decompressing data of an established
/// extension.
///
/// Every variant maps to one close code, in one place: the
/// `From<CodecError> for ws_proto::ExtensionError` conversion (in
/// [`ws`](crate::ws)), whose result ws-proto maps to the close code the
/// connection sends (RFC 6455 §7.4.1); the connection that owns the
/// extension fails permanently with it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// Peer fault, capacity: inflating a message (or frame, or stream chunk)
    /// would exceed the configured limit. `size` is a lower bound of the
    /// inflated size (the limit plus at least one byte), `max` the limit.
    /// Close code 1009 (RFC 6455 §7.4.1 "message too big").
    TooBig {
        /// Lower bound of the inflated size that was reached.
        size: usize,
        /// The limit that was in force.
        max: usize,
    },
    /// Peer fault: the compressed data is not a valid DEFLATE stream
    /// (RFC 1951), e.g. a bad block type or a distance too far back.
    /// Close code 1007 (data inconsistent with the message type).
    Corrupt,
    /// Peer fault: RSV1 set where RFC 7692 §6.1 forbids it (on a control frame
    /// or on a continuation frame of a permessage-deflate message).
    /// Close code 1002 (protocol error).
    Rsv1Misplaced,
    /// Peer fault: a frame arrived that does not fit the message sequence the
    /// codec tracks (continuation without a first frame, a new message before
    /// the previous one ended). Close code 1002 (protocol error).
    OutOfSequence,
    /// Local fault: the compression backend reported an internal error.
    /// Close code 1011 (internal error).
    Backend,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::TooBig { size, max } => {
                write!(
                    f,
                    "inflated data of at least {size} bytes exceeds the limit of {max}"
                )
            }
            CodecError::Corrupt => f.write_str("invalid DEFLATE data"),
            CodecError::Rsv1Misplaced => {
                f.write_str("RSV1 set on a control frame or a continuation frame")
            }
            CodecError::OutOfSequence => f.write_str("frame out of message sequence"),
            CodecError::Backend => f.write_str("internal error of the compression backend"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Why an extension negotiation element was refused (RFC 7692 §7, the lists of
/// conditions under which a server declines an offer and a client fails the
/// connection).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The element names another extension.
    WrongName,
    /// A parameter that is not defined for this direction (offer or response).
    UnknownParam(String),
    /// A parameter appears more than once.
    DuplicateParam(String),
    /// A parameter has a value it must not have, lacks one it needs, or the
    /// value is not a valid window size (`1*DIGIT`, no leading zero, 8..=15).
    InvalidValue(String),
    /// The response carries `client_max_window_bits` although the accepted
    /// offer did not (RFC 7692 §7.1.2.2), or a window larger than requested
    /// (§7.1.2.1).
    NotOffered(String),
    /// The element is well formed but this endpoint's configuration does not
    /// support it (RFC 7692 §7: "doesn't support the offered configuration",
    /// "does not support the configuration that the response represents").
    Unsupported(String),
    /// The response accepts more than one element of this extension family,
    /// or one that conflicts with another accepted extension on RSV1
    /// (RFC 7692 §5).
    Conflict,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::WrongName => f.write_str("extension name does not match"),
            NegotiationError::UnknownParam(p) => write!(f, "unknown extension parameter {p}"),
            NegotiationError::DuplicateParam(p) => write!(f, "duplicate extension parameter {p}"),
            NegotiationError::InvalidValue(p) => write!(f, "invalid value for parameter {p}"),
            NegotiationError::NotOffered(p) => {
                write!(f, "parameter {p} in the response does not match the offer")
            }
            NegotiationError::Unsupported(p) => write!(f, "unsupported configuration: {p}"),
            NegotiationError::Conflict => {
                f.write_str("response accepts conflicting compression extensions")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

//! Types shared by the three codecs: which endpoint we are, what kind of
//! frame is being transformed, how much a decode may inflate, and what the
//! transformation did.

/// The endpoint an extension instance serves: ws-proto's [`Role`].
/// It selects which of the agreed `client_*` / `server_*` parameters
/// configure the compressor and which the decompressor (RFC 7692 §7: "The
/// extension parameters with the "client_" prefix are used by the client to
/// configure its compressor and by the server to configure its
/// decompressor").
pub use ws_proto::Role;

/// Where a frame stands in the message sequence (RFC 6455 §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A control frame (close, ping, pong): never compressed (RFC 7692 §6).
    Control,
    /// The first frame of a data message (text or binary opcode).
    First,
    /// A continuation frame of a data message.
    Continuation,
}

/// What an encoder or decoder did with a frame's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transform {
    /// The payload goes on as it is, RSV1 clear.
    Unchanged,
    /// The payload was replaced by the output buffer's contents. On the send
    /// side `rsv1` is the bit to set on this frame; on the receive side it
    /// is always false (the bit is consumed).
    Replaced {
        /// RSV1 for the outgoing frame.
        rsv1: bool,
    },
}

/// How much inflated output a message decoder may produce
/// ([`PerMessageDeflate::decode_frame`](crate::PerMessageDeflate::decode_frame)).
/// Passing it ends the message with [`CodecError::TooBig`](crate::CodecError::TooBig)
/// (close 1009) after at most one byte more than the budget was reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// The whole message, all its frames together, inflates to at most this
    /// many bytes.
    Message(usize),
    /// This call adds at most this many bytes: what remains of the message
    /// budget, as ws-proto's extension interface passes it
    /// ([`Extension::decode`](ws_proto::Extension::decode)'s `max_output`).
    Call(usize),
}

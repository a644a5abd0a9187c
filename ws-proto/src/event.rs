//! What the connection hands to the application (RFC 6455 §6.2, §5.5).

use bytes::Bytes;

use crate::close::CloseCode;
pub use crate::utf8::Utf8Bytes;

/// The type of a data message (§5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

/// Something that happened on the connection, from
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole text message, validated UTF-8 (§5.6, §8.1).
    Text(Utf8Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// A streamed message begins (see [`ReceiveMode`](crate::ReceiveMode));
    /// [`MessageChunk`](Event::MessageChunk)s follow, then
    /// [`MessageEnd`](Event::MessageEnd). Control events may come in between.
    MessageStart(MessageKind),
    /// The next piece of a streamed message, in order. For text, the chunks
    /// concatenated are valid UTF-8, but a chunk boundary may split a code
    /// point.
    MessageChunk(Bytes),
    /// The streamed message is complete (and for text, fully validated).
    MessageEnd,
    /// A ping arrived (§5.5.2). With `auto_pong` the pong is already queued.
    Ping(Bytes),
    /// A pong arrived (§5.5.3).
    Pong(Bytes),
    /// The peer's close frame (§5.5.1, §7.1.5). `code` is `None` for an empty
    /// body (status 1005). Unless we started the close, the echo is queued.
    Close {
        /// The peer's status code.
        code: Option<CloseCode>,
        /// The peer's reason, possibly empty.
        reason: Utf8Bytes,
    },
}

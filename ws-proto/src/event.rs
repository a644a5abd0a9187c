//! What the connection hands to the application (RFC 6455 §6.2, §5.5).

use alloc::string::String;

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

/// A message to send: the outgoing counterpart of [`Event`], for APIs that
/// take one value per message (a `futures::Sink`, a channel of messages to
/// a connection). Sent whole (RFC 6455 §5.4: one frame per message unless
/// an extension or a frame-size limit splits it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message (opcode 0x1, §5.6).
    Text(Utf8Bytes),
    /// A binary message (opcode 0x2, §5.6).
    Binary(Bytes),
    /// A ping (§5.5.2), payload at most 125 bytes.
    Ping(Bytes),
    /// An unsolicited pong (§5.5.3), payload at most 125 bytes.
    Pong(Bytes),
    /// Starts the closing handshake (§5.5.1, §7.1.2).
    Close {
        /// The status code to send.
        code: CloseCode,
        /// The reason, at most 123 bytes of UTF-8.
        reason: Utf8Bytes,
    },
}

impl Message {
    /// A text message (a `String` is moved, not copied).
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message (a `Vec<u8>` or `Bytes` is moved, not copied).
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// A close with `code` and `reason`.
    pub fn close(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        Message::Close {
            code,
            reason: reason.into(),
        }
    }
}

impl From<Utf8Bytes> for Message {
    fn from(t: Utf8Bytes) -> Self {
        Message::Text(t)
    }
}

impl From<String> for Message {
    fn from(t: String) -> Self {
        Message::Text(t.into())
    }
}

impl From<&str> for Message {
    /// Copies the string.
    fn from(t: &str) -> Self {
        Message::Text(t.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<alloc::vec::Vec<u8>> for Message {
    fn from(b: alloc::vec::Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl Event {
    /// The data message this event carries, to send on (an echo, a relay):
    /// `Text` and `Binary` events; `None` for the others (control events
    /// are answered by the connection itself, and the parts of a streamed
    /// message are sent with `send_fragment`).
    pub fn into_message(self) -> Option<Message> {
        match self {
            Event::Text(t) => Some(Message::Text(t)),
            Event::Binary(b) => Some(Message::Binary(b)),
            _ => None,
        }
    }
}

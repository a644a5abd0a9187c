//! What the connection hands to the application (RFC 6455 §6.2, §5.5).

use alloc::string::String;
use core::fmt;

use bytes::Bytes;

use crate::close::CloseCode;
use crate::utf8::{Utf8Error, validate};

/// `Bytes` known to hold valid UTF-8: the payload of a text message (§5.6).
///
/// Cloning shares the buffer. [`as_str`](Utf8Bytes::as_str) is O(1): every
/// way to make one validates (a `&str` or `String`, `TryFrom<Bytes>`), or
/// is the connection's own text path, which validated the bytes as they
/// arrived (§8.1) — checked again under debug assertions, which the fuzz
/// targets run with.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// The empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A `'static` string, without a copy.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text, without a check.
    #[inline]
    pub fn as_str(&self) -> &str {
        #[allow(unsafe_code)]
        // SAFETY: the bytes are valid UTF-8 and never change. Every
        // constructor validates (`TryFrom<Bytes>`) or starts from a `str`
        // (`from_static`, `From<&str>`, `From<String>`, `new`); the only
        // other one, `from_validated`, is crate-private and called by the
        // receive path on a text message whose every byte went through the
        // incremental validator (or the ASCII check of the unmasking pass)
        // with success, which it asserts in debug builds. No method hands
        // out the bytes mutably or slices them.
        unsafe {
            core::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives the bytes back.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        debug_assert!(validate(&b).is_ok(), "text handed out unvalidated");
        Utf8Bytes(b)
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    /// Validates `b`, without a copy.
    fn try_from(b: Bytes) -> Result<Self, Utf8Error> {
        validate(&b)?;
        Ok(Utf8Bytes(b))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the string.
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Bytes {
        s.0
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

//! Connection settings, with defaults a server can face the internet with.

use core::time::Duration;

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::Dialect;
use crate::extension::Extension;

/// Which side of the connection this endpoint is (§5.1: clients mask,
/// servers refuse unmasked frames); the same type the handshake reports.
pub use http_upgrade::Role;

/// How received data messages are handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiveMode {
    /// Whole messages as [`Event::Text`](crate::Event::Text) /
    /// [`Event::Binary`](crate::Event::Binary), bounded by
    /// `max_message_size`.
    Whole,
    /// Every message as `MessageStart`, `MessageChunk`s delivered as data
    /// arrives (even in the middle of a frame), `MessageEnd`.
    Stream,
    /// Whole messages up to this many bytes; a message that grows past it is
    /// switched to streaming (what was buffered becomes its first chunk).
    Threshold(usize),
}

/// Settings of a [`Connection`](crate::Connection): the user's choices.
/// What the handshake decided (dialect, extensions, hybi-04's key) is
/// passed separately, as [`Negotiated`].
///
/// | field | default | |
/// |---|---|---|
/// | `max_frame_size` | 16 MiB | larger frames → close 1009 |
/// | `max_message_size` | 64 MiB | larger messages → close 1009 |
/// | `max_fragments` | 131 072 | more frames in one message → 1009 (Autobahn 9.4.x needs 65 536) |
/// | `fragment_size` | `None` | split outgoing messages into frames of at most this payload |
/// | `receive_mode` | `Whole` | |
/// | `auto_pong` | `true` | answer pings (§5.5.2) |
/// | `close_timeout` | 5 s | wait for the close echo, and (client) for the server's TCP close |
/// | `keep_alive` | `None` | send a ping after this long without receiving anything |
/// | `idle_timeout` | `None` | close with 1001 after this long without receiving anything |
/// | `stall_timeout` | 30 s | close with 1008 when a frame or message is left unfinished and nothing arrives for this long |
/// | `write_timeout` | 30 s | close (1008, transport closed at once) when queued output cannot be written for this long |
/// | `pong_timeout` | 30 s | close with 1001 when a keep-alive ping is not answered within this long |
///
/// Start from the defaults and set what differs:
///
/// ```
/// use core::time::Duration;
/// use ws_proto::Config;
///
/// let config = Config::default()
///     .with_max_message_size(1 << 20)
///     .with_keep_alive(Some(Duration::from_secs(20)));
/// assert_eq!(config.max_frame_size, 16 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest accepted frame payload, checked on the header (§5.2).
    pub max_frame_size: u64,
    /// Largest accepted message (sum of its frames, after extension decoding).
    pub max_message_size: u64,
    /// Most frames accepted in one message.
    pub max_fragments: u64,
    /// Largest payload of an outgoing data frame; `None` sends each message
    /// (or each streamed part) as one frame.
    pub fragment_size: Option<usize>,
    /// Whole messages or streamed chunks.
    pub receive_mode: ReceiveMode,
    /// Queue a pong for every ping (only the latest pending pong is kept,
    /// §5.5.3).
    pub auto_pong: bool,
    /// Close handshake timeout (§7.1.1, §7.1.7).
    pub close_timeout: Duration,
    /// Ping interval when nothing is received.
    pub keep_alive: Option<Duration>,
    /// Start a close (1001) when nothing is received for this long.
    pub idle_timeout: Option<Duration>,
    /// Fail with [`TimeoutError::Stalled`](crate::TimeoutError::Stalled)
    /// (close 1008) when a frame header, frame or fragmented message is
    /// left unfinished and nothing arrives for this long: a peer cannot
    /// park a partial message (up to `max_message_size` after inflation)
    /// on the connection and go silent. Time between messages is the
    /// idle timeout's business, not this one's.
    pub stall_timeout: Option<Duration>,
    /// Fail with [`TimeoutError::WriteStalled`](crate::TimeoutError::WriteStalled)
    /// when output is queued and no byte of it is written for this long
    /// (a peer that stops reading). Checked at the granularity of the
    /// timer, so a stall is detected between once and twice this long
    /// after the last write.
    pub write_timeout: Option<Duration>,
    /// After a keep-alive ping, fail with
    /// [`TimeoutError::NoPong`](crate::TimeoutError::NoPong) (close 1001)
    /// unless a pong arrives within this long (§5.5.3). Only armed by
    /// `keep_alive`.
    pub pong_timeout: Option<Duration>,
    /// How long a connection keeps its drained receive buffer and send
    /// queue after their last use, to reuse them for the next message: a
    /// busy connection allocates nothing per small message. After this
    /// long without traffic they are released (an idle connection holds
    /// no buffer). Only buffers up to 64 KiB (receive) and 32 queued
    /// frames (send) are kept; larger ones are released when drained.
    /// `None`: release when drained.
    pub buffer_linger: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments: 131_072,
            fragment_size: None,
            receive_mode: ReceiveMode::Whole,
            auto_pong: true,
            close_timeout: Duration::from_secs(5),
            keep_alive: None,
            idle_timeout: None,
            stall_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            pong_timeout: Some(Duration::from_secs(30)),
            buffer_linger: Some(Duration::from_secs(1)),
        }
    }
}

// `Config` is `#[non_exhaustive]`: code outside this crate starts from
// `Config::default()` and sets what it needs, by field assignment or by
// chaining these.
http_upgrade::with_builders!(Config {
    max_frame_size: u64 => with_max_frame_size;
    max_message_size: u64 => with_max_message_size;
    max_fragments: u64 => with_max_fragments;
    fragment_size: Option<usize> => with_fragment_size;
    receive_mode: ReceiveMode => with_receive_mode;
    auto_pong: bool => with_auto_pong;
    close_timeout: Duration => with_close_timeout;
    keep_alive: Option<Duration> => with_keep_alive;
    idle_timeout: Option<Duration> => with_idle_timeout;
    stall_timeout: Option<Duration> => with_stall_timeout;
    write_timeout: Option<Duration> => with_write_timeout;
    pong_timeout: Option<Duration> => with_pong_timeout;
    buffer_linger: Option<Duration> => with_buffer_linger;
});

impl Config {
    pub(crate) fn stream_threshold(&self) -> u64 {
        match self.receive_mode {
            ReceiveMode::Whole => u64::MAX,
            ReceiveMode::Stream => 0,
            ReceiveMode::Threshold(n) => n as u64,
        }
    }
}

/// What the opening handshake decided, passed to
/// [`Connection::new`](crate::Connection::new) beside the user's
/// [`Config`]: the dialect (it selects the framing, see
/// `docs/architecture.md`, "Legacy dialects"), the extension chain in the
/// order of the `Sec-WebSocket-Extensions` response (§9.1), and for
/// hybi-04 the per-connection masking key. A
/// [`Session`](crate::session::Session) fills it in from the handshake by
/// itself.
///
/// ```
/// use ws_proto::{Config, Connection, Dialect, Instant, Negotiated, Role};
///
/// let negotiated = Negotiated::new(Dialect::Hybi07);
/// let conn = Connection::new(Role::Server, Config::default(), negotiated, None, Instant::ZERO)?;
/// assert_eq!(conn.dialect(), Dialect::Hybi07);
/// # Ok::<(), ws_proto::Error>(())
/// ```
#[non_exhaustive]
pub struct Negotiated {
    /// The dialect (default RFC 6455).
    pub dialect: Dialect,
    /// The extensions, in response order.
    pub extensions: Vec<Box<dyn Extension>>,
    /// The hybi-04 masking key, SHA-1(`Sec-WebSocket-Key` ‖
    /// `Sec-WebSocket-Nonce` ‖ GUID) (draft-04 §4.2), from
    /// `http_upgrade::Handshake::hybi04_masking_key`. Required for
    /// [`Dialect::Hybi04`], ignored otherwise.
    pub hybi04_key: Option<[u8; 20]>,
}

impl Negotiated {
    /// `dialect`, no extension.
    pub fn new(dialect: Dialect) -> Self {
        Negotiated {
            dialect,
            extensions: Vec::new(),
            hybi04_key: None,
        }
    }

    /// With this extension chain (response order).
    #[must_use]
    pub fn with_extensions(mut self, extensions: Vec<Box<dyn Extension>>) -> Self {
        self.extensions = extensions;
        self
    }

    /// With hybi-04's per-connection masking key.
    #[must_use]
    pub fn with_hybi04_key(mut self, key: [u8; 20]) -> Self {
        self.hybi04_key = Some(key);
        self
    }
}

impl Default for Negotiated {
    /// RFC 6455 without extensions.
    fn default() -> Self {
        Negotiated::new(Dialect::Rfc6455)
    }
}

impl From<Dialect> for Negotiated {
    fn from(dialect: Dialect) -> Self {
        Negotiated::new(dialect)
    }
}

impl From<Vec<Box<dyn Extension>>> for Negotiated {
    /// RFC 6455 with this extension chain.
    fn from(extensions: Vec<Box<dyn Extension>>) -> Self {
        Negotiated::default().with_extensions(extensions)
    }
}

impl core::fmt::Debug for Negotiated {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Negotiated")
            .field("dialect", &self.dialect)
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("hybi04_key", &self.hybi04_key.is_some())
            .finish()
    }
}

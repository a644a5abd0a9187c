//! Record a [`Session`] and replay it exactly.
//!
//! A session is deterministic given its inputs: the bytes it receives and
//! when, the end of stream, the timer firings, the application's commands
//! and the random numbers it draws. A [`Recorder`] attached to a session
//! writes all of them into a compact binary [`Transcript`], with the
//! length and a digest of every output (each [`poll_event`] result and
//! each block of bytes taken for the wire). [`Transcript::replay`] feeds a
//! transcript into a fresh session and checks that every output comes out
//! the same, byte for byte: a connection seen once in production (a
//! browser's odd framing, a timeout race) is reproduced in a test.
//!
//! - **Switch it on** per connection before its first input:
//!   [`Session::record`] for a server session, [`Session::client_recorded`]
//!   for a client (its mask keys come from a ChaCha20 generator seeded
//!   from your RNG; the seed is in the transcript). The adapters do it for
//!   you from their options (`ws_adapters::Recording`).
//! - **Bounded**: [`RecordOptions::max_bytes`] caps the transcript (1 MiB by
//!   default); a recording that reaches it ends with a
//!   [`Entry::Truncated`] mark, and what was recorded still replays.
//! - **Redaction** ([`RecordOptions::redact`]): payloads are replaced as
//!   they are recorded (nothing unredacted is ever held) by `x` bytes of
//!   the same length (masked input stays
//!   masked: the unmasked payload reads `xxx…`), as are the query string of
//!   the request target, the values of `Cookie`, `Set-Cookie`,
//!   `Authorization` and `Proxy-Authorization`, response bodies and close
//!   reasons; lengths, opcodes, flags, close codes and timing are kept.
//!   Output digests are not recorded (they would describe the payloads),
//!   so a redacted transcript replays *structurally* (the same events, of
//!   the same lengths, the same output sizes) where the payloads allow:
//!   compressed messages do not inflate once redacted, so replay of a
//!   redacted permessage-deflate connection stops at the first one. Framing
//!   is scanned for the RFC 6455 wire format (versions 13, 8, 7); input
//!   after the handshake of an older dialect is replaced whole.
//!
//! Input is taken at the session's surface ([`Session::receive`] /
//! [`Session::recv_commit`], [`Session::receive_eof`],
//! [`Session::handle_timeout`]), output at [`Session::poll_event`],
//! [`Session::poll_transmit`] and [`Session::advance_transmit`];
//! commands at [`Session::accept`] and the other handshake answers, and at
//! the open connection's send calls ([`Connection::send_text`] and the
//! rest, reached through [`Session::connection_mut`]). A replay drains
//! output exactly as the original driver did, so a slow writer's
//! back-pressure replays too.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ws_proto::record::{RecordOptions, Transcript};
//! use ws_proto::session::{Session, SessionConfig, SessionEvent};
//! use ws_proto::{Event, Instant};
//! use http_upgrade::{Accept, ServerConfig};
//!
//! let (http, config) = (Arc::new(ServerConfig::default()), Arc::new(SessionConfig::default()));
//! let t0 = Instant::ZERO;
//! let mut server = Session::server(http.clone(), config.clone(), t0);
//! server.record(RecordOptions::default().with_label("example"))?;
//!
//! // A browser's upgrade and one masked "hi" frame, in two reads.
//! server.receive(t0, b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n")?;
//! let Some(SessionEvent::Upgrade(req)) = server.poll_event()? else { panic!() };
//! server.accept(t0, Accept::for_request(&req), &mut NoRng)?;
//! assert!(matches!(server.poll_event()?, Some(SessionEvent::Open(_))));
//! server.receive(t0, &[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])?;
//! let Some(SessionEvent::Ws(Event::Text(text))) = server.poll_event()? else { panic!() };
//! server.connection_mut().unwrap().send_text(text)?;
//! let mut wire = Vec::new();
//! let _ = server.poll_transmit(&mut wire);
//!
//! let transcript: Transcript = server.take_transcript().unwrap();
//! let bytes = transcript.as_bytes().to_vec(); // store it, mail it, commit it
//!
//! // Later, anywhere: the same outputs from a fresh session.
//! let transcript = Transcript::from_bytes(bytes)?;
//! let fresh = Session::server(http, config, transcript.header().start);
//! let replayed = transcript.replay(fresh)?;
//! assert_eq!(replayed.bytes_out, wire.len() as u64);
//! # struct NoRng;
//! # impl rand_core::TryRng for NoRng {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(0) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(0) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { d.fill(0); Ok(()) }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`poll_event`]: Session::poll_event
//! [`Connection::send_text`]: crate::Connection::send_text

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;
use http_upgrade::rand_core::{Rng, SeedableRng, TryRng};
use http_upgrade::{Accept, Body, ExtensionOffer, ExtensionParam, Instant, Response};

use crate::session::{Session, SessionError, SessionEvent};
use crate::{CloseCode, Config, Error, Event, MaskRng, MessageKind, ReceiveMode, Role, Utf8Bytes};

const MAGIC: &[u8; 4] = b"WSRT";
const VERSION: u8 = 1;
/// Where the flags byte sits: after the magic and the version.
const FLAGS_AT: usize = 5;
const FLAG_SERVER: u8 = 1;
const FLAG_REDACTED: u8 = 2;
const FLAG_TRUNCATED: u8 = 4;
const FLAG_SEED: u8 = 8;

/// The default bound on a transcript: 1 MiB.
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;

mod tag {
    pub(super) const RECEIVE: u8 = 1;
    pub(super) const EOF: u8 = 2;
    pub(super) const TIMEOUT: u8 = 3;
    pub(super) const POLL: u8 = 4;
    pub(super) const TRANSMIT: u8 = 5;
    pub(super) const ACCEPT: u8 = 6;
    pub(super) const REJECT: u8 = 7;
    pub(super) const RESPOND: u8 = 8;
    pub(super) const SEND_BODY: u8 = 9;
    pub(super) const SET_CONFIG: u8 = 10;
    pub(super) const SEND: u8 = 16;
    pub(super) const SEND_PREPARED: u8 = 17;
    pub(super) const FRAGMENT: u8 = 18;
    pub(super) const PING: u8 = 19;
    pub(super) const PONG: u8 = 20;
    pub(super) const CLOSE: u8 = 21;
    pub(super) const ABORT: u8 = 22;
    pub(super) const TIME: u8 = 23;
    pub(super) const TRUNCATED: u8 = 0xff;
}

/// What to record, and how much.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOptions {
    /// The transcript's bound in bytes (header included); recording stops
    /// with an [`Entry::Truncated`] mark at it. Default
    /// [`DEFAULT_MAX_BYTES`].
    pub max_bytes: usize,
    /// Replace payloads and secrets by `x` bytes at record time (see the
    /// [module docs](self)). Default off.
    pub redact: bool,
    /// A free text stored in the header: the peer's address, a
    /// connection id, the URL a client connected to.
    pub label: String,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            max_bytes: DEFAULT_MAX_BYTES,
            redact: false,
            label: String::new(),
        }
    }
}

impl RecordOptions {
    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`redact`](Self::redact).
    #[must_use]
    pub fn with_redact(mut self, redact: bool) -> Self {
        self.redact = redact;
        self
    }

    /// Sets [`label`](Self::label).
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// A 64-bit FNV-1a digest: cheap, and only ever compared with itself.
#[derive(Clone, Copy)]
struct Digest(u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The kind of a [`poll_event`](Session::poll_event) result, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollKind {
    /// `Ok(None)`: more input needed.
    Nothing,
    /// `Err(_)`: the session failed.
    Failed,
    /// [`SessionEvent::Request`].
    Request,
    /// [`SessionEvent::Upgrade`].
    Upgrade,
    /// [`SessionEvent::Open`].
    Open,
    /// [`SessionEvent::Redirect`].
    Redirect,
    /// [`SessionEvent::Rejected`].
    Rejected,
    /// [`Event::Text`].
    Text,
    /// [`Event::Binary`].
    Binary,
    /// [`Event::MessageStart`].
    MessageStart,
    /// [`Event::MessageChunk`].
    MessageChunk,
    /// [`Event::MessageEnd`].
    MessageEnd,
    /// [`Event::Ping`].
    Ping,
    /// [`Event::Pong`].
    Pong,
    /// [`Event::Close`].
    Close,
}

impl PollKind {
    const ALL: [PollKind; 15] = [
        PollKind::Nothing,
        PollKind::Failed,
        PollKind::Request,
        PollKind::Upgrade,
        PollKind::Open,
        PollKind::Redirect,
        PollKind::Rejected,
        PollKind::Text,
        PollKind::Binary,
        PollKind::MessageStart,
        PollKind::MessageChunk,
        PollKind::MessageEnd,
        PollKind::Ping,
        PollKind::Pong,
        PollKind::Close,
    ];

    fn code(self) -> u8 {
        PollKind::ALL.iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    fn from_code(c: u8) -> Option<PollKind> {
        PollKind::ALL.get(usize::from(c)).copied()
    }
}

/// One recorded [`poll_event`](Session::poll_event) result: its kind, a
/// length (the payload's; for `Close` the reason's; for `MessageStart`
/// 0 text / 1 binary; for `Failed` the close code, 0 for none), and a
/// digest of the payload unless the transcript is redacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polled {
    /// What came out.
    pub kind: PollKind,
    /// Its length (see the type's docs).
    pub len: u64,
    /// A digest of its payload (close: code and reason); `None` when
    /// redacted.
    pub digest: Option<u64>,
}

impl Polled {
    fn of(r: &Result<Option<SessionEvent>, SessionError>, redact: bool) -> Polled {
        let mut d = Digest::new();
        let (kind, len) = match r {
            Ok(None) => (PollKind::Nothing, 0),
            Err(e) => {
                let code = match e {
                    SessionError::Connection(e) => e.close_code().map_or(0, |c| c.0),
                    _ => 0,
                };
                (PollKind::Failed, u64::from(code))
            }
            Ok(Some(ev)) => match ev {
                SessionEvent::Request(_) => (PollKind::Request, 0),
                SessionEvent::Upgrade(_) => (PollKind::Upgrade, 0),
                SessionEvent::Open(_) => (PollKind::Open, 0),
                SessionEvent::Redirect { status, .. } => (PollKind::Redirect, u64::from(*status)),
                SessionEvent::Rejected(_) => (PollKind::Rejected, 0),
                SessionEvent::Ws(ev) => {
                    let (kind, payload): (PollKind, &[u8]) = match ev {
                        Event::Text(t) => (PollKind::Text, t.as_bytes()),
                        Event::Binary(b) => (PollKind::Binary, b),
                        Event::MessageStart(k) => {
                            let n = u64::from(*k == MessageKind::Binary);
                            return Polled {
                                kind: PollKind::MessageStart,
                                len: n,
                                digest: (!redact).then_some(d.0),
                            };
                        }
                        Event::MessageChunk(b) => (PollKind::MessageChunk, b),
                        Event::MessageEnd => (PollKind::MessageEnd, &[]),
                        Event::Ping(b) => (PollKind::Ping, b),
                        Event::Pong(b) => (PollKind::Pong, b),
                        Event::Close { code, reason } => {
                            d.update(&code.map_or(0, |c| c.0).to_be_bytes());
                            (PollKind::Close, reason.as_bytes())
                        }
                    };
                    d.update(payload);
                    (kind, payload.len() as u64)
                }
                #[allow(unreachable_patterns)]
                _ => (PollKind::Nothing, 0),
            },
        };
        Polled {
            kind,
            len,
            digest: (!redact).then_some(d.0),
        }
    }

    /// Whether `other` (a replay's) agrees with this recorded result.
    fn matches(&self, other: &Polled) -> bool {
        self.kind == other.kind
            && self.len == other.len
            && (self.digest.is_none() || self.digest == other.digest)
    }
}

impl fmt::Display for Polled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PollKind::Nothing => f.write_str("(nothing)"),
            PollKind::Failed => write!(f, "failed (close {})", self.len),
            PollKind::MessageStart => write!(
                f,
                "MessageStart {}",
                if self.len == 1 { "binary" } else { "text" }
            ),
            PollKind::MessageEnd | PollKind::Request | PollKind::Upgrade | PollKind::Open => {
                write!(f, "{:?}", self.kind)
            }
            PollKind::Redirect => write!(f, "Redirect {}", self.len),
            _ => write!(f, "{:?} {} B", self.kind, self.len),
        }
    }
}

/// The recorder a [`Session`] carries while it records (see the
/// [module docs](self)). Created by [`Session::record`] or
/// [`Session::client_recorded`]; ended by [`Session::take_transcript`].
pub struct Recorder {
    buf: Vec<u8>,
    max: usize,
    redact: bool,
    role: Role,
    /// The last recorded time, in nanoseconds since the epoch.
    last: u64,
    full: bool,
    /// `Receive` entries recorded.
    inputs: usize,
    /// Redacts input as it is recorded.
    scan: Option<Box<Scanner>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("len", &self.buf.len())
            .field("max", &self.max)
            .field("redact", &self.redact)
            .field("full", &self.full)
            .finish_non_exhaustive()
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_x(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
    out.resize(out.len() + n, b'x');
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_bytes(out, s.as_bytes());
        }
    }
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    put_varint(out, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
}

fn put_opt_duration(out: &mut Vec<u8>, d: Option<Duration>) {
    match d {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            put_duration(out, d);
        }
    }
}

/// Header names whose values are secrets.
fn is_secret_header(name: &[u8]) -> bool {
    [
        "cookie",
        "set-cookie",
        "authorization",
        "proxy-authorization",
    ]
    .iter()
    .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

fn put_headers(out: &mut Vec<u8>, headers: &[(String, String)], redact: bool) {
    put_varint(out, headers.len() as u64);
    for (name, value) in headers {
        put_bytes(out, name.as_bytes());
        if redact && is_secret_header(name.as_bytes()) {
            put_x(out, value.len());
        } else {
            put_bytes(out, value.as_bytes());
        }
    }
}

fn headers_size(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 20)
        .sum::<usize>()
        + 10
}

fn put_response(out: &mut Vec<u8>, r: &Response, redact: bool) {
    put_varint(out, u64::from(r.status()));
    put_opt_str(out, r.custom_reason());
    put_headers(out, r.headers(), redact);
    match r.body_ref() {
        Body::Full(b) => {
            out.push(0);
            if redact {
                put_x(out, b.len());
            } else {
                put_bytes(out, b);
            }
        }
        Body::Streamed(n) => {
            out.push(1);
            put_varint(out, *n);
        }
        #[allow(unreachable_patterns)]
        _ => out.push(2),
    }
}

fn response_size(r: &Response) -> usize {
    let body = match r.body_ref() {
        Body::Full(b) => b.len(),
        _ => 0,
    };
    headers_size(r.headers()) + r.custom_reason().map_or(0, str::len) + body + 40
}

fn put_config(out: &mut Vec<u8>, c: &Config) {
    put_varint(out, c.max_frame_size);
    put_varint(out, c.max_message_size);
    put_varint(out, c.max_fragments);
    match c.fragment_size {
        None => out.push(0),
        Some(n) => {
            out.push(1);
            put_varint(out, n as u64);
        }
    }
    match c.receive_mode {
        ReceiveMode::Whole => out.push(0),
        ReceiveMode::Stream => out.push(1),
        ReceiveMode::Threshold(n) => {
            out.push(2);
            put_varint(out, n as u64);
        }
    }
    out.push(u8::from(c.auto_pong));
    put_duration(out, c.close_timeout);
    put_opt_duration(out, c.keep_alive);
    put_opt_duration(out, c.idle_timeout);
    put_opt_duration(out, c.stall_timeout);
    put_opt_duration(out, c.write_timeout);
    put_opt_duration(out, c.pong_timeout);
    put_opt_duration(out, c.buffer_linger);
}

fn kind_code(kind: MessageKind) -> u8 {
    u8::from(kind == MessageKind::Binary)
}

impl Recorder {
    pub(crate) fn new(
        role: Role,
        start: Instant,
        seed: Option<&[u8; 32]>,
        options: &RecordOptions,
    ) -> Self {
        let mut buf = Vec::with_capacity(256.min(options.max_bytes));
        buf.extend_from_slice(MAGIC);
        buf.push(VERSION);
        let mut flags = 0;
        if role == Role::Server {
            flags |= FLAG_SERVER;
        }
        if options.redact {
            flags |= FLAG_REDACTED;
        }
        if seed.is_some() {
            flags |= FLAG_SEED;
        }
        buf.push(flags);
        let start = start.as_nanos();
        put_varint(&mut buf, start);
        if let Some(seed) = seed {
            buf.extend_from_slice(seed);
        }
        let label = options.label.as_bytes();
        put_bytes(
            &mut buf,
            label.get(..label.len().min(1024)).unwrap_or_default(),
        );
        let mut r = Recorder {
            buf,
            max: options.max_bytes,
            redact: options.redact,
            role,
            last: start,
            full: false,
            inputs: 0,
            scan: options.redact.then(|| Box::new(Scanner::new(role))),
        };
        if r.buf.len() >= r.max {
            r.full = true;
        }
        r
    }

    /// Starts an entry of at most `size` bytes, or ends the recording
    /// when it would pass the bound.
    fn room(&mut self, size: usize) -> bool {
        if self.full {
            return false;
        }
        // One byte stays free for the truncation mark.
        if self.buf.len().saturating_add(size).saturating_add(1) > self.max {
            self.full = true;
            self.buf.push(tag::TRUNCATED);
            return false;
        }
        true
    }

    fn time(&mut self, now: Instant) {
        let t = now.as_nanos();
        let delta = t.wrapping_sub(self.last) as i64;
        self.last = t;
        // Zigzag: a clock that steps back costs a few bytes, not a failure.
        put_varint(&mut self.buf, ((delta << 1) ^ (delta >> 63)) as u64);
    }

    /// The recorded transcript so far, in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing but the header was recorded.
    pub fn is_empty(&self) -> bool {
        self.inputs == 0
    }

    /// True once the bound was reached: nothing more is recorded.
    pub fn is_full(&self) -> bool {
        self.full
    }

    pub(crate) fn receive(&mut self, now: Instant, data: &[u8]) {
        if !self.room(data.len() + 21) {
            return;
        }
        self.buf.push(tag::RECEIVE);
        self.time(now);
        put_varint(&mut self.buf, data.len() as u64);
        let at = self.buf.len();
        self.buf.extend_from_slice(data);
        self.inputs += 1;
        if let Some(scan) = self.scan.as_deref_mut() {
            scan.feed(&mut self.buf, at..at + data.len(), true, &mut |_| {});
        }
    }

    /// Stamps the timeline (commands carry no time of their own).
    pub(crate) fn mark(&mut self, now: Instant) {
        if now.as_nanos() != self.last {
            self.timed(tag::TIME, now);
        }
    }

    pub(crate) fn eof(&mut self, now: Instant) {
        self.timed(tag::EOF, now);
    }

    pub(crate) fn timeout(&mut self, now: Instant) {
        self.timed(tag::TIMEOUT, now);
    }

    fn timed(&mut self, t: u8, now: Instant) {
        if self.room(11) {
            self.buf.push(t);
            self.time(now);
        }
    }

    pub(crate) fn poll(&mut self, r: &Result<Option<SessionEvent>, SessionError>) {
        if !self.room(21) {
            return;
        }
        let p = Polled::of(r, self.redact);
        self.buf.push(tag::POLL);
        self.buf.push(p.kind.code());
        put_varint(&mut self.buf, p.len);
        if let Some(d) = p.digest {
            self.buf.extend_from_slice(&d.to_le_bytes());
        }
    }

    /// `n` bytes taken for the wire, given as the slices they came from.
    pub(crate) fn transmit<'a>(&mut self, n: usize, slices: impl IntoIterator<Item = &'a [u8]>) {
        if n == 0 || !self.room(19) {
            return;
        }
        self.buf.push(tag::TRANSMIT);
        put_varint(&mut self.buf, n as u64);
        if !self.redact {
            let mut d = Digest::new();
            let mut left = n;
            for s in slices {
                let take = s.len().min(left);
                d.update(s.get(..take).unwrap_or_default());
                left -= take;
                if left == 0 {
                    break;
                }
            }
            self.buf.extend_from_slice(&d.0.to_le_bytes());
        }
    }

    pub(crate) fn accept(&mut self, now: Instant, accept: &Accept, drawn: &[u8]) {
        let exts: usize = accept
            .extensions
            .iter()
            .map(|e| {
                e.name.len()
                    + 20
                    + e.params
                        .iter()
                        .map(|p| p.name.len() + p.value.as_ref().map_or(0, String::len) + 20)
                        .sum::<usize>()
            })
            .sum();
        let size = 30
            + accept.protocol.as_ref().map_or(0, String::len)
            + exts
            + headers_size(&accept.headers)
            + drawn.len();
        if !self.room(size) {
            return;
        }
        let b = &mut self.buf;
        b.push(tag::ACCEPT);
        self.time(now);
        let b = &mut self.buf;
        put_opt_str(b, accept.protocol.as_deref());
        put_varint(b, accept.extensions.len() as u64);
        for e in &accept.extensions {
            put_bytes(b, e.name.as_bytes());
            put_varint(b, e.params.len() as u64);
            for p in &e.params {
                put_bytes(b, p.name.as_bytes());
                put_opt_str(b, p.value.as_deref());
            }
        }
        put_headers(b, &accept.headers, self.redact);
        put_bytes(b, drawn);
    }

    pub(crate) fn reject(&mut self, response: &Response) {
        if self.room(response_size(response)) {
            self.buf.push(tag::REJECT);
            put_response(&mut self.buf, response, self.redact);
        }
    }

    pub(crate) fn respond(&mut self, now: Instant, response: &Response) {
        if self.room(response_size(response) + 10) {
            self.buf.push(tag::RESPOND);
            self.time(now);
            put_response(&mut self.buf, response, self.redact);
        }
    }

    pub(crate) fn send_body(&mut self, now: Instant, chunk: &[u8]) {
        if self.room(chunk.len() + 21) {
            self.buf.push(tag::SEND_BODY);
            self.time(now);
            self.payload(chunk);
        }
    }

    pub(crate) fn set_config(&mut self, config: &Config) {
        if self.room(160) {
            self.buf.push(tag::SET_CONFIG);
            put_config(&mut self.buf, config);
        }
    }

    fn payload(&mut self, data: &[u8]) {
        if self.redact {
            put_x(&mut self.buf, data.len());
        } else {
            put_bytes(&mut self.buf, data);
        }
    }

    pub(crate) fn send(&mut self, kind: MessageKind, data: &[u8]) {
        if self.room(data.len() + 12) {
            self.buf.push(tag::SEND);
            self.buf.push(kind_code(kind));
            self.payload(data);
        }
    }

    pub(crate) fn send_prepared(&mut self, kind: MessageKind, data: &[u8]) {
        if self.room(data.len() + 12) {
            self.buf.push(tag::SEND_PREPARED);
            self.buf.push(kind_code(kind));
            self.payload(data);
        }
    }

    pub(crate) fn send_fragment(&mut self, kind: MessageKind, data: &[u8], fin: bool) {
        if self.room(data.len() + 13) {
            self.buf.push(tag::FRAGMENT);
            self.buf.push(kind_code(kind) | (u8::from(fin) << 1));
            self.payload(data);
        }
    }

    pub(crate) fn control(&mut self, pong: bool, data: &[u8]) {
        if self.room(data.len() + 11) {
            self.buf.push(if pong { tag::PONG } else { tag::PING });
            self.payload(data);
        }
    }

    pub(crate) fn close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        if self.room(reason.len() + 25) {
            self.buf.push(tag::CLOSE);
            self.time(now);
            put_varint(&mut self.buf, u64::from(code.0));
            self.payload(reason.as_bytes());
        }
    }

    pub(crate) fn abort(&mut self, code: CloseCode, reason: &str) {
        if self.room(reason.len() + 14) {
            self.buf.push(tag::ABORT);
            put_varint(&mut self.buf, u64::from(code.0));
            self.payload(reason.as_bytes());
        }
    }

    /// Ends the recording: marks a truncated transcript and returns it.
    pub(crate) fn finish(mut self) -> Transcript {
        if self.full {
            if let Some(f) = self.buf.get_mut(FLAGS_AT) {
                *f |= FLAG_TRUNCATED;
            }
        }
        let data = Bytes::from(core::mem::take(&mut self.buf));
        match Transcript::from_bytes(data) {
            Ok(t) => t,
            // Unreachable: the header was written above.
            Err(_) => Transcript::empty(self.role),
        }
    }
}

/// What the recording's input scanner found in the input stream (see
/// [`Transcript::scan_input`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scanned {
    /// An HTTP head ended; its first line.
    Head(String),
    /// A frame header (RFC 6455 §5.2) was read.
    Frame {
        /// FIN bit.
        fin: bool,
        /// RSV1–3 bits, as `0b0rrr`.
        rsv: u8,
        /// The opcode nibble.
        opcode: u8,
        /// Whether a masking key is present.
        masked: bool,
        /// The payload length.
        len: u64,
    },
    /// Input past the handshake in a framing the scanner does not read
    /// (hixie-76, hybi-04/05/06), this many bytes.
    Opaque(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Frames,
    Opaque,
}

/// A streaming reader of a connection's input (HTTP heads, then RFC 6455
/// frames), over positions in one buffer; it redacts as it reads.
struct Scanner {
    role: Role,
    phase: Phase,
    /// Positions of the current head line's bytes.
    line: Vec<usize>,
    first_line: Option<String>,
    head_upgrade: bool,
    /// The request head asked for version 13, 8 or 7.
    modern: bool,
    legacy: bool,
    hdr: [u8; 14],
    hdr_len: usize,
    /// Payload bytes left in the current frame, and their index.
    left: u64,
    index: u64,
    mask: Option<[u8; 4]>,
    opcode: u8,
}

impl Scanner {
    fn new(role: Role) -> Self {
        Scanner {
            role,
            phase: Phase::Head,
            line: Vec::new(),
            first_line: None,
            head_upgrade: false,
            modern: false,
            legacy: false,
            hdr: [0; 14],
            hdr_len: 0,
            left: 0,
            index: 0,
            mask: None,
            opcode: 0,
        }
    }

    fn feed(
        &mut self,
        buf: &mut [u8],
        range: core::ops::Range<usize>,
        redact: bool,
        found: &mut dyn FnMut(Scanned),
    ) {
        let mut opaque = 0;
        for pos in range {
            let Some(&b) = buf.get(pos) else { break };
            match self.phase {
                Phase::Head => self.head_byte(buf, pos, b, redact, found),
                Phase::Frames => self.frame_byte(buf, pos, b, redact, found),
                Phase::Opaque => {
                    opaque += 1;
                    if redact {
                        if let Some(x) = buf.get_mut(pos) {
                            *x = b'x';
                        }
                    }
                }
            }
        }
        if opaque > 0 {
            found(Scanned::Opaque(opaque));
        }
    }

    fn head_byte(
        &mut self,
        buf: &mut [u8],
        pos: usize,
        b: u8,
        redact: bool,
        found: &mut dyn FnMut(Scanned),
    ) {
        if self.line.len() < 64 * 1024 {
            self.line.push(pos);
        }
        if b != b'\n' {
            return;
        }
        let line: Vec<u8> = self
            .line
            .iter()
            .filter_map(|&p| buf.get(p).copied())
            .collect();
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            // The head's end.
            self.line.clear();
            let first = self.first_line.take().unwrap_or_default();
            found(Scanned::Head(first));
            // A WebSocket upgrade request is answered by the `101` (then
            // frames follow) or refused (then the connection closes);
            // any other request may be followed by the next one.
            let upgrade = self.head_upgrade;
            self.head_upgrade = false;
            let modern = core::mem::take(&mut self.modern);
            if upgrade {
                let legacy = match self.role {
                    Role::Server => !modern,
                    Role::Client => self.legacy,
                };
                self.phase = if legacy { Phase::Opaque } else { Phase::Frames };
            }
            return;
        }
        if self.first_line.is_none() {
            self.first_line = Some(String::from_utf8_lossy(text).into_owned());
            if self.role == Role::Client {
                self.head_upgrade = text.get(9..12) == Some(b"101");
            }
            if redact && self.role == Role::Server {
                // The query string of the request target.
                let end = text
                    .windows(6)
                    .rposition(|w| w == b" HTTP/")
                    .unwrap_or(text.len());
                if let Some(q) = text.iter().position(|&c| c == b'?') {
                    for i in q + 1..end {
                        self.x_at(buf, i);
                    }
                }
                let redacted = self.line_text(buf, text.len());
                self.first_line = Some(redacted);
            }
            self.line.clear();
            return;
        }
        if let Some(colon) = text.iter().position(|&c| c == b':') {
            let name = text.get(..colon).unwrap_or_default();
            let value = text.get(colon + 1..).unwrap_or_default();
            let value_trim = value.trim_ascii();
            if name.eq_ignore_ascii_case(b"upgrade")
                && self.role == Role::Server
                && value_trim
                    .windows(9)
                    .any(|w| w.eq_ignore_ascii_case(b"websocket"))
            {
                self.head_upgrade = true;
            }
            // A request speaks RFC 6455 framing only with version 13, 8
            // or 7 (hixie-76 sends no version at all).
            if name.eq_ignore_ascii_case(b"sec-websocket-version")
                && matches!(value_trim, b"13" | b"8" | b"7")
            {
                self.modern = true;
            }
            let legacy_response = self.role == Role::Client
                && (name.eq_ignore_ascii_case(b"sec-websocket-location")
                    || name.eq_ignore_ascii_case(b"sec-websocket-nonce"));
            if legacy_response {
                self.legacy = true;
            }
            if redact && is_secret_header(name) {
                for i in colon + 1..text.len() {
                    if text.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                        self.x_at(buf, i);
                    }
                }
            }
        }
        self.line.clear();
    }

    fn line_text(&self, buf: &[u8], len: usize) -> String {
        let bytes: Vec<u8> = self
            .line
            .iter()
            .take(len)
            .filter_map(|&p| buf.get(p).copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn x_at(&self, buf: &mut [u8], i: usize) {
        if let Some(x) = self.line.get(i).and_then(|&p| buf.get_mut(p)) {
            *x = b'x';
        }
    }

    fn frame_byte(
        &mut self,
        buf: &mut [u8],
        pos: usize,
        b: u8,
        redact: bool,
        found: &mut dyn FnMut(Scanned),
    ) {
        if self.left > 0 {
            // A close frame keeps its two code bytes.
            let keep = self.opcode == 0x8 && self.index < 2;
            if redact && !keep {
                let k = self.mask.map_or(0, |m| m[(self.index % 4) as usize]);
                if let Some(x) = buf.get_mut(pos) {
                    *x = b'x' ^ k;
                }
            }
            self.index += 1;
            self.left -= 1;
            return;
        }
        if let Some(slot) = self.hdr.get_mut(self.hdr_len) {
            *slot = b;
        }
        self.hdr_len += 1;
        let [b0, b1, ..] = self.hdr;
        let masked = b1 & 0x80 != 0;
        let (ext, len7) = match b1 & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(u64::from(n))),
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if self.hdr_len < need {
            return;
        }
        let len = len7.unwrap_or_else(|| {
            self.hdr
                .get(2..2 + ext)
                .unwrap_or_default()
                .iter()
                .fold(0u64, |a, &c| (a << 8) | u64::from(c))
        });
        self.mask = masked.then(|| {
            let mut m = [0; 4];
            m.copy_from_slice(self.hdr.get(2 + ext..6 + ext).unwrap_or(&[0; 4]));
            m
        });
        self.opcode = b0 & 0x0f;
        self.left = len;
        self.index = 0;
        self.hdr_len = 0;
        found(Scanned::Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            masked,
            len,
        });
    }
}

/// A transcript that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// Not a transcript: the magic bytes are missing.
    #[error("not a transcript (no WSRT magic)")]
    Magic,
    /// A version this build does not read.
    #[error("transcript version {0} is not supported (this build reads {VERSION})")]
    Version(u8),
    /// The bytes end inside an entry.
    #[error("transcript cut short at byte {0}")]
    Short(usize),
    /// An unknown entry tag or value.
    #[error("bad {what} at byte {at}")]
    Bad {
        /// What was being read.
        what: &'static str,
        /// Its offset.
        at: usize,
    },
}

/// What a transcript says of the connection it recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The recorded session's role.
    pub role: Role,
    /// When it started (pass this to the fresh session's constructor).
    pub start: Instant,
    /// Payloads were redacted.
    pub redacted: bool,
    /// The recording reached its bound.
    pub truncated: bool,
    /// A client's mask-key seed ([`Session::client_recorded`]).
    pub seed: Option<[u8; 32]>,
    /// The label given in [`RecordOptions`].
    pub label: String,
}

impl Header {
    /// For a client transcript: the RNG to build the replaying session
    /// with (`Session::client(request, config, header.rng().unwrap(),
    /// header.start)`), the one the recorded session drew its handshake
    /// key and mask keys from.
    pub fn rng(&self) -> Option<MaskRng> {
        self.seed
            .map(|s| Box::new(chacha20::ChaCha20Rng::from_seed(s)) as MaskRng)
    }
}

/// A recorded connection (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    data: Bytes,
    header: Header,
    body: usize,
}

/// One decoded transcript entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry<'a> {
    /// [`Session::receive`] (or `recv_commit`) of these bytes at `at`.
    Receive {
        /// The time given.
        at: Instant,
        /// The bytes.
        data: &'a [u8],
    },
    /// [`Session::receive_eof`].
    Eof {
        /// The time given.
        at: Instant,
    },
    /// [`Session::handle_timeout`].
    Timeout {
        /// The time given.
        at: Instant,
    },
    /// A [`Session::poll_event`] result.
    Poll(Polled),
    /// Output taken for the wire: `len` bytes, with their digest unless
    /// redacted.
    Transmit {
        /// How many bytes.
        len: usize,
        /// Their digest.
        digest: Option<u64>,
    },
    /// [`Session::accept`], with the bytes the RNG gave.
    Accept {
        /// The time given.
        at: Instant,
        /// The answer.
        accept: Accept,
        /// What the RNG gave (the hybi-04/05 nonce).
        rng: &'a [u8],
    },
    /// [`Session::reject`].
    Reject(Response),
    /// [`Session::respond`].
    Respond {
        /// The time given.
        at: Instant,
        /// The response.
        response: Response,
    },
    /// [`Session::send_body`].
    SendBody {
        /// The time given.
        at: Instant,
        /// The chunk.
        chunk: &'a [u8],
    },
    /// [`Session::set_connection_config`].
    SetConfig(Box<Config>),
    /// `send_text` / `send_binary` (or `send` of a data message).
    Send {
        /// Text or binary.
        kind: MessageKind,
        /// The payload.
        data: &'a [u8],
    },
    /// `send_prepared`.
    SendPrepared {
        /// Text or binary.
        kind: MessageKind,
        /// The payload.
        data: &'a [u8],
    },
    /// `send_fragment`.
    SendFragment {
        /// Text or binary.
        kind: MessageKind,
        /// The part.
        data: &'a [u8],
        /// The last part.
        fin: bool,
    },
    /// `send_ping`.
    Ping(&'a [u8]),
    /// `send_pong`.
    Pong(&'a [u8]),
    /// `Connection::close`.
    Close {
        /// The time given.
        at: Instant,
        /// The code.
        code: CloseCode,
        /// The reason.
        reason: &'a [u8],
    },
    /// `Connection::abort`.
    Abort {
        /// The code.
        code: CloseCode,
        /// The reason.
        reason: &'a [u8],
    },
    /// The driver's time at a loop turn ([`Session::mark_time`]): the
    /// commands that follow happened then. No input: a replay tells the
    /// session the time (`mark_time`) and goes on.
    Time {
        /// The time.
        at: Instant,
    },
    /// The recording reached its bound here.
    Truncated,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, TranscriptError> {
        let b = *self
            .data
            .get(self.at)
            .ok_or(TranscriptError::Short(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, TranscriptError> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TranscriptError::Bad {
            what: "varint",
            at: start,
        })
    }

    fn usize(&mut self) -> Result<usize, TranscriptError> {
        let at = self.at;
        usize::try_from(self.varint()?).map_err(|_| TranscriptError::Bad { what: "length", at })
    }

    fn bytes(&mut self) -> Result<&'a [u8], TranscriptError> {
        let n = self.usize()?;
        let end = self
            .at
            .checked_add(n)
            .ok_or(TranscriptError::Short(self.at))?;
        let b = self
            .data
            .get(self.at..end)
            .ok_or(TranscriptError::Short(self.at))?;
        self.at = end;
        Ok(b)
    }

    fn string(&mut self) -> Result<String, TranscriptError> {
        let at = self.at;
        let b = self.bytes()?;
        core::str::from_utf8(b)
            .map(ToOwned::to_owned)
            .map_err(|_| TranscriptError::Bad { what: "string", at })
    }

    fn opt_string(&mut self) -> Result<Option<String>, TranscriptError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(self.bad("option")),
        }
    }

    fn duration(&mut self) -> Result<Duration, TranscriptError> {
        Ok(Duration::from_nanos(self.varint()?))
    }

    fn opt_duration(&mut self) -> Result<Option<Duration>, TranscriptError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.duration().map(Some),
            _ => Err(self.bad("option")),
        }
    }

    fn u64_le(&mut self) -> Result<u64, TranscriptError> {
        let end = self.at + 8;
        let b = self
            .data
            .get(self.at..end)
            .ok_or(TranscriptError::Short(self.at))?;
        self.at = end;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bad(&self, what: &'static str) -> TranscriptError {
        TranscriptError::Bad {
            what,
            at: self.at.saturating_sub(1),
        }
    }

    fn kind(&mut self) -> Result<MessageKind, TranscriptError> {
        match self.u8()? & 1 {
            0 => Ok(MessageKind::Text),
            _ => Ok(MessageKind::Binary),
        }
    }

    fn headers(&mut self) -> Result<Vec<(String, String)>, TranscriptError> {
        let n = self.usize()?;
        let mut out = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            out.push((self.string()?, self.string()?));
        }
        Ok(out)
    }

    fn response(&mut self) -> Result<Response, TranscriptError> {
        let at = self.at;
        let status = u16::try_from(self.varint()?)
            .map_err(|_| TranscriptError::Bad { what: "status", at })?;
        let mut r = Response::new(status);
        if let Some(reason) = self.opt_string()? {
            r = r.reason(reason);
        }
        for (n, v) in self.headers()? {
            r = r.header(n, v);
        }
        match self.u8()? {
            0 => r = r.body(Bytes::copy_from_slice(self.bytes()?)),
            1 => r = r.streamed(self.varint()?),
            _ => return Err(self.bad("body")),
        }
        Ok(r)
    }

    fn config(&mut self) -> Result<Config, TranscriptError> {
        let max_frame_size = self.varint()?;
        let max_message_size = self.varint()?;
        let max_fragments = self.varint()?;
        let fragment_size = match self.u8()? {
            0 => None,
            1 => Some(self.usize()?),
            _ => return Err(self.bad("fragment size")),
        };
        let receive_mode = match self.u8()? {
            0 => ReceiveMode::Whole,
            1 => ReceiveMode::Stream,
            2 => ReceiveMode::Threshold(self.usize()?),
            _ => return Err(self.bad("receive mode")),
        };
        let auto_pong = self.u8()? != 0;
        Ok(Config {
            max_frame_size,
            max_message_size,
            max_fragments,
            fragment_size,
            receive_mode,
            auto_pong,
            close_timeout: self.duration()?,
            keep_alive: self.opt_duration()?,
            idle_timeout: self.opt_duration()?,
            stall_timeout: self.opt_duration()?,
            write_timeout: self.opt_duration()?,
            pong_timeout: self.opt_duration()?,
            buffer_linger: self.opt_duration()?,
        })
    }
}

/// The entries of a transcript, in order ([`Transcript::entries`]).
pub struct Entries<'a> {
    r: Reader<'a>,
    now: u64,
    done: bool,
}

impl<'a> Entries<'a> {
    fn time(&mut self) -> Result<Instant, TranscriptError> {
        let z = self.r.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.now = self.now.wrapping_add(delta as u64);
        Ok(Instant::from_nanos(self.now))
    }

    fn entry(&mut self) -> Result<Entry<'a>, TranscriptError> {
        let r = &mut self.r;
        let e = match r.u8()? {
            tag::RECEIVE => {
                let at = self.time()?;
                Entry::Receive {
                    at,
                    data: self.r.bytes()?,
                }
            }
            tag::EOF => Entry::Eof { at: self.time()? },
            tag::TIMEOUT => Entry::Timeout { at: self.time()? },
            tag::POLL => {
                let kind = PollKind::from_code(r.u8()?).ok_or_else(|| r.bad("event kind"))?;
                let len = r.varint()?;
                let digest = if self.redacted() {
                    None
                } else {
                    Some(self.r.u64_le()?)
                };
                Entry::Poll(Polled { kind, len, digest })
            }
            tag::TRANSMIT => {
                let len = r.usize()?;
                let digest = if self.redacted() {
                    None
                } else {
                    Some(self.r.u64_le()?)
                };
                Entry::Transmit { len, digest }
            }
            tag::ACCEPT => {
                let at = self.time()?;
                let r = &mut self.r;
                let protocol = r.opt_string()?;
                let n = r.usize()?;
                let mut extensions = Vec::with_capacity(n.min(16));
                for _ in 0..n {
                    let mut offer = ExtensionOffer::new(r.string()?);
                    let k = r.usize()?;
                    for _ in 0..k {
                        offer.params.push(ExtensionParam {
                            name: r.string()?,
                            value: r.opt_string()?,
                        });
                    }
                    extensions.push(offer);
                }
                let mut accept = Accept::default();
                accept.protocol = protocol;
                accept.extensions = extensions;
                accept.headers = r.headers()?;
                Entry::Accept {
                    at,
                    accept,
                    rng: r.bytes()?,
                }
            }
            tag::REJECT => Entry::Reject(r.response()?),
            tag::RESPOND => {
                let at = self.time()?;
                Entry::Respond {
                    at,
                    response: self.r.response()?,
                }
            }
            tag::SEND_BODY => {
                let at = self.time()?;
                Entry::SendBody {
                    at,
                    chunk: self.r.bytes()?,
                }
            }
            tag::SET_CONFIG => Entry::SetConfig(Box::new(r.config()?)),
            tag::SEND => Entry::Send {
                kind: r.kind()?,
                data: r.bytes()?,
            },
            tag::SEND_PREPARED => Entry::SendPrepared {
                kind: r.kind()?,
                data: r.bytes()?,
            },
            tag::FRAGMENT => {
                let flags = r.u8()?;
                Entry::SendFragment {
                    kind: if flags & 1 == 1 {
                        MessageKind::Binary
                    } else {
                        MessageKind::Text
                    },
                    fin: flags & 2 != 0,
                    data: r.bytes()?,
                }
            }
            tag::PING => Entry::Ping(r.bytes()?),
            tag::PONG => Entry::Pong(r.bytes()?),
            tag::CLOSE => {
                let at = self.time()?;
                let code = self.close_code()?;
                Entry::Close {
                    at,
                    code,
                    reason: self.r.bytes()?,
                }
            }
            tag::ABORT => Entry::Abort {
                code: self.close_code()?,
                reason: self.r.bytes()?,
            },
            tag::TIME => Entry::Time { at: self.time()? },
            tag::TRUNCATED => Entry::Truncated,
            _ => return Err(r.bad("entry tag")),
        };
        Ok(e)
    }

    fn close_code(&mut self) -> Result<CloseCode, TranscriptError> {
        let at = self.r.at;
        u16::try_from(self.r.varint()?)
            .map(CloseCode)
            .map_err(|_| TranscriptError::Bad {
                what: "close code",
                at,
            })
    }

    fn redacted(&self) -> bool {
        self.r
            .data
            .get(FLAGS_AT)
            .is_some_and(|f| f & FLAG_REDACTED != 0)
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, TranscriptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.r.at >= self.r.data.len() {
            return None;
        }
        let e = self.entry();
        if matches!(e, Err(_) | Ok(Entry::Truncated)) {
            self.done = true;
        }
        Some(e)
    }
}

/// A replay that agreed with its transcript.
#[derive(Debug)]
#[non_exhaustive]
pub struct Replayed {
    /// Entries replayed.
    pub entries: usize,
    /// Events polled (including `Ok(None)`).
    pub polls: usize,
    /// Input bytes fed.
    pub bytes_in: u64,
    /// Output bytes taken and checked.
    pub bytes_out: u64,
    /// The transcript ended at its bound.
    pub truncated: bool,
    /// The session after the last entry.
    pub session: Session,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The transcript does not decode.
    #[error("transcript: {0}")]
    Transcript(#[from] TranscriptError),
    /// The fresh session is of the other role.
    #[error("the transcript recorded a {recorded:?} session, the replay was given a {given:?}")]
    Role {
        /// The transcript's.
        recorded: Role,
        /// The session's.
        given: Role,
    },
    /// An output differs from the recorded one.
    #[error("entry {index}: {what}")]
    Diverged {
        /// The entry's index (0 is the first after the header).
        index: usize,
        /// What differs.
        what: String,
    },
}

/// Gives back recorded RNG output, then zeros.
struct Tape<'a>(&'a [u8]);

impl TryRng for Tape<'_> {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let n = dst.len().min(self.0.len());
        let (now, rest) = self.0.split_at(n);
        if let Some(d) = dst.get_mut(..n) {
            d.copy_from_slice(now);
        }
        if let Some(d) = dst.get_mut(n..) {
            d.fill(0);
        }
        self.0 = rest;
        Ok(())
    }
}

/// Keeps what an RNG gives, in the order [`Tape`] gives it back.
pub(crate) struct Tee<'a, R: ?Sized> {
    pub(crate) inner: &'a mut R,
    pub(crate) drawn: Vec<u8>,
}

impl<R: Rng + ?Sized> TryRng for Tee<'_, R> {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let v = self.inner.next_u32();
        self.drawn.extend_from_slice(&v.to_le_bytes());
        Ok(v)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let v = self.inner.next_u64();
        self.drawn.extend_from_slice(&v.to_le_bytes());
        Ok(v)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.inner.fill_bytes(dst);
        self.drawn.extend_from_slice(dst);
        Ok(())
    }
}

impl Transcript {
    fn empty(role: Role) -> Transcript {
        Transcript {
            data: Bytes::new(),
            header: Header {
                role,
                start: Instant::ZERO,
                redacted: false,
                truncated: false,
                seed: None,
                label: String::new(),
            },
            body: 0,
        }
    }

    /// Reads a transcript's header; the entries are decoded as they are
    /// iterated ([`entries`](Self::entries)).
    pub fn from_bytes(data: impl Into<Bytes>) -> Result<Transcript, TranscriptError> {
        let data = data.into();
        let mut r = Reader { data: &data, at: 0 };
        if data.get(..4) != Some(MAGIC.as_slice()) {
            return Err(TranscriptError::Magic);
        }
        r.at = 4;
        let version = r.u8()?;
        if version != VERSION {
            return Err(TranscriptError::Version(version));
        }
        let flags = r.u8()?;
        let start = Instant::from_nanos(r.varint()?);
        let seed = if flags & FLAG_SEED != 0 {
            let b = data
                .get(r.at..r.at + 32)
                .ok_or(TranscriptError::Short(r.at))?;
            r.at += 32;
            let mut s = [0; 32];
            s.copy_from_slice(b);
            Some(s)
        } else {
            None
        };
        let label = String::from_utf8_lossy(r.bytes()?).into_owned();
        let body = r.at;
        Ok(Transcript {
            header: Header {
                role: if flags & FLAG_SERVER != 0 {
                    Role::Server
                } else {
                    Role::Client
                },
                start,
                redacted: flags & FLAG_REDACTED != 0,
                truncated: flags & FLAG_TRUNCATED != 0,
                seed,
                label,
            },
            data,
            body,
        })
    }

    /// The encoded transcript.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The encoded transcript, shared.
    pub fn to_bytes(&self) -> Bytes {
        self.data.clone()
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The entries, decoded in order; an entry that does not decode ends
    /// the iteration with its error.
    pub fn entries(&self) -> Entries<'_> {
        let start = self.header.start.as_nanos();
        Entries {
            r: Reader {
                data: &self.data,
                at: self.body,
            },
            now: start,
            done: false,
        }
    }

    /// Reads the recorded input as a timeline: each `Receive` entry's
    /// index with what the scanner found in its bytes (HTTP heads, frame
    /// headers), in order. For tools such as `ws-replay`.
    pub fn scan_input(&self) -> Vec<(usize, Scanned)> {
        let mut scan = Scanner::new(self.header.role);
        let mut out = Vec::new();
        for (i, e) in self.entries().enumerate() {
            if let Ok(Entry::Receive { data, .. }) = e {
                let mut copy = data.to_vec();
                let n = copy.len();
                scan.feed(&mut copy, 0..n, false, &mut |s| out.push((i, s)));
            }
        }
        out
    }

    /// Feeds the transcript into `session`, a fresh session built as the
    /// recorded one was (the same role, configs and negotiators, started
    /// at [`Header::start`]; a client with [`Header::rng`]), and checks
    /// every output against the recorded one. Commands the recorded
    /// application gave are given again; their results are not compared
    /// (the outputs that follow are).
    pub fn replay(&self, mut session: Session) -> Result<Replayed, ReplayError> {
        if session.role() != self.header.role {
            return Err(ReplayError::Role {
                recorded: self.header.role,
                given: session.role(),
            });
        }
        let redacted = self.header.redacted;
        let mut out = Counts::default();
        let diverged = |index: usize, what: String| ReplayError::Diverged { index, what };
        for (index, e) in self.entries().enumerate() {
            let e = e?;
            out.entries += 1;
            let s = &mut session;
            match e {
                Entry::Receive { at, data } => {
                    out.bytes_in += data.len() as u64;
                    let _ = s.receive(at, data);
                }
                Entry::Eof { at } => s.receive_eof(at),
                Entry::Timeout { at } => s.handle_timeout(at),
                Entry::Poll(want) => {
                    out.polls += 1;
                    let got = Polled::of(&s.poll_event(), redacted);
                    if !want.matches(&got) {
                        return Err(diverged(
                            index,
                            alloc::format!("recorded event {want}, replay gave {got}"),
                        ));
                    }
                }
                Entry::Transmit { len, digest } => {
                    let mut slices: Vec<&[u8]> = alloc::vec![&[]; 1024];
                    let k = s.transmit_slices(&mut slices);
                    let mut d = Digest::new();
                    let mut left = len;
                    for sl in slices.iter().take(k) {
                        let take = sl.len().min(left);
                        d.update(sl.get(..take).unwrap_or_default());
                        left -= take;
                    }
                    if left > 0 {
                        return Err(diverged(
                            index,
                            alloc::format!(
                                "recorded {len} bytes of output, replay had {}",
                                len - left
                            ),
                        ));
                    }
                    if digest.is_some_and(|want| want != d.0) {
                        return Err(diverged(
                            index,
                            alloc::format!("the {len} bytes of output differ"),
                        ));
                    }
                    s.advance_transmit(len);
                    out.bytes_out += len as u64;
                }
                Entry::Accept { at, accept, rng } => {
                    let _ = s.accept(at, accept, &mut Tape(rng));
                }
                Entry::Reject(r) => {
                    let _ = s.reject(r);
                }
                Entry::Respond { at, response } => {
                    let _ = s.respond(at, response);
                }
                Entry::SendBody { at, chunk } => {
                    let _ = s.send_body(at, Bytes::copy_from_slice(chunk));
                }
                Entry::SetConfig(c) => {
                    let _ = s.set_connection_config(*c);
                }
                Entry::Truncated => {
                    out.truncated = true;
                    break;
                }
                Entry::Time { at } => s.mark_time(at),
                cmd => {
                    let Some(c) = s.connection_mut() else {
                        return Err(diverged(
                            index,
                            "a command was recorded on an open connection; the replay's is not open"
                                .into(),
                        ));
                    };
                    let text = |data: &[u8]| -> Result<Utf8Bytes, ReplayError> {
                        Utf8Bytes::try_from(Bytes::copy_from_slice(data))
                            .map_err(|_| diverged(index, "recorded text is not UTF-8".into()))
                    };
                    let _: Result<(), Error> = match cmd {
                        Entry::Send { kind, data } => match kind {
                            MessageKind::Text => c.send_text(text(data)?),
                            MessageKind::Binary => c.send_binary(Bytes::copy_from_slice(data)),
                        },
                        Entry::SendPrepared { kind, data } => {
                            let mut p = match kind {
                                MessageKind::Text => crate::Prepared::text(text(data)?),
                                MessageKind::Binary => {
                                    crate::Prepared::binary(Bytes::copy_from_slice(data))
                                }
                            };
                            c.send_prepared(&mut p)
                        }
                        Entry::SendFragment { kind, data, fin } => {
                            c.send_fragment(kind, Bytes::copy_from_slice(data), fin)
                        }
                        Entry::Ping(p) => c.send_ping(Bytes::copy_from_slice(p)),
                        Entry::Pong(p) => c.send_pong(Bytes::copy_from_slice(p)),
                        Entry::Close {
                            at,
                            code,
                            reason: r,
                        } => c.close(at, code, str_of(r)),
                        Entry::Abort { code, reason: r } => {
                            c.abort(code, str_of(r));
                            Ok(())
                        }
                        _ => Ok(()),
                    };
                }
            }
        }
        Ok(Replayed {
            entries: out.entries,
            polls: out.polls,
            bytes_in: out.bytes_in,
            bytes_out: out.bytes_out,
            truncated: out.truncated,
            session,
        })
    }
}

#[derive(Default)]
struct Counts {
    entries: usize,
    polls: usize,
    bytes_in: u64,
    bytes_out: u64,
    truncated: bool,
}

/// A recorded reason: UTF-8 when it was sent (redacted ones are `x`s).
fn str_of(data: &[u8]) -> &str {
    core::str::from_utf8(data).unwrap_or("")
}

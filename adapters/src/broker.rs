//! Broadcast across server processes through a NATS broker (feature
//! `nats`).
//!
//! Several server processes behind a load balancer share their broadcast
//! traffic (a chat room, the mirror protocol) through a broker the
//! operators run already. A [`Broker`] is one link to NATS per process; a
//! [`Channel`] is one named group on it: what a process
//! [publishes](Channel::publish) reaches every other process's channel of
//! that name, which delivers it to its local members (a [`Group`]
//! broadcast, or a callback of the application's). A process delivers its
//! own messages locally itself: the broker only carries them to the
//! others.
//!
//! **Why NATS.** Core NATS is a subject-addressed pub/sub with per-message
//! headers, so a message travels with its type, its publisher and its
//! sequence number and no envelope of ours around the payload; it keeps
//! each publisher's order; and its client (`async-nats`) reconnects by
//! itself and re-subscribes. Redis pub/sub would do the same job with an
//! envelope in the payload and reconnection written here.
//!
//! **Guarantees.** Messages keep their type (text or binary) and, per
//! publisher, their order. Delivery is at most once: what is published
//! while the link is down waits in bounded queues (ours, then the
//! client's), and what does not fit is dropped and counted, never queued
//! without bound. A message is never delivered twice: each carries its
//! publisher's sequence number, and a receiver drops any number it has
//! passed already (a republish after a reconnect, a duplicate from the
//! broker). A broker outage is logged and reported in [`Broker::status`];
//! local delivery does not wait for the broker, and the link reconnects
//! with backoff (100 ms doubling to 5 s).
//!
//! **Bad input.** A message from the broker without our headers, with an
//! unknown type, over the channel's size limit, or with text that is not
//! UTF-8 is dropped with a log line and counted in
//! [`BrokerStatus::rejected`]; it never reaches a client.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_adapters::broker::Broker;
//! use ws_adapters::{Group, Push};
//!
//! let room: Arc<Group<Arc<dyn Push>>> = Arc::new(Group::default());
//! let broker = Broker::nats("nats://127.0.0.1:4222")?;
//! // Messages other processes publish on "chat" reach `room`'s members.
//! let chat = broker.relay("chat", room.clone())?;
//! // A message of ours: to our members here, and to the other processes.
//! room.broadcast_text("hello");
//! chat.publish_text("hello");
//! # Ok::<(), ws_adapters::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectOptions, HeaderMap};
use ws_proto::{Bytes, MessageKind, Prepared, Utf8Bytes};

use crate::{Error, ErrorKind, Group, Push};

/// Header carrying the message type: `text` or `binary`.
const KIND: &str = "Ws-Kind";
/// Header carrying the publisher's id (hex).
const ORIGIN: &str = "Ws-Origin";
/// Header carrying the publisher's sequence number on the channel.
const SEQ: &str = "Ws-Seq";

/// Settings of a [`Broker`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BrokerOptions {
    /// Subjects are `<prefix>.<channel>`; default `ws`.
    pub prefix: String,
    /// Largest payload published or delivered, in bytes; larger messages
    /// are dropped (counted). Default 1 MiB, NATS's default `max_payload`
    /// (less room for the headers).
    pub max_message: usize,
    /// Messages waiting to be published while the link is slow or down,
    /// in each of the two queues on the way (ours, then the NATS
    /// client's); past them, publishes are dropped (counted). Default
    /// 4096.
    pub queue: usize,
    /// Publishers a channel remembers for its duplicate check; default
    /// 4096 (past it, the oldest is forgotten).
    pub max_publishers: usize,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            prefix: "ws".to_owned(),
            max_message: (1 << 20) - 1024,
            queue: 4096,
            max_publishers: 4096,
        }
    }
}

impl BrokerOptions {
    /// Subjects are `<prefix>.<channel>` (several services on one broker).
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Largest payload published or delivered.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Messages waiting to be published at most.
    pub fn with_queue(mut self, messages: usize) -> Self {
        self.queue = messages;
        self
    }
}

/// What a [`Broker`] link has done (counters since it started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStatus {
    /// The link to the broker is up now.
    pub connected: bool,
    /// Times the link came up (the first connection included).
    pub connects: u64,
    /// Times it went down.
    pub disconnects: u64,
    /// Messages handed to the broker.
    pub published: u64,
    /// Messages not published: the queue was full (broker slow or down)
    /// or the message too large.
    pub dropped: u64,
    /// Messages from other processes delivered locally.
    pub delivered: u64,
    /// Messages from the broker dropped as malformed or oversized.
    pub rejected: u64,
    /// Messages from the broker dropped as already delivered.
    pub duplicates: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicBool,
    connects: AtomicU64,
    disconnects: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    duplicates: AtomicU64,
}

/// A message another process published on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivered {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Delivered {
    /// The message prepared for a broadcast.
    pub fn prepared(&self) -> Prepared {
        match self {
            Delivered::Text(t) => Prepared::text(t.clone()),
            Delivered::Binary(b) => Prepared::binary(b.clone()),
        }
    }
}

/// What a subscription does with each message from the broker.
type RawFn = dyn Fn(async_nats::Message) + Send + Sync;

enum Command {
    Publish {
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    },
    Subscribe {
        subject: String,
        deliver: Arc<RawFn>,
    },
}

/// One process's link to a NATS broker (see the [module docs](self)).
/// Cheap to clone; the link ends when the last clone and channel are
/// dropped.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    options: BrokerOptions,
    origin: u64,
    commands: tokio::sync::mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("url", &self.inner.url)
            .field("origin", &format_args!("{:016x}", self.inner.origin))
            .field("status", &self.status())
            .finish()
    }
}

/// A delay before reconnect attempt `n`: 100 ms doubling to 5 s.
fn backoff(attempt: usize) -> Duration {
    let shift = attempt.min(6) as u32;
    Duration::from_millis(100u64 << shift).min(Duration::from_secs(5))
}

fn broker_error(what: impl fmt::Display) -> Error {
    ErrorKind::Io(std::io::Error::other(format!("broker: {what}"))).into()
}

impl Broker {
    /// A link to the NATS server at `url` (`nats://host:port`) with the
    /// default [`BrokerOptions`]. Returns at once: the link connects in
    /// the background on a thread of its own (and keeps trying while the
    /// broker is down).
    pub fn nats(url: &str) -> Result<Broker, Error> {
        Broker::nats_with(url, BrokerOptions::default())
    }

    /// [`nats`](Self::nats) with `options`.
    pub fn nats_with(url: &str, options: BrokerOptions) -> Result<Broker, Error> {
        let addr: async_nats::ServerAddr = url
            .parse()
            .map_err(|e| broker_error(format!("{url}: {e}")))?;
        let counters = Arc::new(Counters::default());
        let queue = options.queue.max(1);
        let (commands, rx) = tokio::sync::mpsc::channel(queue);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let c = counters.clone();
        let shown = url.to_owned();
        std::thread::Builder::new()
            .name("ws-broker".to_owned())
            .spawn(move || rt.block_on(run(addr, shown, queue, rx, c)))?;
        Ok(Broker {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                options,
                origin: rand::random::<u64>() | 1,
                commands,
                counters,
            }),
        })
    }

    /// What the link has done so far.
    pub fn status(&self) -> BrokerStatus {
        let c = &self.inner.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BrokerStatus {
            connected: c.connected.load(Ordering::Acquire),
            connects: n(&c.connects),
            disconnects: n(&c.disconnects),
            published: n(&c.published),
            dropped: n(&c.dropped),
            delivered: n(&c.delivered),
            rejected: n(&c.rejected),
            duplicates: n(&c.duplicates),
        }
    }

    /// The channel `name` (letters, digits, `-`, `_`; at most 64):
    /// messages other processes publish on it are given to `deliver`, on
    /// the link's thread (it must not block: hand heavy work elsewhere).
    pub fn channel(
        &self,
        name: &str,
        deliver: impl Fn(Delivered) + Send + Sync + 'static,
    ) -> Result<Channel, Error> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(broker_error(format!("invalid channel name {name:?}")));
        }
        let subject = format!("{}.{name}", self.inner.options.prefix);
        let seen = Mutex::new(Seen::new(self.inner.options.max_publishers));
        let me = self.inner.origin;
        let max = self.inner.options.max_message;
        let counters = self.inner.counters.clone();
        let on = subject.clone();
        let checked: Arc<RawFn> = Arc::new(move |msg: async_nats::Message| {
            let verdict = {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                check(msg.headers.as_ref(), msg.payload, me, max, &mut seen)
            };
            match verdict {
                Ok(d) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    deliver(d);
                }
                Err(Discard::Ours) => {}
                Err(Discard::Duplicate) => {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    log::debug!("broker: {on}: a duplicate dropped");
                }
                Err(Discard::Malformed(why)) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    log::warn!("broker: {on}: a message dropped: {why}");
                }
            }
        });
        let subscribe = Command::Subscribe {
            subject: subject.clone(),
            deliver: checked,
        };
        self.inner
            .commands
            .try_send(subscribe)
            .map_err(|_| broker_error("the link's queue is full"))?;
        Ok(Channel {
            broker: self.clone(),
            subject,
            seq: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The channel `name` relaying what other processes publish to the
    /// members of `group` (a broadcast each, prepared once).
    pub fn relay(&self, name: &str, group: Arc<Group<Arc<dyn Push>>>) -> Result<Channel, Error> {
        self.channel(name, move |d| {
            group.broadcast(&mut d.prepared());
        })
    }
}

/// One named group on a [`Broker`]: [`publish`](Self::publish) sends to
/// the other processes' channels of the same name. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Channel {
    broker: Broker,
    subject: String,
    seq: Arc<AtomicU64>,
}

impl Channel {
    /// Publishes a text message to the other processes.
    pub fn publish_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        let text: Utf8Bytes = text.into();
        self.publish(MessageKind::Text, Bytes::from(text))
    }

    /// Publishes a binary message to the other processes.
    pub fn publish_binary(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.publish(MessageKind::Binary, data.into())
    }

    /// Publishes a message of `kind` (text or binary). Never waits: if
    /// the link's queue is full (the broker slow or down) or the message
    /// is over [`BrokerOptions::max_message`], it is dropped, counted, and
    /// `Err` says so.
    pub fn publish(&self, kind: MessageKind, payload: Bytes) -> Result<(), Error> {
        let inner = &self.broker.inner;
        let kind = match kind {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
            #[allow(unreachable_patterns)]
            _ => return Err(broker_error("only text and binary messages are relayed")),
        };
        if payload.len() > inner.options.max_message {
            inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(broker_error(format!(
                "a {} byte message is over the limit ({})",
                payload.len(),
                inner.options.max_message
            )));
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut headers = HeaderMap::new();
        headers.insert(KIND, kind);
        headers.insert(ORIGIN, format!("{:016x}", inner.origin).as_str());
        headers.insert(SEQ, seq.to_string().as_str());
        let publish = Command::Publish {
            subject: self.subject.clone(),
            headers,
            payload,
        };
        if inner.commands.try_send(publish).is_err() {
            let n = inner.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per power of two: an outage does not flood the log.
            if n.is_power_of_two() {
                log::warn!(
                    "broker {}: link busy or down, {n} messages dropped",
                    inner.url
                );
            }
            return Err(broker_error("the link is busy or down: message dropped"));
        }
        Ok(())
    }
}

/// The highest sequence number seen per publisher, for at most `max`
/// publishers.
struct Seen {
    last: HashMap<u64, (u64, u64)>,
    max: usize,
    tick: u64,
}

impl Seen {
    fn new(max: usize) -> Self {
        Seen {
            last: HashMap::new(),
            max: max.max(1),
            tick: 0,
        }
    }

    /// True if `seq` from `origin` is new (and records it).
    fn fresh(&mut self, origin: u64, seq: u64) -> bool {
        self.tick += 1;
        if let Some((last, used)) = self.last.get_mut(&origin) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            *used = self.tick;
            return true;
        }
        if self.last.len() >= self.max {
            if let Some(oldest) = self
                .last
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            {
                self.last.remove(&oldest);
            }
        }
        self.last.insert(origin, (seq, self.tick));
        true
    }
}

/// Why a message from the broker is not delivered.
#[derive(Debug, PartialEq, Eq)]
enum Discard {
    Ours,
    Duplicate,
    Malformed(&'static str),
}

/// Checks a message from the broker: ours, a duplicate, or malformed; else
/// the message to deliver.
fn check(
    headers: Option<&HeaderMap>,
    payload: Bytes,
    me: u64,
    max: usize,
    seen: &mut Seen,
) -> Result<Delivered, Discard> {
    let headers = headers.ok_or(Discard::Malformed("no headers"))?;
    let get = |name| headers.get(name).map(|v| v.as_str());
    let origin = get(ORIGIN)
        .and_then(|o| u64::from_str_radix(o, 16).ok())
        .ok_or(Discard::Malformed("no publisher"))?;
    if origin == me {
        return Err(Discard::Ours);
    }
    let seq: u64 = get(SEQ)
        .and_then(|s| s.parse().ok())
        .ok_or(Discard::Malformed("no sequence number"))?;
    if payload.len() > max {
        return Err(Discard::Malformed("over the size limit"));
    }
    let message = match get(KIND) {
        Some("text") => Delivered::Text(
            Utf8Bytes::try_from(payload).map_err(|_| Discard::Malformed("text is not UTF-8"))?,
        ),
        Some("binary") => Delivered::Binary(payload),
        _ => return Err(Discard::Malformed("unknown message type")),
    };
    if !seen.fresh(origin, seq) {
        return Err(Discard::Duplicate);
    }
    Ok(message)
}

/// The link: connects (retrying), publishes what the channels queue,
/// subscribes them, and runs each subscription's deliveries.
async fn run(
    addr: async_nats::ServerAddr,
    url: String,
    queue: usize,
    mut commands: tokio::sync::mpsc::Receiver<Command>,
    counters: Arc<Counters>,
) {
    let c = counters.clone();
    let shown = url.clone();
    let options = ConnectOptions::new()
        .name("ws-adapters broker link")
        .client_capacity(queue)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(backoff)
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let (c, url) = (c.clone(), shown.clone());
            async move { note(&c, &url, event) }
        });
    let client = match options.connect(addr).await {
        Ok(c) => c,
        Err(e) => {
            log::error!("broker {url}: {e}");
            return;
        }
    };
    while let Some(command) = commands.recv().await {
        match command {
            Command::Publish {
                subject,
                headers,
                payload,
            } => match client.publish_with_headers(subject, headers, payload).await {
                Ok(()) => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                    log::warn!("broker {url}: publish: {e}");
                }
            },
            Command::Subscribe { subject, deliver } => {
                match client.subscribe(subject.clone()).await {
                    Ok(sub) => {
                        tokio::spawn(deliveries(sub, deliver));
                    }
                    Err(e) => log::error!("broker {url}: subscribing to {subject}: {e}"),
                }
            }
        }
    }
}

/// Logs a link event and counts it.
fn note(c: &Counters, url: &str, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => {
            c.connected.store(true, Ordering::Release);
            c.connects.fetch_add(1, Ordering::Relaxed);
            log::info!("broker {url}: connected");
        }
        async_nats::Event::Disconnected => {
            c.connected.store(false, Ordering::Release);
            c.disconnects.fetch_add(1, Ordering::Relaxed);
            log::warn!("broker {url}: disconnected; local delivery continues, reconnecting");
        }
        other => log::info!("broker {url}: {other}"),
    }
}

/// Delivers one subscription's messages.
async fn deliveries(mut sub: async_nats::Subscriber, deliver: Arc<RawFn>) {
    use futures_core::Stream;
    while let Some(msg) = std::future::poll_fn(|cx| Pin::new(&mut sub).poll_next(cx)).await {
        deliver(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(kind: Option<&str>, origin: Option<&str>, seq: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(k) = kind {
            h.insert(KIND, k);
        }
        if let Some(o) = origin {
            h.insert(ORIGIN, o);
        }
        if let Some(s) = seq {
            h.insert(SEQ, s);
        }
        h
    }

    const ME: u64 = 0x1111;
    const THEM: &str = "0000000000002222";

    #[test]
    fn messages_are_checked_before_delivery() {
        let mut seen = Seen::new(16);
        let mut check_one = |h: Option<HeaderMap>, payload: &[u8]| {
            check(
                h.as_ref(),
                Bytes::copy_from_slice(payload),
                ME,
                8,
                &mut seen,
            )
        };
        let good = headers(Some("text"), Some(THEM), Some("1"));
        assert_eq!(
            check_one(Some(good.clone()), b"hi"),
            Ok(Delivered::Text(Utf8Bytes::from("hi")))
        );
        // The same number again: a duplicate; an older one too.
        assert_eq!(check_one(Some(good), b"hi"), Err(Discard::Duplicate));
        let two = headers(Some("binary"), Some(THEM), Some("2"));
        assert_eq!(
            check_one(Some(two.clone()), b"\xff\x00"),
            Ok(Delivered::Binary(Bytes::from_static(b"\xff\x00")))
        );
        assert_eq!(check_one(Some(two), b"x"), Err(Discard::Duplicate));
        // Our own messages come back from the broker: not delivered.
        let ours = headers(Some("text"), Some("0000000000001111"), Some("9"));
        assert_eq!(check_one(Some(ours), b"x"), Err(Discard::Ours));
        // Malformed: every way.
        let bad = [
            (None, &b"x"[..]),
            (Some(headers(None, Some(THEM), Some("5"))), b"x"),
            (Some(headers(Some("close"), Some(THEM), Some("5"))), b"x"),
            (Some(headers(Some("text"), None, Some("5"))), b"x"),
            (Some(headers(Some("text"), Some("zz"), Some("5"))), b"x"),
            (Some(headers(Some("text"), Some(THEM), None)), b"x"),
            (Some(headers(Some("text"), Some(THEM), Some("-1"))), b"x"),
            (
                Some(headers(Some("text"), Some(THEM), Some("5"))),
                b"\xc3\x28",
            ),
            (
                Some(headers(Some("binary"), Some(THEM), Some("5"))),
                b"123456789",
            ),
        ];
        for (h, payload) in bad {
            assert!(
                matches!(check_one(h.clone(), payload), Err(Discard::Malformed(_))),
                "{h:?} {payload:?}"
            );
        }
        // None of them used up a sequence number.
        let five = headers(Some("text"), Some(THEM), Some("5"));
        assert!(check_one(Some(five), b"ok").is_ok());
    }

    #[test]
    fn publishers_remembered_are_bounded() {
        let mut seen = Seen::new(3);
        for origin in 0..100u64 {
            assert!(seen.fresh(origin, 1));
            assert!(!seen.fresh(origin, 1));
            assert!(seen.last.len() <= 3);
        }
        // The most recently used stay.
        assert!(!seen.fresh(99, 1));
        assert!(seen.fresh(0, 1), "forgotten long ago");
    }

    #[test]
    fn backoff_doubles_to_five_seconds() {
        let d: Vec<u64> = (0..9).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(d, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn bad_channel_names_and_urls_are_refused() {
        assert!(Broker::nats("not a url at all").is_err());
        let b = Broker::nats("nats://127.0.0.1:1").unwrap();
        for name in ["", "a.b", "a b", "*", ">", &"x".repeat(65)] {
            assert!(b.channel(name, |_| {}).is_err(), "{name:?}");
        }
        let c = b.channel("room-1_x", |_| {}).unwrap();
        assert!(c.publish_binary(vec![0u8; 2 << 20]).is_err());
        assert_eq!(b.status().dropped, 1);
    }
}

//! The two protocols of the libwebsockets test server, as entries of a
//! [`Protocols`](ws_adapters::Protocols) table: the same code runs on every
//! adapter.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ws_adapters::{Ctx, End, Event, Group, MemberId, Protocol, Push, SlowConsumer};
use ws_proto::{Bytes, CloseCode, Dialect, MessageKind, Prepared, Utf8Bytes};

/// Sends an incrementing number every 50 ms; "reset\n" resets it.
pub(crate) const DUMB_INCREMENT: &str = "dumb-increment-protocol";
/// Broadcasts every message to every mirror client.
pub(crate) const MIRROR: &str = "lws-mirror-protocol";

/// dumb-increment's tick.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// Recent mirror messages replayed to newcomers: at most this many ...
pub(crate) const RING: usize = 512;
/// ... and at most this many payload bytes (the newest message is kept
/// even if it alone is larger, so the ring holds at most
/// `max(RING_BYTES, --max-message)`).
pub(crate) const RING_BYTES: usize = 4 << 20;
/// A mirror client with more output than this waiting misses broadcasts
/// until it catches up (its socket drains).
const MIRROR_BACKLOG: usize = 256 * 1024;
/// dumb-increment skips a tick (the number does not advance) while more
/// than this much output waits for the client: a client that stops reading
/// holds at most this, not a number every 50 ms for as long as it stays.
const INCREMENT_BACKLOG: usize = 1024;
/// With `--closetest`, the server closes a dumb-increment connection after
/// this many numbers (libwebsockets' test server does at 50).
pub(crate) const CLOSETEST_AFTER: u64 = 50;

/// True for dumb-increment-protocol's reset command.
fn is_reset(text: &str) -> bool {
    text == "reset\n"
}

/// dumb-increment-protocol: the connection's own 50 ms timer sends the
/// next number.
pub(crate) struct DumbIncrement {
    /// `--closetest`: close after [`CLOSETEST_AFTER`] numbers.
    pub(crate) closetest: bool,
}

impl Protocol for DumbIncrement {
    type State = u64;

    fn established(&self, cx: &mut Ctx<'_>) -> u64 {
        cx.set_timer(TICK);
        0
    }

    fn event(&self, number: &mut u64, _: &mut Ctx<'_>, event: Event) {
        if matches!(&event, Event::Text(t) if is_reset(t.as_str())) {
            *number = 0;
        }
    }

    fn timer(&self, number: &mut u64, cx: &mut Ctx<'_>) {
        cx.set_timer(TICK);
        // Backpressure: skip this tick while the client has not taken what
        // it was sent.
        if cx.queued() > INCREMENT_BACKLOG {
            return;
        }
        if self.closetest && *number >= CLOSETEST_AFTER {
            log::info!("{:?}: close test: closing after {number}", cx.peer());
            cx.cancel_timer();
            let _ = cx.close(CloseCode::NORMAL, "close test");
            return;
        }
        if cx.send_text(number.to_string()).is_ok() {
            *number += 1;
        }
    }

    fn closed(&self, number: u64, end: &End) {
        log::debug!("dumb-increment closed at {number}: {:?}", end.code);
    }
}

/// The recent mirror messages, bounded by [`RING`] messages and
/// [`RING_BYTES`] bytes, whichever is reached first; prepared for
/// broadcast (peers compressing without context takeover share one
/// compression of each).
#[derive(Default)]
struct Ring {
    messages: VecDeque<Prepared>,
    bytes: usize,
}

impl Ring {
    /// Adds `m`, dropping the oldest messages past either bound.
    fn push(&mut self, m: Prepared) {
        self.bytes += m.payload().len();
        self.messages.push_back(m);
        while self.messages.len() > RING || (self.bytes > RING_BYTES && self.messages.len() > 1) {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= old.payload().len();
            }
        }
    }
}

/// lws-mirror-protocol: every message goes to every mirror client (the
/// sender too) and into the ring that newcomers are replayed. With a
/// broker (`--broker`), the mirror spans every server process on it: a
/// message received here is also published, and what other processes
/// publish is mirrored here.
#[derive(Default)]
pub(crate) struct Mirror {
    core: Arc<MirrorCore>,
    #[cfg(feature = "nats")]
    channel: Option<ws_adapters::broker::Channel>,
}

impl Mirror {
    /// The mirror shared through `broker`'s channel `lws-mirror`.
    #[cfg(feature = "nats")]
    pub(crate) fn with_broker(
        broker: &ws_adapters::broker::Broker,
    ) -> Result<Self, ws_adapters::Error> {
        let core = Arc::new(MirrorCore::default());
        let remote = core.clone();
        let channel = broker.channel("lws-mirror", move |d| remote.mirror(d.prepared()))?;
        Ok(Mirror {
            core,
            channel: Some(channel),
        })
    }

    /// Mirrors a message received from a client of this process.
    fn received(&self, msg: Prepared) {
        #[cfg(feature = "nats")]
        if let Some(channel) = &self.channel {
            // Dropped (and logged by the channel) if the broker is slow
            // or down: local delivery goes on regardless.
            let _ = channel.publish(msg.kind(), msg.payload().clone());
        }
        self.core.mirror(msg);
    }
}

/// The ring and the groups of a [`Mirror`].
struct MirrorCore {
    ring: Mutex<Ring>,
    /// Every mirror client (text messages).
    all: Group<Arc<dyn Push>>,
    /// The clients that can take binary messages (hixie-76 carries only
    /// text: its clients miss binary messages).
    binary: Group<Arc<dyn Push>>,
}

impl Default for MirrorCore {
    fn default() -> Self {
        let policy = SlowConsumer::Skip {
            limit: MIRROR_BACKLOG,
        };
        MirrorCore {
            ring: Mutex::default(),
            all: Group::new(policy),
            binary: Group::new(policy),
        }
    }
}

/// A mirror client's places in the groups.
pub(crate) struct Member {
    all: Option<MemberId>,
    binary: Option<MemberId>,
}

impl MirrorCore {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores and broadcasts a received message. The ring's lock is held
    /// through the broadcast, so every client sees the messages in one
    /// order and a newcomer's replay meets the broadcasts without a gap.
    fn mirror(&self, mut msg: Prepared) {
        let mut ring = self.ring();
        let delivery = match msg.kind() {
            MessageKind::Binary => self.binary.broadcast(&mut msg),
            _ => self.all.broadcast(&mut msg),
        };
        if delivery.skipped > 0 {
            log::warn!("{} mirror clients too slow: skipped", delivery.skipped);
        }
        ring.push(msg);
    }
}

impl Protocol for Mirror {
    type State = Member;

    fn established(&self, cx: &mut Ctx<'_>) -> Member {
        self.core.join(cx)
    }

    fn event(&self, _: &mut Member, _: &mut Ctx<'_>, event: Event) {
        // A received message is a slice of the connection's receive
        // buffer: the ring keeps a copy of its own size instead of pinning
        // the whole buffer for as long as it holds the message.
        match event {
            Event::Text(t) => self.received(Prepared::text(Utf8Bytes::from(t.as_str()))),
            Event::Binary(b) => self.received(Prepared::binary(Bytes::copy_from_slice(&b))),
            _ => {}
        }
    }

    fn closed(&self, member: Member, end: &End) {
        self.core.leave(member);
        log::debug!("mirror client closed: {:?} {:?}", end.code, end.error);
    }
}

impl MirrorCore {
    /// A new client: replayed the ring, then a member of the groups.
    fn join(&self, cx: &mut Ctx<'_>) -> Member {
        let hixie = cx
            .handshake()
            .is_some_and(|h| h.dialect == Dialect::Hixie76);
        let Some(push) = cx.push_handle() else {
            log::warn!(
                "{:?}: no push handle: mirror messages will not reach it",
                cx.peer()
            );
            return Member {
                all: None,
                binary: None,
            };
        };
        // The replay and joining under the ring's lock: no broadcast falls
        // in between.
        let mut ring = self.ring();
        for m in ring.messages.iter_mut() {
            if hixie && m.kind() == MessageKind::Binary {
                continue;
            }
            if let Err(e) = cx.send_prepared(m) {
                log::debug!("{:?}: replay: {e}", cx.peer());
                break;
            }
        }
        let binary = (!hixie).then(|| self.binary.join(push.clone()));
        let all = Some(self.all.join(push));
        drop(ring);
        Member { all, binary }
    }

    fn leave(&self, member: Member) {
        if let Some(id) = member.all {
            self.all.leave(id);
        }
        if let Some(id) = member.binary {
            self.binary.leave(id);
        }
    }
}

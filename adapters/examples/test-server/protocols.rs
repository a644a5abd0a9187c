//! The two protocols of the libwebsockets test server, and the std
//! (thread-per-connection) driver's side of them.

use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use ws_adapters::blocking::{WebSocket, Writer};
use ws_adapters::{Error, ErrorKind};
use ws_proto::session::SessionEvent;
use ws_proto::{Bytes, Dialect, Event, Prepared, State, Utf8Bytes};

/// Sends an incrementing number every 50 ms; "reset\n" resets it.
pub(crate) const DUMB_INCREMENT: &str = "dumb-increment-protocol";
/// Broadcasts every message to every mirror client.
pub(crate) const MIRROR: &str = "lws-mirror-protocol";

pub(crate) const TICK: Duration = Duration::from_millis(50);
/// Recent mirror messages replayed to newcomers: at most this many ...
pub(crate) const RING: usize = 512;
/// ... and at most this many payload bytes (the newest message is kept
/// even if it alone is larger, so the ring holds at most
/// `max(RING_BYTES, --max-message)`).
pub(crate) const RING_BYTES: usize = 4 << 20;
/// std: messages queued for one mirror client before it misses some ...
const CLIENT_QUEUE: usize = 1024;
/// ... and payload bytes queued for it (a message is always queued into an
/// empty queue, whatever its size).
const CLIENT_QUEUE_BYTES: usize = 4 << 20;
/// std: a send (a number, a mirrored message) that has not been written
/// after this long closes the connection: the peer stopped reading. (The
/// socket's `SO_SNDTIMEO` cannot do this: a blocking write that moved a
/// few bytes returns them instead of timing out, and `write_all` goes on.)
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(10);
/// How often the [`Stall`] watchdog looks at the sends in progress.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// True for dumb-increment-protocol's reset command.
pub(crate) fn is_reset(text: &str) -> bool {
    text == "reset\n"
}

fn is_open(ws: &WebSocket<TcpStream>) -> bool {
    ws.session()
        .connection()
        .is_some_and(|c| c.state() == State::Open)
}

/// A std connection's send in progress, for the watchdog thread: it shuts
/// the socket down (so the blocked write fails) once a send has taken
/// longer than [`WRITE_STALL`]. One watchdog serves the whole server and
/// wakes once a second; connections themselves never poll.
pub(crate) struct Stall {
    /// Milliseconds since [`epoch`] when the current send started; 0 while
    /// none is in progress.
    since: AtomicU64,
    socket: TcpStream,
}

/// The watchdog's time origin.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The connections the watchdog looks at (dropped ones are forgotten).
static WATCHED: Mutex<Vec<Weak<Stall>>> = Mutex::new(Vec::new());

impl Stall {
    /// Watches sends on `socket` (a clone of the connection's socket).
    pub(crate) fn watch(socket: TcpStream) -> Arc<Stall> {
        static WATCHDOG: OnceLock<()> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let spawned = std::thread::Builder::new()
                .name("write watchdog".into())
                .spawn(watchdog);
            if let Err(e) = spawned {
                log::error!("no write watchdog thread: {e}");
            }
        });
        let stall = Arc::new(Stall {
            since: AtomicU64::new(0),
            socket,
        });
        WATCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&stall));
        stall
    }

    /// Runs `f` (a send, or a wait bounded well below [`WRITE_STALL`])
    /// under the watchdog's eye.
    pub(crate) fn sending<T>(&self, f: impl FnOnce() -> T) -> T {
        self.since.store(now_ms(), Ordering::Release);
        let r = f();
        self.since.store(0, Ordering::Release);
        r
    }
}

fn watchdog() {
    let limit = u64::try_from(WRITE_STALL.as_millis()).unwrap_or(u64::MAX);
    loop {
        std::thread::sleep(WATCH_EVERY);
        let now = now_ms();
        let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
        watched.retain(|w| {
            let Some(s) = w.upgrade() else {
                return false;
            };
            let since = s.since.load(Ordering::Acquire);
            if since != 0 && now.saturating_sub(since) > limit {
                let peer = s.socket.peer_addr().ok();
                log::warn!("{peer:?}: a send stalled for {WRITE_STALL:?}: closing");
                let _ = s.socket.shutdown(Shutdown::Both);
                return false;
            }
            true
        });
    }
}

/// Runs dumb-increment-protocol until the connection ends.
///
/// The writes are blocking: a client that stops reading holds at most the
/// kernel's socket buffers (a tick cannot queue while the last write waits),
/// and once a send has waited [`WRITE_STALL`] the connection is closed.
pub(crate) fn dumb_increment(mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
    let stall = Stall::watch(ws.get_ref().try_clone()?);
    let mut number: u64 = 0;
    let mut next = Instant::now() + TICK;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        // Waits at most until the tick; longer only if a write (a pong) is
        // stuck, which the watchdog ends.
        match stall.sending(|| ws.next_event(Some(wait)))? {
            Some(SessionEvent::Ws(Event::Text(t))) if is_reset(t.as_str()) => number = 0,
            Some(_) => {}
            None if ws.is_finished() => return Ok(()),
            None => {}
        }
        if Instant::now() >= next {
            next = (next + TICK).max(Instant::now());
            if is_open(&ws) {
                stall.sending(|| ws.send_text(number.to_string()))?;
                number += 1;
            }
        }
    }
}

/// A mirrored message.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Message {
    /// Payload bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// The same message in an allocation of its own size: a received
    /// message is a slice of the connection's receive buffer and would
    /// otherwise keep all of it alive for as long as the ring holds it.
    fn compact(self) -> Message {
        match self {
            Message::Text(t) => Message::Text(Utf8Bytes::from(t.as_str())),
            Message::Binary(b) => Message::Binary(Bytes::copy_from_slice(&b)),
        }
    }
}

/// The recent mirror messages, bounded by [`RING`] messages and
/// [`RING_BYTES`] bytes, whichever is reached first. `end` counts every
/// message ever mirrored, so the ring holds the sequence numbers
/// `end - len .. end`.
#[derive(Default)]
pub(crate) struct Ring {
    messages: VecDeque<Message>,
    /// The same messages prepared for broadcast (the mio driver sends these:
    /// peers compressing without context takeover share one compression).
    prepared: VecDeque<Prepared>,
    bytes: usize,
    end: u64,
}

impl Ring {
    /// The sequence number of the oldest message held.
    pub(crate) fn start(&self) -> u64 {
        self.end - self.messages.len() as u64
    }

    /// The sequence number the next message will get.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Adds `m` (copied out of its receive buffer), dropping the oldest
    /// messages past either bound; returns the stored copy.
    pub(crate) fn push(&mut self, m: Message) -> Message {
        let m = m.compact();
        self.bytes += m.len();
        self.messages.push_back(m.clone());
        self.prepared.push_back(match &m {
            Message::Text(t) => Prepared::text(t.clone()),
            Message::Binary(b) => Prepared::binary(b.clone()),
        });
        self.end += 1;
        while self.messages.len() > RING || (self.bytes > RING_BYTES && self.messages.len() > 1) {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= old.len();
            }
            self.prepared.pop_front();
        }
        m
    }

    /// Message number `seq` prepared for broadcast, if still held.
    pub(crate) fn prepared(&mut self, seq: u64) -> Option<&mut Prepared> {
        let i = usize::try_from(seq.checked_sub(self.start())?).ok()?;
        self.prepared.get_mut(i)
    }

    fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter()
    }
}

/// One std mirror client's queue: bounded in messages by the channel and
/// in bytes by `bytes` (what is queued and not yet taken by its writer).
struct Client {
    tx: SyncSender<Message>,
    bytes: Arc<AtomicUsize>,
}

/// The shared state of lws-mirror-protocol on the std driver: the clients
/// and the ring.
#[derive(Default)]
pub(crate) struct Mirror {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Client>>,
    ring: Mutex<Ring>,
}

impl Mirror {
    fn join(&self) -> (u64, Receiver<Message>, Arc<AtomicUsize>, Vec<Message>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = sync_channel(CLIENT_QUEUE);
        let bytes = Arc::new(AtomicUsize::new(0));
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // Register while holding the ring so no broadcast falls in between.
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Client {
                    tx,
                    bytes: bytes.clone(),
                },
            );
        (id, rx, bytes, ring.iter().cloned().collect())
    }

    fn leave(&self, id: u64) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    fn broadcast(&self, msg: Message) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let msg = ring.push(msg);
        let len = msg.len();
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, c) in clients.iter() {
            let queued = c.bytes.load(Ordering::Acquire);
            if queued > 0 && queued.saturating_add(len) > CLIENT_QUEUE_BYTES {
                log::warn!(
                    "mirror client {id} is too slow ({queued} bytes queued): dropped a message"
                );
                continue;
            }
            c.bytes.fetch_add(len, Ordering::AcqRel);
            match c.tx.try_send(msg.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    c.bytes.fetch_sub(len, Ordering::AcqRel);
                    log::warn!("mirror client {id} is too slow: dropped a message");
                }
                // Its writer has stopped; the reader is leaving.
                Err(TrySendError::Disconnected(_)) => {
                    c.bytes.fetch_sub(len, Ordering::AcqRel);
                }
            }
        }
    }

    /// Runs lws-mirror-protocol for one client until the connection ends.
    ///
    /// The connection is split: this thread blocks in reads (no polling:
    /// an idle client costs no CPU) and broadcasts what arrives; a writer
    /// thread blocks on the client's queue and sends the replay of the
    /// ring, then every broadcast. A send that takes [`WRITE_STALL`]
    /// closes the connection ([`Stall`]), and the queue is bounded in
    /// messages and bytes, so a client that never reads holds at most
    /// [`CLIENT_QUEUE_BYTES`] (plus the socket buffers) and is then closed.
    pub(crate) fn serve(&self, ws: WebSocket<TcpStream>) -> Result<(), Error> {
        let hixie = ws
            .session()
            .connection()
            .is_some_and(|c| c.dialect() == Dialect::Hixie76);
        let socket = ws.get_ref().try_clone()?;
        // The reader writes pongs and close echoes itself, outside the
        // watchdog's eye: a write timeout bounds those (a write that moved
        // nothing for WRITE_STALL fails and ends the connection).
        socket.set_write_timeout(Some(WRITE_STALL))?;
        let stall = Stall::watch(socket.try_clone()?);
        let (mut reader, writer) = ws.split()?;
        let (id, rx, queued, backlog) = self.join();
        let peer = socket.peer_addr().ok();
        let writer_socket = socket.try_clone()?;
        let spawned = std::thread::Builder::new()
            .name(format!("mirror writer {id}"))
            .spawn(move || {
                let sent = write_loop(&writer, &stall, hixie, backlog, &rx, &queued);
                if let Err(e) = sent {
                    log::info!("{peer:?}: mirror writer: {e}");
                    // A write failed or stalled for WRITE_STALL: end the
                    // connection so the reader returns too. (Other errors
                    // mean the connection is closing: the reader sees the
                    // closing handshake through.)
                    if matches!(e.kind(), ErrorKind::Io(_)) {
                        let _ = writer_socket.shutdown(Shutdown::Both);
                    }
                }
            });
        let result = match spawned {
            Ok(_) => loop {
                match reader.recv() {
                    Ok(Some(Event::Text(t))) => self.broadcast(Message::Text(t)),
                    Ok(Some(Event::Binary(b))) => self.broadcast(Message::Binary(b)),
                    Ok(Some(_)) => {}
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            },
            Err(e) => Err(e.into()),
        };
        // Dropping the sender ends the writer's wait on the queue.
        self.leave(id);
        let _ = socket.shutdown(Shutdown::Both);
        result
    }
}

/// The writer half of a std mirror client: the replay, then the queue.
fn write_loop(
    writer: &Writer,
    stall: &Stall,
    hixie: bool,
    backlog: Vec<Message>,
    rx: &Receiver<Message>,
    queued: &AtomicUsize,
) -> Result<(), Error> {
    for m in backlog {
        stall.sending(|| send(writer, hixie, m))?;
    }
    while let Ok(m) = rx.recv() {
        queued.fetch_sub(m.len(), Ordering::AcqRel);
        stall.sending(|| send(writer, hixie, m))?;
    }
    Ok(())
}

fn send(writer: &Writer, hixie: bool, m: Message) -> Result<(), Error> {
    match m {
        Message::Text(t) => writer.send_text(t.as_str()),
        // hixie-76 carries only text: its clients miss binary messages.
        Message::Binary(_) if hixie => Ok(()),
        Message::Binary(b) => writer.send_binary(b),
    }
}

//! The test server on one `mio::Poll`, as libwebsockets runs it: every
//! connection (HTTP, dumb-increment, mirror) is a [`Conn`] in one loop, the
//! 50 ms tick is the loop's own timer, and the mirror is a ring of recent
//! messages that each client reads at its own pace.
//!
//! The loop uses the adapter's external-loop hooks ([`Conn::register`],
//! [`Conn::turn_session`], [`Conn::flush`], [`Conn::deadline`]) and answers the
//! handshake itself, because it must remember which subprotocol each
//! connection chose.
//!
//! Work per turn does not grow with the number of connections: timers are
//! one ordered set, connections with more to read are a list, the tick
//! walks only dumb-increment clients, and a new mirror message puts the
//! mirror clients in a queue that is fed at most [`FEED_PER_TURN`] clients
//! per turn (each feed may compress the message once more for that
//! client's permessage-deflate context), so one broadcast to many
//! compressing readers cannot stall everyone else for its whole length.

use std::collections::{BTreeSet, VecDeque};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant as StdInstant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use ws_adapters::mio::Conn;
use ws_adapters::{Clock, Error, ErrorKind, SCRATCH, ServerOptions, Turn};
use ws_proto::session::SessionEvent;
use ws_proto::{Dialect, Event, MessageKind, State};

use crate::protocols::{DUMB_INCREMENT, MIRROR, Message, Ring, TICK, is_reset};
use crate::{decide, web};

const LISTENER: Token = Token(usize::MAX - 1);
/// A mirror client is not given more ring messages while this much output
/// waits for it; it catches up when its socket drains.
const MIRROR_BACKLOG: usize = 256 * 1024;
/// dumb-increment skips a tick (the number does not advance) while more
/// than this much output waits for the client: a client that stops reading
/// holds at most this, not a number every 50 ms for as long as it stays.
const INCREMENT_BACKLOG: usize = 1024;

/// Mirror clients fed per loop turn; the rest wait for the next turn, after
/// the loop has served whatever else is ready.
const FEED_PER_TURN: usize = 32;

const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// What a connection is doing.
enum Role {
    /// Still HTTP: page requests, or an upgrade on its way.
    Http,
    /// dumb-increment-protocol with its counter.
    Increment(u64),
    /// lws-mirror-protocol; the sequence number of the next ring message
    /// to send it.
    Mirror(u64),
}

struct Client {
    conn: Conn,
    role: Role,
    peer: SocketAddr,
    /// The deadline this client is filed under in `Loop::timers`.
    armed: Option<ws_proto::Instant>,
    /// In `Loop::behind`, waiting to be fed ring messages.
    queued: bool,
}

struct Loop {
    poll: Poll,
    listener: TcpListener,
    options: ServerOptions,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    live: usize,
    ring: Ring,
    scratch: Box<[u8]>,
    clock: Clock,
    /// Every client's next deadline, in order.
    timers: BTreeSet<(ws_proto::Instant, usize)>,
    /// Clients whose read budget ran out: serve them next turn.
    again: Vec<usize>,
    /// dumb-increment clients (for the tick).
    increments: BTreeSet<usize>,
    /// mirror clients (for a new ring message).
    mirrors: BTreeSet<usize>,
    /// mirror clients that have ring messages to be fed.
    behind: VecDeque<usize>,
}

/// Serves forever on `addr`; `announce` is told the bound address.
pub(crate) fn run(
    addr: SocketAddr,
    options: ServerOptions,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?);
    let mut l = Loop {
        poll,
        listener,
        options,
        clients: Vec::new(),
        free: Vec::new(),
        live: 0,
        ring: Ring::default(),
        scratch: vec![0; SCRATCH].into_boxed_slice(),
        clock: Clock::new(),
        timers: BTreeSet::new(),
        again: Vec::new(),
        increments: BTreeSet::new(),
        mirrors: BTreeSet::new(),
        behind: VecDeque::new(),
    };
    let mut events = Events::with_capacity(1024);
    let mut next_tick = StdInstant::now() + TICK;
    loop {
        let wait = l.wait(next_tick);
        match l.poll.poll(&mut events, Some(wait)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => l.accept_all(),
                Token(i) => {
                    if let Some(Some(c)) = l.clients.get_mut(i) {
                        c.conn.note_event(ev);
                    }
                    l.service(i);
                }
            }
        }
        let now = StdInstant::now();
        if now >= next_tick {
            next_tick = (next_tick + TICK).max(now);
            l.tick();
        }
        l.service_due();
        l.feed_behind();
    }
}

impl Loop {
    /// How long the next poll may sleep: until the tick or the first
    /// timer, or not at all if a connection has unread data or mirror
    /// clients wait to be fed.
    fn wait(&self, next_tick: StdInstant) -> Duration {
        if !self.again.is_empty() || !self.behind.is_empty() {
            return Duration::ZERO;
        }
        let wait = next_tick.saturating_duration_since(StdInstant::now());
        match self.timers.first() {
            Some((t, _)) => wait.min(self.clock.until(*t)),
            None => wait,
        }
    }

    fn accept_all(&mut self) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accept: {e}");
                    return;
                }
            };
            if !self.options.admits(peer) {
                continue;
            }
            if self.live >= self.options.max_connections {
                log::warn!("{peer}: refused, {} connections", self.live);
                let _ = (&stream).write(BUSY);
                continue;
            }
            if let Err(e) = self.add(stream, peer) {
                log::warn!("{peer}: {e}");
            }
        }
    }

    fn add(&mut self, stream: mio::net::TcpStream, peer: SocketAddr) -> Result<(), Error> {
        stream.set_nodelay(true)?;
        let mut conn = Conn::new(stream, self.options.driver(self.clock, peer)?);
        let i = self.free.pop().unwrap_or(self.clients.len());
        conn.register(self.poll.registry(), Token(i))?;
        let client = Client {
            conn,
            role: Role::Http,
            peer,
            armed: None,
            queued: false,
        };
        match self.clients.get_mut(i) {
            Some(slot) => *slot = Some(client),
            None => self.clients.push(Some(client)),
        }
        self.live += 1;
        log::debug!("{peer}: accepted");
        self.service(i);
        Ok(())
    }

    /// Connections whose timer is due or that have more to read.
    fn service_due(&mut self) {
        for i in std::mem::take(&mut self.again) {
            self.service(i);
        }
        let now = self.clock.now();
        while let Some(&(t, i)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(Some(c)) = self.clients.get_mut(i) {
                c.armed = None;
            }
            self.service(i);
        }
    }

    /// Files client `i` under its next deadline, and for another turn if
    /// its read budget ran out.
    fn rearm(&mut self, i: usize) {
        let Some(Some(c)) = self.clients.get_mut(i) else {
            return;
        };
        if let Some(t) = c.armed.take() {
            self.timers.remove(&(t, i));
        }
        c.armed = c.conn.deadline();
        if let Some(t) = c.armed {
            self.timers.insert((t, i));
        }
        if c.conn.wants_ready() && !self.again.contains(&i) {
            self.again.push(i);
        }
    }

    /// Moves connection `i`'s bytes, handles its events, sends mirror
    /// clients what they have not seen yet, and drops it once closed.
    fn service(&mut self, i: usize) {
        let mirrored = self.ring.end();
        let result = self.pump(i);
        if let Err(e) = result {
            // Send what the failure queued (a close frame, an HTTP error).
            if let Some(Some(c)) = self.clients.get_mut(i) {
                let _ = c.conn.flush();
            }
            self.remove(i, Some(e));
        } else if self
            .clients
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.conn.is_closed())
        {
            self.remove(i, None);
        } else {
            self.rearm(i);
        }
        if self.ring.end() != mirrored {
            self.mirrors_behind();
        }
    }

    fn pump(&mut self, i: usize) -> Result<(), Error> {
        let Some(Some(c)) = self.clients.get_mut(i) else {
            return Ok(());
        };
        while let Turn::Event(ev) = c.conn.turn_session(&mut self.scratch)? {
            let now = self.clock.now();
            let session = c.conn.driver_mut().session_mut();
            match ev {
                SessionEvent::Request(req) => {
                    log::debug!("{}: {} {}", c.peer, req.method, req.target);
                    session.respond(now, web::respond(&req))?;
                }
                SessionEvent::Upgrade(req) => match decide(&req) {
                    Ok((protocol, accept)) => {
                        session.accept(now, accept, &mut rand::rng())?;
                        log::info!("{}: upgraded to {protocol}", c.peer);
                        c.role = match protocol.as_str() {
                            DUMB_INCREMENT => {
                                self.increments.insert(i);
                                Role::Increment(0)
                            }
                            MIRROR => {
                                self.mirrors.insert(i);
                                Role::Mirror(self.ring.start())
                            }
                            _ => Role::Http,
                        };
                    }
                    Err(response) => session.reject(response)?,
                },
                SessionEvent::Ws(ev) => on_message(&mut c.role, &mut self.ring, ev),
                _ => {}
            }
        }
        match &mut c.role {
            Role::Mirror(next) => feed(&mut c.conn, next, &mut self.ring),
            _ => c.conn.flush().map(drop),
        }
    }

    /// A new ring message: every mirror client is due to be fed it (in
    /// [`feed_behind`](Self::feed_behind), a share per turn).
    fn mirrors_behind(&mut self) {
        for &i in &self.mirrors {
            if let Some(Some(c)) = self.clients.get_mut(i) {
                if !c.queued {
                    c.queued = true;
                    self.behind.push_back(i);
                }
            }
        }
    }

    /// Feeds at most [`FEED_PER_TURN`] mirror clients the ring messages
    /// they have not had yet.
    fn feed_behind(&mut self) {
        for _ in 0..FEED_PER_TURN {
            let Some(i) = self.behind.pop_front() else {
                return;
            };
            let Some(Some(c)) = self.clients.get_mut(i) else {
                continue;
            };
            c.queued = false;
            let Role::Mirror(next) = &mut c.role else {
                continue;
            };
            match feed(&mut c.conn, next, &mut self.ring) {
                Err(e) => self.remove(i, Some(e)),
                Ok(_) if c.conn.is_closed() => self.remove(i, None),
                Ok(_) => self.rearm(i),
            }
        }
    }

    /// dumb-increment-protocol: every open client gets its next number.
    fn tick(&mut self) {
        let increments: Vec<usize> = self.increments.iter().copied().collect();
        for i in increments {
            let Some(Some(c)) = self.clients.get_mut(i) else {
                continue;
            };
            let Role::Increment(number) = &mut c.role else {
                continue;
            };
            if !is_open(&c.conn) {
                continue;
            }
            // Backpressure: skip this tick (the number does not advance)
            // while the client has not taken what it was sent.
            if c.conn.driver().pending_write() > INCREMENT_BACKLOG {
                continue;
            }
            let text = number.to_string();
            *number += 1;
            let r = c.conn.send_text(&text).and_then(|()| c.conn.flush());
            if let Err(e) = r {
                self.remove(i, Some(e));
            }
        }
    }

    fn remove(&mut self, i: usize, error: Option<Error>) {
        let Some(mut c) = self.clients.get_mut(i).and_then(Option::take) else {
            return;
        };
        let _ = c.conn.deregister(self.poll.registry());
        if let Some(t) = c.armed {
            self.timers.remove(&(t, i));
        }
        self.again.retain(|&j| j != i);
        if c.queued {
            self.behind.retain(|&j| j != i);
        }
        self.increments.remove(&i);
        self.mirrors.remove(&i);
        self.live -= 1;
        self.free.push(i);
        match error {
            Some(e) => log::info!("{}: {e}", c.peer),
            None => log::debug!("{}: closed", c.peer),
        }
    }
}

fn is_open(conn: &Conn) -> bool {
    conn.driver()
        .session()
        .connection()
        .is_some_and(|c| c.state() == State::Open)
}

fn on_message(role: &mut Role, ring: &mut Ring, ev: Event) {
    match (role, ev) {
        (Role::Increment(n), Event::Text(t)) if is_reset(t.as_str()) => *n = 0,
        (Role::Mirror(_), Event::Text(t)) => {
            ring.push(Message::Text(t));
        }
        (Role::Mirror(_), Event::Binary(b)) => {
            ring.push(Message::Binary(b));
        }
        _ => {}
    }
}

/// Sends a mirror client the ring messages it has not had: queues a batch,
/// writes it, and goes on while the socket takes everything. The loop
/// matters: the socket is edge-triggered, so a batch the kernel took whole
/// brings no writable event later, and a newcomer's replay would stall
/// there. It stops when the client is up to date, or its socket is full
/// (output still pending: the writable edge will come and call this again).
fn feed(conn: &mut Conn, next: &mut u64, ring: &mut Ring) -> Result<(), Error> {
    loop {
        send_backlog(conn, next, ring)?;
        conn.flush()?;
        let caught_up = *next >= ring.end();
        if caught_up || conn.driver().pending_write() > 0 || !is_open(conn) {
            return Ok(());
        }
    }
}

/// Queues ring messages from `*next` on, while the client keeps up.
fn send_backlog(conn: &mut Conn, next: &mut u64, ring: &mut Ring) -> Result<(), Error> {
    if !is_open(conn) {
        return Ok(());
    }
    if *next < ring.start() {
        log::warn!(
            "{:?}: mirror client too slow, skipped {} messages",
            conn.driver().peer(),
            ring.start() - *next
        );
        *next = ring.start();
    }
    while conn.driver().pending_write() < MIRROR_BACKLOG {
        let Some(m) = ring.prepared(*next) else {
            break;
        };
        let c = conn.driver_mut().session_mut().connection_mut();
        let c = c.ok_or(ErrorKind::Closed)?;
        // Payloads are shared `Bytes`: nothing is copied per client; and
        // peers that compress without context takeover share one
        // compression of each message (`Connection::send_prepared`).
        let binary = m.kind() == MessageKind::Binary;
        // hixie-76 carries only text: its clients miss binary messages.
        if !(binary && c.dialect() == Dialect::Hixie76) {
            c.send_prepared(m)?;
        }
        *next += 1;
    }
    Ok(())
}

//! The test server on one `mio::Poll`, as libwebsockets runs it: every
//! connection (HTTP, dumb-increment, mirror) is a [`Conn`] in one loop, the
//! 50 ms tick is the loop's own timer, and the mirror is a ring of recent
//! messages that each client reads at its own pace.
//!
//! The loop uses the adapter's external-loop hooks ([`Conn::register`],
//! [`Conn::ready`], [`Conn::flush`], [`Conn::deadline`]) and answers the
//! handshake itself, because it must remember which subprotocol each
//! connection chose.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant as StdInstant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use ws_adapters::mio::Conn;
use ws_adapters::{Clock, Error, SCRATCH, ServerOptions};
use ws_proto::session::SessionEvent;
use ws_proto::{Dialect, Event, State};

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
}

struct Loop {
    poll: Poll,
    listener: TcpListener,
    options: ServerOptions,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    ring: Ring,
    scratch: Box<[u8]>,
    clock: Clock,
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
        ring: Ring::default(),
        scratch: vec![0; SCRATCH].into_boxed_slice(),
        clock: Clock::new(),
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
                Token(i) => l.service(i),
            }
        }
        let now = StdInstant::now();
        if now >= next_tick {
            next_tick = (next_tick + TICK).max(now);
            l.tick();
        }
        l.service_due();
    }
}

impl Loop {
    /// How long the next poll may sleep: until the tick, a connection's
    /// timer, or not at all if a connection has unread data.
    fn wait(&self, next_tick: StdInstant) -> Duration {
        let mut wait = next_tick.saturating_duration_since(StdInstant::now());
        for c in self.clients.iter().flatten() {
            if c.conn.wants_ready() {
                return Duration::ZERO;
            }
            if let Some(t) = c.conn.deadline() {
                wait = wait.min(self.clock.until(t));
            }
        }
        wait
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
            let live = self.clients.iter().flatten().count();
            if live >= self.options.max_connections {
                log::warn!("{peer}: refused, {live} connections");
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
        };
        match self.clients.get_mut(i) {
            Some(slot) => *slot = Some(client),
            None => self.clients.push(Some(client)),
        }
        log::debug!("{peer}: accepted");
        self.service(i);
        Ok(())
    }

    /// Connections whose timer is due or that have more to read.
    fn service_due(&mut self) {
        let now = self.clock.now();
        let due: Vec<usize> = (0..self.clients.len())
            .filter(|&i| {
                self.clients
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| {
                        c.conn.wants_ready() || c.conn.deadline().is_some_and(|t| t <= now)
                    })
            })
            .collect();
        for i in due {
            self.service(i);
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
        }
        if self.ring.end() != mirrored {
            self.feed_mirrors();
        }
    }

    fn pump(&mut self, i: usize) -> Result<(), Error> {
        let Some(Some(c)) = self.clients.get_mut(i) else {
            return Ok(());
        };
        c.conn.ready(&mut self.scratch)?;
        while let Some(ev) = c.conn.driver_mut().poll_event()? {
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
                            DUMB_INCREMENT => Role::Increment(0),
                            MIRROR => Role::Mirror(self.ring.start()),
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
            Role::Mirror(next) => feed(&mut c.conn, next, &self.ring),
            _ => c.conn.flush().map(drop),
        }
    }

    /// Every mirror client gets the ring messages it has not had yet.
    fn feed_mirrors(&mut self) {
        for i in 0..self.clients.len() {
            let Some(Some(c)) = self.clients.get_mut(i) else {
                continue;
            };
            let Role::Mirror(next) = &mut c.role else {
                continue;
            };
            match feed(&mut c.conn, next, &self.ring) {
                Err(e) => self.remove(i, Some(e)),
                Ok(_) if c.conn.is_closed() => self.remove(i, None),
                Ok(_) => {}
            }
        }
    }

    /// dumb-increment-protocol: every open client gets its next number.
    fn tick(&mut self) {
        for i in 0..self.clients.len() {
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
fn feed(conn: &mut Conn, next: &mut u64, ring: &Ring) -> Result<(), Error> {
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
fn send_backlog(conn: &mut Conn, next: &mut u64, ring: &Ring) -> Result<(), Error> {
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
        let Some(m) = ring.get(*next) else {
            break;
        };
        let c = conn.driver_mut().session_mut().connection_mut();
        let c = c.ok_or(Error::Closed)?;
        // Payloads are shared `Bytes`: nothing is copied per client.
        match m.clone() {
            Message::Text(t) => c.send_text(t)?,
            // hixie-76 carries only text: its clients miss binary messages.
            Message::Binary(_) if c.config().dialect == Dialect::Hixie76 => {}
            Message::Binary(b) => c.send_binary(b)?,
        }
        *next += 1;
    }
    Ok(())
}

//! A driver over std's blocking sockets.
//!
//! [`WebSocket`] runs a [`Driver`] over any [`Transport`] (a `TcpStream`;
//! TLS and proxies live inside the driver); [`Server`] accepts connections
//! and [`connect`] opens a client. One connection per thread is the simple
//! way ([`Server::run`]); [`WebSocket::next_event`] takes a timeout, so a
//! caller's own loop can do periodic work between events. [`WebSocket::split`]
//! gives a [`Reader`] and a [`Writer`] for two threads.
//!
//! ```no_run
//! use ws_adapters::{blocking, Event};
//!
//! let mut ws = blocking::connect("ws://127.0.0.1:7681/", Default::default())?;
//! ws.send_text("hello")?;
//! if let Some(Event::Text(t)) = ws.recv()? {
//!     println!("{t}");
//! }
//! ws.close(ws_proto::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), ws_adapters::Error>(())
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_upgrade::{ClientRequest, Handshake, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{Bytes, CloseCode, Event, Instant, Utf8Bytes};

use crate::admission::{Gate, Slot};
use crate::driver::with_scratch;
use crate::options::resolve;
use crate::{ClientOptions, Clock, Driver, Error, ErrorKind, SCRATCH, ServerOptions, Turn};

#[cfg(unix)]
mod push;
#[cfg(unix)]
pub use push::BlockingPush;

/// A byte stream the blocking driver can run over.
pub trait Transport: Read + Write {
    /// Bounds the next reads (`None`: block).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes the stream (both directions).
    fn shutdown(&self) -> io::Result<()>;
    /// Bounds each write (`None`: block); set to a quarter of the
    /// connection's `write_timeout` ([`ws_proto::Config::write_timeout`]),
    /// so that a write blocked on a peer that stopped reading returns in
    /// time for the connection's write timer to fail it. Default: does
    /// nothing.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Ok(())
    }
    /// The descriptor to wait on with `poll(2)`, if the stream has one and
    /// can be made non-blocking ([`set_nonblocking`](Self::set_nonblocking)):
    /// what push needs ([`WebSocket::push_handle`]). Default: none.
    #[cfg(unix)]
    fn poll_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
    /// Turns non-blocking reads and writes on or off (see
    /// [`poll_fd`](Self::poll_fd)). Default: unsupported.
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        let _ = on;
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn shutdown(&self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    #[cfg(unix)]
    fn poll_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.as_fd())
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
}

/// A WebSocket endpoint over a blocking [`Transport`].
#[derive(Debug)]
pub struct WebSocket<S> {
    io: S,
    driver: Driver,
    finished: bool,
    slot: Option<Slot>,
    /// The read timeout in force: for which wake-up instant, set when.
    rcv: Option<(Option<Instant>, Instant)>,
    /// Push handles' link, once one was asked for.
    #[cfg(unix)]
    link: Option<Arc<push::Link>>,
    /// The stream is non-blocking and waits are `poll(2)` (with the
    /// push wake-up).
    polled: bool,
    /// The connection is open and its write timeout set.
    opened: bool,
}

/// A blocking stream as the drive loop's [`crate::Transport`]: reads block
/// until data or the turn's deadline (a read timeout, set only when the
/// deadline moves or the one in force would overshoot it by more than
/// [`TIMEOUT_SLACK`]: no `setsockopt` per read).
struct BlockingIo<'a, S> {
    io: &'a mut S,
    rcv: &'a mut Option<(Option<Instant>, Instant)>,
    /// The caller's own deadline (`recv_timeout`).
    deadline: Option<Instant>,
    clock: Clock,
    /// Non-blocking stream: no read timeouts to set.
    polled: bool,
}

/// How late a blocking read may wake for a timer before its timeout is
/// set again.
const TIMEOUT_SLACK: Duration = Duration::from_millis(10);

impl<S: Transport> crate::Transport for BlockingIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.write_vectored(bufs)
    }
    fn blocks(&self) -> bool {
        true
    }
    fn set_deadline(&mut self, until: Option<Instant>) -> io::Result<()> {
        if self.polled {
            return Ok(());
        }
        let wake = match (until, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let now = self.clock.now();
        let fresh = match *self.rcv {
            Some((w, set)) => w == wake && (wake.is_none() || now - set <= TIMEOUT_SLACK),
            None => false,
        };
        if !fresh {
            self.io.set_read_timeout(
                wake.map(|w| self.clock.until(w).max(Duration::from_millis(1))),
            )?;
            *self.rcv = Some((wake, now));
        }
        Ok(())
    }
}

/// The socket write timeout for a connection whose `write_timeout` is
/// `t`: a quarter of it (at least 10 ms). A blocking write that moved some
/// bytes returns them only when its timeout expires, so it must expire
/// well within `t` for the write timer to see the progress, or its
/// absence, in time.
fn blocking_write_timeout(t: Option<Duration>) -> Option<Duration> {
    t.map(|t| (t / 4).max(Duration::from_millis(10)))
}

/// The wait before `deadline` / the next timer, at least 1 ms.
fn wait_for(clock: &Clock, timer: Option<Instant>, deadline: Option<Instant>) -> Option<Duration> {
    let wake = match (timer, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    wake.map(|w| clock.until(w).max(Duration::from_millis(1)))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl<S: Transport> WebSocket<S> {
    /// Drives `session` over `io`; `clock` supplies the session's time.
    pub fn new(io: S, session: Session, clock: Clock) -> Self {
        Self::with_driver(io, Driver::new(session, clock, None))
    }

    /// Drives a prepared [`Driver`] (TLS, proxy, policy) over `io`.
    pub fn with_driver(io: S, driver: Driver) -> Self {
        let write_timeout = driver.session().config().connection.write_timeout;
        if let Err(e) = io.set_write_timeout(blocking_write_timeout(write_timeout)) {
            log::debug!("{:?}: no write timeout: {e}", driver.peer());
        }
        WebSocket {
            io,
            driver,
            finished: false,
            slot: None,
            rcv: None,
            #[cfg(unix)]
            link: None,
            polled: false,
            opened: false,
        }
    }

    /// The sans-IO machine (handshake state, connection, errors).
    pub fn session(&self) -> &Session {
        self.driver.session()
    }

    /// The sans-IO machine, for calls the driver has no shortcut for
    /// (`respond`, `accept`, `reject`, streaming sends ...). Call
    /// [`flush`](Self::flush) after queuing output.
    pub fn session_mut(&mut self) -> &mut Session {
        self.driver.session_mut()
    }

    /// What the opening handshake settled (subprotocol, extensions,
    /// dialect), once the connection is open.
    pub fn negotiated(&self) -> Option<&Handshake> {
        self.driver.negotiated()
    }

    /// The driver core (peer address, layers).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The driver core, to send through or set its timer.
    pub fn driver_mut(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// The clock the session runs on.
    pub fn clock(&self) -> Clock {
        self.driver.clock()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// True once the transport is closed: no more events will come.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Waits up to `timeout` (`None`: as long as it takes) for the next
    /// session event (handshake events included), reading, writing and
    /// handling timers meanwhile. `Ok(None)` means the wait ran out or the
    /// connection finished ([`is_finished`](Self::is_finished)).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<SessionEvent>, Error> {
        self.run(timeout, |d, io, s| d.turn_session(io, s))
    }

    /// Waits for the next WebSocket event, answering handshake events by the
    /// server's [`Policy`](crate::Policy). `Ok(None)`: the connection
    /// finished.
    pub fn recv(&mut self) -> Result<Option<Event>, Error> {
        loop {
            match self.run(None, |d, io, s| d.turn(io, s))? {
                Some(ev) => return Ok(Some(ev)),
                None if self.finished => return Ok(None),
                None => {}
            }
        }
    }

    /// Runs the opening handshake to its end (a server answers by its
    /// [`Policy`](crate::Policy)), within the handshake timeout, taking no
    /// WebSocket event. True once open; false if the connection finished
    /// first.
    pub fn handshake(&mut self) -> Result<bool, Error> {
        while !self.driver.is_open() {
            if self
                .run(None, |d, io, s| d.turn_handshake(io, s))?
                .is_none()
                && self.finished
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next [`AppEvent`](crate::AppEvent) (WebSocket events, the
    /// application's timer and writable wake-ups), waiting up to
    /// `timeout` (`None`: as long as it takes); `Ok(None)`: the wait ran
    /// out or the connection finished.
    pub fn recv_app(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<crate::AppEvent>, Error> {
        self.run(timeout, |d, io, s| d.turn_app(io, s))
    }

    /// Like [`recv`](Self::recv), giving up after `timeout` (`Ok(None)`).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        self.run(Some(timeout), |d, io, s| d.turn(io, s))
    }

    /// Turns the driver ([`Driver::turn`]) until an event, the end, or
    /// `timeout`; a blocking read waits for input (and no longer than the
    /// next timer or `timeout`).
    fn run<T>(
        &mut self,
        timeout: Option<Duration>,
        mut step: impl FnMut(&mut Driver, &mut BlockingIo<'_, S>, &mut [u8]) -> Result<Turn<T>, Error>,
    ) -> Result<Option<T>, Error> {
        let clock = self.driver.clock();
        let deadline = timeout.map(|t| clock.now() + t);
        loop {
            if self.finished {
                return Ok(None);
            }
            #[cfg(unix)]
            if let Some(link) = &self.link {
                link.drain(&mut self.driver);
            }
            if !self.opened {
                if let Some(c) = self.driver.session().connection() {
                    // The connection's own settings (a protocol's, chosen
                    // in the handshake) replace the session's.
                    self.opened = true;
                    let t = blocking_write_timeout(c.config().write_timeout);
                    if let Err(e) = self.io.set_write_timeout(t) {
                        log::debug!("{:?}: no write timeout: {e}", self.driver.peer());
                    }
                }
            }
            let mut io = BlockingIo {
                io: &mut self.io,
                rcv: &mut self.rcv,
                deadline,
                clock,
                polled: self.polled,
            };
            let driver = &mut self.driver;
            let turned = with_scratch(|s| step(driver, &mut io, s));
            let wait = match turned {
                Ok(Turn::Event(ev)) => {
                    self.mirror();
                    return Ok(Some(ev));
                }
                Ok(Turn::Wait(w)) => w,
                Ok(_) => {
                    self.close_io();
                    return Ok(None);
                }
                Err(e) => {
                    self.close_io();
                    return Err(e);
                }
            };
            self.mirror();
            if deadline.is_some_and(|d| d <= clock.now()) {
                return Ok(None);
            }
            if self.polled {
                if !wait.again {
                    let paused = !wait.read && !wait.write;
                    let until = match (wait.until, deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                    .or_else(|| paused.then(|| clock.now() + crate::PAUSE_RETRY));
                    self.poll_wait(wait.read, wait.write, until)?;
                }
                continue;
            }
            if !wait.read && !wait.write && !wait.again {
                // Not reading (the memory budget paused it, or the stream
                // ended): sleep to the next timer or the caller's deadline.
                let d = wait_for(&clock, wait.until, deadline).unwrap_or(crate::PAUSE_RETRY);
                std::thread::sleep(d);
            }
        }
    }

    /// Tells push handles what the connection holds.
    fn mirror(&self) {
        #[cfg(unix)]
        if let Some(link) = &self.link {
            link.mirror(&self.driver, self.finished);
        }
    }

    /// Waits in `poll(2)` for the stream or a push (polled mode).
    fn poll_wait(&mut self, read: bool, write: bool, until: Option<Instant>) -> Result<(), Error> {
        #[cfg(unix)]
        if let (Some(link), Some(fd)) = (&self.link, self.io.poll_fd()) {
            let clock = self.driver.clock();
            return link
                .wait(fd, read, write, until, &clock)
                .map_err(|e| Error::from(e).with_peer(self.driver.peer()));
        }
        let _ = (read, write, until);
        Ok(())
    }

    /// The turn wrote the last output: close the stream.
    fn close_io(&mut self) {
        if !self.finished {
            self.finished = true;
            let _ = self.io.shutdown();
        }
        self.mirror();
    }

    /// Writes everything queued (vectored, no copies), waiting for the
    /// stream to take it.
    pub fn flush(&mut self) -> Result<(), Error> {
        // Non-blocking (polled) stream: wait for it to take the output, but
        // no longer than the connection's write timeout without progress.
        let clock = self.driver.clock();
        let limit = self
            .driver
            .session()
            .connection()
            .and_then(|c| c.config().write_timeout);
        let mut pending = self.driver.pending_write();
        let mut deadline = limit.map(|t| clock.now() + t);
        loop {
            let io = &mut self.io;
            match self.driver.write_to(|s| io.write_vectored(s)) {
                Ok(()) => break,
                Err(e) if self.polled && e.kind() == io::ErrorKind::WouldBlock => {
                    let left = self.driver.pending_write();
                    if left < pending {
                        pending = left;
                        deadline = limit.map(|t| clock.now() + t);
                    } else if deadline.is_some_and(|d| d <= clock.now()) {
                        self.finish();
                        let e = Error::from(ErrorKind::Timeout("write"));
                        return Err(e.with_peer(self.driver.peer()));
                    }
                    self.poll_wait(false, true, deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.finish();
                    return Err(Error::from(e).with_peer(self.driver.peer()));
                }
            }
        }
        self.io.flush()?;
        self.mirror();
        Ok(())
    }

    /// A handle that queues messages (and a close) on this connection from
    /// any thread and wakes the thread waiting in
    /// [`recv`](Self::recv) / [`recv_app`](Self::recv_app) /
    /// [`next_event`](Self::next_event) to send them. From the first
    /// handle on, the stream is non-blocking and the connection's waits
    /// are `poll(2)` on it and on a wake-up socket pair (two more
    /// descriptors). `None` for a stream without a descriptor to poll
    /// ([`Transport::poll_fd`]) or if the system refused the pair.
    ///
    /// ```no_run
    /// use ws_adapters::{Push, blocking};
    ///
    /// let server = blocking::Server::bind_with("127.0.0.1:0", Default::default())?;
    /// let (mut ws, _) = server.accept()?;
    /// ws.handshake()?;
    /// let handle = ws.push_handle().expect("a TCP socket on unix");
    /// std::thread::spawn(move || {
    ///     let _ = handle.push(ws_adapters::Message::text("from another thread"));
    /// });
    /// while let Some(event) = ws.recv()? {
    ///     println!("{event:?}");
    /// }
    /// # Ok::<(), ws_adapters::Error>(())
    /// ```
    #[cfg(unix)]
    pub fn push_handle(&mut self) -> Option<BlockingPush> {
        let handle = self.push_link()?;
        self.start_polling().then_some(handle)
    }

    /// The push link (made once), without switching to polled waits:
    /// [`Protocols`](crate::Protocols) makes a handle for every connection
    /// and polls only once one is handed out.
    #[cfg(unix)]
    pub(crate) fn push_link(&mut self) -> Option<BlockingPush> {
        self.io.poll_fd()?;
        let high_water = self.driver.turn.high_water;
        let link = self
            .link
            .get_or_insert_with(|| Arc::new(push::Link::new(high_water)));
        Some(BlockingPush(link.clone()))
    }

    /// Switches to polled waits (once): false if it cannot.
    #[cfg(unix)]
    pub(crate) fn start_polling(&mut self) -> bool {
        if self.polled {
            return true;
        }
        let Some(link) = &self.link else {
            return false;
        };
        if !link.arm() {
            return false;
        }
        if let Err(e) = self.io.set_nonblocking(true) {
            log::warn!("{:?}: cannot poll for push: {e}", self.driver.peer());
            return false;
        }
        self.polled = true;
        true
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.driver.close_notify();
            let io = &mut self.io;
            let _ = self.driver.write_to(|s| io.write_vectored(s));
            let _ = self.io.shutdown();
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.driver.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.driver.send_binary(data)?;
        self.flush()
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.driver.send_ping(payload)?;
        self.flush()
    }

    /// Sends an unsolicited pong (payload at most 125 bytes).
    pub fn send_pong(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.driver.send_pong(payload)?;
        self.flush()
    }

    /// Sends one part of a message sent in parts (RFC 6455 §5.4): the
    /// first call starts a message of `kind`, `fin` ends it.
    pub fn send_fragment(
        &mut self,
        kind: ws_proto::MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        self.driver.send_fragment(kind, data, fin)?;
        self.flush()
    }

    /// Starts the closing handshake; keep calling [`recv`](Self::recv) (or
    /// [`next_event`](Self::next_event)) until the connection finishes.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.driver.close(code, reason)?;
        self.flush()
    }
}

impl WebSocket<TcpStream> {
    /// Splits into a [`Reader`] and a [`Writer`] usable from two threads.
    /// The reader reads without holding the connection's lock; both write
    /// under one write lock, so frames never interleave.
    pub fn split(self) -> Result<(Reader, Writer), Error> {
        if self.polled {
            // The halves block in reads and writes; push handles made
            // before the split see the connection closed.
            self.io.set_nonblocking(false)?;
        }
        #[cfg(unix)]
        if let Some(link) = &self.link {
            link.close();
        }
        let read = self.io.try_clone()?;
        let shared = Arc::new(Shared {
            driver: Mutex::new(self.driver),
            io: Mutex::new(self.io),
            _slot: self.slot,
        });
        let reader = Reader {
            shared: shared.clone(),
            io: read,
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            finished: self.finished,
        };
        Ok((reader, Writer { shared }))
    }
}

#[derive(Debug)]
struct Shared {
    driver: Mutex<Driver>,
    io: Mutex<TcpStream>,
    _slot: Option<Slot>,
}

impl Shared {
    fn driver(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is queued. Whoever holds the write lock keeps writing
    /// until the queue is empty, so output queued by the other thread
    /// meanwhile is never stranded, and neither thread blocks the other's
    /// reads while writing.
    fn flush(&self) -> Result<(), Error> {
        let mut chunk = Vec::new();
        loop {
            let Ok(mut io) = self.io.try_lock() else {
                return Ok(());
            };
            loop {
                chunk.clear();
                let r = self.driver().write_to(|s| {
                    let n = s.iter().map(|b| b.len()).sum();
                    s.iter().for_each(|b| chunk.extend_from_slice(b));
                    Ok(n)
                });
                r?;
                if chunk.is_empty() {
                    break;
                }
                io.write_all(&chunk)?;
            }
            drop(io);
            if self.driver().pending_write() == 0 {
                return Ok(());
            }
        }
    }

    fn shutdown(&self) {
        let mut d = self.driver();
        d.close_notify();
        let mut out = Vec::new();
        let _ = d.write_to(|s| {
            s.iter().for_each(|b| out.extend_from_slice(b));
            Ok(s.iter().map(|b| b.len()).sum())
        });
        drop(d);
        if let Ok(mut io) = self.io.lock() {
            let _ = io.write_all(&out);
            let _ = io.shutdown(Shutdown::Both);
        }
    }
}

/// The receiving half of a split [`WebSocket`].
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    io: TcpStream,
    scratch: Box<[u8]>,
    finished: bool,
}

impl Reader {
    /// Waits for the next WebSocket event (`Ok(None)`: finished). Pongs
    /// and close echoes are written as they are queued.
    pub fn recv(&mut self) -> Result<Option<Event>, Error> {
        while !self.finished {
            let (timer, clock, peer) = {
                let mut d = self.shared.driver();
                let msg = d.poll_message();
                if let Ok(Some(ev)) = msg {
                    drop(d);
                    self.shared.flush()?;
                    return Ok(Some(ev));
                }
                if let Err(e) = msg {
                    drop(d);
                    let _ = self.shared.flush();
                    self.finish();
                    return Err(e);
                }
                if d.handle_timers() {
                    continue;
                }
                (d.poll_deadline(), d.clock(), d.peer())
            };
            self.shared.flush()?;
            if self.shared.driver().wants_close() {
                self.finish();
                break;
            }
            self.io.set_read_timeout(wait_for(&clock, timer, None))?;
            match self.io.read(&mut self.scratch) {
                Ok(n) => {
                    let data = self.scratch.get(..n).unwrap_or_default();
                    self.shared.driver().feed(data)?;
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    self.finish();
                    return Err(Error::from(e).with_peer(peer));
                }
            }
        }
        Ok(None)
    }

    fn finish(&mut self) {
        self.finished = true;
        self.shared.shutdown();
    }
}

/// The sending half of a split [`WebSocket`].
#[derive(Debug, Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    fn send(&self, f: impl FnOnce(&mut Driver) -> Result<(), Error>) -> Result<(), Error> {
        f(&mut self.shared.driver())?;
        self.shared.flush()
    }

    /// Sends a text message.
    pub fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_binary(data))
    }

    /// Sends a ping.
    pub fn send_ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_ping(payload))
    }

    /// Sends an unsolicited pong.
    pub fn send_pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_pong(payload))
    }

    /// Sends one part of a message sent in parts (see
    /// [`WebSocket::send_fragment`]).
    pub fn send_fragment(
        &self,
        kind: ws_proto::MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        self.send(|d| d.send_fragment(kind, data, fin))
    }

    /// Starts the closing handshake; the [`Reader`] sees it through.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send(|d| d.close(code, reason))
    }
}

/// Binds the first of `addr`'s addresses that works, with our backlog.
fn bind_any(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for a in addr.to_socket_addrs()? {
        match crate::admission::listen(a, false) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A listening socket that hands out server-side [`WebSocket`]s.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    options: ServerOptions,
    gate: Gate,
    clock: Clock,
}

impl Server {
    /// Listens on `addr` with the handshake settings `http` and the
    /// session settings `config` (negotiators, limits).
    pub fn bind(
        addr: impl ToSocketAddrs,
        http: Arc<ServerConfig>,
        config: Arc<SessionConfig>,
    ) -> io::Result<Server> {
        let options = ServerOptions {
            http,
            session: config,
            ..ServerOptions::default()
        };
        Self::bind_with(addr, options)
    }

    /// Listens on `addr` (interface and port) with `options`.
    pub fn bind_with(addr: impl ToSocketAddrs, options: ServerOptions) -> io::Result<Server> {
        Ok(Server {
            listener: bind_any(addr)?,
            options,
            gate: Gate::default(),
            clock: Clock::new(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next admitted connection: peers refused by the filter
    /// are closed before any byte is read, and over the connection limit
    /// they get a `503`. The handshake runs as the caller drives the
    /// returned socket ([`WebSocket::recv`] or [`WebSocket::next_event`]).
    pub fn accept(&self) -> Result<(WebSocket<TcpStream>, SocketAddr), Error> {
        loop {
            let (stream, peer) = self.listener.accept()?;
            let Some(slot) = self.gate.admit(&self.options, peer, |busy| {
                let _ = (&stream).write(busy);
            }) else {
                continue;
            };
            stream.set_nodelay(true)?;
            let driver = self.options.driver(self.clock, peer)?;
            let mut ws = WebSocket::with_driver(stream, driver);
            ws.slot = Some(slot);
            log::debug!("{peer}: accepted");
            return Ok((ws, peer));
        }
    }

    /// Serves every connection on its own thread with `handler`, forever.
    pub fn run<F>(&self, handler: F) -> Result<(), Error>
    where
        F: Fn(WebSocket<TcpStream>) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        loop {
            let (ws, peer) = match self.accept() {
                Ok(x) => x,
                Err(e) => {
                    log::warn!("accept: {e}");
                    continue;
                }
            };
            let h = handler.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ws {peer}"))
                .spawn(move || h(ws));
            if let Err(e) = spawned {
                log::warn!("{peer}: no thread: {e}");
            }
        }
    }
}

/// Opens a client connection to `url` (`ws://` or `wss://`) and runs the
/// handshake; returns once the connection is open.
pub fn connect(url: &str, config: Arc<SessionConfig>) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(ClientRequest::new(url)?, &config.into())
}

/// Like [`connect`] with a prepared request (subprotocols, dialect, origin,
/// headers).
pub fn connect_request(
    request: ClientRequest,
    config: Arc<SessionConfig>,
) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(request, &config.into())
}

/// Like [`connect`] with all the client settings (proxy, TLS, timeout).
pub fn connect_with(
    request: ClientRequest,
    options: &ClientOptions,
) -> Result<WebSocket<TcpStream>, Error> {
    let (host, port, mut driver) = options.plan(request)?;
    let addr = resolve(&host, port)?;
    driver.set_peer(addr);
    let stream = TcpStream::connect_timeout(&addr, options.timeout)?;
    stream.set_nodelay(true)?;
    let mut ws = WebSocket::with_driver(stream, driver);
    let clock = ws.clock();
    let deadline = clock.now() + options.timeout;
    while !ws.driver.is_open() {
        let left = clock.until(deadline);
        if left.is_zero() {
            return Err(ErrorKind::Timeout("handshake").into());
        }
        match ws.next_event(Some(left))? {
            Some(SessionEvent::Redirect { status, location }) => {
                return Err(ErrorKind::Redirect { status, location }.into());
            }
            Some(SessionEvent::Rejected(res)) => return Err(ErrorKind::Rejected(res.status).into()),
            None if ws.is_finished() => return Err(ErrorKind::Closed.into()),
            _ => {}
        }
    }
    Ok(ws)
}

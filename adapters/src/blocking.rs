//! A driver over std's blocking sockets.
//!
//! [`WebSocket`] wraps any [`Transport`] (a `TcpStream`, later a TLS
//! stream) and a [`Session`]; [`Server`] accepts TCP connections and
//! [`connect`] opens a client. One connection per thread is the simple way
//! to use it; [`WebSocket::next_event`] takes a timeout, so a thread can
//! also do periodic work between events.
//!
//! ```no_run
//! use ws_adapters::blocking;
//! use ws_proto::session::SessionEvent;
//! use ws_proto::Event;
//!
//! let mut ws = blocking::connect("ws://127.0.0.1:7681/", Default::default())?;
//! ws.send_text("hello")?;
//! while let Some(ev) = ws.next_event(None)? {
//!     if let SessionEvent::Ws(Event::Text(t)) = ev {
//!         println!("{}", t.as_str());
//!         break;
//!     }
//! }
//! ws.close(ws_proto::CloseCode::NORMAL, "bye")?;
//! # Ok::<(), ws_adapters::Error>(())
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use http_upgrade::{ClientRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{Bytes, CloseCode, Connection};

use crate::{Clock, Error, mask_rng};

/// A byte stream the blocking driver can run over.
pub trait Transport: Read + Write {
    /// Bounds the next reads (`None`: block).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes the stream (both directions).
    fn shutdown(&self) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn shutdown(&self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
}

/// Size of a read before the connection is open (the handshake).
const HANDSHAKE_READ: usize = 4096;
/// Minimum room asked of the connection's receive buffer per read.
const READ_CHUNK: usize = 16 * 1024;

/// A WebSocket endpoint over a blocking [`Transport`].
#[derive(Debug)]
pub struct WebSocket<S> {
    io: S,
    session: Session,
    clock: Clock,
    finished: bool,
}

impl<S: Transport> WebSocket<S> {
    /// Drives `session` over `io`; `clock` supplies the session's time.
    pub fn new(io: S, session: Session, clock: Clock) -> Self {
        WebSocket {
            io,
            session,
            clock,
            finished: false,
        }
    }

    /// The sans-IO machine (handshake state, connection, errors).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The sans-IO machine, for calls the driver has no shortcut for
    /// (`respond`, `accept`, `reject`, streaming sends ...). Call
    /// [`flush`](Self::flush) after queuing output.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The clock the session runs on.
    pub fn clock(&self) -> Clock {
        self.clock
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
    /// event, reading, writing and handling timers meanwhile. `Ok(None)`
    /// means the wait ran out or the connection finished
    /// ([`is_finished`](Self::is_finished)).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<SessionEvent>, Error> {
        let deadline = timeout.map(|t| self.clock.now() + t);
        loop {
            match self.session.poll_event() {
                Ok(Some(ev)) => return Ok(Some(ev)),
                Ok(None) => {}
                Err(e) => {
                    // The close frame or error response is queued: send it.
                    let _ = self.flush();
                    self.finish();
                    return Err(e.into());
                }
            }
            self.flush()?;
            if self.finished || self.session.wants_transport_close() {
                self.finish();
                return Ok(None);
            }
            let now = self.clock.now();
            let timer = self.session.poll_timeout();
            if timer.is_some_and(|t| t <= now) {
                self.session.handle_timeout(now);
                continue;
            }
            let wake = match (timer, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if deadline.is_some_and(|d| d <= now) {
                return Ok(None);
            }
            let wait = wake.map(|w| self.clock.until(w).max(Duration::from_millis(1)));
            self.io.set_read_timeout(wait)?;
            self.read_once()?;
        }
    }

    /// One read from the socket into the session.
    fn read_once(&mut self) -> Result<(), Error> {
        let result = match self.session.connection_mut() {
            // Open: read straight into the connection's buffer (zero copy).
            Some(conn) => read_into_connection(&mut self.io, conn, &self.clock),
            None => {
                let mut buf = [0u8; HANDSHAKE_READ];
                match self.io.read(&mut buf) {
                    Ok(0) => Ok(0),
                    Ok(n) => {
                        let now = self.clock.now();
                        match self.session.receive(now, buf.get(..n).unwrap_or_default()) {
                            Ok(()) => Ok(n),
                            Err(e) => {
                                let _ = self.flush();
                                self.finish();
                                return Err(e.into());
                            }
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(0) => {
                self.session.receive_eof(self.clock.now());
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Ok(()),
            Err(e) => {
                self.finish();
                Err(e.into())
            }
        }
    }

    /// Writes everything the session has queued (vectored, no copies).
    pub fn flush(&mut self) -> Result<(), Error> {
        while self.session.pending_transmit() > 0 {
            let mut slices = [IoSlice::new(&[]); 16];
            let k = self.session.fill_io_slices(&mut slices);
            let written = match self.io.write_vectored(slices.get(..k).unwrap_or_default()) {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.finish();
                    return Err(e.into());
                }
            };
            self.session.advance_transmit(written);
        }
        self.io.flush()?;
        Ok(())
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            let _ = self.io.shutdown();
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, Error> {
        self.session.connection_mut().ok_or(Error::Closed)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn()?.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.conn()?.send_binary(data)?;
        self.flush()
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.conn()?.send_ping(payload)?;
        self.flush()
    }

    /// Starts the closing handshake; keep calling
    /// [`next_event`](Self::next_event) until it returns `Ok(None)` with
    /// [`is_finished`](Self::is_finished) to complete it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.clock.now();
        self.conn()?.close(now, code, reason)?;
        self.flush()
    }
}

fn read_into_connection<S: Read>(
    io: &mut S,
    conn: &mut Connection,
    clock: &Clock,
) -> io::Result<usize> {
    let buf = conn.recv_buf(READ_CHUNK);
    let n = io.read(buf)?;
    // A protocol error is stored in the connection and reported by
    // `poll_event`, with its close frame queued.
    let _ = conn.recv_commit(clock.now(), n);
    Ok(n)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A listening socket that hands out server-side [`WebSocket`]s.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    http: Arc<ServerConfig>,
    config: Arc<SessionConfig>,
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
        Ok(Server {
            listener: TcpListener::bind(addr)?,
            http,
            config,
            clock: Clock::new(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next TCP connection. The handshake runs as the caller
    /// drives the returned socket with [`WebSocket::next_event`].
    pub fn accept(&self) -> io::Result<(WebSocket<TcpStream>, SocketAddr)> {
        let (stream, peer) = self.listener.accept()?;
        stream.set_nodelay(true)?;
        let session = Session::server(self.http.clone(), self.config.clone(), self.clock.now());
        Ok((WebSocket::new(stream, session, self.clock), peer))
    }
}

/// Opens a client connection to `url` (`ws://host:port/path`) and runs the
/// handshake; returns once the connection is open.
pub fn connect(url: &str, config: Arc<SessionConfig>) -> Result<WebSocket<TcpStream>, Error> {
    connect_request(ClientRequest::new(url)?, config)
}

/// Like [`connect`] with a prepared request (subprotocols, dialect, origin,
/// headers).
pub fn connect_request(
    request: ClientRequest,
    config: Arc<SessionConfig>,
) -> Result<WebSocket<TcpStream>, Error> {
    let host = request.url.host().to_owned();
    let port = request.url.port();
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| Error::Resolve(host.clone()))?;
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let clock = Clock::new();
    let session = Session::client(request, config, mask_rng(), clock.now())?;
    let mut ws = WebSocket::new(stream, session, clock);
    loop {
        match ws.next_event(None)? {
            Some(SessionEvent::Open(_)) => return Ok(ws),
            Some(SessionEvent::Redirect { status, location }) => {
                return Err(Error::Redirect { status, location });
            }
            Some(SessionEvent::Rejected(res)) => return Err(Error::Rejected(res.status)),
            Some(_) => {}
            None if ws.is_finished() => return Err(Error::Closed),
            None => {}
        }
    }
}

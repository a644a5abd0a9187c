//! The async driver on async-io (smol's reactor; usable from any
//! executor): [`connect`], [`Server`], and [`WebSocket`] (=
//! [`AsyncWebSocket`] over an `Async<TcpStream>`; split with
//! [`AsyncWebSocket::split`]). Everything but the socket calls is shared
//! with the tokio adapter (`aio`) and the [`Driver`](crate::Driver) core.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::task::{Context, Poll};

use async_io::{Async, Timer};
use http_upgrade::ClientRequest;

use crate::options::{BUSY, Gate, resolve_async};
use crate::{AsyncSocket, AsyncWebSocket, ClientOptions, Clock, Error, ErrorKind, ServerOptions};

/// An async-io socket as an [`AsyncSocket`].
#[derive(Debug)]
pub struct SmolSocket(Async<TcpStream>);

impl AsyncSocket for SmolSocket {
    type Sleep = Timer;
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_readable(cx)
    }
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_writable(cx)
    }
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.get_ref().read(buf)
    }
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.get_ref().write_vectored(bufs)
    }
    fn shutdown(&self) {
        let _ = self.0.get_ref().shutdown(Shutdown::Both);
    }
    fn sleep_until(at: std::time::Instant) -> Self::Sleep {
        Timer::at(at)
    }
}

/// A WebSocket on async-io.
pub type WebSocket = AsyncWebSocket<SmolSocket>;

async fn timeout<T>(
    t: std::time::Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    futures_lite::future::or(f, async {
        Timer::after(t).await;
        Err(ErrorKind::Timeout(what).into())
    })
    .await
}

/// Connects to `url` (`ws://` or `wss://`, through the proxy the options
/// name) and completes the handshake.
pub async fn connect(url: &str, options: &ClientOptions) -> Result<WebSocket, Error> {
    connect_request(ClientRequest::new(url)?, options).await
}

/// Like [`connect`] with a prepared request (subprotocols, dialect,
/// origin, headers); what the server chose is in
/// [`AsyncWebSocket::negotiated`](crate::AsyncWebSocket::negotiated).
pub async fn connect_request(
    request: ClientRequest,
    options: &ClientOptions,
) -> Result<WebSocket, Error> {
    let (host, port, driver) = options.plan(request)?;
    let addr = timeout(options.timeout, "resolve", resolve_async(host, port)).await?;
    let connecting = async { Ok(Async::<TcpStream>::connect(addr).await?) };
    let stream = timeout(options.timeout, "connect", connecting).await?;
    stream.get_ref().set_nodelay(true)?;
    let mut ws = WebSocket::new(SmolSocket(stream), driver, None);
    timeout(options.timeout, "handshake", ws.handshake()).await?;
    Ok(ws)
}

/// A listening socket handing out server-side [`WebSocket`]s.
#[derive(Debug)]
pub struct Server {
    listener: Async<TcpListener>,
    options: ServerOptions,
    gate: Gate,
    clock: Clock,
}

impl Server {
    /// Listens on `addr` (interface and port).
    pub fn bind(addr: SocketAddr, options: ServerOptions) -> io::Result<Server> {
        Ok(Server {
            listener: Async::<TcpListener>::bind(addr)?,
            options,
            gate: Gate::default(),
            clock: Clock::new(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.get_ref().local_addr()
    }

    /// The next admitted connection (filter and limit applied); its
    /// handshake runs in [`AsyncWebSocket::recv`] or
    /// [`AsyncWebSocket::handshake`].
    pub async fn accept(&self) -> Result<(WebSocket, SocketAddr), Error> {
        loop {
            let (stream, peer) = self.listener.accept().await?;
            let Some(slot) = self.gate.admit(&self.options, peer, || {
                let _ = stream.get_ref().write(BUSY);
            }) else {
                continue;
            };
            stream.get_ref().set_nodelay(true)?;
            let driver = self.options.driver(self.clock, peer)?;
            return Ok((WebSocket::new(SmolSocket(stream), driver, Some(slot)), peer));
        }
    }
}

//! The async driver on tokio: [`connect`], [`Server`], and [`WebSocket`]
//! (= [`AsyncWebSocket`] over a tokio `TcpStream`; split with
//! [`AsyncWebSocket::split`]). Everything but the socket calls is shared
//! with the smol adapter (`aio`) and the [`Driver`](crate::Driver) core.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use http_upgrade::ClientRequest;
use tokio::net::{TcpListener, TcpStream};

use crate::options::{BUSY, Gate};
use crate::{AsyncSocket, AsyncWebSocket, ClientOptions, Clock, Error, ErrorKind, ServerOptions};

/// A tokio socket as an [`AsyncSocket`].
#[derive(Debug)]
pub struct TokioSocket(TcpStream);

impl AsyncSocket for TokioSocket {
    type Sleep = tokio::time::Sleep;
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_ready(cx)
    }
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_write_ready(cx)
    }
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn shutdown(&self) {
        let _ = rustix::net::shutdown(self.0.as_fd(), rustix::net::Shutdown::Both);
    }
    fn sleep_until(at: std::time::Instant) -> Self::Sleep {
        tokio::time::sleep_until(at.into())
    }
}

/// A WebSocket on tokio.
pub type WebSocket = AsyncWebSocket<TokioSocket>;

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
    // The system resolver blocks: tokio runs it on its blocking pool.
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addr = tokio::time::timeout(options.timeout, lookup)
        .await
        .map_err(|_| ErrorKind::Timeout("resolve"))??
        .next()
        .ok_or_else(|| ErrorKind::Resolve(host.clone()))?;
    let stream = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ErrorKind::Timeout("connect"))??;
    stream.set_nodelay(true)?;
    let mut ws = WebSocket::new(TokioSocket(stream), driver, None);
    tokio::time::timeout(options.timeout, ws.handshake())
        .await
        .map_err(|_| ErrorKind::Timeout("handshake"))??;
    Ok(ws)
}

/// A listening socket handing out server-side [`WebSocket`]s.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    options: ServerOptions,
    gate: Gate,
    clock: Clock,
}

impl Server {
    /// Listens on `addr` (interface and port).
    pub async fn bind(addr: SocketAddr, options: ServerOptions) -> io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr).await?,
            options,
            gate: Gate::default(),
            clock: Clock::new(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next admitted connection (filter and limit applied); its
    /// handshake runs in [`AsyncWebSocket::recv`] or
    /// [`AsyncWebSocket::handshake`].
    pub async fn accept(&self) -> Result<(WebSocket, SocketAddr), Error> {
        loop {
            let (stream, peer) = self.listener.accept().await?;
            let Some(slot) = self.gate.admit(&self.options, peer, || {
                let _ = stream.try_write(BUSY);
            }) else {
                continue;
            };
            stream.set_nodelay(true)?;
            let driver = self.options.driver(self.clock, peer)?;
            return Ok((
                WebSocket::new(TokioSocket(stream), driver, Some(slot)),
                peer,
            ));
        }
    }
}

//! The async driver on async-io (smol's reactor; usable from any
//! executor), over **any** `futures_io::AsyncRead + AsyncWrite` stream: an
//! `Async<TcpStream>`, a `futures-rustls` stream, an `Async<UnixStream>`,
//! an in-memory pipe.
//!
//! * [`accept`]: the server handshake on a stream you accepted;
//!   [`Server`]: a listener of ours (filter, connection limit, `503`).
//! * [`client`]: the client handshake on a stream you opened;
//!   [`connect`]: resolves (off the task), connects (through a proxy, with
//!   TLS) and handshakes. Both return the server's answer ([`Handshake`]).
//! * [`WebSocket`] is a `futures` `Stream` of events and `Sink` of
//!   [`Message`](crate::Message)s; [`split`](AsyncWebSocket::split) gives
//!   owned halves for two tasks.
//!
//! Everything but the stream calls is shared with the tokio adapter.

use std::io::{self, IoSlice, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use http_upgrade::Handshake;

use crate::admission::Gate;
use crate::aio::timeout;
use crate::options::resolve_async;
use crate::{
    AsyncStream, AsyncWebSocket, ClientOptions, Clock, Error, IntoClientRequest, ServerOptions,
};

/// A `futures_io` stream as an [`AsyncStream`] (async-io's timer).
#[derive(Debug)]
pub struct Smol<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for Smol<S> {
    type Sleep = Timer;
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.0).poll_close(cx))?;
        // async-io's `poll_close` only flushes an `Async<TcpStream>`: end
        // the stream (FIN) as tokio's `poll_shutdown` does, so a peer gets
        // our last bytes and the end before the socket is closed.
        let any: &mut dyn std::any::Any = &mut self.0;
        if let Some(tcp) = any.downcast_mut::<Async<TcpStream>>() {
            let _ = tcp.get_ref().shutdown(std::net::Shutdown::Write);
        }
        Poll::Ready(Ok(()))
    }
    fn sleep_until(at: std::time::Instant) -> Self::Sleep {
        Timer::at(at)
    }
}

/// A WebSocket on async-io, over an `Async<TcpStream>` unless said
/// otherwise.
pub type WebSocket<S = Async<TcpStream>> = AsyncWebSocket<Smol<S>>;

/// Runs the server handshake on `stream` (answered by `options`' policy,
/// within its handshake timeout; TLS if `options` has it) and returns the
/// open WebSocket.
pub async fn accept<S>(stream: S, options: &ServerOptions) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::aio::accept(Smol(stream), options).await
}

/// Runs the client handshake for `request` on `stream`, which must reach
/// the server as it is (no proxy or TLS layer is added), within
/// `options.timeout`. Returns the open WebSocket and what the server
/// answered.
pub async fn client<S>(
    stream: S,
    request: impl IntoClientRequest,
    options: &ClientOptions,
) -> Result<(WebSocket<S>, Handshake), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::aio::client(Smol(stream), request, options).await
}

/// Connects to `request`'s URL (`ws://` or `wss://`, through the proxy
/// `options` name, the environment's by default), resolving the name off
/// the task, and completes the handshake. Returns the open WebSocket and
/// what the server answered.
pub async fn connect(
    request: impl IntoClientRequest,
    options: &ClientOptions,
) -> Result<(WebSocket, Handshake), Error> {
    let (host, port, mut driver) = options.plan(request.into_client_request()?)?;
    let addr =
        timeout::<Smol<Async<TcpStream>>, _>(options.timeout, "resolve", resolve_async(host, port))
            .await?;
    let connecting = async { Ok(Async::<TcpStream>::connect(addr).await?) };
    let stream =
        timeout::<Smol<Async<TcpStream>>, _>(options.timeout, "connect", connecting).await?;
    stream.get_ref().set_nodelay(true)?;
    driver.set_peer(addr);
    crate::aio::open(Smol(stream), driver, options).await
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
            listener: Async::new(crate::admission::listen(addr, false)?)?,
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
            let Some(slot) = self.gate.admit(&self.options, peer, |busy| {
                let _ = stream.get_ref().write(busy);
            }) else {
                continue;
            };
            stream.get_ref().set_nodelay(true)?;
            let driver = self.options.driver(self.clock, peer)?;
            return Ok((WebSocket::new(Smol(stream), driver, Some(slot)), peer));
        }
    }
}

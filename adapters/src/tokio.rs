//! The async driver on tokio, over **any** `tokio::io::AsyncRead +
//! AsyncWrite` stream: a `TcpStream`, a `tokio_rustls` stream, hyper's
//! `Upgraded` (through `hyper_util::rt::TokioIo`), a `UnixStream`, a
//! `tokio::io::duplex` pipe.
//!
//! * [`accept`]: the server handshake on a stream you accepted;
//!   [`Server`]: a listener of ours (filter, connection limit, `503`).
//! * [`client`]: the client handshake on a stream you opened;
//!   [`connect`]: resolves, connects (through a proxy, with TLS) and
//!   handshakes. Both return the server's answer ([`Handshake`]).
//! * [`WebSocket`] is a `futures` `Stream` of events and `Sink` of
//!   [`Message`](crate::Message)s; [`split`](AsyncWebSocket::split) gives
//!   owned halves for two tasks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ws_adapters::Error> {
//! use ws_adapters::{Event, tokio};
//!
//! let listener = ::tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (stream, _) = listener.accept().await?;
//! let mut ws = tokio::accept(stream, &Default::default()).await?;
//! while let Some(event) = ws.recv().await? {
//!     if let Some(msg) = event.into_message() {
//!         ws.send(msg).await?; // an echo
//!     }
//! }
//! # Ok(()) }
//! ```

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_upgrade::Handshake;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::admission::Gate;
use crate::{
    AsyncStream, AsyncWebSocket, ClientOptions, Clock, Error, ErrorKind, IntoClientRequest,
    ServerOptions,
};

/// A tokio stream as an [`AsyncStream`] (tokio's timer).
#[derive(Debug)]
pub struct Tokio<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for Tokio<S> {
    type Sleep = tokio::time::Sleep;
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    }
    fn reads_uninit(&self) -> bool {
        true
    }
    fn poll_read_uninit<'a>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &'a mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<&'a mut [u8]>> {
        let mut rb = ReadBuf::uninit(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut rb))?;
        let filled = rb.filled_mut();
        let (at, n) = (filled.as_mut_ptr(), filled.len());
        // SAFETY: `ReadBuf` keeps its filled part initialized, at the front
        // of the buffer it was made from, which is `buf`, borrowed for
        // `'a`: its first `n` bytes are initialized and `rb`, the only
        // other path to them, is gone after this line.
        #[allow(unsafe_code)]
        Poll::Ready(Ok(unsafe { std::slice::from_raw_parts_mut(at, n) }))
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
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn sleep_until(at: std::time::Instant) -> Self::Sleep {
        tokio::time::sleep_until(at.into())
    }
    fn poll_sleep(sleep: Pin<&mut Self::Sleep>, cx: &mut Context<'_>) -> Poll<()> {
        // Free of the cooperative budget: out of budget, a `Sleep` answers
        // `Pending` without registering its timer (and wakes the task at
        // once), which would break `sleep_waits`.
        let mut sleep = tokio::task::coop::unconstrained(sleep);
        Pin::new(&mut sleep).poll(cx)
    }
    fn sleep_waits(sleep: &Self::Sleep) -> bool {
        !sleep.is_elapsed()
    }
    fn write_unbudgeted(
        write: &mut dyn FnMut() -> Poll<Result<(), crate::Error>>,
    ) -> Poll<Result<(), crate::Error>> {
        // `unconstrained` lifts the budget for the duration of its poll;
        // the write itself never waits (a `Pending` from the stream is
        // returned as it is).
        let mut once = Some(write);
        let fut =
            tokio::task::coop::unconstrained(std::future::poll_fn(move |_| match once.take() {
                Some(w) => w(),
                None => Poll::Pending,
            }));
        let mut fut = std::pin::pin!(fut);
        fut.as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
    }
}

/// A WebSocket on tokio, over a `TcpStream` unless said otherwise.
pub type WebSocket<S = TcpStream> = AsyncWebSocket<Tokio<S>>;

/// Runs the server handshake on `stream` (answered by `options`' policy,
/// within its handshake timeout; TLS if `options` has it) and returns the
/// open WebSocket. Plain HTTP requests before the upgrade are answered by
/// the policy too.
pub async fn accept<S>(stream: S, options: &ServerOptions) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::aio::accept(Tokio(stream), options).await
}

/// Runs the client handshake for `request` on `stream`, which must reach
/// the server as it is (for `wss://`, a TLS stream of your own: no proxy
/// or TLS layer is added), within `options.timeout`. Returns the open
/// WebSocket and what the server answered.
pub async fn client<S>(
    stream: S,
    request: impl IntoClientRequest,
    options: &ClientOptions,
) -> Result<(WebSocket<S>, Handshake), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    crate::aio::client(Tokio(stream), request, options).await
}

/// Connects to `request`'s URL (`ws://` or `wss://`, through the proxy
/// `options` name, the environment's by default), resolving the name on
/// tokio's blocking pool, and completes the handshake. Returns the open
/// WebSocket and what the server answered (subprotocol, extensions,
/// response headers).
pub async fn connect(
    request: impl IntoClientRequest,
    options: &ClientOptions,
) -> Result<(WebSocket, Handshake), Error> {
    let (host, port, mut driver) = options.plan(request.into_client_request()?)?;
    let addr = resolve(&host, port, options.timeout).await?;
    let stream = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ErrorKind::Timeout("connect"))??;
    stream.set_nodelay(true)?;
    driver.set_peer(addr);
    crate::aio::open(Tokio(stream), driver, options).await
}

/// The first address of `host:port`, resolved on tokio's blocking pool
/// within `timeout`.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> Result<std::net::SocketAddr, Error> {
    let lookup = tokio::net::lookup_host((host, port));
    Ok(tokio::time::timeout(timeout, lookup)
        .await
        .map_err(|_| ErrorKind::Timeout("resolve"))??
        .next()
        .ok_or_else(|| ErrorKind::Resolve(host.to_owned()))?)
}

/// For the HTTP/2 and HTTP/3 clients: `url` parsed and resolved.
#[cfg(any(feature = "h2", feature = "h3"))]
pub(crate) async fn resolve_url(
    url: &str,
    options: &crate::ClientOptions,
) -> Result<(http_upgrade::WsUrl, std::net::SocketAddr), Error> {
    let url = http_upgrade::ClientRequest::new(url)
        .map_err(|e| Error::from(ws_proto::session::SessionError::from(e)))?
        .url;
    let addr = resolve(url.host(), url.port(), options.timeout).await?;
    Ok((url, addr))
}

/// For the HTTP/2 and HTTP/3 clients: the open WebSocket over `io` once
/// the server answered an extended CONNECT with `status` and `fields`
/// (pseudo-header fields left out): a refusal is
/// [`ErrorKind::Rejected`]; a 2xx is checked and the session opened.
#[cfg(any(feature = "h2", feature = "h3"))]
pub(crate) fn open_connect<S>(
    client: http_upgrade::ConnectClient,
    status: u16,
    fields: &http_upgrade::Headers,
    options: &crate::ClientOptions,
    peer: Option<std::net::SocketAddr>,
    io: S,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !(200..300).contains(&status) {
        return Err(Error::from(ErrorKind::Rejected(status)).with_peer(peer));
    }
    let clock = Clock::new();
    let session = ws_proto::session::Session::client_connect(
        client,
        status,
        fields,
        options.session.clone(),
        crate::mask_rng(),
        clock.now(),
    )
    .map_err(|e| Error::from(e).with_peer(peer))?;
    let driver = crate::Driver::new(session, clock, peer);
    Ok(crate::AsyncWebSocket::from_driver(Tokio(io), driver))
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
            let Some(slot) = self.gate.admit(&self.options, peer, |busy| {
                let _ = stream.try_write(busy);
            }) else {
                continue;
            };
            stream.set_nodelay(true)?;
            let driver = self.options.driver(self.clock, peer)?;
            return Ok((WebSocket::new(Tokio(stream), driver, Some(slot)), peer));
        }
    }
}

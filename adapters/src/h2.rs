//! WebSocket over HTTP/2 (RFC 8441) on the `h2` crate and tokio: feature
//! `h2`.
//!
//! A browser that already talks HTTP/2 to a server that advertised
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL` opens its WebSockets as streams of
//! that connection (an extended CONNECT with `:protocol websocket`,
//! answered `200`): no TCP or TLS handshake per socket. The frames, the
//! masking, the extensions and the closing handshake are RFC 6455's,
//! unchanged; the stream's `END_STREAM` plays the part of the TCP close,
//! and a `RST_STREAM` (`CANCEL`) that of a connection reset (RFC 8441 §5).
//!
//! * Server: [`serve`] runs one HTTP/2 connection: WebSocket streams are
//!   checked and answered by the [`ServerOptions`] as an HTTP/1.1 upgrade
//!   is ([`hosted::connect_upgrade`](crate::hosted::connect_upgrade)),
//!   then handed to the application as a [`WebSocket`]; plain requests on
//!   the same connection are answered by the options' policy (the
//!   protocols table's HTTP handler and files). [`Server`] listens with
//!   TLS and offers ALPN `h2` and `http/1.1`: a client that does not offer
//!   `h2` gets the HTTP/1.1 upgrade on the same port.
//! * Client: [`Connection::connect`] opens one HTTP/2 connection (TLS
//!   with ALPN `h2` for `wss://`, prior knowledge for `ws://`) and
//!   [`Connection::websocket`] opens a WebSocket on a new stream of it,
//!   as many as the server's concurrency limit allows.
//!
//! A [`WebSocket`] here is the tokio adapter's
//! [`AsyncWebSocket`](crate::AsyncWebSocket) over a [`Stream`]: `recv`,
//! `send`, `split`, `Stream + Sink`, push handles and the protocols table
//! work as on any other stream. Flow control is HTTP/2's: the window a stream grants its
//! peer is handed back only as the connection reads what arrived, so a
//! WebSocket that does not read stops its peer without the server
//! buffering more than one window.
//!
//! ```no_run
//! # async fn example() -> Result<(), ws_adapters::Error> {
//! use ws_adapters::{ClientOptions, Event, h2};
//! let options = ClientOptions::default()
//!     .with_tls(ws_adapters::tls::ClientTls::webpki_roots()?);
//! let connection = h2::Connection::connect("wss://example.com/", &options).await?;
//! // Two WebSockets on one TCP and TLS connection.
//! let mut chat = connection.websocket("wss://example.com/chat").await?;
//! let mut feed = connection.websocket("wss://example.com/feed").await?;
//! chat.send_text("hello").await?;
//! while let Some(event) = feed.recv().await? {
//!     if let Event::Text(t) = event {
//!         println!("{t}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};
use http_upgrade::{ClientRequest, Headers, HttpRequest, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use ws_proto::session::Session;

use crate::{ClientOptions, Clock, Error, ErrorKind, ServerOptions};

/// The stream under a [`WebSocket`] of this module: a stream of an
/// HTTP/2 connection, or, after an HTTP/1.1 upgrade on a [`Server`], the
/// connection itself (TLS or not).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A stream of an HTTP/2 connection (RFC 8441).
    Http2(H2Stream),
    /// An HTTP/1.1 connection without TLS.
    Tcp(TcpStream),
    /// An HTTP/1.1 connection over TLS (ALPN `http/1.1` or none).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut *$self {
            Stream::Http2($s) => $e,
            Stream::Tcp($s) => $e,
            Stream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Http2(s) => s.is_write_vectored(),
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// A WebSocket over HTTP/2 (or, from a [`Server`], over the HTTP/1.1
/// upgrade a client without `h2` asked for).
pub type WebSocket = crate::tokio::WebSocket<Stream>;

/// Which transport a WebSocket of a [`Server`] rides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// An HTTP/1.1 upgrade on its own connection (RFC 6455 §4).
    Http1,
    /// A stream of an HTTP/2 connection (RFC 8441).
    Http2,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Http1 => "HTTP/1.1",
            Transport::Http2 => "HTTP/2",
        })
    }
}

/// One HTTP/2 stream as a byte stream: reads are the DATA the peer sends
/// (flow-control capacity released as they are read), writes are DATA
/// sent as the peer's window allows, shutdown is `END_STREAM`; dropped
/// before that, the stream is reset with `CANCEL` (RFC 8441 §5).
pub struct H2Stream {
    recv: RecvStream,
    send: SendStream<Bytes>,
    /// Received and not yet read.
    pending: Bytes,
    /// The peer ended its side.
    eof: bool,
    /// We ended ours (`END_STREAM` sent).
    ended: bool,
}

impl fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream_id", &self.send.stream_id())
            .field("pending", &self.pending.len())
            .field("eof", &self.eof)
            .field("ended", &self.ended)
            .finish()
    }
}

impl H2Stream {
    /// The two halves of an accepted (server) or opened (client) stream.
    pub fn new(recv: RecvStream, send: SendStream<Bytes>) -> Self {
        H2Stream {
            recv,
            send,
            pending: Bytes::new(),
            eof: false,
            ended: false,
        }
    }
}

/// A stream error as an I/O error: a reset by the peer is a connection
/// reset (the WebSocket ends with 1006, RFC 6455 §7.1.5).
fn io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    let kind = if e.is_reset() || e.is_go_away() || e.is_remote() {
        io::ErrorKind::ConnectionReset
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() && !this.eof {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.pending = data,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => this.eof = true,
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        if n > 0 {
            // Only what the connection read: the peer's window reopens as
            // fast as the WebSocket consumes, no faster.
            let _ = this.recv.flow_control().release_capacity(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.send.reserve_capacity(buf.len());
        let n = loop {
            match this.send.capacity() {
                0 => match ready!(this.send.poll_capacity(cx)) {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                    // Not ended by us: the peer reset the stream (or the
                    // connection went away) before the capacity came.
                    None => return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                },
                n => break n.min(buf.len()),
            }
        };
        this.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes what the stream queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.ended {
            this.ended = true;
            this.send.send_data(Bytes::new(), true).map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        if !self.ended {
            self.send.send_reset(Reason::CANCEL);
        }
    }
}

/// What a [`serve`] connection does with an accepted WebSocket: usually
/// spawn a task that runs it (`tokio::spawn(table.run(ws))`).
pub type OnWebSocket = Arc<dyn Fn(WebSocket, Transport) + Send + Sync>;

/// The `h2` server settings we use: extended CONNECT enabled (RFC 8441 §3),
/// and at most `max_streams` streams at once per connection.
fn server_builder(max_streams: u32) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.enable_connect_protocol()
        .max_concurrent_streams(max_streams)
        .max_header_list_size(64 * 1024)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(connection_window(max_streams));
    b
}

/// Each stream's receive window (RFC 9113 §6.9.2): what one WebSocket's
/// peer may send ahead of the reader; HTTP/2's default.
const STREAM_WINDOW: u32 = 65_535;

/// The connection's receive window: room for every stream's window, so
/// that a WebSocket whose reader stalls (its stream window full of
/// unread data) does not stall the other WebSockets of the connection
/// behind a shared window (HTTP/2's default connection window is one
/// stream's). Bounded: at most 16 MiB held per connection.
fn connection_window(streams: u32) -> u32 {
    STREAM_WINDOW
        .saturating_mul(streams.saturating_add(1))
        .min(16 << 20)
}

/// Streams at once on one connection (RFC 9113 §6.5.2
/// `SETTINGS_MAX_CONCURRENT_STREAMS`); browsers open a handful.
pub const MAX_STREAMS: u32 = 128;

/// Serves one HTTP/2 connection (after TLS with ALPN `h2`, or with prior
/// knowledge) until it ends: extended CONNECT streams become WebSockets
/// given to `on_ws`, other requests are answered by the options' policy.
/// `Err` if the connection preface or the connection itself fails.
pub async fn serve<S>(
    io: S,
    peer: Option<SocketAddr>,
    options: Arc<ServerOptions>,
    on_ws: OnWebSocket,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_streams(io, peer, options, on_ws, MAX_STREAMS).await
}

/// [`serve`] allowing `max_streams` streams at once.
async fn serve_streams<S>(
    io: S,
    peer: Option<SocketAddr>,
    options: Arc<ServerOptions>,
    on_ws: OnWebSocket,
    max_streams: u32,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = server_builder(max_streams).handshake::<_, Bytes>(io);
    let mut conn = tokio::time::timeout(options.http.handshake_timeout, handshake)
        .await
        .map_err(|_| {
            Error::from(ErrorKind::Timeout("the HTTP/2 connection preface")).with_peer(peer)
        })?
        .map_err(|e| Error::from(io_error(e)).with_peer(peer))?;
    while let Some(next) = conn.accept().await {
        let (request, respond) = match next {
            Ok(r) => r,
            Err(e) => {
                log::debug!("{peer:?}: HTTP/2 connection ended: {e}");
                break;
            }
        };
        let (options, on_ws) = (options.clone(), on_ws.clone());
        tokio::spawn(async move {
            if let Err(e) = stream(request, respond, peer, &options, &on_ws).await {
                log::debug!("{peer:?}: HTTP/2 stream: {e}");
            }
        });
    }
    Ok(())
}

/// The fields of a request, pseudo-header fields first (`:protocol` from
/// the extension `h2` keeps it in).
fn fields(request: &http::request::Parts) -> Headers {
    let protocol = request.extensions.get::<h2::ext::Protocol>();
    crate::hosted::connect_fields(
        &request.method,
        &request.uri,
        protocol.map(|p| p.as_str()),
        &request.headers,
    )
}

/// Sends `response` (its body as the peer's window allows) and ends the
/// stream.
async fn respond_with(
    mut respond: h2::server::SendResponse<Bytes>,
    response: Response,
    body: Option<Box<dyn crate::BodySource>>,
    head_only: bool,
) -> io::Result<()> {
    let (head, full) = to_head(&response);
    let streamed = body.is_some();
    let empty = head_only || (full.is_empty() && !streamed);
    let mut send = respond.send_response(head, empty).map_err(io_error)?;
    if empty {
        return Ok(());
    }
    if let Some(mut source) = body {
        loop {
            let chunk = source.next_chunk(16 * 1024)?;
            let last = chunk.is_empty();
            send_all(&mut send, chunk, last).await?;
            if last {
                return Ok(());
            }
        }
    }
    send_all(&mut send, full, true).await
}

/// Sends `data` as the window allows, ending the stream after it if
/// `end`.
async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> io::Result<()> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let n = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(n) => n.map_err(io_error)?,
            None => return Err(io::ErrorKind::BrokenPipe.into()),
        };
        let n = n.min(data.len());
        if n > 0 {
            send.send_data(data.split_to(n), false).map_err(io_error)?;
        }
    }
    if end {
        send.send_data(Bytes::new(), true).map_err(io_error)?;
    }
    Ok(())
}

fn to_head(response: &Response) -> (http::Response<()>, Bytes) {
    let mut head = http::Response::new(());
    *head.status_mut() = http::StatusCode::from_u16(response.status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (n, v) in response.headers() {
        let name = n.to_ascii_lowercase();
        // Fields HTTP/2 does not carry (RFC 9113 §8.2.2).
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            head.headers_mut().append(n, v);
        }
    }
    let (body, len) = match response.body_ref() {
        http_upgrade::Body::Full(b) => (b.clone(), b.len() as u64),
        http_upgrade::Body::Streamed(n) => (Bytes::new(), *n),
        _ => (Bytes::new(), 0),
    };
    if len > 0 {
        head.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
    (head, body)
}

/// One stream of a [`serve`] connection.
async fn stream(
    request: http::Request<RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
    on_ws: &OnWebSocket,
) -> Result<(), Error> {
    let wire_error = |e: h2::Error| Error::from(io_error(e)).with_peer(peer);
    let (parts, mut recv) = request.into_parts();
    if parts.method == http::Method::CONNECT {
        match crate::hosted::connect_upgrade(fields(&parts), peer, options) {
            Ok((response, upgrading)) => {
                let (head, _) = to_head(&response);
                let mut respond = respond;
                let send = respond.send_response(head, false).map_err(wire_error)?;
                let io = Stream::Http2(H2Stream::new(recv, send));
                on_ws(upgrading.tokio(io), Transport::Http2);
            }
            Err(refused) => {
                log::debug!("{peer:?}: extended CONNECT refused: {}", refused.error);
                respond_with(respond, refused.response, None, false)
                    .await
                    .map_err(|e| Error::from(e).with_peer(peer))?;
            }
        }
        return Ok(());
    }
    // A plain request: its body (bounded), then the policy's answer.
    let max = options.http.limits.max_body;
    let mut body = Vec::new();
    while let Some(chunk) = poll_fn(|cx| recv.poll_data(cx)).await {
        let chunk = chunk.map_err(wire_error)?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        if body.len() + chunk.len() > max {
            let r = Response::new(413).body("Payload Too Large\n");
            return respond_with(respond, r, None, false)
                .await
                .map_err(|e| Error::from(e).with_peer(peer));
        }
        body.extend_from_slice(&chunk);
    }
    let mut headers = Headers::new();
    if let Some(a) = parts.uri.authority() {
        headers.push("host", a.as_str());
    }
    for (name, value) in &parts.headers {
        headers.push(name.as_str(), value.as_bytes());
    }
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let mut req = HttpRequest::new(parts.method.as_str(), target, 1, headers);
    req.body = body.into();
    let (response, source) = options.policy.request_streamed(&req);
    let head_only = parts.method == http::Method::HEAD;
    respond_with(respond, response, source, head_only)
        .await
        .map_err(|e| Error::from(e).with_peer(peer))
}

/// The first bytes of an HTTP/2 connection (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A listener serving WebSockets over HTTP/2 and HTTP/1.1 on one port:
/// with TLS ([`ServerOptions::tls`]) it offers ALPN `h2` and `http/1.1`
/// and serves each connection by what the client chose; without, a
/// connection that opens with the HTTP/2 preface (prior knowledge, RFC
/// 9113 §3.3) is served as HTTP/2, any other as HTTP/1.1. Every
/// WebSocket, whichever its transport, goes to the same callback.
pub struct Server {
    listener: TcpListener,
    options: Arc<ServerOptions>,
    /// The options for the HTTP/1.1 connections: TLS is terminated here.
    http1: Arc<ServerOptions>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    on_ws: OnWebSocket,
    max_streams: u32,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Server {
    /// Listens on `addr`; `on_ws` gets every accepted WebSocket with its
    /// transport (spawn a task there: `tokio::spawn(table.run(ws))`).
    pub async fn bind(
        addr: SocketAddr,
        options: ServerOptions,
        on_ws: impl Fn(WebSocket, Transport) + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let tls = options.tls.as_ref().map(|t| {
            let mut config = (**t.rustls_config()).clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let mut http1 = options.clone();
        http1.tls = None;
        Ok(Server {
            listener,
            options: Arc::new(options),
            http1: Arc::new(http1),
            tls,
            on_ws: Arc::new(on_ws),
            max_streams: MAX_STREAMS,
        })
    }

    /// Allows `n` streams at once per HTTP/2 connection (default
    /// [`MAX_STREAMS`]): each is a WebSocket or a request in progress.
    pub fn with_max_streams(mut self, n: u32) -> Self {
        self.max_streams = n;
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until the listener fails, each served on a
    /// task of its own.
    pub async fn run(self) -> io::Result<()> {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e),
            };
            if !self.options.admits(peer) {
                log::debug!("{peer}: refused by the address filter");
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let (options, http1, tls, on_ws) = (
                self.options.clone(),
                self.http1.clone(),
                self.tls.clone(),
                self.on_ws.clone(),
            );
            let max = self.max_streams;
            tokio::spawn(async move {
                if let Err(e) = connection(tcp, peer, options, http1, tls, on_ws, max).await {
                    log::debug!("{peer}: {e}");
                }
            });
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e.raw_os_error().is_some_and(|c| c == 24 || c == 23)
}

/// One accepted connection of a [`Server`]: TLS and ALPN, or the
/// preface, decide between HTTP/2 and HTTP/1.1.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    options: Arc<ServerOptions>,
    http1: Arc<ServerOptions>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    on_ws: OnWebSocket,
    max_streams: u32,
) -> Result<(), Error> {
    let timeout = options.http.handshake_timeout;
    let io = match tls {
        Some(acceptor) => {
            let tls = tokio::time::timeout(timeout, acceptor.accept(tcp))
                .await
                .map_err(|_| ErrorKind::Timeout("TLS handshake"))??;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                return serve_streams(tls, Some(peer), options, on_ws, max_streams).await;
            }
            Stream::Tls(Box::new(tls))
        }
        None => {
            let mut first = [0u8; PREFACE.len()];
            let peeked = tokio::time::timeout(timeout, async {
                // The preface may come in pieces: peek until it can be
                // told apart from an HTTP/1.1 request line.
                loop {
                    let n = tcp.peek(&mut first).await?;
                    if n == 0 || n == first.len() || first[..n] != PREFACE[..n] {
                        return io::Result::Ok(n);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            })
            .await
            .map_err(|_| ErrorKind::Timeout("the first request"))??;
            if peeked == PREFACE.len() && first == *PREFACE {
                return serve_streams(tcp, Some(peer), options, on_ws, max_streams).await;
            }
            Stream::Tcp(tcp)
        }
    };
    let driver = http1.driver_for(Clock::new(), Some(peer))?;
    let mut ws = crate::AsyncWebSocket::new(crate::tokio::Tokio(io), driver, None);
    ws.handshake().await?;
    on_ws(ws, Transport::Http1);
    Ok(())
}

/// One HTTP/2 connection of a client, on which
/// [`websocket`](Self::websocket) opens WebSockets, each on a stream of
/// its own (RFC 8441). Cheap to clone; the connection lives while a clone
/// or one of its WebSockets does.
#[derive(Clone)]
pub struct Connection {
    send: h2::client::SendRequest<Bytes>,
    peer: SocketAddr,
    secure: bool,
    options: ClientOptions,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("secure", &self.secure)
            .finish()
    }
}

impl Connection {
    /// Connects to the server of `url` (`wss://` or `https://`: TLS with
    /// ALPN `h2`, which the server must choose; `ws://` or `http://`:
    /// HTTP/2 with prior knowledge, RFC 9113 §3.3), within the options'
    /// timeout; the path of `url` does not matter. Proxies are not used:
    /// RFC 8441 §7 tunnels through them with a plain CONNECT first, which
    /// this client does not do.
    pub async fn connect(url: &str, options: &ClientOptions) -> Result<Connection, Error> {
        let (url, addr) = crate::tokio::resolve_url(url, options).await?;
        let tcp = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ErrorKind::Timeout("connect"))??;
        tcp.set_nodelay(true)?;
        let send = if url.is_secure() {
            let tls = options
                .tls
                .as_ref()
                .ok_or_else(|| ErrorKind::TlsConfig("wss:// without ClientOptions::tls".into()))?;
            let mut config = (**tls.rustls_config()).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            let host = url.host().trim_start_matches('[').trim_end_matches(']');
            let name = rustls_pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| ErrorKind::TlsConfig(e.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let stream = tokio::time::timeout(options.timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| ErrorKind::Timeout("TLS handshake"))??;
            if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(ErrorKind::Http2("the server did not choose ALPN h2".into()).into());
            }
            start_client(stream, addr, options).await?
        } else {
            start_client(tcp, addr, options).await?
        };
        Ok(Connection {
            send,
            peer: addr,
            secure: url.is_secure(),
            options: options.clone(),
        })
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Opens a WebSocket on a new stream: waits (within the options'
    /// timeout) for the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC
    /// 8441 §3) and for a stream to be available, sends the extended
    /// CONNECT with the negotiators' offers, and checks the answer
    /// ([`ConnectClient::response`](http_upgrade::ConnectClient::response)).
    /// A refusal is [`ErrorKind::Rejected`] with its status.
    pub async fn websocket(
        &self,
        request: impl crate::IntoClientRequest,
    ) -> Result<WebSocket, Error> {
        let request: ClientRequest = request.into_client_request()?;
        let timeout = self.options.timeout;
        let peer = Some(self.peer);
        let wire = |e: h2::Error| Error::from(io_error(e)).with_peer(peer);
        let open = async {
            let mut send = self.send.clone().ready().await.map_err(wire)?;
            // The server's first SETTINGS comes right after the preface.
            let mut waited = std::time::Duration::ZERO;
            while !send.is_extended_connect_protocol_enabled() {
                if waited >= timeout {
                    return Err(ErrorKind::Http2(
                        "the server does not allow extended CONNECT (RFC 8441 §3)".into(),
                    )
                    .into());
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                waited += std::time::Duration::from_millis(5);
            }
            let client = Session::connect_request(request, &self.options.session)
                .map_err(|e| Error::from(e).with_peer(peer))?;
            let fields = client.fields();
            let uri = http::Uri::builder()
                .scheme(client.scheme())
                .authority(client.authority())
                .path_and_query(client.path())
                .build()
                .map_err(|e| ErrorKind::Http2(e.to_string()))?;
            let mut req = http::Request::builder()
                .method(http::Method::CONNECT)
                .uri(uri);
            for (n, v) in fields.iter().filter(|(n, _)| !n.starts_with(':')) {
                req = req.header(n, v);
            }
            let mut req = req.body(()).map_err(|e| ErrorKind::Http2(e.to_string()))?;
            req.extensions_mut()
                .insert(h2::ext::Protocol::from_static("websocket"));
            let (response, stream) = send.send_request(req, false).map_err(wire)?;
            let response = response.await.map_err(wire)?;
            let (parts, recv) = response.into_parts();
            let mut answer = Headers::new();
            for (n, v) in &parts.headers {
                answer.push(n.as_str(), v.as_bytes());
            }
            let io = Stream::Http2(H2Stream::new(recv, stream));
            crate::tokio::open_connect(
                client,
                parts.status.as_u16(),
                &answer,
                &self.options,
                peer,
                io,
            )
        };
        tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| Error::from(ErrorKind::Timeout("the extended CONNECT")))?
    }
}

/// The client's HTTP/2 handshake on `io`; the connection is driven by a
/// task of its own.
async fn start_client<S>(
    io: S,
    addr: SocketAddr,
    options: &ClientOptions,
) -> Result<h2::client::SendRequest<Bytes>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(connection_window(MAX_STREAMS))
        .handshake(io);
    let (send, conn) = tokio::time::timeout(options.timeout, handshake)
        .await
        .map_err(|_| ErrorKind::Timeout("the HTTP/2 handshake"))?
        .map_err(|e| Error::from(io_error(e)).with_peer(Some(addr)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            log::debug!("{addr}: HTTP/2 connection: {e}");
        }
    });
    Ok(send)
}

//! WebSocket over HTTP/3 (RFC 9220) on QUIC (`quinn`) and tokio: feature
//! `h3`.
//!
//! RFC 9220 carries RFC 8441's extended CONNECT over to HTTP/3: the
//! server's SETTINGS say `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (0x08), a
//! WebSocket is a request stream opened with `:method CONNECT`,
//! `:protocol websocket` and answered `200`, its bytes are the stream's
//! DATA frames, a FIN on the stream is the TCP close and a reset with
//! `H3_REQUEST_CANCELLED` the abort (RFC 9220 §3). The handshake is
//! `http_upgrade`'s `ConnectUpgrade` / `ConnectClient`, the same as over
//! HTTP/2; the HTTP/3 framing (RFC 9114 §7) and the part of QPACK it
//! needs (RFC 9204: the static table and literals; we announce a dynamic
//! table of capacity 0) are here, on quinn's QUIC streams.
//!
//! * [`Server`]: a QUIC endpoint (TLS 1.3, ALPN `h3`) whose WebSocket
//!   streams are answered by the [`ServerOptions`] as an HTTP/1.1 upgrade
//!   is ([`hosted::connect_upgrade`](crate::hosted::connect_upgrade)) and
//!   handed to a callback; other requests get the policy's answer.
//! * [`Connection`]: one QUIC connection of a client, on which
//!   [`websocket`](Connection::websocket) opens WebSockets, each on a
//!   stream of its own.
//!
//! Each WebSocket's bytes pass through a bounded in-memory pipe
//! (64 KiB each way) between its QUIC stream and the tokio adapter's
//! [`AsyncWebSocket`](crate::AsyncWebSocket): one copy, and QUIC's flow
//! control still holds a peer that sends faster than the WebSocket reads.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_upgrade::{ClientRequest, Headers, HttpRequest, Response, qpack};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::{ClientOptions, Error, ErrorKind, ServerOptions};

/// HTTP/3 frame types (RFC 9114 §7.2).
const DATA: u64 = 0x00;
const HEADERS: u64 = 0x01;
const SETTINGS: u64 = 0x04;
/// Unidirectional stream types (RFC 9114 §6.2).
const CONTROL_STREAM: u64 = 0x00;
/// Settings (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3).
const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
const QPACK_BLOCKED_STREAMS: u64 = 0x07;
const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
/// Error codes (RFC 9114 §8.1).
const H3_NO_ERROR: u32 = 0x100;
const H3_REQUEST_CANCELLED: u32 = 0x10c;
const H3_MESSAGE_ERROR: u32 = 0x10e;

/// The largest field section we take (names and values), and announce
/// as `SETTINGS_MAX_FIELD_SECTION_SIZE`.
const MAX_FIELDS: usize = 64 * 1024;
/// Each direction's pipe between a QUIC stream and its WebSocket.
const PIPE: usize = 64 * 1024;
/// Request streams (WebSockets, requests) at once per connection.
pub const MAX_STREAMS: u32 = 128;

/// QUIC limits that bound what one connection holds: a stream's receive
/// window (what a WebSocket's peer may send ahead of the reader), the
/// connection's (room for every stream, at most 16 MiB; quinn's default
/// is unlimited), what we keep unacknowledged, and the streams.
fn transport() -> Arc<quinn::TransportConfig> {
    const STREAM_WINDOW: u32 = 256 * 1024;
    let mut t = quinn::TransportConfig::default();
    t.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW))
        .receive_window(quinn::VarInt::from_u32(
            STREAM_WINDOW.saturating_mul(MAX_STREAMS).min(16 << 20),
        ))
        .send_window(4 << 20)
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(16));
    Arc::new(t)
}

/// A WebSocket over HTTP/3.
pub type WebSocket = crate::tokio::WebSocket<H3Stream>;

/// What a [`Server`] does with an accepted WebSocket: usually spawn a
/// task that runs it (`tokio::spawn(table.run(ws))`).
pub type OnWebSocket = Arc<dyn Fn(WebSocket) + Send + Sync>;

/// The WebSocket's end of the pipe to its QUIC stream: reads are the
/// stream's DATA, writes become DATA frames, shutdown is the stream's FIN;
/// dropped without a shutdown, the stream is reset with
/// `H3_REQUEST_CANCELLED` (RFC 9220 §3).
#[derive(Debug)]
pub struct H3Stream {
    pipe: DuplexStream,
    ended: Arc<AtomicBool>,
}

impl AsyncRead for H3Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for H3Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.pipe).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ended.store(true, Ordering::Release);
        Pin::new(&mut self.pipe).poll_shutdown(cx)
    }
}

/// A QUIC variable-length integer (RFC 9000 §16).
fn put_varint(out: &mut BytesMut, v: u64) {
    match v {
        0..=0x3f => out.put_u8(v as u8),
        0x40..=0x3fff => out.put_u16(0x4000 | v as u16),
        0x4000..=0x3fff_ffff => out.put_u32(0x8000_0000 | v as u32),
        _ => out.put_u64(0xc000_0000_0000_0000 | v),
    }
}

fn frame(ty: u64, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 16);
    put_varint(&mut out, ty);
    put_varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out.freeze()
}

fn settings_frame() -> Bytes {
    let mut s = BytesMut::new();
    for (id, v) in [
        (QPACK_MAX_TABLE_CAPACITY, 0),
        (QPACK_BLOCKED_STREAMS, 0),
        (MAX_FIELD_SECTION_SIZE, MAX_FIELDS as u64),
        (ENABLE_CONNECT_PROTOCOL, 1),
    ] {
        put_varint(&mut s, id);
        put_varint(&mut s, v);
    }
    frame(SETTINGS, &s)
}

/// Reads varints and frames from one QUIC receive stream.
struct Reader {
    recv: quinn::RecvStream,
    buf: BytesMut,
    eof: bool,
}

fn h3_error(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Reader {
    fn new(recv: quinn::RecvStream) -> Self {
        Reader {
            recv,
            buf: BytesMut::new(),
            eof: false,
        }
    }

    /// At least `n` bytes buffered; false at the end of the stream.
    async fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() < n {
            if self.eof {
                return Ok(false);
            }
            match self.recv.read_chunk(64 * 1024, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) => self.eof = true,
                Err(e) => return Err(io::Error::new(io::ErrorKind::ConnectionReset, e)),
            }
        }
        Ok(true)
    }

    async fn varint(&mut self) -> io::Result<Option<u64>> {
        if !self.fill(1).await? {
            return Ok(None);
        }
        let len = 1usize << (self.buf[0] >> 6);
        if !self.fill(len).await? {
            return Err(h3_error("truncated varint"));
        }
        let mut v = u64::from(self.buf[0] & 0x3f);
        for b in &self.buf[1..len] {
            v = (v << 8) | u64::from(*b);
        }
        self.buf.advance(len);
        Ok(Some(v))
    }

    /// The next frame's type and length; `None` at a clean end.
    async fn header(&mut self) -> io::Result<Option<(u64, u64)>> {
        let Some(ty) = self.varint().await? else {
            return Ok(None);
        };
        let len = self
            .varint()
            .await?
            .ok_or_else(|| h3_error("truncated frame"))?;
        Ok(Some((ty, len)))
    }

    /// A whole payload of at most `max` bytes.
    async fn payload(&mut self, len: u64, max: usize) -> io::Result<Bytes> {
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| h3_error("frame too large"))?;
        if !self.fill(len).await? {
            return Err(h3_error("truncated frame"));
        }
        Ok(self.buf.split_to(len).freeze())
    }

    /// Skips `len` bytes (an unknown frame, RFC 9114 §9).
    async fn skip(&mut self, mut len: u64) -> io::Result<()> {
        while len > 0 {
            if !self.fill(1).await? {
                return Err(h3_error("truncated frame"));
            }
            let n = self
                .buf
                .len()
                .min(usize::try_from(len).unwrap_or(usize::MAX));
            self.buf.advance(n);
            len -= n as u64;
        }
        Ok(())
    }

    /// The first HEADERS frame's fields (frames of unknown types before
    /// it skipped); `None` if the stream ends first.
    async fn headers(&mut self) -> io::Result<Option<Headers>> {
        while let Some((ty, len)) = self.header().await? {
            match ty {
                HEADERS => {
                    let block = self.payload(len, MAX_FIELDS + 1024).await?;
                    return qpack::decode(&block, MAX_FIELDS)
                        .map(Some)
                        .map_err(|_| h3_error("bad field section"));
                }
                DATA => return Err(h3_error("DATA before HEADERS")),
                _ => self.skip(len).await?,
            }
        }
        Ok(None)
    }

    /// Copies the DATA frames' payloads into `out` until the stream ends.
    async fn data_into(&mut self, out: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
        while let Some((ty, mut len)) = self.header().await? {
            if ty != DATA {
                // Trailers and unknown frames carry nothing for us.
                self.skip(len).await?;
                continue;
            }
            while len > 0 {
                if !self.fill(1).await? {
                    return Err(h3_error("truncated DATA frame"));
                }
                let n = self
                    .buf
                    .len()
                    .min(usize::try_from(len).unwrap_or(usize::MAX));
                out.write_all(&self.buf[..n]).await?;
                self.buf.advance(n);
                len -= n as u64;
            }
        }
        Ok(())
    }
}

/// Reads the peer's unidirectional streams: its control stream (the
/// SETTINGS, which may allow extended CONNECT) and the rest, drained.
async fn peer_streams(
    conn: quinn::Connection,
    connect_ok: Arc<tokio::sync::watch::Sender<Option<bool>>>,
) {
    while let Ok(recv) = conn.accept_uni().await {
        let connect_ok = connect_ok.clone();
        tokio::spawn(async move {
            let mut r = Reader::new(recv);
            let Ok(Some(ty)) = r.varint().await else {
                return;
            };
            if ty != CONTROL_STREAM {
                // QPACK encoder/decoder streams (nothing for a table of
                // capacity 0), pushes, grease: read and dropped.
                let _ = r.skip(u64::MAX).await;
                return;
            }
            let Ok(Some((SETTINGS, len))) = r.header().await else {
                return;
            };
            let Ok(payload) = r.payload(len, 4096).await else {
                return;
            };
            let mut enabled = false;
            for (id, v) in Reader::settings(&payload) {
                if id == ENABLE_CONNECT_PROTOCOL {
                    enabled = v == 1;
                }
            }
            connect_ok.send_replace(Some(enabled));
            // The control stream stays open for the connection's life.
            let _ = r.skip(u64::MAX).await;
        });
    }
}

/// Iterates the (identifier, value) pairs of a SETTINGS payload.
struct Settings {
    buf: Bytes,
}

impl Reader {
    fn settings(payload: &Bytes) -> Settings {
        Settings {
            buf: payload.clone(),
        }
    }
}

impl Settings {
    fn varint(&mut self) -> Option<u64> {
        let first = *self.buf.first()?;
        let len = 1usize << (first >> 6);
        if self.buf.len() < len {
            return None;
        }
        let mut v = u64::from(first & 0x3f);
        for b in &self.buf[1..len] {
            v = (v << 8) | u64::from(*b);
        }
        self.buf.advance(len);
        Some(v)
    }
}

impl Iterator for Settings {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        Some((self.varint()?, self.varint()?))
    }
}

/// Opens our control stream and sends our SETTINGS (RFC 9114 §6.2.1).
async fn open_control(conn: &quinn::Connection) -> io::Result<quinn::SendStream> {
    let mut ctrl = conn.open_uni().await.map_err(io::Error::other)?;
    let mut head = BytesMut::new();
    put_varint(&mut head, CONTROL_STREAM);
    head.extend_from_slice(&settings_frame());
    ctrl.write_all(&head).await.map_err(io::Error::other)?;
    Ok(ctrl)
}

/// Joins a QUIC stream and a WebSocket: returns the WebSocket's end.
fn pipe(send: quinn::SendStream, reader: Reader) -> H3Stream {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let (mut from_ws, mut to_ws) = tokio::io::split(theirs);
    let ended = Arc::new(AtomicBool::new(false));
    let mut reader = reader;
    tokio::spawn(async move {
        let r = reader.data_into(&mut to_ws).await;
        if r.is_err() {
            // A reset or a framing error: the WebSocket sees the end of
            // its input without a close (1006).
            reader
                .recv
                .stop(quinn::VarInt::from_u32(H3_REQUEST_CANCELLED))
                .ok();
        }
        let _ = to_ws.shutdown().await;
    });
    let flag = ended.clone();
    tokio::spawn(async move {
        let mut send = send;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_ws.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if send.write_all(&frame(DATA, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        if flag.load(Ordering::Acquire) {
            let _ = send.finish();
        } else {
            let _ = send.reset(quinn::VarInt::from_u32(H3_REQUEST_CANCELLED));
        }
    });
    H3Stream { pipe: ours, ended }
}

fn response_fields(response: &Response) -> Vec<(String, Vec<u8>)> {
    let mut f = vec![(
        ":status".to_owned(),
        response.status().to_string().into_bytes(),
    )];
    for (n, v) in response.headers() {
        let n = n.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
        ) {
            continue;
        }
        f.push((n, v.clone().into_bytes()));
    }
    f
}

fn headers_frame(fields: &[(String, Vec<u8>)]) -> Bytes {
    frame(
        HEADERS,
        &qpack::encode(fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))),
    )
}

/// Sends a whole response (fields, body) and ends the stream.
async fn respond(send: &mut quinn::SendStream, response: Response) -> io::Result<()> {
    let body = match response.body_ref() {
        http_upgrade::Body::Full(b) => b.clone(),
        _ => Bytes::new(),
    };
    let mut fields = response_fields(&response);
    if !body.is_empty() {
        fields.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    send.write_all(&headers_frame(&fields))
        .await
        .map_err(io::Error::other)?;
    if !body.is_empty() {
        send.write_all(&frame(DATA, &body))
            .await
            .map_err(io::Error::other)?;
    }
    send.finish().map_err(io::Error::other)?;
    Ok(())
}

/// A QUIC endpoint serving WebSockets over HTTP/3 (RFC 9220).
pub struct Server {
    endpoint: quinn::Endpoint,
    options: Arc<ServerOptions>,
    on_ws: OnWebSocket,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.endpoint.local_addr().ok())
            .finish()
    }
}

impl Server {
    /// Listens on UDP `addr` with the options' TLS (required: QUIC is
    /// always TLS 1.3; ALPN `h3` is set here); `on_ws` gets every
    /// accepted WebSocket.
    pub fn bind(
        addr: SocketAddr,
        options: ServerOptions,
        on_ws: impl Fn(WebSocket) + Send + Sync + 'static,
    ) -> Result<Server, Error> {
        let tls = options
            .tls
            .as_ref()
            .ok_or_else(|| ErrorKind::TlsConfig("HTTP/3 needs ServerOptions::tls".into()))?;
        let mut config = (**tls.rustls_config()).clone();
        config.alpn_protocols = vec![b"h3".to_vec()];
        config.max_early_data_size = 0;
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(config)
            .map_err(|e| ErrorKind::TlsConfig(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport());
        let endpoint = quinn::Endpoint::server(server, addr)?;
        Ok(Server {
            endpoint,
            options: Arc::new(options),
            on_ws: Arc::new(on_ws),
        })
    }

    /// The UDP address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts QUIC connections until the endpoint closes, each served
    /// on a task of its own.
    pub async fn run(self) {
        while let Some(incoming) = self.endpoint.accept().await {
            let peer = incoming.remote_address();
            if !self.options.admits(peer) {
                incoming.refuse();
                continue;
            }
            let (options, on_ws) = (self.options.clone(), self.on_ws.clone());
            tokio::spawn(async move {
                if let Err(e) = serve(incoming, options, on_ws).await {
                    log::debug!("{peer}: HTTP/3: {e}");
                }
            });
        }
    }
}

async fn serve(
    incoming: quinn::Incoming,
    options: Arc<ServerOptions>,
    on_ws: OnWebSocket,
) -> io::Result<()> {
    let timeout = options.http.handshake_timeout;
    let conn = tokio::time::timeout(timeout, incoming)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
        .map_err(io::Error::other)?;
    let peer = conn.remote_address();
    let _control = open_control(&conn).await?;
    let (settings, _) = tokio::sync::watch::channel(None);
    tokio::spawn(peer_streams(conn.clone(), Arc::new(settings)));
    while let Ok((send, recv)) = conn.accept_bi().await {
        let (options, on_ws) = (options.clone(), on_ws.clone());
        tokio::spawn(async move {
            if let Err(e) = request(send, recv, peer, &options, &on_ws).await {
                log::debug!("{peer}: HTTP/3 stream: {e}");
            }
        });
    }
    Ok(())
}

/// One request stream of a [`Server`] connection.
async fn request(
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
    peer: SocketAddr,
    options: &ServerOptions,
    on_ws: &OnWebSocket,
) -> io::Result<()> {
    let mut reader = Reader::new(recv);
    // A stream that never sends its HEADERS holds nothing for long.
    let headers = tokio::time::timeout(options.http.handshake_timeout, reader.headers());
    let fields = match headers
        .await
        .unwrap_or_else(|_| Err(h3_error("no HEADERS in time")))
    {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(()),
        Err(e) => {
            let _ = send.reset(quinn::VarInt::from_u32(H3_MESSAGE_ERROR));
            return Err(e);
        }
    };
    if fields.get_str(":method") == Some("CONNECT") {
        return match crate::hosted::connect_upgrade(fields, Some(peer), options) {
            Ok((response, upgrading)) => {
                send.write_all(&headers_frame(&response_fields(&response)))
                    .await
                    .map_err(io::Error::other)?;
                on_ws(upgrading.tokio(pipe(send, reader)));
                Ok(())
            }
            Err(refused) => {
                log::debug!("{peer}: extended CONNECT refused: {}", refused.error);
                respond(&mut send, refused.response).await
            }
        };
    }
    // A plain request: its body (bounded), then the policy's answer.
    let mut body = Vec::new();
    let mut limited = LimitedWriter {
        out: &mut body,
        left: options.http.limits.max_body,
    };
    if reader.data_into(&mut limited).await.is_err() {
        return respond(&mut send, Response::new(413).body("Payload Too Large\n")).await;
    }
    let mut headers = Headers::new();
    for (n, v) in fields.iter() {
        match n {
            ":authority" => headers.push("host", v),
            _ if n.starts_with(':') => {}
            _ => headers.push(n, v),
        }
    }
    let method = fields.get_str(":method").unwrap_or("GET").to_owned();
    let target = fields.get_str(":path").unwrap_or("/").to_owned();
    let mut req = HttpRequest::new(method, target, 1, headers);
    req.body = body.into();
    let (response, source) = options.policy.request_streamed(&req);
    let Some(mut source) = source else {
        return respond(&mut send, response).await;
    };
    let mut fields = response_fields(&response);
    if let http_upgrade::Body::Streamed(n) = response.body_ref() {
        fields.push(("content-length".into(), n.to_string().into_bytes()));
    }
    send.write_all(&headers_frame(&fields))
        .await
        .map_err(io::Error::other)?;
    loop {
        let chunk = source.next_chunk(16 * 1024)?;
        if chunk.is_empty() {
            break;
        }
        send.write_all(&frame(DATA, &chunk))
            .await
            .map_err(io::Error::other)?;
    }
    send.finish().map_err(io::Error::other)?;
    Ok(())
}

/// Collects at most `left` bytes; more is an error.
struct LimitedWriter<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
}

impl AsyncWrite for LimitedWriter<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.len() > self.left {
            return Poll::Ready(Err(io::Error::other("body too large")));
        }
        self.left -= buf.len();
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One QUIC connection of a client, on which
/// [`websocket`](Self::websocket) opens WebSockets over HTTP/3. Cheap to
/// clone.
#[derive(Clone)]
pub struct Connection {
    conn: quinn::Connection,
    settings: tokio::sync::watch::Receiver<Option<bool>>,
    options: ClientOptions,
    _control: Arc<tokio::sync::Mutex<quinn::SendStream>>,
    _endpoint: quinn::Endpoint,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.conn.remote_address())
            .finish()
    }
}

impl Connection {
    /// Connects to the server of `url` (`wss://` or `https://`; QUIC is
    /// always TLS, with ALPN `h3` and the options' TLS settings), within
    /// the options' timeout.
    pub async fn connect(url: &str, options: &ClientOptions) -> Result<Connection, Error> {
        let (url, addr) = crate::tokio::resolve_url(url, options).await?;
        let tls = options
            .tls
            .as_ref()
            .ok_or_else(|| ErrorKind::TlsConfig("HTTP/3 needs ClientOptions::tls".into()))?;
        let mut config = (**tls.rustls_config()).clone();
        config.alpn_protocols = vec![b"h3".to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(config)
            .map_err(|e| ErrorKind::TlsConfig(e.to_string()))?;
        let local = if addr.is_ipv4() {
            SocketAddr::from(([0u8; 4], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let mut endpoint = quinn::Endpoint::client(local)?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic));
        client.transport_config(transport());
        endpoint.set_default_client_config(client);
        let host = url
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let connecting = endpoint
            .connect(addr, &host)
            .map_err(|e| ErrorKind::TlsConfig(e.to_string()))?;
        let conn = tokio::time::timeout(options.timeout, connecting)
            .await
            .map_err(|_| ErrorKind::Timeout("the QUIC handshake"))?
            .map_err(|e| Error::from(io::Error::other(e)).with_peer(Some(addr)))?;
        let control = open_control(&conn).await?;
        let (tx, settings) = tokio::sync::watch::channel(None);
        tokio::spawn(peer_streams(conn.clone(), Arc::new(tx)));
        Ok(Connection {
            conn,
            settings,
            options: options.clone(),
            _control: Arc::new(tokio::sync::Mutex::new(control)),
            _endpoint: endpoint,
        })
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// Opens a WebSocket on a new request stream: waits (within the
    /// options' timeout) for the server's SETTINGS to allow extended
    /// CONNECT (RFC 9220 §3), sends the request with the negotiators'
    /// offers and checks the answer. A refusal is
    /// [`ErrorKind::Rejected`] with its status.
    pub async fn websocket(
        &self,
        request: impl crate::IntoClientRequest,
    ) -> Result<WebSocket, Error> {
        let request: ClientRequest = request.into_client_request()?;
        let peer = Some(self.peer());
        let timeout = self.options.timeout;
        let open = async {
            let mut settings = self.settings.clone();
            let allowed = *settings
                .wait_for(Option::is_some)
                .await
                .map_err(|_| Error::from(ErrorKind::Closed))?;
            if allowed != Some(true) {
                return Err(ErrorKind::Http2(
                    "the server does not allow extended CONNECT (RFC 9220 §3)".into(),
                )
                .into());
            }
            let client =
                ws_proto::session::Session::connect_request(request, &self.options.session)
                    .map_err(|e| Error::from(e).with_peer(peer))?;
            let fields = client.fields();
            let (mut send, recv) = self
                .conn
                .open_bi()
                .await
                .map_err(|e| Error::from(io::Error::other(e)).with_peer(peer))?;
            let block = qpack::encode(fields.iter());
            send.write_all(&frame(HEADERS, &block))
                .await
                .map_err(|e| Error::from(io::Error::other(e)).with_peer(peer))?;
            let mut reader = Reader::new(recv);
            let answer = reader
                .headers()
                .await?
                .ok_or_else(|| Error::from(ErrorKind::Closed).with_peer(peer))?;
            let status: u16 = answer
                .get_str(":status")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ErrorKind::Http2("a response without :status".into()))?;
            if !(200..300).contains(&status) {
                let _ = send.reset(quinn::VarInt::from_u32(H3_REQUEST_CANCELLED));
            }
            let mut regular = Headers::new();
            for (n, v) in answer.iter().filter(|(n, _)| !n.starts_with(':')) {
                regular.push(n, v);
            }
            crate::tokio::open_connect(
                client,
                status,
                &regular,
                &self.options,
                peer,
                pipe(send, reader),
            )
        };
        tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| Error::from(ErrorKind::Timeout("the extended CONNECT")))?
    }

    /// Closes the QUIC connection (`H3_NO_ERROR`).
    pub fn close(&self) {
        self.conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"");
    }
}

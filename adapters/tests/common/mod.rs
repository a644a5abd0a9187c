//! Test harness: an echo server on each adapter, a client on each adapter
//! behind one synchronous trait, and the conversation every pairing runs.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use ws_adapters::{ClientOptions, Event, ServerOptions, blocking, mio as wmio};
use ws_proto::{CloseCode, MessageKind};

/// Bound on each blocking step of a conversation.
pub const STEP: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Std,
    Mio,
    Smol,
    Tokio,
    Uring,
}

/// Every adapter built into this test run.
#[cfg(feature = "uring")]
pub const KINDS: [Kind; 5] = [Kind::Std, Kind::Mio, Kind::Smol, Kind::Tokio, Kind::Uring];
#[cfg(not(feature = "uring"))]
pub const KINDS: [Kind; 4] = [Kind::Std, Kind::Mio, Kind::Smol, Kind::Tokio];

/// What the echo servers do with an event: echo data, and close with 4000
/// when asked to by the text `close-me`.
pub enum Reply {
    Text(String),
    Binary(Vec<u8>),
    Close,
    Nothing,
}

pub fn reply(ev: &Event) -> Reply {
    match ev {
        Event::Text(t) if t.as_str() == "close-me" => Reply::Close,
        Event::Text(t) => Reply::Text(t.as_str().to_owned()),
        Event::Binary(b) => Reply::Binary(b.to_vec()),
        _ => Reply::Nothing,
    }
}

pub const SERVER_CLOSE: CloseCode = CloseCode(4000);

/// Starts an echo server of `kind` on 127.0.0.1 (a free port), in the
/// background for the rest of the test process.
pub fn start_server(kind: Kind, options: ServerOptions) -> SocketAddr {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = mpsc::channel();
    match kind {
        Kind::Std => {
            let server = blocking::Server::bind_with(local, options).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || {
                server.run(|mut ws| {
                    while let Ok(Some(ev)) = ws.recv() {
                        let _ = match reply(&ev) {
                            Reply::Text(t) => ws.send_text(&t),
                            Reply::Binary(b) => ws.send_binary(b),
                            Reply::Close => ws.close(SERVER_CLOSE, "server-close"),
                            Reply::Nothing => Ok(()),
                        };
                    }
                })
            });
        }
        Kind::Mio => {
            std::thread::spawn(move || {
                let mut server = wmio::Server::bind(local, options, Echo).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server.run().unwrap();
            });
        }
        #[cfg(feature = "uring")]
        Kind::Uring => {
            std::thread::spawn(move || {
                let mut server = ws_adapters::uring::Server::bind(local, options, Echo).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server.run().unwrap();
            });
        }
        #[cfg(feature = "smol")]
        Kind::Smol => {
            let server = ws_adapters::smol::Server::bind(local, options).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || {
                async_io::block_on(async {
                    loop {
                        let (mut ws, _) = server.accept().await.unwrap();
                        // Any executor works; a thread per connection here.
                        std::thread::spawn(move || {
                            async_io::block_on(async {
                                while let Ok(Some(ev)) = ws.recv().await {
                                    let _ = match reply(&ev) {
                                        Reply::Text(t) => ws.send_text(&t).await,
                                        Reply::Binary(b) => ws.send_binary(b).await,
                                        Reply::Close => {
                                            ws.close(SERVER_CLOSE, "server-close").await
                                        }
                                        Reply::Nothing => Ok(()),
                                    };
                                }
                            })
                        });
                    }
                })
            });
        }
        #[cfg(feature = "tokio")]
        Kind::Tokio => {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let server = ws_adapters::tokio::Server::bind(local, options)
                        .await
                        .unwrap();
                    tx.send(server.local_addr().unwrap()).unwrap();
                    loop {
                        let (mut ws, _) = server.accept().await.unwrap();
                        tokio::spawn(async move {
                            while let Ok(Some(ev)) = ws.recv().await {
                                let _ = match reply(&ev) {
                                    Reply::Text(t) => ws.send_text(&t).await,
                                    Reply::Binary(b) => ws.send_binary(b).await,
                                    Reply::Close => ws.close(SERVER_CLOSE, "server-close").await,
                                    Reply::Nothing => Ok(()),
                                };
                            }
                        });
                    }
                })
            });
        }
        #[allow(unreachable_patterns)]
        _ => panic!("{kind:?} needs its feature (run with --all-features)"),
    }
    rx.recv_timeout(STEP).expect("server did not start")
}

/// The mio echo handler; user data counts the messages of a connection.
pub struct Echo;

impl wmio::Handler for Echo {
    type Data = usize;
    fn accepted(&mut self, _peer: SocketAddr) -> usize {
        0
    }
    fn event(&mut self, conn: &mut wmio::Conn, count: &mut usize, ev: Event) {
        *count += 1;
        let _ = match reply(&ev) {
            Reply::Text(t) => conn.send_text(&t),
            Reply::Binary(b) => conn.send_binary(b),
            Reply::Close => conn.close(SERVER_CLOSE, "server-close"),
            Reply::Nothing => Ok(()),
        };
    }
}

#[cfg(feature = "uring")]
impl ws_adapters::uring::Handler for Echo {
    type Data = usize;
    fn accepted(&mut self, _peer: SocketAddr) -> usize {
        0
    }
    fn event(&mut self, conn: &mut ws_adapters::uring::Conn<'_>, count: &mut usize, ev: Event) {
        *count += 1;
        let _ = match reply(&ev) {
            Reply::Text(t) => conn.send_text(t),
            Reply::Binary(b) => conn.send_binary(b),
            Reply::Close => conn.close(SERVER_CLOSE, "server-close"),
            Reply::Nothing => Ok(()),
        };
    }
}

/// A client of any adapter, driven synchronously.
pub trait Client: Send {
    fn text(&mut self, s: &str);
    fn binary(&mut self, b: Vec<u8>);
    fn fragments(&mut self, parts: &[&str]);
    fn ping(&mut self, payload: &[u8]);
    fn close(&mut self, code: CloseCode);
    /// The next event, `None` when the connection finished.
    fn recv(&mut self) -> Option<Event>;
    /// The negotiated extensions.
    fn extensions(&mut self) -> Vec<String>;
}

fn names(d: &ws_adapters::Driver) -> Vec<String> {
    let conn = d.session().connection();
    conn.map(|c| c.extension_names().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub fn connect(kind: Kind, url: &str, options: &ClientOptions) -> Box<dyn Client> {
    try_connect(kind, url, options).unwrap_or_else(|e| panic!("{kind:?} connect {url}: {e}"))
}

pub fn try_connect(
    kind: Kind,
    url: &str,
    options: &ClientOptions,
) -> Result<Box<dyn Client>, ws_adapters::Error> {
    Ok(match kind {
        Kind::Std => {
            let req = http_upgrade::ClientRequest::new(url)?;
            Box::new(blocking::connect_with(req, options)?)
        }
        Kind::Mio => Box::new(wmio::Client::connect(url, options)?),
        #[cfg(feature = "uring")]
        Kind::Uring => Box::new(ws_adapters::uring::Client::connect(url, options)?),
        #[cfg(feature = "smol")]
        Kind::Smol => Box::new(async_io::block_on(ws_adapters::smol::connect(url, options))?.0),
        #[cfg(feature = "tokio")]
        Kind::Tokio => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (ws, _) = rt.block_on(ws_adapters::tokio::connect(url, options))?;
            Box::new(TokioClient { rt, ws })
        }
        #[allow(unreachable_patterns)]
        _ => panic!("{kind:?} needs its feature (run with --all-features)"),
    })
}

impl Client for blocking::WebSocket<std::net::TcpStream> {
    fn text(&mut self, s: &str) {
        self.send_text(s).unwrap()
    }
    fn binary(&mut self, b: Vec<u8>) {
        self.send_binary(b).unwrap()
    }
    fn fragments(&mut self, parts: &[&str]) {
        for (i, p) in parts.iter().enumerate() {
            let conn = self.session_mut().connection_mut().unwrap();
            conn.send_fragment(MessageKind::Text, p.to_string(), i + 1 == parts.len())
                .unwrap();
            self.flush().unwrap();
        }
    }
    fn ping(&mut self, payload: &[u8]) {
        self.send_ping(payload.to_vec()).unwrap()
    }
    fn close(&mut self, code: CloseCode) {
        blocking::WebSocket::close(self, code, "client-close").unwrap()
    }
    fn extensions(&mut self) -> Vec<String> {
        names(self.driver())
    }
    fn recv(&mut self) -> Option<Event> {
        match self.recv_timeout(STEP) {
            Ok(Some(ev)) => Some(ev),
            Ok(None) if self.is_finished() => None,
            Ok(None) => panic!("std client: no event within {STEP:?}"),
            Err(e) => panic!("std client: {e}"),
        }
    }
}

impl Client for wmio::Client {
    fn text(&mut self, s: &str) {
        self.send_text(s).unwrap()
    }
    fn binary(&mut self, b: Vec<u8>) {
        self.send_binary(b).unwrap()
    }
    fn fragments(&mut self, parts: &[&str]) {
        for (i, p) in parts.iter().enumerate() {
            let d = self.conn().driver_mut();
            d.send_fragment(MessageKind::Text, p.to_string(), i + 1 == parts.len())
                .unwrap();
            self.conn().flush().unwrap();
        }
    }
    fn ping(&mut self, payload: &[u8]) {
        self.send_ping(payload.to_vec()).unwrap()
    }
    fn close(&mut self, code: CloseCode) {
        wmio::Client::close(self, code, "client-close").unwrap()
    }
    fn recv(&mut self) -> Option<Event> {
        wmio::Client::recv(self).unwrap()
    }
    fn extensions(&mut self) -> Vec<String> {
        names(self.conn().driver())
    }
}

#[cfg(feature = "uring")]
impl Client for ws_adapters::uring::Client {
    fn text(&mut self, s: &str) {
        self.send_text(s).unwrap();
        self.flush().unwrap();
    }
    fn binary(&mut self, b: Vec<u8>) {
        self.send_binary(b).unwrap();
        self.flush().unwrap();
    }
    fn fragments(&mut self, parts: &[&str]) {
        for (i, p) in parts.iter().enumerate() {
            self.send_fragment(MessageKind::Text, p.to_string(), i + 1 == parts.len())
                .unwrap();
            self.flush().unwrap();
        }
    }
    fn ping(&mut self, payload: &[u8]) {
        self.send_ping(payload.to_vec()).unwrap();
        self.flush().unwrap();
    }
    fn close(&mut self, code: CloseCode) {
        ws_adapters::uring::Client::close(self, code, "client-close").unwrap();
        self.flush().unwrap();
    }
    fn recv(&mut self) -> Option<Event> {
        ws_adapters::uring::Client::recv(self).unwrap()
    }
    fn extensions(&mut self) -> Vec<String> {
        names(self.driver())
    }
}

#[cfg(feature = "smol")]
impl Client for ws_adapters::smol::WebSocket {
    fn text(&mut self, s: &str) {
        async_io::block_on(self.send_text(s)).unwrap()
    }
    fn binary(&mut self, b: Vec<u8>) {
        async_io::block_on(self.send_binary(b)).unwrap()
    }
    fn fragments(&mut self, parts: &[&str]) {
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            self.with_driver(|d| d.send_fragment(MessageKind::Text, p.to_string(), last))
                .unwrap();
            async_io::block_on(self.flush()).unwrap();
        }
    }
    fn ping(&mut self, payload: &[u8]) {
        async_io::block_on(self.send_ping(payload.to_vec())).unwrap()
    }
    fn close(&mut self, code: CloseCode) {
        async_io::block_on(ws_adapters::AsyncWebSocket::close(
            self,
            code,
            "client-close",
        ))
        .unwrap()
    }
    fn recv(&mut self) -> Option<Event> {
        async_io::block_on(ws_adapters::AsyncWebSocket::recv(self)).unwrap()
    }
    fn extensions(&mut self) -> Vec<String> {
        self.with_driver(|d| names(d))
    }
}

#[cfg(feature = "tokio")]
pub struct TokioClient<S = tokio::net::TcpStream>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    pub rt: tokio::runtime::Runtime,
    pub ws: ws_adapters::tokio::WebSocket<S>,
}

#[cfg(feature = "tokio")]
impl<S> Client for TokioClient<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    fn text(&mut self, s: &str) {
        self.rt.block_on(self.ws.send_text(s)).unwrap()
    }
    fn binary(&mut self, b: Vec<u8>) {
        self.rt.block_on(self.ws.send_binary(b)).unwrap()
    }
    fn fragments(&mut self, parts: &[&str]) {
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            self.ws
                .with_driver(|d| d.send_fragment(MessageKind::Text, p.to_string(), last))
                .unwrap();
            self.rt.block_on(self.ws.flush()).unwrap();
        }
    }
    fn ping(&mut self, payload: &[u8]) {
        self.rt
            .block_on(self.ws.send_ping(payload.to_vec()))
            .unwrap()
    }
    fn close(&mut self, code: CloseCode) {
        self.rt
            .block_on(self.ws.close(code, "client-close"))
            .unwrap()
    }
    fn recv(&mut self) -> Option<Event> {
        let ws = &mut self.ws;
        let f = async { tokio::time::timeout(STEP, ws.recv()).await };
        self.rt.block_on(f).expect("tokio client: timeout").unwrap()
    }
    fn extensions(&mut self) -> Vec<String> {
        self.ws.with_driver(|d| names(d))
    }
}

/// Text of `n` bytes, varied.
pub fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// The conversation: text, binary, 1 MiB, fragmented, ping, and the close
/// started by the client (`client_closes`) or by the server.
pub fn converse(compression: bool, mut make: impl FnMut() -> Box<dyn Client>) {
    let mut c = make();
    let want: &[&str] = if compression {
        &["permessage-deflate"]
    } else {
        &[]
    };
    assert_eq!(c.extensions(), want);
    c.text("hello");
    assert_eq!(c.recv(), Some(Event::Text("hello".into())));
    c.binary(vec![0, 1, 2, 255]);
    assert_eq!(c.recv(), Some(Event::Binary(vec![0, 1, 2, 255].into())));
    let mib = big(1 << 20);
    c.binary(mib.clone());
    assert_eq!(c.recv(), Some(Event::Binary(mib.into())));
    c.fragments(&["frag", "mented ", "mess", "age ✓"]);
    assert_eq!(c.recv(), Some(Event::Text("fragmented message ✓".into())));
    c.ping(b"are you there");
    assert_eq!(
        c.recv(),
        Some(Event::Pong(b"are you there".to_vec().into()))
    );
    // Close from the client side.
    c.close(CloseCode::NORMAL);
    match c.recv() {
        Some(Event::Close { code, .. }) => assert_eq!(code, Some(CloseCode::NORMAL)),
        other => panic!("expected the close echo, got {other:?}"),
    }
    assert_eq!(c.recv(), None);

    // Close from the server side.
    let mut c = make();
    c.text("close-me");
    match c.recv() {
        Some(Event::Close { code, .. }) => assert_eq!(code, Some(SERVER_CLOSE)),
        other => panic!("expected the server's close, got {other:?}"),
    }
    assert_eq!(c.recv(), None);
}

/// Runs `f` on a thread, failing if it takes longer than `limit`.
pub fn bounded(limit: Duration, name: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: did not finish in {limit:?}"),
    }
}

pub fn server_options(compression: bool) -> ServerOptions {
    ServerOptions::new(ws_adapters::session_config(Default::default(), compression))
}

pub fn client_options(compression: bool) -> ClientOptions {
    ClientOptions::new(ws_adapters::session_config(Default::default(), compression))
        .with_proxy(ws_adapters::proxy::ProxySetting::Direct)
}

/// A CA and a `localhost` certificate it signed, generated now.
pub struct Pki {
    pub ca: rustls_pki_types::CertificateDer<'static>,
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

pub type Identity = (
    Vec<rustls_pki_types::CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
);

impl Pki {
    pub fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wsfamily test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::CertifiedIssuer::self_signed(params, key).unwrap();
        Pki {
            ca: issuer.der().clone(),
            issuer,
        }
    }

    /// A certificate for `names`, signed by the CA, with its key.
    pub fn issue(&self, names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (vec![cert.der().clone()], der.into())
    }
}

/// Writes `identity` as `cert.pem` and `key.pem` into `dir` (for peers
/// that load PEM files); returns their paths.
pub fn write_pem(
    dir: &std::path::Path,
    identity: &Identity,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use base64::Engine as _;
    let pem = |label: &str, der: &[u8]| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    };
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &identity.0[0])).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", identity.1.secret_der())).unwrap();
    (cert, key)
}

/// A small HTTP CONNECT proxy on 127.0.0.1; counts the tunnels it opened.
pub fn start_proxy() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tunnels = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let tunnels = tunnels.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut b).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                if !head.starts_with("CONNECT ") {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                tunnels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let (mut s, mut c) = (server, client);
                let _ = std::io::copy(&mut s, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (addr, count)
}

/// Starts a server of `kind` answering by `table` (with `options`), on
/// 127.0.0.1, in the background for the rest of the test process.
#[cfg(all(feature = "tokio", feature = "smol"))]
pub fn start_table(
    kind: Kind,
    table: ws_adapters::Protocols,
    options: ServerOptions,
) -> SocketAddr {
    let options = table.options(options);
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    match kind {
        Kind::Std => {
            let server = blocking::Server::bind_with(local, options).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || server.run(move |mut ws| table.run_blocking(&mut ws)));
        }
        Kind::Mio => {
            std::thread::spawn(move || {
                let mut server = wmio::Server::bind(local, options, table).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server.run().unwrap();
            });
        }
        #[cfg(feature = "uring")]
        Kind::Uring => {
            std::thread::spawn(move || {
                let mut server = ws_adapters::uring::Server::bind(local, options, table).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                server.run().unwrap();
            });
        }
        Kind::Tokio => {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let server = ws_adapters::tokio::Server::bind(local, options)
                        .await
                        .unwrap();
                    tx.send(server.local_addr().unwrap()).unwrap();
                    loop {
                        let (ws, _) = server.accept().await.unwrap();
                        let table = table.clone();
                        tokio::spawn(async move { table.run(ws).await });
                    }
                });
            });
        }
        Kind::Smol => {
            let server = ws_adapters::smol::Server::bind(local, options).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            std::thread::spawn(move || {
                let ex = async_executor::Executor::new();
                async_io::block_on(ex.run(async {
                    loop {
                        let (ws, _) = server.accept().await.unwrap();
                        let table = table.clone();
                        ex.spawn(async move { table.run(ws).await }).detach();
                    }
                }));
            });
        }
        #[allow(unreachable_patterns)]
        _ => panic!("{kind:?} needs its feature (run with --all-features)"),
    }
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// A peer process's stdout as lines on a channel (read by a thread of
/// its own, so every wait on them can be bounded); returns the first line.
pub fn stdout_lines(child: &mut std::process::Child) -> (String, mpsc::Receiver<String>) {
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the peer's first line");
    (first, rx)
}

/// Collects the peer's lines into `seen` until `n` of them end in " end"
/// or 10 s pass. Await it while the runtime still runs: the tasks that
/// finish each stream (FIN, END_STREAM) must get to run.
#[cfg(feature = "tokio")]
pub async fn await_ends(lines: &mpsc::Receiver<String>, seen: &mut Vec<String>, n: usize) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while seen.iter().filter(|l| l.ends_with(" end")).count() < n
        && std::time::Instant::now() < until
    {
        seen.extend(lines.try_iter());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

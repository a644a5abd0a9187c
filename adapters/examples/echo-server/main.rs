//! An echo server for conformance testing (the Autobahn fuzzing client
//! connects to it): every text and binary message comes back unchanged.
//!
//! ```text
//! cargo run --release -p ws-adapters --example echo-server -- --port 9001
//! cargo run --release -p ws-adapters --example echo-server -- --adapter mio
//! ```
//!
//! It binds 127.0.0.1 only and serves either one thread per connection on
//! the blocking driver (`--adapter std`, the default), every connection
//! on one `mio::Poll` (`--adapter mio`, `ws_adapters::mio::Server`), a
//! task per connection on tokio (`--adapter tokio`) or smol (`--adapter
//! smol`), or behind axum (`--adapter axum`: an axum router whose `/`
//! route hands upgrades to `ws_adapters::hosted::upgrade_http` and serves
//! the page otherwise; hyper does the HTTP), or on one io_uring
//! (`--adapter uring`, `ws_adapters::uring::Server`, Linux). The others
//! need the `tokio`, `smol`, `http` and `uring` features. All
//! negotiate compression (permessage-deflate,
//! deflate-frame, deflate-stream: `deflate_ext::default_negotiators`)
//! unless `--no-compression` is given, and accepts messages up to the
//! ws-proto defaults (64 MiB per message, 16 MiB per frame). Pings are
//! answered and close frames echoed by the core itself (RFC 6455 §5.5).
//! Plain HTTP requests get a short text page.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use http_upgrade::{Accept, Response, ServerConfig};
use ws_adapters::blocking::{Server, WebSocket};
use ws_adapters::mio as wmio;
use ws_adapters::{Error, ErrorKind, Policy, ServerOptions};
use ws_proto::session::{SessionConfig, SessionEvent};
use ws_proto::{Config, Event};

/// Which driver serves the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Adapter {
    /// Blocking std sockets, one thread per connection.
    Std,
    /// Every connection on one mio `Poll` (`ws_adapters::mio::Server`).
    Mio,
    /// A tokio task per connection (`ws_adapters::tokio::Server`).
    #[cfg(feature = "tokio")]
    Tokio,
    /// A task per connection on smol's executor (`ws_adapters::smol::Server`).
    #[cfg(feature = "smol")]
    Smol,
    /// Behind axum and hyper (`ws_adapters::hosted`).
    #[cfg(all(feature = "tokio", feature = "http"))]
    Axum,
    /// Every connection on one io_uring (`ws_adapters::uring::Server`).
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring,
}

/// WebSocket echo server (text and binary), for Autobahn and interop tests.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port to listen on (0: pick a free one; the line printed on
    /// start-up tells which).
    #[arg(short, long, default_value_t = 9001)]
    port: u16,
    /// The driver: std (thread per connection) or mio (one Poll).
    #[arg(long, value_enum, default_value_t = Adapter::Std)]
    adapter: Adapter,
    /// Do not negotiate any compression extension.
    #[arg(long)]
    no_compression: bool,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = Config::default().max_message_size)]
    max_message: u64,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = Config::default().max_frame_size)]
    max_frame: u64,
    /// Log level: error, warn, info, debug or trace.
    #[arg(short = 'd', long = "debug", default_value = "warn")]
    log_level: log::LevelFilter,
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .filter_level(args.log_level)
        .init();
    if let Err(e) = run(&args) {
        log::error!("{e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let connection = Config::default()
        .with_max_message_size(args.max_message)
        .with_max_frame_size(args.max_frame);
    let mut config = SessionConfig::new(connection);
    if !args.no_compression {
        config.negotiators = deflate_ext::default_negotiators();
    }
    log::info!("session settings: {config:?}");
    #[cfg(any(feature = "tokio", feature = "smol"))]
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    match args.adapter {
        Adapter::Std => {}
        Adapter::Mio => return run_mio(args.port, config),
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Adapter::Uring => return run_uring(args.port, config),
        #[cfg(feature = "tokio")]
        Adapter::Tokio => return run_tokio(addr, options(config)),
        #[cfg(feature = "smol")]
        Adapter::Smol => return run_smol(addr, options(config)),
        #[cfg(all(feature = "tokio", feature = "http"))]
        Adapter::Axum => return run_axum(addr, options(config)),
    }
    let http = Arc::new(ServerConfig::default());
    let server = Server::bind(("127.0.0.1", args.port), http, Arc::new(config))?;
    let addr = server.local_addr()?;
    // Scripts wait for this line (and read the port from it).
    println!("listening on ws://{addr}/");
    loop {
        let (ws, peer) = match server.accept() {
            Ok(x) => x,
            Err(e) => {
                log::warn!("accept: {e}");
                continue;
            }
        };
        let spawned = std::thread::Builder::new()
            .name(format!("conn {peer}"))
            .spawn(move || match serve(ws) {
                Ok(()) => log::debug!("{peer}: done"),
                // Peers that break the protocol are the point of the tests.
                Err(e) => log::info!("{peer}: {e}"),
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for {peer}: {e}");
        }
    }
}

/// Runs one connection: the handshake (answering plain HTTP requests on
/// the way), then echoes until the connection finishes.
fn serve(mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
    loop {
        let now = ws.clock().now();
        let Some(ev) = ws.next_event(None)? else {
            if ws.is_finished() {
                return Ok(());
            }
            continue;
        };
        match ev {
            SessionEvent::Request(req) => {
                log::debug!("{} {}", req.method, req.target);
                ws.session_mut().respond(now, page())?;
            }
            SessionEvent::Upgrade(req) => {
                log::debug!("upgrade {} offering {:?}", req.target, req.extensions);
                let accept = Accept::for_request(&req);
                ws.session_mut().accept(now, accept, &mut rand::rng())?;
            }
            SessionEvent::Ws(Event::Text(text)) => echo(&mut ws, |c| c.send_text(text))?,
            SessionEvent::Ws(Event::Binary(data)) => echo(&mut ws, |c| c.send_binary(data))?,
            // Pongs and close echoes are queued by the core (one pong per
            // ping); next_event writes them.
            _ => {}
        }
    }
}

/// Queues a message on the open connection (zero copy: the received
/// `Bytes` go back out) and writes it.
fn echo(
    ws: &mut WebSocket<TcpStream>,
    send: impl FnOnce(&mut ws_proto::Connection) -> Result<(), ws_proto::Error>,
) -> Result<(), Error> {
    let conn = ws.session_mut().connection_mut().ok_or(ErrorKind::Closed)?;
    match send(conn) {
        Ok(()) => ws.flush(),
        // A close from the peer may already have been received: then the
        // message is not echoed, and the close handshake goes on.
        Err(e) => {
            log::debug!("not echoed: {e}");
            ws.flush()
        }
    }
}

/// The answer to a plain HTTP request (both adapters).
fn page() -> Response {
    Response::new(200)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body("WebSocket echo server: connect with ws:// to this address.\n")
}

/// The settings of the servers answering by policy: every valid upgrade
/// accepted with the negotiators' extensions; plain HTTP gets the page.
fn options(config: SessionConfig) -> ServerOptions {
    ServerOptions::new(config).with_policy(Policy::default().on_request(|req| {
        log::debug!("{} {}", req.method, req.target);
        page()
    }))
}

/// Echoes every data message of an async connection until it closes (the
/// received `Bytes` go back out without a copy).
#[cfg(any(feature = "tokio", feature = "smol"))]
async fn echo_async<S: ws_adapters::AsyncStream>(mut ws: ws_adapters::AsyncWebSocket<S>) {
    loop {
        match ws.recv().await {
            Ok(Some(event)) => {
                if let Some(msg) = event.into_message() {
                    // After the peer's close a message is not echoed; the
                    // close handshake goes on.
                    if let Err(e) = ws.send(msg).await {
                        log::debug!("not echoed: {e}");
                    }
                }
            }
            Ok(None) => return,
            // Peers that break the protocol are the point of the tests.
            Err(e) => return log::info!("{e}"),
        }
    }
}

/// The tokio variant: a task per connection.
#[cfg(feature = "tokio")]
fn run_tokio(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = ws_adapters::tokio::Server::bind(addr, options).await?;
        println!("listening on ws://{}/", server.local_addr()?);
        loop {
            match server.accept().await {
                Ok((ws, _)) => drop(tokio::spawn(echo_async(ws))),
                Err(e) => log::warn!("accept: {e}"),
            }
        }
    })
}

/// The smol variant: a task per connection on a multi-threaded executor.
#[cfg(feature = "smol")]
fn run_smol(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    let ex = std::sync::Arc::new(async_executor::Executor::new());
    for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
        let ex = ex.clone();
        std::thread::spawn(move || {
            async_io::block_on(ex.run(std::future::pending::<()>()));
        });
    }
    async_io::block_on(ex.run(async {
        let server = ws_adapters::smol::Server::bind(addr, options)?;
        println!("listening on ws://{}/", server.local_addr()?);
        loop {
            match server.accept().await {
                Ok((ws, _)) => ex.spawn(echo_async(ws)).detach(),
                Err(e) => log::warn!("accept: {e}"),
            }
        }
    }))
}

/// The axum variant: hyper parses HTTP; the `/` route hands upgrades to
/// `ws_adapters::hosted` and serves the page to other requests.
#[cfg(all(feature = "tokio", feature = "http"))]
fn run_axum(addr: SocketAddr, options: ServerOptions) -> Result<(), Error> {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::response::Response as AxumResponse;

    async fn route(State(options): State<Arc<ServerOptions>>, mut req: Request) -> AxumResponse {
        if req.headers().get(http::header::UPGRADE).is_none() {
            // The same page as the other servers, through the `http`
            // feature's conversion.
            return match http::Response::<bytes::Bytes>::try_from(page()) {
                Ok(r) => r.map(Body::from),
                Err(e) => {
                    log::error!("{e}");
                    AxumResponse::new(Body::empty())
                }
            };
        }
        match ws_adapters::hosted::upgrade_http(&req, None, &options) {
            Ok((response, upgrading)) => {
                let on_upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    match on_upgrade.await {
                        Ok(upgraded) => {
                            let io = hyper_util::rt::TokioIo::new(upgraded);
                            echo_async(upgrading.tokio(io)).await;
                        }
                        Err(e) => log::info!("upgrade: {e}"),
                    }
                });
                response.map(Body::from)
            }
            Err(refused) => {
                log::info!("refused: {}", refused.error);
                refused.http_response().map(Body::from)
            }
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = axum::Router::new()
            .route("/", axum::routing::any(route))
            .with_state(Arc::new(options));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on ws://{}/", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// The mio variant: one `Poll`, one thread, every connection on it.
fn run_mio(port: u16, config: SessionConfig) -> Result<(), Error> {
    let options = options(config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = wmio::Server::bind(addr, options, MioEcho)?;
    println!("listening on ws://{}/", server.local_addr()?);
    server.run()?;
    Ok(())
}

/// Echoes on the io_uring loop (`--adapter uring`).
#[cfg(all(feature = "uring", target_os = "linux"))]
fn run_uring(port: u16, config: SessionConfig) -> Result<(), Error> {
    let options = options(config);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = ws_adapters::uring::Server::bind(addr, options, MioEcho)?;
    println!("listening on ws://{}/", server.local_addr()?);
    server.run()?;
    Ok(())
}

#[cfg(all(feature = "uring", target_os = "linux"))]
impl ws_adapters::uring::Handler for MioEcho {
    type Data = ();

    fn accepted(&mut self, peer: SocketAddr) {
        log::debug!("{peer}: accepted");
    }

    fn event(&mut self, conn: &mut ws_adapters::uring::Conn<'_>, _: &mut (), event: Event) {
        echo_on(conn.driver_mut(), event);
    }

    fn closed(&mut self, peer: SocketAddr, _: (), error: Option<Error>) {
        match error {
            Some(e) => log::info!("{peer}: {e}"),
            None => log::debug!("{peer}: done"),
        }
    }
}

/// Sends a text or binary message back on `driver`'s connection (the
/// received `Bytes`, no copy); pongs and close echoes are queued by the
/// core.
fn echo_on(driver: &mut ws_adapters::Driver, event: Event) {
    let Some(c) = driver.session_mut().connection_mut() else {
        return;
    };
    let sent = match event {
        Event::Text(text) => c.send_text(text),
        Event::Binary(data) => c.send_binary(data),
        _ => Ok(()),
    };
    if let Err(e) = sent {
        // A close from the peer may already have been received.
        log::debug!("not echoed: {e}");
    }
}

/// Echoes every text and binary message on its connection.
struct MioEcho;

impl wmio::Handler for MioEcho {
    type Data = ();

    fn accepted(&mut self, peer: SocketAddr) {
        log::debug!("{peer}: accepted");
    }

    fn event(&mut self, conn: &mut wmio::Conn, _: &mut (), event: Event) {
        // The server flushes after the events of a turn.
        echo_on(conn.driver_mut(), event);
    }

    fn closed(&mut self, peer: SocketAddr, _: (), error: Option<Error>) {
        match error {
            // Peers that break the protocol are the point of the tests.
            Some(e) => log::info!("{peer}: {e}"),
            None => log::debug!("{peer}: done"),
        }
    }
}

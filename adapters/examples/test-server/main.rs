//! The libwebsockets test server on our stack: serves a page over HTTP and
//! the `dumb-increment-protocol` and `lws-mirror-protocol` on one port.
//!
//! ```text
//! cargo run --release -p ws-adapters --example test-server -- --port 7681
//! ```
//! then open <http://127.0.0.1:7681/> in a browser (with `--ssl`,
//! <https://127.0.0.1:7681/> and accept the self-signed certificate).
//!
//! The server is a [`Protocols`] table (the HTTP pages, the two protocols)
//! plus options; it has no loop of its own. `--adapter` picks who runs the
//! table: `mio` (the default: every connection on one `mio::Poll`, as
//! libwebsockets does), `std` (a thread per connection), `tokio` or `smol`
//! (a task per connection; built with the `tokio` / `smol` features), or
//! `uring` (every connection on one io_uring ring, completion-based I/O;
//! Linux, the `uring` feature).
//!
//! There is no `--daemonize`: run it under a service manager (a systemd
//! unit with `Restart=on-failure`, `runit`, a container), which keeps the
//! logs (stderr) and restarts it, rather than forking away from one.
//!
//! SIGTERM or SIGINT (Ctrl-C) shuts the server down gracefully on every
//! adapter: every WebSocket is closed with 1001 "going away", new
//! upgrades get `503` (a load balancer in front tries another server),
//! and the process exits once the clients have answered the close or
//! `--grace` seconds have passed. Behind a reverse proxy on this host,
//! `--trust-proxy 127.0.0.1` makes its `X-Forwarded-For` name the
//! clients in the logs.

mod protocols;
mod web;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use http_upgrade::ServerConfig;
use ws_adapters::files::Files;
use ws_adapters::tls::ServerTls;
use ws_adapters::{Error, ErrorKind, Protocols, ServerOptions, session_config};
use ws_proto::Config;

/// The subprotocols this server speaks, in its order of preference.
const PROTOCOLS: [&str; 2] = [protocols::DUMB_INCREMENT, protocols::MIRROR];

/// Which adapter runs the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Adapter {
    /// Every connection on one mio `Poll` (libwebsockets' model).
    Mio,
    /// A thread per connection on blocking std sockets.
    Std,
    /// A tokio task per connection (feature `tokio`).
    Tokio,
    /// A task per connection on smol's executor (feature `smol`).
    Smol,
    /// Every connection on one io_uring ring, completion-based (Linux,
    /// feature `uring`); `--loops` runs one ring per thread.
    Uring,
}

/// WebSocket test server: a page, dumb-increment-protocol and lws-mirror-protocol.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on (0: any free port; the chosen one is printed).
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Interface address to bind (use 0.0.0.0 to serve other machines).
    #[arg(short, long, default_value = "127.0.0.1")]
    interface: String,
    /// Serve https:// and wss:// with a self-signed certificate generated at start.
    #[arg(short, long)]
    ssl: bool,
    /// Which adapter runs the server.
    #[arg(short, long, value_enum, default_value_t = Adapter::Mio)]
    adapter: Adapter,
    /// Log level: error, warn, info, debug or trace.
    #[arg(short = 'd', long = "debug", default_value = "info")]
    log_level: log::LevelFilter,
    /// Turn off the compression extensions (permessage-deflate, deflate-frame, deflate-stream).
    #[arg(long)]
    no_compression: bool,
    /// Largest message accepted from a client, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_message: u64,
    /// Serve the files of this directory over HTTP (MIME types, HEAD,
    /// ETag / If-Modified-Since, streamed); what it lacks falls back to
    /// the built-in page.
    #[arg(short, long)]
    resource_path: Option<PathBuf>,
    /// Close each dumb-increment connection after 50 numbers (libwebsockets'
    /// close test).
    #[arg(short, long)]
    closetest: bool,
    /// Drop a client that takes no byte of its output for this many
    /// seconds (it stopped reading); 0: never.
    #[arg(long, default_value_t = 10)]
    write_timeout: u64,
    /// mio and uring: run this many loops, one per thread, on the port
    /// (SO_REUSEPORT; 0: one per core). The default 1 is libwebsockets'
    /// single loop.
    #[arg(long, default_value_t = 1)]
    loops: usize,
    /// Record every connection into this directory, one transcript per
    /// connection (`ws-replay` prints and replays them).
    #[arg(long)]
    record: Option<PathBuf>,
    /// With --record: replace payloads, cookies and query strings by `x`s.
    #[arg(long)]
    record_redact: bool,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for the clients to
    /// answer the 1001 close before the process exits.
    #[arg(long, default_value_t = 5)]
    grace: u64,
    /// Believe `X-Forwarded-For` from this reverse proxy's address
    /// (repeatable): its clients' addresses reach the logs and handlers.
    #[arg(long = "trust-proxy", value_name = "IP")]
    trust_proxy: Vec<std::net::IpAddr>,
    /// Share lws-mirror-protocol with every test-server on this NATS
    /// broker (`nats://127.0.0.1:4222`; feature `nats`). The server
    /// starts and serves while the broker is down, and links up when it
    /// comes.
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
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

/// A self-signed certificate for the names a local browser uses.
fn self_signed(interface: &str) -> Result<ServerTls, Error> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !names.iter().any(|n| n == interface) {
        names.push(interface.to_owned());
    }
    let generated = rcgen::generate_simple_self_signed(names.clone())
        .map_err(|e| ErrorKind::TlsConfig(format!("generating a certificate: {e}")))?;
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    log::info!("self-signed certificate for {names:?}");
    ServerTls::new(vec![generated.cert.der().clone()], key.into())
}

/// On SIGTERM or SIGINT: every connection of `table` is closed with 1001
/// and new upgrades get `503`; the process exits once none is left or
/// after `grace`. A second signal exits at once.
fn shut_down_on_signal(table: Protocols, grace: std::time::Duration) -> Result<(), Error> {
    let leaving = std::sync::atomic::AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if leaving.swap(true, std::sync::atomic::Ordering::AcqRel) {
            std::process::exit(1);
        }
        // The handler runs on a thread of its own: waiting here leaves
        // the server serving the closing handshakes.
        let closing = table.going_away();
        log::info!("shutting down: closing {closing} connections (1001), grace {grace:?}");
        let deadline = std::time::Instant::now() + grace;
        while table.live() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match table.live() {
            0 => log::info!("shut down: every client answered"),
            n => log::warn!("shut down: {n} connections still open after {grace:?}"),
        }
        std::process::exit(0);
    })
    .map_err(|e| ErrorKind::Io(std::io::Error::other(format!("signal handler: {e}"))).into())
}

/// The mirror protocol, shared through the broker if one is given.
fn mirror(args: &Args) -> Result<protocols::Mirror, Error> {
    let Some(url) = &args.broker else {
        return Ok(protocols::Mirror::default());
    };
    #[cfg(feature = "nats")]
    {
        let broker = ws_adapters::broker::Broker::nats(url)?;
        log::info!("lws-mirror-protocol shared through the broker at {url}");
        protocols::Mirror::with_broker(&broker)
    }
    #[cfg(not(feature = "nats"))]
    Err(unsupported(&format!(
        "--broker {url} needs the `nats` feature"
    )))
}

/// The server: the protocols table.
fn table(args: &Args) -> Result<Protocols, Error> {
    let mut table = Protocols::new()
        .protocol(
            protocols::DUMB_INCREMENT,
            protocols::DumbIncrement {
                closetest: args.closetest,
            },
        )
        .protocol(protocols::MIRROR, mirror(args)?)
        .http(web::respond);
    if let Some(dir) = &args.resource_path {
        let files = Files::new(dir)
            .map_err(|e| {
                ErrorKind::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.display()),
                ))
            })?
            .with_index("test.html");
        table = table.files(files);
    }
    Ok(table)
}

fn run(args: &Args) -> Result<(), Error> {
    let connection = Config::default()
        .with_max_message_size(args.max_message)
        .with_max_frame_size(args.max_message)
        .with_write_timeout(
            (args.write_timeout > 0).then(|| std::time::Duration::from_secs(args.write_timeout)),
        );
    let table = table(args)?;
    shut_down_on_signal(table.clone(), std::time::Duration::from_secs(args.grace))?;
    let mut options = ServerOptions::new(session_config(connection, !args.no_compression))
        .with_http(ServerConfig::default().with_protocols(PROTOCOLS));
    if args.ssl {
        options = options.with_tls(self_signed(&args.interface)?);
    }
    if !args.trust_proxy.is_empty() {
        let proxies = args.trust_proxy.clone();
        log::info!("trusting X-Forwarded-For from {proxies:?}");
        options = options.with_trusted_proxies(move |ip| proxies.contains(&ip));
    }
    if let Some(dir) = &args.record {
        let recording = ws_adapters::Recording::to_dir(dir)?.with_options(
            ws_proto::record::RecordOptions::default().with_redact(args.record_redact),
        );
        log::info!("recording every connection into {}", dir.display());
        options = options.with_recording(recording);
    }
    let options = table.options(options);
    let addr = (args.interface.as_str(), args.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| ErrorKind::Resolve(args.interface.clone()))?;
    let scheme = if args.ssl { "https" } else { "http" };
    let announce = |addr: SocketAddr| {
        // Tests read this line to learn the port.
        println!("listening on {scheme}://{addr}/");
        log::info!(
            "serving {} and {PROTOCOLS:?} on {addr} ({:?} adapter, compression {})",
            match &args.resource_path {
                Some(dir) => format!("{} (then the built-in page)", dir.display()),
                None => "the built-in page".to_owned(),
            },
            args.adapter,
            if args.no_compression { "off" } else { "on" }
        );
    };
    let loops = match args.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    match args.adapter {
        Adapter::Mio if loops != 1 => {
            let n = loops;
            let loops = ws_adapters::mio::serve_loops(addr, options, n, |_| table.clone())?;
            announce(loops.local_addr());
            Ok(loops.join()?)
        }
        Adapter::Mio => {
            let mut server = ws_adapters::mio::Server::bind(addr, options, table)?;
            announce(server.local_addr()?);
            Ok(server.run()?)
        }
        Adapter::Std => {
            let server = ws_adapters::blocking::Server::bind_with(addr, options)?;
            announce(server.local_addr()?);
            server.run(move |mut ws| table.run_blocking(&mut ws))
        }
        Adapter::Tokio => run_tokio(addr, options, table, announce),
        Adapter::Smol => run_smol(addr, options, table, announce),
        Adapter::Uring => run_uring(addr, options, table, loops, announce),
    }
}

#[cfg(feature = "uring")]
fn run_uring(
    addr: SocketAddr,
    options: ServerOptions,
    table: Protocols,
    loops: usize,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let loops = ws_adapters::uring::serve_loops(addr, options, loops, |_| table.clone())?;
    announce(loops.local_addr());
    Ok(loops.join()?)
}

#[cfg(not(feature = "uring"))]
fn run_uring(
    _: SocketAddr,
    _: ServerOptions,
    _: Protocols,
    _: usize,
    _: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    Err(unsupported(
        "--adapter uring needs the `uring` feature (Linux)",
    ))
}

#[cfg(feature = "tokio")]
fn run_tokio(
    addr: SocketAddr,
    options: ServerOptions,
    table: Protocols,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    #[cfg(feature = "h2")]
    if options.tls.is_some() {
        return rt.block_on(run_h2(addr, options, table, announce));
    }
    rt.block_on(async {
        let server = ws_adapters::tokio::Server::bind(addr, options).await?;
        announce(server.local_addr()?);
        loop {
            match server.accept().await {
                Ok((ws, peer)) => {
                    let table = table.clone();
                    tokio::spawn(async move {
                        if let Err(e) = table.run(ws).await {
                            log::info!("{peer}: {e}");
                        }
                    });
                }
                Err(e) => log::warn!("accept: {e}"),
            }
        }
    })
}

/// With `--ssl` on tokio: the page over HTTP/2 (ALPN `h2`, HTTP/1.1 for
/// clients without it), and the WebSockets as streams of the page's
/// connection (RFC 8441) when the browser does that; each WebSocket's
/// transport is logged.
#[cfg(all(feature = "tokio", feature = "h2"))]
async fn run_h2(
    addr: SocketAddr,
    options: ServerOptions,
    table: Protocols,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let server = ws_adapters::h2::Server::bind(addr, options, move |ws, transport| {
        let table = table.clone();
        let peer = ws.with_driver(|d| d.peer());
        let protocol = ws.negotiated().and_then(|h| h.protocol).unwrap_or_default();
        log::info!("{peer:?}: {protocol} WebSocket over {transport}");
        tokio::spawn(async move {
            if let Err(e) = table.run(ws).await {
                log::info!("{peer:?}: {e}");
            }
        });
    })
    .await?;
    announce(server.local_addr()?);
    log::info!("HTTP/2 with extended CONNECT (RFC 8441) and HTTP/1.1 on the same port");
    Ok(server.run().await?)
}

#[cfg(not(feature = "tokio"))]
fn run_tokio(
    _: SocketAddr,
    _: ServerOptions,
    _: Protocols,
    _: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    Err(unsupported("--adapter tokio needs the `tokio` feature"))
}

#[cfg(feature = "smol")]
fn run_smol(
    addr: SocketAddr,
    options: ServerOptions,
    table: Protocols,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let ex = std::sync::Arc::new(async_executor::Executor::new());
    for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
        let ex = ex.clone();
        std::thread::spawn(move || {
            async_io::block_on(ex.run(std::future::pending::<()>()));
        });
    }
    async_io::block_on(ex.run(async {
        let server = ws_adapters::smol::Server::bind(addr, options)?;
        announce(server.local_addr()?);
        loop {
            match server.accept().await {
                Ok((ws, peer)) => {
                    let table = table.clone();
                    ex.spawn(async move {
                        if let Err(e) = table.run(ws).await {
                            log::info!("{peer}: {e}");
                        }
                    })
                    .detach();
                }
                Err(e) => log::warn!("accept: {e}"),
            }
        }
    }))
}

#[cfg(not(feature = "smol"))]
fn run_smol(
    _: SocketAddr,
    _: ServerOptions,
    _: Protocols,
    _: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    Err(unsupported("--adapter smol needs the `smol` feature"))
}

#[cfg(not(all(
    feature = "tokio",
    feature = "smol",
    feature = "nats",
    feature = "uring"
)))]
fn unsupported(what: &str) -> Error {
    ErrorKind::Io(std::io::Error::new(std::io::ErrorKind::Unsupported, what)).into()
}

//! The libwebsockets test server on our stack: serves a page over HTTP and
//! the `dumb-increment-protocol` and `lws-mirror-protocol` on one port.
//!
//! ```text
//! cargo run --release -p ws-adapters --example test-server -- --port 7681
//! ```
//! then open <http://127.0.0.1:7681/> in a browser (with `--ssl`,
//! <https://127.0.0.1:7681/> and accept the self-signed certificate).
//!
//! Two drivers serve the same protocols: `--adapter mio` (the default) runs
//! every connection on one `mio::Poll`, as libwebsockets does; `--adapter
//! std` runs a thread per connection on blocking sockets.

mod mio_server;
mod protocols;
mod web;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use http_upgrade::{Accept, Response, ServerConfig};
use ws_adapters::blocking::{Server, WebSocket};
use ws_adapters::tls::ServerTls;
use ws_adapters::{Error, ErrorKind, ServerOptions, session_config};
use ws_proto::Config;
use ws_proto::session::SessionEvent;

/// The subprotocols this server speaks, in its order of preference.
const PROTOCOLS: [&str; 2] = [protocols::DUMB_INCREMENT, protocols::MIRROR];

/// Which driver serves the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Adapter {
    /// Every connection on one mio `Poll` (libwebsockets' model).
    Mio,
    /// A thread per connection on blocking std sockets.
    Std,
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
    /// Which driver serves the connections.
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

fn run(args: &Args) -> Result<(), Error> {
    let connection = Config::default()
        .with_max_message_size(args.max_message)
        .with_max_frame_size(args.max_message);
    let mut options = ServerOptions::new(session_config(connection, !args.no_compression))
        .with_http(ServerConfig::default().with_protocols(PROTOCOLS));
    if args.ssl {
        options = options.with_tls(self_signed(&args.interface)?);
    }
    let addr = (args.interface.as_str(), args.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| ErrorKind::Resolve(args.interface.clone()))?;
    let scheme = if args.ssl { "https" } else { "http" };
    let announce = |addr: SocketAddr| {
        // Tests read this line to learn the port.
        println!("listening on {scheme}://{addr}/");
        log::info!(
            "serving test.html and {PROTOCOLS:?} on {addr} ({:?} adapter, compression {})",
            args.adapter,
            if args.no_compression { "off" } else { "on" }
        );
    };
    match args.adapter {
        Adapter::Mio => mio_server::run(addr, options, announce),
        Adapter::Std => run_std(addr, options, announce),
    }
}

/// A thread per connection on blocking sockets.
fn run_std(
    addr: SocketAddr,
    options: ServerOptions,
    announce: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let server = Server::bind_with(addr, options)?;
    announce(server.local_addr()?);
    let mirror = Arc::new(protocols::Mirror::default());
    loop {
        let (ws, peer) = match server.accept() {
            Ok(x) => x,
            Err(e) => {
                log::warn!("accept: {e}");
                continue;
            }
        };
        let mirror = mirror.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn {peer}"))
            .spawn(move || match serve(ws, &mirror) {
                Ok(()) => log::debug!("{peer}: done"),
                Err(e) => log::info!("{peer}: {e}"),
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for {peer}: {e}");
        }
    }
}

/// The answer to an upgrade: accept with the subprotocol the server chose
/// from the client's offer, or refuse a client that offered neither.
fn decide(req: &http_upgrade::UpgradeRequest) -> Result<(String, Accept), Response> {
    match req.selected_protocol.clone() {
        Some(p) => Ok((p, Accept::for_request(req))),
        None => {
            let msg = format!("offer one of these subprotocols: {PROTOCOLS:?}\n");
            Err(Response::new(400).body(msg))
        }
    }
}

/// Serves HTTP requests until an upgrade, then runs the chosen protocol.
fn serve(mut ws: WebSocket<TcpStream>, mirror: &protocols::Mirror) -> Result<(), Error> {
    let protocol = loop {
        let now = ws.clock().now();
        match ws.next_event(None)? {
            Some(SessionEvent::Request(req)) => {
                log::debug!("{} {}", req.method, req.target);
                ws.session_mut().respond(now, web::respond(&req))?;
            }
            Some(SessionEvent::Upgrade(req)) => match decide(&req) {
                Ok((p, accept)) => {
                    ws.session_mut().accept(now, accept, &mut rand::rng())?;
                    break p;
                }
                Err(response) => ws.session_mut().reject(response)?,
            },
            Some(_) => {}
            None if ws.is_finished() => return Ok(()),
            None => {}
        }
    };
    log::info!("upgraded to {protocol}");
    match protocol.as_str() {
        protocols::DUMB_INCREMENT => protocols::dumb_increment(ws),
        _ => mirror.serve(ws),
    }
}

//! The libwebsockets test server on our stack: serves a page over HTTP and
//! the `dumb-increment-protocol` and `lws-mirror-protocol` on one port.
//!
//! ```text
//! cargo run --release -p ws-adapters --example test-server -- --port 7681
//! ```
//! then open <http://127.0.0.1:7681/> in a browser.

mod protocols;
mod web;

use std::net::TcpStream;
use std::sync::Arc;

use clap::Parser;
use http_upgrade::{Accept, Response, ServerConfig};
use ws_adapters::Error;
use ws_adapters::blocking::{Server, WebSocket};
use ws_proto::Config;
use ws_proto::session::{SessionConfig, SessionEvent};

/// The subprotocols this server speaks, in its order of preference.
const PROTOCOLS: [&str; 2] = [protocols::DUMB_INCREMENT, protocols::MIRROR];

/// WebSocket test server: a page, dumb-increment-protocol and lws-mirror-protocol.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port to listen on.
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Interface address to bind (use 0.0.0.0 to serve other machines).
    #[arg(short, long, default_value = "127.0.0.1")]
    interface: String,
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

fn run(args: &Args) -> Result<(), Error> {
    let http = Arc::new(ServerConfig::default().with_protocols(PROTOCOLS));
    let connection = Config {
        max_message_size: args.max_message,
        max_frame_size: args.max_message,
        ..Config::default()
    };
    let mut config = SessionConfig::new(connection);
    if !args.no_compression {
        config.negotiators = deflate_ext::default_negotiators();
    }
    let config = Arc::new(config);
    let server = Server::bind((args.interface.as_str(), args.port), http, config)?;
    let addr = server.local_addr()?;
    // Tests read this line to learn the port.
    println!("listening on http://{addr}/");
    log::info!("serving test.html and {PROTOCOLS:?} on {addr}");
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

/// Serves HTTP requests until an upgrade, then runs the chosen protocol.
fn serve(mut ws: WebSocket<TcpStream>, mirror: &protocols::Mirror) -> Result<(), Error> {
    let protocol = loop {
        let now = ws.clock().now();
        match ws.next_event(None)? {
            Some(SessionEvent::Request(req)) => {
                log::debug!("{} {}", req.method, req.target);
                ws.session_mut().respond(now, web::respond(&req))?;
            }
            Some(SessionEvent::Upgrade(req)) => match req.selected_protocol.clone() {
                Some(p) => {
                    let accept = Accept::for_request(&req);
                    ws.session_mut().accept(now, accept, &mut rand::rng())?;
                    break p;
                }
                None => {
                    let msg = format!("offer one of these subprotocols: {PROTOCOLS:?}\n");
                    ws.session_mut().reject(Response::new(400).body(msg))?;
                }
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

//! fraggle, libwebsockets' fragmentation torture test, on our stack.
//!
//! The server (the default) sends each client `-n` binary messages, each in
//! 1..=1024 fragments (`send_fragment`, RFC 6455 §5.4) of 1..=2001 random
//! bytes, and after each a text message `EOM <bytes> <fragments> <checksum>`
//! (FNV-1a 64 of the bytes). The client (`-c host`) reassembles each message,
//! checks its length and checksum against the EOM, prints
//! `EOM received N correctly from M fragments`, and answers `OK ...` or
//! `BAD ...`; the server checks the answer. Mismatches are reported loudly on
//! both ends (stderr, and a non-zero exit status for the client).
//!
//! ```text
//! cargo run -p ws-adapters --example fraggle &           # server, port 7681
//! cargo run -p ws-adapters --example fraggle -- -c 127.0.0.1
//! ```

#[path = "../test-client/connect.rs"]
#[allow(dead_code)]
mod connect;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Parser;
use connect::Target;
use http_upgrade::{Accept, Dialect, Response, ServerConfig};
use rand::RngExt;
use ws_adapters::blocking::{Server, WebSocket};
use ws_adapters::{Error, ErrorKind, Event, ServerOptions, session_config};
use ws_proto::session::SessionEvent;
use ws_proto::{Bytes, CloseCode, Config, MessageKind};

const PROTOCOL: &str = "fraggle-protocol";
const MAX_FRAGMENTS: u32 = 1024;
const MAX_FRAGMENT: usize = 2001;
/// Bound on waiting for the client's verdict on one message.
const VERDICT_WAIT: Duration = Duration::from_secs(30);

/// Fragmentation torture test: random fragments, checksums, verdicts.
#[derive(Parser, Debug)]
#[command(version = None)]
struct Args {
    /// Run as a client of the fraggle server on this host.
    #[arg(short, long, value_name = "HOST")]
    client: Option<String>,
    /// Port to listen on (server; 0: any free port) or to connect to (client).
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Interface the server binds.
    #[arg(short, long, default_value = "127.0.0.1")]
    interface: String,
    /// Messages the server sends to each client.
    #[arg(short = 'n', long, default_value_t = 5)]
    messages: u32,
    /// Use wss:// (client; accepts a self-signed certificate).
    #[arg(long)]
    ssl: bool,
    /// Do not use the compression extensions.
    #[arg(long)]
    no_compression: bool,
    /// Log level: error, warn, info, debug or trace.
    #[arg(short = 'd', long = "debug", default_value = "warn")]
    log_level: log::LevelFilter,
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::new()
        .filter_level(args.log_level)
        .init();
    let r = match &args.client {
        Some(host) => client(&args, host),
        None => server(&args),
    };
    match r {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("fraggle: {e}");
            std::process::exit(2);
        }
    }
}

/// FNV-1a, 64 bits: the checksum both ends compute.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The EOM (end of message) text: `EOM <bytes> <fragments> <checksum>`.
#[derive(Debug, PartialEq, Eq)]
struct Eom {
    bytes: usize,
    fragments: u32,
    checksum: u64,
}

impl Eom {
    fn to_text(&self) -> String {
        format!(
            "EOM {} {} {:016x}",
            self.bytes, self.fragments, self.checksum
        )
    }

    fn parse(text: &str) -> Option<Eom> {
        let mut it = text.strip_prefix("EOM ")?.split(' ');
        let eom = Eom {
            bytes: it.next()?.parse().ok()?,
            fragments: it.next()?.parse().ok()?,
            checksum: u64::from_str_radix(it.next()?, 16).ok()?,
        };
        it.next().is_none().then_some(eom)
    }
}

fn connection_config(max_message: u64) -> Config {
    Config::default()
        .with_max_message_size(max_message)
        .with_max_frame_size(max_message)
}

// ---- server ----

fn server(args: &Args) -> Result<bool, Error> {
    let max = (MAX_FRAGMENTS as u64) * (MAX_FRAGMENT as u64);
    let options = ServerOptions::new(session_config(connection_config(max), !args.no_compression))
        .with_http(ServerConfig::default().with_protocols([PROTOCOL]));
    let server = Server::bind_with((args.interface.as_str(), args.port), options)?;
    let addr = server.local_addr()?;
    // Tests read this line to learn the port.
    println!("listening on ws://{addr}/");
    let messages = args.messages;
    loop {
        let (ws, peer) = match server.accept() {
            Ok(x) => x,
            Err(e) => {
                eprintln!("fraggle: accept: {e}");
                continue;
            }
        };
        let spawned = std::thread::Builder::new()
            .name(format!("fraggle {peer}"))
            .spawn(move || match serve(ws, peer, messages) {
                Ok(true) => println!("{peer}: all {messages} messages confirmed"),
                Ok(false) => eprintln!("{peer}: FRAGGLE FAILED: the client reported a mismatch"),
                Err(e) => eprintln!("{peer}: {e}"),
            });
        if let Err(e) = spawned {
            eprintln!("fraggle: no thread for {peer}: {e}");
        }
    }
}

/// Answers the handshake (only `fraggle-protocol` upgrades); false if the
/// connection ended first.
fn handshake(ws: &mut WebSocket<TcpStream>) -> Result<bool, Error> {
    loop {
        let now = ws.clock().now();
        match ws.next_event(None)? {
            Some(SessionEvent::Request(_)) => {
                let body = format!("a {PROTOCOL} WebSocket server\n");
                ws.session_mut()
                    .respond(now, Response::new(404).body(body))?;
            }
            Some(SessionEvent::Upgrade(req)) if req.selected_protocol.is_some() => {
                let accept = Accept::for_request(&req);
                ws.session_mut().accept(now, accept, &mut rand::rng())?;
                return Ok(true);
            }
            Some(SessionEvent::Upgrade(_)) => {
                let body = format!("offer the subprotocol {PROTOCOL}\n");
                ws.session_mut().reject(Response::new(400).body(body))?;
            }
            Some(_) => {}
            None if ws.is_finished() => return Ok(false),
            None => {}
        }
    }
}

/// Sends `messages` fragmented messages and checks the client's verdicts.
fn serve(mut ws: WebSocket<TcpStream>, peer: SocketAddr, messages: u32) -> Result<bool, Error> {
    if !handshake(&mut ws)? {
        return Ok(false);
    }
    if ws.session().connection().map(|c| c.dialect()) == Some(Dialect::Hixie76) {
        ws.close(CloseCode::UNSUPPORTED_DATA, "fraggle needs binary messages")?;
        return Ok(false);
    }
    println!("{peer}: open, sending {messages} messages");
    let mut all_ok = true;
    for i in 1..=messages {
        let eom = send_message(&mut ws)?;
        println!(
            "{peer}: message {i}: sent {} bytes in {} fragments, checksum {:016x}",
            eom.bytes, eom.fragments, eom.checksum
        );
        ws.send_text(eom.to_text())?;
        all_ok &= verdict(&mut ws, peer, i, &eom)?;
    }
    ws.close(CloseCode::NORMAL, "fraggle done")?;
    while ws.recv_timeout(Duration::from_secs(5))?.is_some() {}
    Ok(all_ok)
}

/// One message of random fragments; returns its EOM.
fn send_message(ws: &mut WebSocket<TcpStream>) -> Result<Eom, Error> {
    let mut rng = rand::rng();
    let fragments = rng.random_range(1..=MAX_FRAGMENTS);
    let mut sum = Fnv::new();
    let mut bytes = 0;
    for k in 1..=fragments {
        let mut data = vec![0u8; rng.random_range(1..=MAX_FRAGMENT)];
        rng.fill(&mut data[..]);
        sum.update(&data);
        bytes += data.len();
        let conn = ws.session_mut().connection_mut().ok_or(ErrorKind::Closed)?;
        conn.send_fragment(MessageKind::Binary, Bytes::from(data), k == fragments)?;
        ws.flush()?;
    }
    Ok(Eom {
        bytes,
        fragments,
        checksum: sum.0,
    })
}

/// Waits for the client's `OK <i> <eom>` or `BAD <i> ...`.
fn verdict(
    ws: &mut WebSocket<TcpStream>,
    peer: SocketAddr,
    i: u32,
    eom: &Eom,
) -> Result<bool, Error> {
    loop {
        match ws.recv_timeout(VERDICT_WAIT)? {
            Some(Event::Text(t)) => {
                let t = t.as_str();
                let expected = format!("OK {i} {}", eom.to_text());
                if t == expected {
                    println!("{peer}: message {i}: client confirmed");
                    return Ok(true);
                }
                eprintln!(
                    "{peer}: MISMATCH on message {i}: the client says {t:?}, expected {expected:?}"
                );
                return Ok(false);
            }
            Some(_) => {}
            None if ws.is_finished() => return Err(ErrorKind::Closed.into()),
            None => {
                eprintln!("{peer}: message {i}: no verdict within {VERDICT_WAIT:?}");
                return Ok(false);
            }
        }
    }
}

// ---- client ----

fn client(args: &Args, host: &str) -> Result<bool, Error> {
    let target = Target {
        host: host.to_owned(),
        port: args.port,
        ssl: args.ssl,
        dialect: Dialect::Rfc6455,
        compression: !args.no_compression,
        max_message: 4 << 20,
    };
    let mut ws = target.connect(PROTOCOL)?;
    println!("connected to {}", target.url());
    let (mut good, mut bad) = (0u32, 0u32);
    let mut message: Option<Bytes> = None;
    while let Some(ev) = ws.recv()? {
        match ev {
            Event::Binary(b) => {
                let previous = message.replace(b);
                if previous.is_some() {
                    eprintln!("MISMATCH: a message arrived before the previous one's EOM");
                    bad += 1;
                }
            }
            Event::Text(t) => {
                let i = good + bad + 1;
                let got = message.take().unwrap_or_default();
                let reply = match check(t.as_str(), &got) {
                    Ok(eom) => {
                        println!(
                            "EOM received {} correctly from {} fragments",
                            eom.bytes, eom.fragments
                        );
                        good += 1;
                        format!("OK {i} {}", eom.to_text())
                    }
                    Err(why) => {
                        eprintln!("MISMATCH in message {i}: {why}");
                        bad += 1;
                        format!("BAD {i} {why}")
                    }
                };
                ws.send_text(&reply)?;
            }
            Event::Close { code, reason } => {
                log::info!("server closed: {code:?} {}", reason.as_str());
            }
            _ => {}
        }
    }
    println!("{good} messages correct, {bad} wrong");
    if bad > 0 {
        eprintln!("FRAGGLE FAILED: {bad} messages did not match their checksums");
    }
    Ok(bad == 0 && good > 0)
}

/// Compares a reassembled message with its EOM text.
fn check(text: &str, got: &[u8]) -> Result<Eom, String> {
    let eom = Eom::parse(text).ok_or_else(|| format!("not an EOM: {text:?}"))?;
    let mut sum = Fnv::new();
    sum.update(got);
    if got.len() != eom.bytes || sum.0 != eom.checksum {
        return Err(format!(
            "got {} bytes with checksum {:016x}, the server sent {} bytes with checksum {:016x}",
            got.len(),
            sum.0,
            eom.bytes,
            eom.checksum
        ));
    }
    Ok(eom)
}

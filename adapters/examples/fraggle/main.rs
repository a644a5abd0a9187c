//! fraggle, libwebsockets' fragmentation torture test, on our stack.
//!
//! The server (the default; a protocols table, its messages sent from the
//! writable callback as libwebsockets' fraggle does) sends each client
//! `-n` binary messages, each in
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

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use connect::Target;
use http_upgrade::{Dialect, Response, ServerConfig};
use rand::RngExt;
use ws_adapters::blocking::Server;
use ws_adapters::{Ctx, End, Error, Event, Protocol, Protocols, ServerOptions, session_config};
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
    let table = Protocols::new()
        .protocol(
            PROTOCOL,
            Fraggle {
                messages: args.messages,
            },
        )
        .http(|_| Response::new(404).body(format!("a {PROTOCOL} WebSocket server\n")));
    let options = ServerOptions::new(session_config(connection_config(max), !args.no_compression))
        .with_http(ServerConfig::default().with_protocols([PROTOCOL]));
    let server = Server::bind_with((args.interface.as_str(), args.port), table.options(options))?;
    let addr = server.local_addr()?;
    // Tests read this line to learn the port.
    println!("listening on ws://{addr}/");
    server.run(move |mut ws| table.run_blocking(&mut ws))?;
    Ok(true)
}

/// Fragments sent per `writable` callback: the message goes out as the
/// connection drains, never more than this ahead of the socket.
const FRAGMENTS_PER_WRITABLE: u32 = 64;

/// fraggle-protocol, the server's side, as an entry of a protocols table:
/// like libwebsockets' fraggle it sends on each writable callback
/// (`LWS_CALLBACK_SERVER_WRITEABLE`), a batch of fragments at a time, then
/// the EOM, and waits (bounded) for the client's verdict.
struct Fraggle {
    messages: u32,
}

/// One client's torture.
struct Torture {
    peer: Option<SocketAddr>,
    /// The message being sent or checked (1-based).
    message: u32,
    /// Its fragments: how many, how many still to send.
    fragments: u32,
    left: u32,
    sum: Fnv,
    bytes: usize,
    /// The EOM sent, waiting for the client's verdict.
    waiting: Option<Eom>,
    confirmed: u32,
    mismatch: bool,
}

impl Torture {
    /// Picks the next message's fragment count.
    fn start(&mut self, message: u32) {
        self.message = message;
        self.fragments = rand::rng().random_range(1..=MAX_FRAGMENTS);
        self.left = self.fragments;
        self.sum = Fnv::new();
        self.bytes = 0;
    }
}

impl Protocol for Fraggle {
    type State = Torture;

    fn established(&self, cx: &mut Ctx<'_>) -> Torture {
        let mut t = Torture {
            peer: cx.peer(),
            message: 0,
            fragments: 0,
            left: 0,
            sum: Fnv::new(),
            bytes: 0,
            waiting: None,
            confirmed: 0,
            mismatch: false,
        };
        if cx
            .handshake()
            .is_some_and(|h| h.dialect == Dialect::Hixie76)
        {
            let _ = cx.close(CloseCode::UNSUPPORTED_DATA, "fraggle needs binary messages");
            return t;
        }
        println!("{}: open, sending {} messages", show(t.peer), self.messages);
        t.start(1);
        cx.request_writable();
        t
    }

    fn writable(&self, t: &mut Torture, cx: &mut Ctx<'_>) {
        let mut rng = rand::rng();
        for _ in 0..FRAGMENTS_PER_WRITABLE {
            if t.left == 0 {
                break;
            }
            let mut data = vec![0u8; rng.random_range(1..=MAX_FRAGMENT)];
            rng.fill(&mut data[..]);
            t.sum.update(&data);
            t.bytes += data.len();
            t.left -= 1;
            let fin = t.left == 0;
            if let Err(e) = cx.driver().send_fragment(MessageKind::Binary, data, fin) {
                eprintln!("{}: {e}", show(t.peer));
                return;
            }
        }
        if t.left > 0 {
            cx.request_writable();
            return;
        }
        let eom = Eom {
            bytes: t.bytes,
            fragments: t.fragments,
            checksum: t.sum.0,
        };
        println!(
            "{}: message {}: sent {} bytes in {} fragments, checksum {:016x}",
            show(t.peer),
            t.message,
            eom.bytes,
            eom.fragments,
            eom.checksum
        );
        if cx.send_text(eom.to_text()).is_ok() {
            t.waiting = Some(eom);
            cx.set_timer(VERDICT_WAIT);
        }
    }

    fn event(&self, t: &mut Torture, cx: &mut Ctx<'_>, event: Event) {
        let Event::Text(text) = event else { return };
        let Some(eom) = t.waiting.take() else {
            eprintln!("{}: unexpected {:?}", show(t.peer), text.as_str());
            return;
        };
        cx.cancel_timer();
        let expected = format!("OK {} {}", t.message, eom.to_text());
        if text.as_str() == expected {
            println!("{}: message {}: client confirmed", show(t.peer), t.message);
            t.confirmed += 1;
        } else {
            eprintln!(
                "{}: MISMATCH on message {}: the client says {:?}, expected {expected:?}",
                show(t.peer),
                t.message,
                text.as_str()
            );
            t.mismatch = true;
        }
        if t.message < self.messages {
            t.start(t.message + 1);
            cx.request_writable();
        } else {
            let _ = cx.close(CloseCode::NORMAL, "fraggle done");
        }
    }

    fn timer(&self, t: &mut Torture, cx: &mut Ctx<'_>) {
        eprintln!(
            "{}: message {}: no verdict within {VERDICT_WAIT:?}",
            show(t.peer),
            t.message
        );
        t.mismatch = true;
        let _ = cx.close(CloseCode::POLICY_VIOLATION, "no verdict");
    }

    fn closed(&self, t: Torture, end: &End) {
        let peer = show(t.peer);
        if t.mismatch {
            eprintln!("{peer}: FRAGGLE FAILED: the client reported a mismatch");
        } else if t.confirmed == self.messages {
            println!("{peer}: all {} messages confirmed", self.messages);
        } else if let Some(e) = &end.error {
            eprintln!("{peer}: {e}");
        }
    }
}

fn show(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_owned(), |p| p.to_string())
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

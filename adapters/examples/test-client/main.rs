//! The libwebsockets test client on our stack: it prints the numbers of
//! `dumb-increment-protocol` and, at the same time, draws random circles
//! into `lws-mirror-protocol`, so a browser showing the test server's page
//! sees them appear.
//!
//! ```text
//! cargo run -p ws-adapters --example test-server &
//! cargo run -p ws-adapters --example test-client -- 127.0.0.1 --port 7681
//! ```
//!
//! `--version` picks the dialect (13, 8, 7, 6, 5, 4, or 76 for hixie-76);
//! `http_proxy` / `https_proxy` (and `no_proxy`) are honoured.

mod connect;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use connect::{Target, dialect_name, parse_dialect};
use http_upgrade::Dialect;
use rand::RngExt;
use ws_adapters::blocking::WebSocket;
use ws_adapters::{Error, ErrorKind, Event};
use ws_proto::CloseCode;

const DUMB_INCREMENT: &str = "dumb-increment-protocol";
const MIRROR: &str = "lws-mirror-protocol";
/// The page's canvas.
const CANVAS: (u32, u32) = (600, 300);

/// WebSocket test client: prints dumb-increment numbers and draws circles into the mirror.
#[derive(Parser, Debug)]
#[command(version = None)]
struct Args {
    /// Server host name or address.
    #[arg(default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Use wss:// (accepts the test server's self-signed certificate).
    #[arg(short, long)]
    ssl: bool,
    /// Protocol version: 13, 8, 7, 6, 5, 4, or 76 (hixie-76).
    #[arg(short = 'v', long = "version", default_value = "13", value_parser = parse_dialect)]
    dialect: Dialect,
    /// Stop after this many dumb-increment numbers (0: run until interrupted).
    #[arg(short = 'n', long, default_value_t = 0)]
    count: u64,
    /// Milliseconds between two circles drawn into the mirror.
    #[arg(short, long, default_value_t = 100)]
    interval_ms: u64,
    /// Only count numbers; do not draw into the mirror.
    #[arg(long)]
    no_mirror: bool,
    /// Do not offer the compression extensions.
    #[arg(long)]
    no_compression: bool,
    /// Keep one mirror connection for the whole run (libwebsockets'
    /// `--longlived`); by default it is closed and opened again after a
    /// random lifetime of 16,384 to 81,919 circles, as lws's test client
    /// does.
    #[arg(short = 'l', long)]
    longlived: bool,
    /// The mirror connection's lifetime in circles instead of the random
    /// one (ignored with `--longlived`).
    #[arg(long)]
    mirror_lifetime: Option<u64>,
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
        eprintln!("test-client: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let target = Target {
        host: args.host.clone(),
        port: args.port,
        ssl: args.ssl,
        dialect: args.dialect,
        compression: !args.no_compression,
        max_message: 1 << 20,
    };
    println!(
        "connecting to {} (version {})",
        target.url(),
        dialect_name(args.dialect)
    );
    let increment = target.connect(DUMB_INCREMENT)?;
    println!("{DUMB_INCREMENT}: open");
    let done = Arc::new(AtomicBool::new(false));
    let counter = {
        let (done, count) = (done.clone(), args.count);
        std::thread::spawn(move || {
            let r = count_numbers(increment, count);
            done.store(true, Ordering::Release);
            r
        })
    };
    let mirrored = if args.no_mirror {
        None
    } else {
        let interval = Duration::from_millis(args.interval_ms.max(1));
        let lifetime = || match (args.longlived, args.mirror_lifetime) {
            (true, _) => u64::MAX,
            (false, Some(n)) => n.max(1),
            (false, None) => 16_384 + rand::rng().random_range(0..65_536),
        };
        let (mut sent, mut received) = (0, 0);
        while !done.load(Ordering::Acquire) {
            let mirror = target.connect(MIRROR)?;
            println!("{MIRROR}: open");
            let (s, r) = draw_circles(mirror, interval, &done, lifetime())?;
            sent += s;
            received += r;
            if !done.load(Ordering::Acquire) {
                println!("{MIRROR}: lifetime over after {s} circles, reconnecting");
            }
        }
        Some((sent, received))
    };
    let numbers = counter
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("counter thread panicked").into()))?;
    println!("{DUMB_INCREMENT}: {numbers} numbers received");
    if let Some((sent, received)) = mirrored {
        println!("{MIRROR}: {sent} circles sent, {received} messages received");
    }
    Ok(())
}

/// Prints every number until `count` arrived (or forever), then closes.
/// Returns how many came.
fn count_numbers(mut ws: WebSocket<TcpStream>, count: u64) -> Result<u64, Error> {
    let mut received = 0;
    while let Some(ev) = ws.recv()? {
        match ev {
            // Numbers already on the way when we closed are not counted.
            Event::Text(_) if count > 0 && received >= count => {}
            Event::Text(t) => {
                println!("{DUMB_INCREMENT}: {}", t.as_str().trim_end());
                received += 1;
                if received == count {
                    ws.close(CloseCode::NORMAL, "enough")?;
                }
            }
            Event::Close { code, reason } => {
                log::info!("{DUMB_INCREMENT}: closed {code:?} {}", reason.as_str());
            }
            _ => {}
        }
    }
    Ok(received)
}

/// A circle in the page's mirror format: `c #rrggbb x y r;`.
fn random_circle(rng: &mut impl RngExt) -> String {
    let colour: u32 = rng.random_range(0..0x100_0000);
    let r = rng.random_range(5..40);
    let x = rng.random_range(r..CANVAS.0 - r);
    let y = rng.random_range(r..CANVAS.1 - r);
    format!("c #{colour:06x} {x} {y} {r};")
}

/// Sends a random circle every `interval` until `done` or `lifetime`
/// circles, counting what the mirror sends back (ours, other clients'
/// strokes, and the replayed ring), then closes.
fn draw_circles(
    mut ws: WebSocket<TcpStream>,
    interval: Duration,
    done: &AtomicBool,
    lifetime: u64,
) -> Result<(u64, u64), Error> {
    let mut rng = rand::rng();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut next = Instant::now();
    while !done.load(Ordering::Acquire) && sent < lifetime {
        let now = Instant::now();
        if now >= next {
            let circle = random_circle(&mut rng);
            ws.send_text(&circle)?;
            println!("{MIRROR}: sent {circle}");
            sent += 1;
            next += interval;
            continue;
        }
        match ws.recv_timeout(next - now)? {
            Some(Event::Text(t)) => {
                log::debug!("{MIRROR}: received {}", t.as_str());
                received += 1;
            }
            Some(Event::Binary(_)) => received += 1,
            _ if ws.is_finished() => {
                return Err(ErrorKind::Closed.into());
            }
            _ => {}
        }
    }
    ws.close(CloseCode::NORMAL, "done")?;
    while let Ok(Some(ev)) = ws.recv_timeout(Duration::from_secs(2)) {
        if matches!(ev, Event::Text(_) | Event::Binary(_)) {
            received += 1;
        }
    }
    Ok((sent, received))
}

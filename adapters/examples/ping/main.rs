//! `ping` over WebSocket, like the Unix utility and libwebsockets'
//! `libwebsockets-test-ping`: one line per reply with its round-trip time,
//! and a summary (transmitted, received, loss, rtt min/avg/max/mdev) at the
//! end or on Ctrl-C.
//!
//! By default it sends PING control frames (payload up to 125 bytes, RFC
//! 6455 §5.5) and times the PONGs. With `-m` it sends binary messages (up to
//! 4096 bytes) to the test server's `lws-mirror-protocol` and times their
//! return through the mirror's broadcast.
//!
//! ```text
//! cargo run -p ws-adapters --example ping -- 127.0.0.1 -c 5 -i 0.2
//! ```

#[path = "../test-client/connect.rs"]
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
use ws_proto::{Bytes, CloseCode};

/// Largest PING payload (RFC 6455 §5.5: control frames carry at most 125 bytes).
const MAX_PING: usize = 125;
/// Largest mirror-mode payload.
const MAX_MIRROR: usize = 4096;
/// How often the loop looks at the Ctrl-C flag while waiting.
const CHECK: Duration = Duration::from_millis(50);

/// WebSocket ping: round-trip times of PING frames (or mirrored messages).
#[derive(Parser, Debug)]
#[command(version = None)]
struct Args {
    /// Server host name or address.
    host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Use wss:// (accepts the test server's self-signed certificate).
    #[arg(long)]
    ssl: bool,
    /// Payload size in bytes (at most 125 for PING frames, 4096 with -m).
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// Mirror mode: send binary messages to lws-mirror-protocol and time their echo.
    #[arg(short, long)]
    mirror: bool,
    /// Seconds between two pings (fractions allowed).
    #[arg(short, long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many pings (0: until Ctrl-C).
    #[arg(short, long, default_value_t = 0)]
    count: u64,
    /// Seconds to wait for the last replies after the last ping.
    #[arg(short = 'W', long, default_value_t = 2.0)]
    linger: f64,
    /// Subprotocol to ask for.
    #[arg(long, default_value = "lws-mirror-protocol")]
    protocol: String,
    /// Protocol version: 13, 8, 7, 6, 5 or 4 (hixie-76 has no pings).
    #[arg(short = 'v', long = "version", default_value = "13", value_parser = parse_dialect)]
    dialect: Dialect,
    /// Do not offer the compression extensions.
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
    match run(&args) {
        Ok(stats) if stats.received > 0 => {}
        Ok(_) => std::process::exit(1),
        Err(e) => {
            eprintln!("ping: {e}");
            std::process::exit(2);
        }
    }
}

/// A ping in flight.
struct Outstanding {
    seq: u64,
    payload: Bytes,
    sent: Instant,
}

/// Round-trip statistics, as the Unix ping reports them.
#[derive(Default)]
struct Stats {
    transmitted: u64,
    received: u64,
    min: f64,
    max: f64,
    sum: f64,
    sum_sq: f64,
}

impl Stats {
    fn record(&mut self, rtt_ms: f64) {
        if self.received == 0 || rtt_ms < self.min {
            self.min = rtt_ms;
        }
        self.max = self.max.max(rtt_ms);
        self.sum += rtt_ms;
        self.sum_sq += rtt_ms * rtt_ms;
        self.received += 1;
    }

    fn print(&self, url: &str, elapsed: Duration) {
        println!("--- {url} websocket ping statistics ---");
        let loss = if self.transmitted == 0 {
            0.0
        } else {
            100.0 * (self.transmitted - self.received.min(self.transmitted)) as f64
                / self.transmitted as f64
        };
        println!(
            "{} packets transmitted, {} received, {}% packet loss, time {}ms",
            self.transmitted,
            self.received,
            trim(loss),
            elapsed.as_millis()
        );
        if self.received > 0 {
            let n = self.received as f64;
            let avg = self.sum / n;
            let mdev = (self.sum_sq / n - avg * avg).max(0.0).sqrt();
            println!(
                "rtt min/avg/max/mdev = {:.3}/{avg:.3}/{:.3}/{mdev:.3} ms",
                self.min, self.max
            );
        }
    }
}

/// `0`, `20`, `33.3`: the loss as ping prints it.
fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// The payload of ping `seq`: a per-run tag, the sequence number, then a
/// byte pattern; cut to `size` (short payloads are matched in order).
fn payload(tag: [u8; 4], seq: u64, size: usize) -> Bytes {
    let mut p = Vec::with_capacity(size.max(12));
    p.extend_from_slice(&tag);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((12..size).map(|i| (i % 251) as u8));
    p.truncate(size);
    p.into()
}

fn check(args: &Args) -> Result<(), Error> {
    let bad = |m: String| {
        Err(Error::from(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            m,
        )))
    };
    let max = if args.mirror { MAX_MIRROR } else { MAX_PING };
    if args.size > max {
        return bad(format!(
            "-s {}: at most {max} bytes in this mode",
            args.size
        ));
    }
    if !(args.interval > 0.0 && args.interval.is_finite()) {
        return bad(format!(
            "-i {}: the interval must be positive",
            args.interval
        ));
    }
    if args.dialect == Dialect::Hixie76 {
        return bad(
            "hixie-76 has neither PING frames nor binary messages: use -v 4 or newer".into(),
        );
    }
    Ok(())
}

fn run(args: &Args) -> Result<Stats, Error> {
    check(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .map_err(|e| Error::from(std::io::Error::other(e)))?;
    }
    let target = Target {
        host: args.host.clone(),
        port: args.port,
        ssl: args.ssl,
        dialect: args.dialect,
        compression: !args.no_compression,
        max_message: 1 << 20,
    };
    let url = target.url();
    let mut ws = target.connect(&args.protocol)?;
    let what = if args.mirror {
        "mirrored binary messages"
    } else {
        "PING frames"
    };
    println!(
        "PING {url} ({}, version {}): {} bytes in {what}",
        args.protocol,
        dialect_name(args.dialect),
        args.size
    );
    let start = Instant::now();
    let mut stats = Stats::default();
    let r = ping_loop(args, &mut ws, &stop, &mut stats);
    stats.print(&url, start.elapsed());
    if ws.close(CloseCode::NORMAL, "").is_ok() {
        while let Ok(Some(_)) = ws.recv_timeout(Duration::from_secs(1)) {}
    }
    r.map(|()| stats)
}

fn ping_loop(
    args: &Args,
    ws: &mut WebSocket<TcpStream>,
    stop: &AtomicBool,
    stats: &mut Stats,
) -> Result<(), Error> {
    let tag: [u8; 4] = rand::rng().random();
    let interval = Duration::from_secs_f64(args.interval);
    let linger = Duration::from_secs_f64(args.linger.max(0.0));
    let mut outstanding: Vec<Outstanding> = Vec::new();
    let mut next = Instant::now();
    let mut last_sent = next;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let more = args.count == 0 || stats.transmitted < args.count;
        if more && now >= next {
            let p = payload(tag, stats.transmitted, args.size);
            if args.mirror {
                ws.send_binary(p.clone())?;
            } else {
                ws.send_ping(p.clone())?;
            }
            outstanding.push(Outstanding {
                seq: stats.transmitted + 1,
                payload: p,
                sent: now,
            });
            stats.transmitted += 1;
            last_sent = now;
            next += interval;
            continue;
        }
        let wake = if more { next } else { last_sent + linger };
        if !more && (outstanding.is_empty() || now >= wake) {
            return Ok(());
        }
        let reply = match ws.recv_timeout(wake.saturating_duration_since(now).min(CHECK))? {
            Some(Event::Pong(p)) if !args.mirror => p,
            Some(Event::Binary(b)) if args.mirror => b,
            Some(Event::Close { code, reason }) => {
                println!("server closed: {code:?} {}", reason.as_str());
                continue;
            }
            Some(_) => continue,
            None if ws.is_finished() => return Err(ErrorKind::Closed.into()),
            None => continue,
        };
        let arrived = Instant::now();
        // Other mirror clients' messages (and replays) do not match.
        let Some(i) = outstanding.iter().position(|o| o.payload == reply) else {
            log::debug!("ignoring an unmatched reply of {} bytes", reply.len());
            continue;
        };
        let o = outstanding.remove(i);
        let rtt = arrived.duration_since(o.sent).as_secs_f64() * 1000.0;
        stats.record(rtt);
        println!(
            "{} bytes from {}:{}: req={} time={rtt:.3} ms",
            reply.len(),
            args.host,
            args.port,
            o.seq
        );
    }
    Ok(())
}

//! ws-replay: prints a recorded connection (`ws_proto::record`) as a
//! readable timeline, and replays it to check it still produces the same
//! output.
//!
//! ```text
//! cargo run --example ws-replay -- recordings/000001-127.0.0.1_50312.wsrt
//! cargo run --example ws-replay -- --replay --payloads recordings/*.wsrt
//! ```
//!
//! Each line is one recorded call, with its time since the connection
//! started: `<-` input read from the peer (and, indented, the HTTP heads
//! and frame headers found in it), `->` output taken for the wire,
//! `event` what the session reported, `app` what the application did,
//! `timer` a timer firing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use std::io::Write;

use clap::Parser;
use http_upgrade::{ClientRequest, ServerConfig};
use ws_adapters::session_config;
use ws_proto::Config;
use ws_proto::record::{Entry, Scanned, Transcript};
use ws_proto::session::Session;
use ws_proto::{Instant, Role};

/// `println!` that ends the program quietly when stdout is gone (`| head`).
macro_rules! out {
    ($($t:tt)*) => {
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    };
}

/// Print and replay WebSocket connection transcripts.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Transcript files (`.wsrt`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Replay each transcript into a fresh session and check its output
    /// (server: default limits; client: the URL in its label).
    #[arg(long)]
    replay: bool,
    /// Replay without the compression negotiators (for a server or
    /// client that had none).
    #[arg(long)]
    no_compression: bool,
    /// Largest message of the replaying session (the recorded one's limit
    /// matters: a smaller one fails the replay where it would have).
    #[arg(long, default_value_t = 64 << 20)]
    max_message: u64,
    /// Show the first bytes of each payload the application sent.
    #[arg(long)]
    payloads: bool,
    /// Only the summary line per file.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut failed = false;
    for path in &args.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let t = match Transcript::from_bytes(bytes) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        out!("{}", path.display());
        if !args.quiet {
            print_timeline(&t, args.payloads);
        }
        if args.replay {
            match replay(&t, &args) {
                Ok(summary) => out!("  replay: identical ({summary})"),
                Err(e) => {
                    out!("  replay: DIFFERS: {e}");
                    failed = true;
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn ms(start: Instant, at: Instant) -> String {
    let d = at.saturating_duration_since(start);
    format!("{:>10.3} ms", d.as_secs_f64() * 1000.0)
}

fn preview(data: &[u8], on: bool) -> String {
    if !on || data.is_empty() {
        return String::new();
    }
    let head = &data[..data.len().min(40)];
    let text: String = head.escape_ascii().to_string();
    let more = if data.len() > head.len() { "…" } else { "" };
    format!("  \"{text}{more}\"")
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        0x0 => "Continuation",
        0x1 => "Text",
        0x2 => "Binary",
        0x8 => "Close",
        0x9 => "Ping",
        0xa => "Pong",
        _ => "reserved",
    }
}

fn print_timeline(t: &Transcript, payloads: bool) {
    let h = t.header();
    out!(
        "  {:?}{}{}{}",
        h.role,
        if h.label.is_empty() {
            String::new()
        } else {
            format!(" {}", h.label)
        },
        if h.redacted { ", redacted" } else { "" },
        if h.truncated {
            ", truncated at its bound"
        } else {
            ""
        },
    );
    let scanned = t.scan_input();
    let mut next_scan = scanned.iter().peekable();
    let start = h.start;
    let mut last = start;
    for (i, e) in t.entries().enumerate() {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                out!("  !! {err}");
                return;
            }
        };
        let at = match &e {
            Entry::Receive { at, .. }
            | Entry::Eof { at }
            | Entry::Timeout { at }
            | Entry::Accept { at, .. }
            | Entry::Respond { at, .. }
            | Entry::SendBody { at, .. }
            | Entry::Close { at, .. }
            | Entry::Time { at } => *at,
            _ => last,
        };
        last = at;
        let when = ms(start, at);
        match e {
            Entry::Receive { data, .. } => {
                out!("  {when}  <- {} B", data.len());
                while let Some((_, s)) = next_scan.next_if(|(j, _)| *j == i) {
                    match s {
                        Scanned::Head(line) => out!("  {:>13}     HTTP {line}", ""),
                        Scanned::Frame {
                            fin,
                            rsv,
                            opcode,
                            masked,
                            len,
                        } => out!(
                            "  {:>13}     frame {}{}{}{} {len} B",
                            "",
                            opcode_name(*opcode),
                            if *fin { "" } else { " (more)" },
                            if *rsv != 0 {
                                format!(" rsv={rsv:03b}")
                            } else {
                                String::new()
                            },
                            if *masked { " masked" } else { "" },
                        ),
                        Scanned::Opaque(n) => {
                            out!("  {:>13}     {n} B of legacy framing", "")
                        }
                        _ => {}
                    }
                }
            }
            Entry::Eof { .. } => out!("  {when}  <- end of stream"),
            Entry::Timeout { .. } => out!("  {when}  timer"),
            Entry::Poll(p) => {
                if p.kind != ws_proto::record::PollKind::Nothing {
                    out!("  {when}  event {p}");
                }
            }
            Entry::Transmit { len, .. } => out!("  {when}  -> {len} B"),
            Entry::Accept { accept, .. } => out!(
                "  {when}  app accept{}{}",
                accept
                    .protocol
                    .map(|p| format!(" protocol {p}"))
                    .unwrap_or_default(),
                if accept.extensions.is_empty() {
                    String::new()
                } else {
                    format!(
                        " extensions {}",
                        accept
                            .extensions
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            Entry::Reject(r) => out!("  {when}  app reject {}", r.status()),
            Entry::Respond { response, .. } => {
                out!("  {when}  app respond {}", response.status())
            }
            Entry::SendBody { chunk, .. } => out!("  {when}  app body {} B", chunk.len()),
            Entry::SetConfig(c) => out!(
                "  {when}  app limits: message {} B, frame {} B",
                c.max_message_size,
                c.max_frame_size
            ),
            Entry::Send { kind, data } => out!(
                "  {when}  app send {kind:?} {} B{}",
                data.len(),
                preview(data, payloads)
            ),
            Entry::SendPrepared { kind, data } => out!(
                "  {when}  app broadcast {kind:?} {} B{}",
                data.len(),
                preview(data, payloads)
            ),
            Entry::SendFragment { kind, data, fin } => out!(
                "  {when}  app fragment {kind:?}{} {} B{}",
                if fin { " (last)" } else { "" },
                data.len(),
                preview(data, payloads)
            ),
            Entry::Ping(p) => out!("  {when}  app ping {} B", p.len()),
            Entry::Pong(p) => out!("  {when}  app pong {} B", p.len()),
            Entry::Close { code, reason, .. } => out!(
                "  {when}  app close {} \"{}\"",
                code.0,
                reason.escape_ascii()
            ),
            Entry::Abort { code, reason } => out!(
                "  {when}  app abort {} \"{}\"",
                code.0,
                reason.escape_ascii()
            ),
            Entry::Truncated => out!("  {when}  (recording bound reached)"),
            Entry::Time { .. } => {}
            _ => out!("  {when}  {e:?}"),
        }
    }
}

fn replay(t: &Transcript, args: &Args) -> Result<String, String> {
    let connection = Config::default()
        .with_max_message_size(args.max_message)
        .with_max_frame_size(args.max_message);
    let config = Arc::new(session_config(connection, !args.no_compression));
    let h = t.header();
    let fresh = match h.role {
        Role::Server => Session::server(Arc::new(ServerConfig::default()), config, h.start),
        _ => {
            let request = ClientRequest::new(&h.label)
                .map_err(|e| format!("the label {:?} is not the client's URL: {e}", h.label))?;
            let rng = h.rng().ok_or("a client transcript without its seed")?;
            Session::client(request, config, rng, h.start).map_err(|e| e.to_string())?
        }
    };
    let r = t.replay(fresh).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} entries, {} events, {} B in, {} B out{}",
        r.entries,
        r.polls,
        r.bytes_in,
        r.bytes_out,
        if r.truncated { ", up to the bound" } else { "" }
    ))
}

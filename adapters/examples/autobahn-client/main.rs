//! The testee client for the Autobahn fuzzing server (`wstest -m
//! fuzzingserver`): asks how many cases there are, runs each one by echoing
//! every message back until the server closes, then asks the server to
//! write its reports.
//!
//! ```text
//! cargo run --release -p ws-adapters --example autobahn-client -- --url ws://127.0.0.1:9001
//! ```
//!
//! The protocol is the fuzzing server's own: `GET /getCaseCount` (one text
//! message with the count), `GET /runCase?case=N&agent=A` for N = 1 ..=
//! count, `GET /updateReports?agent=A`, each a WebSocket connection.
//! permessage-deflate is offered unless `--no-compression` is given. A case
//! that has not finished after `--case-timeout` seconds is abandoned (its
//! connection dropped) and the run goes on.

use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use http_upgrade::ClientRequest;
use ws_adapters::blocking::{self, WebSocket};
use ws_adapters::{Error, ErrorKind};
use ws_proto::session::{SessionConfig, SessionEvent};
use ws_proto::{Config, Event};

/// Autobahn fuzzing-server testee: echoes every case's messages.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The fuzzing server.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// The agent name the reports are filed under.
    #[arg(long, default_value = "wsfamily-blocking")]
    agent: String,
    /// Offer no compression extension.
    #[arg(long)]
    no_compression: bool,
    /// Give up on a case after this many seconds.
    #[arg(long, default_value_t = 60)]
    case_timeout: u64,
    /// Run only these case numbers (1-based, as the server counts them);
    /// default: all.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<u32>,
    /// Do not ask the server to write its reports at the end.
    #[arg(long)]
    no_report: bool,
    /// Log level: error, warn, info, debug or trace.
    #[arg(short = 'd', long = "debug", default_value = "warn")]
    log_level: log::LevelFilter,
}

/// What the run needs from the arguments, shared by every case.
struct Runner {
    base: String,
    agent: String,
    config: Arc<SessionConfig>,
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::new()
        .filter_level(args.log_level)
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let mut config = SessionConfig::new(Config::default());
    if !args.no_compression {
        config = config.with_negotiator(deflate_ext::PmdNegotiator::default());
    }
    let runner = Runner {
        base: args.url.trim_end_matches('/').to_owned(),
        agent: args.agent.clone(),
        config: Arc::new(config),
        timeout: Duration::from_secs(args.case_timeout),
    };
    let count = runner.case_count()?;
    println!("{count} cases");
    let cases: Vec<u32> = if args.cases.is_empty() {
        (1..=count).collect()
    } else {
        args.cases.clone()
    };
    let started = Instant::now();
    for case in cases {
        let t = Instant::now();
        match runner.run_case(case) {
            Ok(Outcome::Done) => log::info!("case {case}: done in {:?}", t.elapsed()),
            Ok(Outcome::TimedOut) => println!("case {case}: abandoned after {:?}", t.elapsed()),
            // A failed connection is often what the case expects.
            Err(e) => log::info!("case {case}: {e}"),
        }
    }
    println!("ran the cases in {:.1} s", started.elapsed().as_secs_f64());
    if !args.no_report {
        runner.update_reports()?;
        println!("reports updated");
    }
    Ok(())
}

/// How a case ended.
enum Outcome {
    /// The connection finished (cleanly or not).
    Done,
    /// The case timeout passed first.
    TimedOut,
}

impl Runner {
    fn connect(&self, resource: &str) -> Result<WebSocket<TcpStream>, Error> {
        let request = ClientRequest::new(&format!("{}{resource}", self.base))?;
        blocking::connect_request(request, self.config.clone())
    }

    /// `/getCaseCount`: the server sends the count as a text message.
    fn case_count(&self) -> Result<u32, Error> {
        let mut ws = self.connect("/getCaseCount")?;
        loop {
            match ws.next_event(Some(self.timeout))? {
                Some(SessionEvent::Ws(Event::Text(t))) => {
                    // The server closes right after; how it drops the TCP
                    // connection does not matter here.
                    return t
                        .as_str()
                        .trim()
                        .parse()
                        .map_err(|_| ErrorKind::Closed.into());
                }
                Some(_) => {}
                None => return Err(ErrorKind::Closed.into()),
            }
        }
    }

    /// `/runCase`: echo until the server closes.
    fn run_case(&self, case: u32) -> Result<Outcome, Error> {
        let deadline = Instant::now() + self.timeout;
        let resource = format!("/runCase?case={case}&agent={}", self.agent);
        let mut ws = self.connect(&resource)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Outcome::TimedOut);
            }
            match ws.next_event(Some(left))? {
                Some(SessionEvent::Ws(Event::Text(text))) => echo(&mut ws, |c| c.send_text(text))?,
                Some(SessionEvent::Ws(Event::Binary(data))) => {
                    echo(&mut ws, |c| c.send_binary(data))?;
                }
                Some(_) => {}
                None if ws.is_finished() => return Ok(Outcome::Done),
                None => {}
            }
        }
    }

    /// `/updateReports`: the server writes the reports, then closes.
    fn update_reports(&self) -> Result<(), Error> {
        let resource = format!("/updateReports?agent={}", self.agent);
        let mut ws = self.connect(&resource)?;
        let deadline = Instant::now() + self.timeout;
        while !ws.is_finished() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into());
            }
            if let Err(e) = ws.next_event(Some(left)) {
                // Once the server has closed, a reset is no failure.
                log::debug!("updateReports: {e}");
                break;
            }
        }
        Ok(())
    }
}

/// Queues a message on the open connection (the received `Bytes` go back
/// out without a copy) and writes it.
fn echo(
    ws: &mut WebSocket<TcpStream>,
    send: impl FnOnce(&mut ws_proto::Connection) -> Result<(), ws_proto::Error>,
) -> Result<(), Error> {
    let conn = ws.session_mut().connection_mut().ok_or(ErrorKind::Closed)?;
    if let Err(e) = send(conn) {
        // The server's close may already be in: the close handshake goes on.
        log::debug!("not echoed: {e}");
    }
    ws.flush()
}

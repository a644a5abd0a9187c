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
//!
//! `--adapter` picks the client: `std` (the blocking driver, default),
//! `mio` (`ws_adapters::mio::Client`), `tokio` or `smol`
//! (`ws_adapters::{tokio, smol}::connect`, features `tokio`, `smol`), or
//! `uring` (`ws_adapters::uring::Client`, feature `uring`, Linux).

use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use http_upgrade::ClientRequest;
use ws_adapters::blocking::{self, WebSocket};
use ws_adapters::{Error, ErrorKind};
use ws_proto::session::{SessionConfig, SessionEvent};
use ws_proto::{Config, Event};

/// Which client runs the cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Adapter {
    /// The blocking driver (`ws_adapters::blocking`).
    Std,
    /// `ws_adapters::mio::Client`.
    Mio,
    /// `ws_adapters::tokio::connect`.
    #[cfg(feature = "tokio")]
    Tokio,
    /// `ws_adapters::smol::connect`.
    #[cfg(feature = "smol")]
    Smol,
    /// `ws_adapters::uring::Client`.
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring,
}

/// Autobahn fuzzing-server testee: echoes every case's messages.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The fuzzing server.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// The client adapter.
    #[arg(long, value_enum, default_value_t = Adapter::Std)]
    adapter: Adapter,
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
    adapter: Adapter,
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
        adapter: args.adapter,
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
        if self.adapter != Adapter::Std {
            let text = self.other(Job::Count)?.ok_or(ErrorKind::Closed)?;
            return text.trim().parse().map_err(|_| ErrorKind::Closed.into());
        }
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
        if self.adapter != Adapter::Std {
            return Ok(match self.other(Job::Case(resource)) {
                Err(e) if matches!(e.kind(), ErrorKind::Timeout(_)) => Outcome::TimedOut,
                r => r.map(|_| Outcome::Done)?,
            });
        }
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
        if self.adapter != Adapter::Std {
            return self.other(Job::Reports(resource)).map(|_| ());
        }
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

/// One connection's work for the mio, tokio and smol clients.
enum Job {
    /// `/getCaseCount`: the first text message.
    Count,
    /// `/runCase`: echo until the end.
    Case(String),
    /// `/updateReports`: wait for the end.
    Reports(String),
}

impl Job {
    fn resource(&self) -> &str {
        match self {
            Job::Count => "/getCaseCount",
            Job::Case(r) | Job::Reports(r) => r,
        }
    }
}

impl Runner {
    fn options(&self) -> ws_adapters::ClientOptions {
        ws_adapters::ClientOptions::from(self.config.clone())
            .with_proxy(ws_adapters::proxy::ProxySetting::Direct)
    }

    /// Runs `job` on the mio, tokio or smol client; `Ok(Some(text))` for
    /// the count. A case over the timeout is `ErrorKind::Timeout`.
    fn other(&self, job: Job) -> Result<Option<String>, Error> {
        let request = ClientRequest::new(&format!("{}{}", self.base, job.resource()))?;
        match self.adapter {
            Adapter::Std => unreachable!("the std client runs inline"),
            Adapter::Mio => {
                let mut c = ws_adapters::mio::Client::connect_request(request, &self.options())?;
                while let Some(ev) = c.recv()? {
                    match (&job, ev) {
                        (Job::Count, Event::Text(t)) => return Ok(Some(t.as_str().to_owned())),
                        (Job::Case(_), ev) => {
                            if let Some(msg) = ev.into_message() {
                                if let Err(e) = c.conn().driver_mut().send(msg) {
                                    log::debug!("not echoed: {e}");
                                }
                                c.conn().flush()?;
                            }
                        }
                        _ => {}
                    }
                }
                Ok(None)
            }
            #[cfg(all(feature = "uring", target_os = "linux"))]
            Adapter::Uring => {
                let mut c = ws_adapters::uring::Client::connect_request(request, &self.options())?;
                while let Some(ev) = c.recv()? {
                    match (&job, ev) {
                        (Job::Count, Event::Text(t)) => return Ok(Some(t.as_str().to_owned())),
                        (Job::Case(_), ev) => {
                            if let Some(msg) = ev.into_message() {
                                if let Err(e) = c.driver_mut().send(msg) {
                                    log::debug!("not echoed: {e}");
                                }
                                c.flush()?;
                            }
                        }
                        _ => {}
                    }
                }
                Ok(None)
            }
            #[cfg(feature = "tokio")]
            Adapter::Tokio => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    let work = async {
                        let (ws, _) = ws_adapters::tokio::connect(request, &self.options()).await?;
                        drive(ws, &job).await
                    };
                    tokio::time::timeout(self.timeout, work)
                        .await
                        .map_err(|_| ErrorKind::Timeout("case"))?
                })
            }
            #[cfg(feature = "smol")]
            Adapter::Smol => async_io::block_on(futures_lite::future::or(
                async {
                    let (ws, _) = ws_adapters::smol::connect(request, &self.options()).await?;
                    drive(ws, &job).await
                },
                async {
                    async_io::Timer::after(self.timeout).await;
                    Err(ErrorKind::Timeout("case").into())
                },
            )),
        }
    }
}

/// The async clients' side of a job: the count, or echo until the end.
#[cfg(any(feature = "tokio", feature = "smol"))]
async fn drive<S: ws_adapters::AsyncStream>(
    mut ws: ws_adapters::AsyncWebSocket<S>,
    job: &Job,
) -> Result<Option<String>, Error> {
    while let Some(ev) = ws.recv().await? {
        match (job, ev) {
            (Job::Count, Event::Text(t)) => return Ok(Some(t.as_str().to_owned())),
            (Job::Case(_), ev) => {
                if let Some(msg) = ev.into_message() {
                    // The server's close may already be in: the close
                    // handshake goes on.
                    if let Err(e) = ws.send(msg).await {
                        log::debug!("not echoed: {e}");
                    }
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

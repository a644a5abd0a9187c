//! Opening many WebSockets: N HTTP/1.1 upgrades (a TCP connection, a TLS
//! handshake and an upgrade each) against N extended CONNECT streams on
//! one HTTP/2 connection (RFC 8441), to the same server (`ws_adapters::h2::
//! Server`, which speaks both on one port). Reports the time to open all
//! N (each one open, its `200` or `101` received) and the server's
//! resident memory with all N open, measured from `/proc` in a server
//! process of its own (a fresh one per transport).
//!
//! ```text
//! cargo run --release -p ws-benches --bin h2-open -- [--count 1000] [--plain] [--runs 3]
//! ```
//!
//! `--plain`: no TLS (HTTP/2 with prior knowledge, plain HTTP/1.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_adapters::tls::{ClientTls, ServerTls};
use ws_adapters::{ClientOptions, ServerOptions};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// Resident set size of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn serve(tls: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut options = ServerOptions::default();
        if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let key = rustls_pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
            options = options
                .with_tls(ServerTls::new(vec![cert.cert.der().clone()], key.into()).unwrap());
        }
        let server =
            ws_adapters::h2::Server::bind("127.0.0.1:0".parse().unwrap(), options, |mut ws, _| {
                tokio::spawn(async move { while let Ok(Some(_)) = ws.recv().await {} });
            })
            .await
            .unwrap()
            .with_max_streams(100_000);
        println!("listening {}", server.local_addr().unwrap().port());
        server.run().await.unwrap();
    });
}

/// A server process of our own; its port.
fn spawn_server(tls: bool) -> (Child, u16) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--serve");
    if tls {
        cmd.arg("--tls");
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    (child, port)
}

fn client_options(tls: bool) -> ClientOptions {
    let mut o = ClientOptions::default().with_proxy(ws_adapters::proxy::ProxySetting::Direct);
    if tls {
        o = o.with_tls(ClientTls::dangerous_accept_any_certificate().unwrap());
    }
    o
}

/// Opens `n` WebSockets over `transport`; the time, and the server's RSS
/// growth (KiB) with all of them open.
async fn open(transport: &str, n: usize, tls: bool) -> (Duration, u64) {
    let (mut child, port) = spawn_server(tls);
    let scheme = if tls { "wss" } else { "ws" };
    let url = format!("{scheme}://localhost:{port}/");
    let options = client_options(tls);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib(child.id());
    let start = Instant::now();
    let (elapsed, grown) = if transport == "h2" {
        let conn = ws_adapters::h2::Connection::connect(&url, &options)
            .await
            .unwrap();
        let conn = Arc::new(conn);
        let held = open_all(
            n,
            |u| {
                let c = conn.clone();
                async move { c.websocket(u.as_str()).await.unwrap() }
            },
            &url,
        )
        .await;
        let elapsed = start.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let grown = rss_kib(child.id()).saturating_sub(before);
        drop(held);
        (elapsed, grown)
    } else {
        let held = open_all(
            n,
            |u| {
                let o = options.clone();
                async move { ws_adapters::tokio::connect(u.as_str(), &o).await.unwrap().0 }
            },
            &url,
        )
        .await;
        let elapsed = start.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let grown = rss_kib(child.id()).saturating_sub(before);
        drop(held);
        (elapsed, grown)
    };
    let _ = child.kill();
    let _ = child.wait();
    (elapsed, grown)
}

/// Opens `n` WebSockets with `open`, 64 at a time (as a client would pace
/// them), and keeps them all.
async fn open_all<W, F>(n: usize, open: impl Fn(String) -> F, url: &str) -> Vec<W>
where
    W: Send + 'static,
    F: std::future::Future<Output = W> + Send + 'static,
{
    let mut held = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for _ in 0..n {
        pending.push(tokio::spawn(open(url.to_owned())));
        if pending.len() == 64 {
            for p in pending.drain(..) {
                held.push(p.await.unwrap());
            }
        }
    }
    for p in pending {
        held.push(p.await.unwrap());
    }
    held
}

fn main() {
    if flag("--serve") {
        serve(flag("--tls"));
        return;
    }
    let n: usize = arg("--count").map_or(1000, |c| c.parse().unwrap());
    let runs: usize = arg("--runs").map_or(3, |c| c.parse().unwrap());
    let tls = !flag("--plain");
    ws_adapters::raise_fd_limit(4 * n + 256);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "opening {n} WebSockets ({}), {runs} interleaved runs",
        if tls { "TLS" } else { "no TLS" }
    );
    println!(
        "| run | transport | time (ms) | per WebSocket (µs) | server RSS growth (KiB) | per WebSocket (B) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for run in 1..=runs {
        for transport in ["http1", "h2"] {
            let (t, kib) = rt.block_on(open(transport, n, tls));
            println!(
                "| {run} | {} | {:.1} | {:.1} | {kib} | {} |",
                if transport == "h2" {
                    "HTTP/2 streams, one connection"
                } else {
                    "HTTP/1.1 upgrades"
                },
                t.as_secs_f64() * 1e3,
                t.as_secs_f64() * 1e6 / n as f64,
                kib * 1024 / n as u64,
            );
        }
    }
}

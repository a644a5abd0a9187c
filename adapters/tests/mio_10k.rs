//! A mio server (and an io_uring one) holding 10,000 concurrent WebSocket connections while still
//! answering an echo within its timeout.
//!
//! The 10,000 clients live in a child process (this test binary re-run with
//! `WS_10K_SERVER` set), so that each process needs only its own half of
//! the descriptors. Both raise their soft fd limit; if the machine allows
//! fewer, the test uses as many as it can and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ws_adapters::{Event, mio as wmio};

const WANT: usize = 10_000;
/// The echo must come back within this, with every connection held.
const ECHO_TIMEOUT: Duration = Duration::from_secs(2);

const REQUEST: &[u8] = b"GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Count(Arc<AtomicUsize>);

impl wmio::Handler for Count {
    type Data = ();
    fn accepted(&mut self, _peer: SocketAddr) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn event(&mut self, conn: &mut wmio::Conn, _: &mut (), ev: Event) {
        if let Event::Text(t) = ev {
            let _ = conn.send_text(t.as_str());
        }
    }
}

#[cfg(feature = "uring")]
impl ws_adapters::uring::Handler for Count {
    type Data = ();
    fn accepted(&mut self, _peer: SocketAddr) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn event(&mut self, conn: &mut ws_adapters::uring::Conn<'_>, _: &mut (), ev: Event) {
        if let Event::Text(t) = ev {
            let _ = conn.send_text(t);
        }
    }
}

/// A running server: its address and how to stop it.
struct Running {
    addr: SocketAddr,
    stop: Box<dyn FnOnce()>,
}

fn start_mio(accepted: Arc<AtomicUsize>) -> Running {
    let local = "127.0.0.1:0".parse().unwrap();
    let mut server = wmio::Server::bind(local, server_options(false), Count(accepted)).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.stop_handle();
    let serving = std::thread::spawn(move || server.run().unwrap());
    Running {
        addr,
        stop: Box::new(move || {
            stop.stop();
            serving.join().unwrap();
        }),
    }
}

#[cfg(feature = "uring")]
fn start_uring(accepted: Arc<AtomicUsize>) -> Running {
    use ws_adapters::uring;
    let local = "127.0.0.1:0".parse().unwrap();
    let mut server = uring::Server::bind(local, server_options(false), Count(accepted)).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.stop_handle();
    let serving = std::thread::spawn(move || server.run().unwrap());
    Running {
        addr,
        stop: Box::new(move || {
            stop.stop();
            serving.join().unwrap();
        }),
    }
}

/// The child: opens `n` connections to the server, completes each
/// handshake, reports, then holds them until stdin closes.
#[test]
fn child_holding_clients() {
    let Ok(addr) = std::env::var("WS_10K_SERVER") else {
        return;
    };
    let n: usize = std::env::var("WS_10K_N").unwrap().parse().unwrap();
    let mut control = TcpStream::connect(std::env::var("WS_10K_CONTROL").unwrap()).unwrap();
    ws_adapters::raise_fd_limit(n + 64);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(REQUEST).unwrap();
        held.push(s);
    }
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                s.read(&mut b).unwrap(),
                1,
                "server closed a held connection"
            );
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
    }
    writeln!(control, "connected {}", held.len()).unwrap();
    let _ = control.read(&mut [0u8; 1]);
}

#[test]
fn mio_server_holds_10k_connections() {
    if std::env::var("WS_10K_SERVER").is_ok() {
        return;
    }
    bounded(Duration::from_secs(300), "10k mio", || {
        holds_10k("mio", start_mio)
    });
}

#[cfg(feature = "uring")]
#[test]
fn uring_server_holds_10k_connections() {
    if std::env::var("WS_10K_SERVER").is_ok() {
        return;
    }
    bounded(Duration::from_secs(300), "10k uring", || {
        holds_10k("uring", start_uring)
    });
}

/// Holds `WANT` connections on the server `start` runs, reports its RSS
/// per connection, and checks that an echo still comes back in time.
fn holds_10k(name: &str, start: fn(Arc<AtomicUsize>) -> Running) {
    // One at a time: both hold 10,000 descriptors, and RSS is the process's.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    {
        let limit = ws_adapters::raise_fd_limit(WANT + 256);
        let want = std::env::var("WS_10K_WANT").map_or(WANT, |v| v.parse().unwrap());
        let n = want.min(limit.saturating_sub(256));
        if n < WANT {
            eprintln!("fd limit {limit}: holding {n} connections instead of {WANT}");
        }
        let accepted = Arc::new(AtomicUsize::new(0));
        let rss_base = rss_kib();
        let Running { addr, stop } = start(accepted.clone());
        // The loop's own buffers (the io_uring pool) are not per connection.
        std::thread::sleep(Duration::from_millis(100));
        let rss_before = rss_kib();
        eprintln!(
            "{name}: the idle server loop: +{} KiB",
            rss_before.saturating_sub(rss_base)
        );
        let control = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_holding_clients",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("WS_10K_SERVER", addr.to_string())
            .env("WS_10K_N", n.to_string())
            .env("WS_10K_CONTROL", control.local_addr().unwrap().to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The child reports on a control connection and holds its clients
        // until that connection closes.
        let (report, _) = control.accept().unwrap();
        report
            .set_read_timeout(Some(Duration::from_secs(240)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(&report).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("connected {n}"));
        let held = accepted.load(Ordering::SeqCst);
        assert!(held >= n, "server accepted {held} of {n}");
        let rss_after = rss_kib();
        eprintln!(
            "{name}: {n} open connections: server process RSS +{} KiB ({} bytes per connection, \
             client-side sockets are in another process)",
            rss_after.saturating_sub(rss_before),
            rss_after.saturating_sub(rss_before) * 1024 / n
        );

        // With every connection held, an echo still comes back in time.
        let t0 = Instant::now();
        let mut c = connect(Kind::Std, &format!("ws://{addr}/"), &client_options(false));
        c.text("still answering");
        assert_eq!(c.recv(), Some(Event::Text("still answering".into())));
        let took = t0.elapsed();
        assert!(took < ECHO_TIMEOUT, "echo took {took:?}");
        eprintln!("{name}: echo with {n} connections held: {took:?}");

        drop(report);
        let _ = child.wait();
        let _ = child.wait();
        stop();
    }
}

//! Interoperability of the legacy dialects with an independent
//! implementation, npm `websocket-driver` (faye, pinned in
//! `scripts/interop/package.json`), over loopback:
//!
//! * our client, hixie-76 / hybi-07 / hybi-08 / RFC 6455, against its
//!   server (`scripts/interop/server.js`, an echo server);
//! * its client, hybi-07 / hybi-08 / RFC 6455, against our server
//!   (`scripts/interop/client.js`). Its client has no hixie-76 mode.
//!
//! Needs `node` and `npm`; installs `scripts/interop/node_modules` with
//! `npm ci` when it is missing and fails loudly if it cannot — it never
//! skips. Everything binds 127.0.0.1 and every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use http_upgrade::{ClientRequest, ServerConfig};
use ws_adapters::Event;
use ws_adapters::blocking::{self, Server};
use ws_proto::session::SessionConfig;
use ws_proto::{Bytes, CloseCode, Dialect};

const WAIT: Duration = Duration::from_secs(20);

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop")
}

/// `npm ci` once per test binary if `node_modules` is missing; panics with
/// the reason if node/npm are absent or the install fails.
fn ensure_node_modules() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = interop_dir();
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "legacy interop needs `node` on PATH (Node.js >= 14)"
        );
        if dir
            .join("node_modules/websocket-driver/package.json")
            .exists()
        {
            return;
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .output()
            .expect("legacy interop needs `npm` on PATH to install websocket-driver");
        assert!(
            out.status.success(),
            "npm ci in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A node process whose stdout lines arrive on a channel; killed on drop.
struct NodePeer {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl NodePeer {
    fn spawn(script: &str, args: &[&str]) -> NodePeer {
        ensure_node_modules();
        let mut child = Command::new("node")
            .arg(interop_dir().join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        NodePeer {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line starting with `prefix` (earlier lines are kept).
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("node: no {prefix:?} ({e}); saw {:?}", self.seen),
            }
        }
    }

    /// Waits (bounded) for the process to exit; returns its success.
    fn wait(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Collect what is left of its output.
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return status.success();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("node did not exit; saw {:?}", self.seen)
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn recv(ws: &mut blocking::WebSocket<std::net::TcpStream>) -> Event {
    ws.recv_timeout(WAIT)
        .expect("recv")
        .expect("an event before the timeout")
}

/// Our client in `dialect` against websocket-driver's echo server.
fn our_client_against_driver_server(dialect: Dialect, driver_version: &str) {
    let mut node = NodePeer::spawn("server.js", &[]);
    let port = node.expect("PORT ");
    let url = format!("ws://127.0.0.1:{port}/echo");
    // No origin set: for hixie-76 the client must send one by itself
    // (draft-00 §4.1 step 13), which websocket-driver requires.
    let request = ClientRequest::new(&url).unwrap().dialect(dialect);
    let mut ws = blocking::connect_request(request, Arc::new(SessionConfig::default()))
        .unwrap_or_else(|e| panic!("{dialect:?}: connect: {e}"));
    assert_eq!(node.expect("OPEN "), driver_version);
    let conn = ws.session().connection().unwrap();
    assert_eq!(conn.dialect(), dialect);

    let big = "abcdéfghi".repeat(10_000);
    for text in ["hello", "héllo 😀", &big] {
        ws.send_text(text).unwrap();
        assert_eq!(recv(&mut ws), Event::Text(text.into()), "{dialect:?}");
    }
    if dialect != Dialect::Hixie76 {
        let bin: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        ws.send_binary(bin.clone()).unwrap();
        assert_eq!(recv(&mut ws), Event::Binary(bin.into()));
        ws.send_ping(&b"are you there"[..]).unwrap();
        assert_eq!(
            recv(&mut ws),
            Event::Pong(Bytes::from_static(b"are you there"))
        );
    }
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    let ev = recv(&mut ws);
    assert!(matches!(ev, Event::Close { .. }), "{dialect:?}: {ev:?}");
    let code = node.expect("CLOSE ");
    if dialect != Dialect::Hixie76 {
        assert_eq!(code, "1000");
    }
    assert!(ws.recv_timeout(WAIT).unwrap().is_none(), "finished");
    assert!(
        node.wait(),
        "{dialect:?}: server.js failed: {:?}",
        node.seen
    );
    assert!(
        !node.seen.iter().any(|l| l.starts_with("ERROR")),
        "{:?}",
        node.seen
    );
}

/// websocket-driver's client (asking for `version`) against our echo server.
fn driver_client_against_our_server(version: &str, dialect: Dialect) {
    let server = Server::bind(
        "127.0.0.1:0",
        Arc::new(ServerConfig::default()),
        Arc::new(SessionConfig::default()),
    )
    .unwrap();
    let port = server.local_addr().unwrap().port();
    let echo = thread::spawn(move || {
        let (mut ws, _) = server.accept().unwrap();
        let mut seen = None;
        loop {
            let ev = ws.recv_timeout(WAIT).expect("server recv");
            if seen.is_none() {
                seen = ws.session().connection().map(|c| c.dialect());
            }
            match ev {
                Some(Event::Text(t)) => ws.send_text(t.as_str()).unwrap(),
                Some(Event::Binary(b)) => ws.send_binary(b).unwrap(),
                Some(Event::Close { code, .. }) => {
                    assert_eq!(code, Some(CloseCode::NORMAL));
                }
                Some(_) => {}
                None if ws.is_finished() => return seen,
                None => panic!("server: timed out"),
            }
        }
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let mut node = NodePeer::spawn("client.js", &[&url, version]);
    let ok = node.wait();
    assert!(ok, "client.js (version {version}) failed: {:?}", node.seen);
    assert!(node.seen.iter().any(|l| l == "PONG"), "{:?}", node.seen);
    assert_eq!(echo.join().unwrap(), Some(dialect));
}

#[test]
fn hixie76_our_client_vs_websocket_driver_server() {
    our_client_against_driver_server(Dialect::Hixie76, "hixie-76");
}

#[test]
fn hybi07_our_client_vs_websocket_driver_server() {
    our_client_against_driver_server(Dialect::Hybi07, "hybi-7");
}

#[test]
fn hybi08_our_client_vs_websocket_driver_server() {
    our_client_against_driver_server(Dialect::Hybi08, "hybi-8");
}

#[test]
fn rfc6455_our_client_vs_websocket_driver_server() {
    our_client_against_driver_server(Dialect::Rfc6455, "hybi-13");
}

#[test]
fn hybi07_websocket_driver_client_vs_our_server() {
    driver_client_against_our_server("7", Dialect::Hybi07);
}

#[test]
fn hybi08_websocket_driver_client_vs_our_server() {
    driver_client_against_our_server("8", Dialect::Hybi08);
}

#[test]
fn rfc6455_websocket_driver_client_vs_our_server() {
    driver_client_against_our_server("13", Dialect::Rfc6455);
}

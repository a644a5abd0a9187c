//! What a hostile peer can make a server hold, and for how long (issue
//! 15): each attack runs against a real mio server in a child process (the
//! harness of `hostile.rs`), asserts the reply the attacker gets, that a
//! well-behaved client is served meanwhile, and the server's resident
//! memory while the attacker stays and after it leaves. Each of these
//! failed before the bounds were built: the figures of the old code are in
//! docs/robustness.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "hostile/support.rs"]
mod support;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use deflate_ext::{DeflateStream, Level};
use support::*;
use ws_adapters::{Event, ServerOptions, mio as wmio, session_config};
use ws_proto::{Bytes, Utf8Bytes};

/// A received message, as an application keeps it.
enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
}

/// Echoes everything, or (with `keep`) echoes and keeps small messages
/// the way a mirror's ring does and ignores large ones.
struct Handler {
    keep: usize,
    kept: VecDeque<Message>,
}

impl wmio::Handler for Handler {
    type Data = ();
    fn accepted(&mut self, _peer: SocketAddr) {}
    fn event(&mut self, conn: &mut wmio::Conn, _: &mut (), ev: Event) {
        let msg = match ev {
            Event::Text(t) => Message::Text(t),
            Event::Binary(b) => Message::Binary(b),
            _ => return,
        };
        let len = match &msg {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        };
        if self.keep > 0 && len >= 64 {
            return;
        }
        let _ = match &msg {
            Message::Text(t) => conn.send_text(t.as_str()),
            Message::Binary(b) => conn.send_binary(b.clone()),
        };
        if self.keep > 0 {
            if self.kept.len() == self.keep {
                self.kept.pop_front();
            }
            self.kept.push_back(msg);
        }
    }
}

/// The child: the server under test.
#[test]
fn child_server() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec = Spec::decode(&spec);
    let options = ServerOptions::new(session_config(spec.connection_config(), true))
        .with_handshake_timeout(Duration::from_millis(spec.handshake_ms))
        .with_max_connections(spec.max_connections);
    let handler = Handler {
        keep: spec.keep as usize,
        kept: VecDeque::new(),
    };
    let local = "127.0.0.1:0".parse().unwrap();
    let mut server = wmio::Server::bind(local, options, handler).unwrap();
    std::thread::spawn(|| {
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        std::process::exit(0);
    });
    println!("{READY}{}", server.local_addr().unwrap());
    server.run().unwrap();
}

fn is_child() -> bool {
    std::env::var(CHILD_ENV).is_ok()
}

/// Waits `d`, then returns the server's memory.
fn settle(server: &ChildServer, d: Duration) -> Mem {
    std::thread::sleep(d);
    server.mem()
}

fn assert_rss_back(what: &str, before: Mem, after: Mem, bound_mib: f64) {
    let grew = grew_mib(before.rss, after.rss);
    eprintln!(
        "[{what}] server VmRSS {} -> {} KiB (+{grew:.1} MiB)",
        before.rss, after.rss
    );
    if std::env::var_os("WS_SANITIZER").is_some() {
        return;
    }
    assert!(
        grew < bound_mib,
        "{what}: the server still holds {grew:.1} MiB (bound {bound_mib})"
    );
}

/// A hybi-08 handshake that agrees deflate-stream.
fn hybi08_deflate_stream(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    let req = format!(
        "GET /hostile HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\
         Sec-WebSocket-Extensions: deflate-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
    assert!(head.contains("deflate-stream"), "not agreed: {head:?}");
    s
}

/// Finding 1: a deflate-stream client sends a burst of valid frames that
/// inflates 400-fold and ends with one byte of a next header, then stays.
/// The connection used to inflate each read whole (a budget of the
/// message limit per read) and the header byte kept the buffer: +458 MiB
/// per idle connection on this server from 1.9 MB of wire.
#[test]
fn deflate_stream_burst_is_not_inflated_ahead_of_the_parser() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec::default());
    let before = server.mem();
    let mut plain = Vec::new();
    for _ in 0..200 {
        plain.extend(frame(0x2, true, false, &vec![0u8; 64 << 10]));
    }
    plain.push(0x82);
    let mut wire = Vec::new();
    DeflateStream::new(Level::BEST)
        .encode(&plain, &mut wire)
        .unwrap();
    let mut attackers: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = hybi08_deflate_stream(server.addr);
            s.write_all(&wire).unwrap();
            s
        })
        .collect();
    let echo = server.assert_echo("during the deflate-stream burst");
    let during = settle(&server, Duration::from_millis(1500));
    eprintln!(
        "[deflate-stream burst] 8 connections x {} KB of wire ({} MiB inflated) each, \
         then one header byte; echo meanwhile {echo:?}",
        wire.len() / 1000,
        plain.len() >> 20
    );
    assert_rss_back("deflate-stream burst, attackers idle", before, during, 24.0);
    // The attackers' echoes were compressed too; the connections live on.
    for s in &mut attackers {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 4096];
        assert!(s.read(&mut buf).unwrap() > 0, "no echo came back");
    }
    drop(attackers);
    let after = settle(&server, Duration::from_millis(500));
    assert_rss_back("deflate-stream burst, attackers gone", before, after, 16.0);
    server.assert_echo("after the deflate-stream burst");
}

/// Finding 2: a small message kept by the application (as a mirror's ring
/// keeps them) used to keep alive the whole receive buffer it was read
/// into: here a 1 MiB frame and a 2-byte message in one write, from 40
/// clients that then leave.
#[test]
fn kept_small_messages_do_not_pin_receive_buffers() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        keep: 4096,
        ..Spec::default()
    });
    let before = server.mem();
    for _ in 0..40 {
        let mut s = handshake(server.addr, "");
        let mut wire = frame(0x2, true, false, &vec![7u8; 1 << 20]);
        wire.extend(frame(0x2, true, false, b"hi"));
        s.write_all(&wire).unwrap();
        let (op, payload) = read_frame(&mut s).unwrap();
        assert_eq!((op, &payload[..]), (0x82, &b"hi"[..]));
    }
    let after = settle(&server, Duration::from_millis(500));
    eprintln!("[pinned buffers] 40 kept 2-byte messages, each read behind a 1 MiB frame");
    assert_rss_back("kept small messages", before, after, 8.0);
    server.assert_echo("after the pinning attack");
}

/// Finding 3: a permessage-deflate first fragment (FIN clear) that
/// inflates to most of the limit, then silence. It used to be held for
/// as long as the attacker stayed; the stall timeout (1 s here, 30 s by
/// default) closes it with 1008 and frees it.
#[test]
fn a_stalled_compressed_fragment_is_closed_and_released() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        max_message: 4 << 20,
        max_frame: 4 << 20,
        stall_ms: 1000,
        ..Spec::default()
    });
    let before = server.mem();
    let pairs = 13_000; // 3.2 MiB inflated from 21 KB
    let fragment = frame(0x2, false, true, &deflate_bomb(pairs));
    let t0 = Instant::now();
    let mut attackers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let (mut s, head) = handshake_head(
                server.addr,
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
            );
            assert!(head.contains("permessage-deflate"), "{head:?}");
            s.write_all(&fragment).unwrap();
            s
        })
        .collect();
    let echo = server.assert_echo("while 20 fragments are parked");
    let held = server.mem();
    for s in &mut attackers {
        assert_eq!(expect_close(s, Duration::from_secs(5)), 1008);
    }
    let closed = t0.elapsed();
    let after = settle(&server, Duration::from_millis(300));
    eprintln!(
        "[stalled fragment] 20 x {} KB fragments inflating to {:.1} MiB: RSS +{:.1} MiB while \
         parked, all closed with 1008 after {closed:?}; echo meanwhile {echo:?}",
        fragment.len() / 1000,
        (1 + 258 * pairs) as f64 / 1048576.0,
        grew_mib(before.rss, held.rss)
    );
    assert!(
        closed >= Duration::from_millis(900),
        "closed early: {closed:?}"
    );
    assert_rss_back("stalled fragments", before, after, 8.0);
}

/// A client that sends large messages to the echo server and never reads
/// the echoes: once nothing can be written for the write timeout (1 s
/// here) the server drops it and frees its queue.
#[test]
fn a_peer_that_never_reads_is_dropped_after_the_write_timeout() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        write_ms: 1000,
        ..Spec::default()
    });
    let before = server.mem();
    let mut s = handshake(server.addr, "");
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let msg = frame(0x2, true, false, &vec![1u8; 1 << 20]);
    let t0 = Instant::now();
    let mut sent = 0;
    for _ in 0..64 {
        let n = write_some(&mut s, &msg);
        sent += n;
        if n < msg.len() {
            break;
        }
    }
    let echo = server.assert_echo("while a peer does not read");
    std::thread::sleep(Duration::from_millis(2500));
    // Dropped by now: what the kernel buffered, then the end.
    let (got, reset) = read_to_close(&mut s, Duration::from_secs(5));
    eprintln!(
        "[never reads] sent {} MiB without reading; the server ended the connection ({}) \
         after {:?}, {} KiB were still in the kernel's buffers; echo meanwhile {echo:?}",
        sent >> 20,
        if reset { "reset" } else { "EOF" },
        t0.elapsed(),
        got.len() >> 10
    );
    assert!(got.len() < 32 << 20, "read {} bytes", got.len());
    let after = settle(&server, Duration::from_millis(300));
    assert_rss_back("never reads", before, after, 8.0);
}

/// A keep-alive ping that is never answered ends the connection with 1001
/// at the pong deadline (300 ms + 300 ms here).
#[test]
fn an_unanswered_keep_alive_ping_closes_with_1001() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        keep_alive_ms: 300,
        pong_ms: 300,
        ..Spec::default()
    });
    let mut s = handshake(server.addr, "");
    let t0 = Instant::now();
    assert_eq!(expect_close(&mut s, Duration::from_secs(5)), 1001);
    let took = t0.elapsed();
    eprintln!("[no pong] closed with 1001 after {took:?}");
    assert!(took >= Duration::from_millis(550), "closed early: {took:?}");
    server.assert_echo("after the pong timeout");
}

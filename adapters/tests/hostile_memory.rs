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
use ws_adapters::{Event, mio as wmio};
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
    serve_if_child(|spec| Handler {
        keep: spec.keep as usize,
        kept: VecDeque::new(),
    });
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

/// The server-wide budget, soft limit: 30 clients each start a 6 MiB
/// message (uncompressed, within every per-connection limit) and keep
/// sending. Without the budget the server would buffer ~180 MiB; with a
/// 16 MiB soft limit it stops reading from the large holders, its memory
/// stays near the limit, and a small client is still served.
#[test]
fn the_memory_budget_pauses_large_holders_past_its_soft_limit() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        max_message: 8 << 20,
        max_frame: 8 << 20,
        soft_mib: 16,
        hard_mib: 64,
        stall_ms: 1000,
        ..Spec::default()
    });
    let before = server.mem();
    let size = 6usize << 20;
    let mut body = header(0x2, true, false, size as u64);
    body.extend(std::iter::repeat_n(0x55u8, size - 1));
    let mut attackers = Vec::new();
    let mut sent = 0;
    for _ in 0..30 {
        let mut s = handshake(server.addr, "");
        s.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        sent += write_some(&mut s, &body);
        attackers.push(s);
    }
    let echo = server.assert_echo("with the budget over its soft limit");
    let mem = settle(&server, Duration::from_millis(300));
    eprintln!(
        "[budget, soft] 30 clients pushed {} MiB of 6 MiB messages (the rest waits in their \
         kernels); echo meanwhile {echo:?}",
        sent >> 20
    );
    assert!(
        sent > 64 << 20,
        "only {} MiB could be sent at all",
        sent >> 20
    );
    assert_mem("budget, soft 16 MiB", &server, before, 16.0 + 24.0, 256.0);
    // Paused connections read nothing, so their messages cannot finish:
    // the stall timeout (1 s here) closes them with 1008.
    for s in &mut attackers {
        assert_eq!(expect_close(s, Duration::from_secs(5)), 1008);
    }
    drop(attackers);
    let after = settle(&server, Duration::from_millis(300));
    let _ = mem;
    assert_rss_back("budget, soft: attackers stalled out", before, after, 8.0);
    server.assert_echo("after the soft-limit attack");
}

/// The hard limit: compressed fragments that each inflate to 3.2 MiB at
/// once (21 KB of wire) from 40 clients would hold 128 MiB; past the
/// 16 MiB hard limit upgrades are refused with 503 and the largest holder
/// is closed with 1013 (within `BUDGET_CHECK`), so peak memory stays near
/// the limit.
#[test]
fn the_memory_budget_sheds_the_largest_holder_past_its_hard_limit() {
    if is_child() {
        return;
    }
    let server = ChildServer::start(Spec {
        max_message: 4 << 20,
        max_frame: 4 << 20,
        soft_mib: 8,
        hard_mib: 16,
        ..Spec::default()
    });
    let before = server.mem();
    let fragment = frame(0x2, false, true, &deflate_bomb(13_000));
    let mut upgraded = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(50));
        let mut s = connect(server.addr);
        s.write_all(&request("Sec-WebSocket-Extensions: permessage-deflate\r\n"))
            .unwrap();
        let head = read_head(&mut s).unwrap();
        if head.starts_with("HTTP/1.1 503") {
            refused += 1;
            continue;
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
        s.write_all(&fragment).unwrap();
        upgraded.push(s);
    }
    let mut codes = Vec::new();
    for s in &mut upgraded {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b0 = [0u8; 1];
        // A connection still open (not shed) has nothing to say.
        match s.read(&mut b0) {
            Ok(1) => {
                let mut rest = [0u8; 3];
                s.read_exact(&mut rest).unwrap();
                assert_eq!(b0[0], 0x88, "a close frame");
                codes.push(u16::from_be_bytes([rest[1], rest[2]]));
            }
            _ => codes.push(0),
        }
    }
    let shed = codes.iter().filter(|&&c| c == 1013).count();
    eprintln!(
        "[budget, hard] 40 clients, one every 50 ms, each a fragment of 3.2 MiB: {} upgraded, \
         {refused} refused with 503, {shed} closed with 1013, the others held ({codes:?})",
        upgraded.len()
    );
    assert!(shed >= 5, "only {shed} shed: {codes:?}");
    assert!(codes.iter().all(|&c| c == 1013 || c == 0), "{codes:?}");
    assert_mem("budget, hard 16 MiB", &server, before, 16.0 + 16.0, 256.0);
    drop(upgraded);
    server.assert_echo("after the hard-limit attack");
}

/// Over the hard limit new upgrades get `503` (with `Retry-After`), and
/// are accepted again once the total is back under it; the budget reports
/// the total, the largest holders and the refusals.
#[test]
fn upgrades_are_refused_with_503_over_the_hard_limit() {
    if is_child() {
        return;
    }
    let budget = std::sync::Arc::new(ws_adapters::MemoryBudget::new(1 << 20, 2 << 20));
    let options = Spec::default()
        .server_options()
        .with_budget(Some(budget.clone()));
    let handler = Handler {
        keep: 0,
        kept: VecDeque::new(),
    };
    let mut server = wmio::Server::bind("127.0.0.1:0".parse().unwrap(), options, handler).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.stop_handle();
    let thread = std::thread::spawn(move || server.run());
    // Something else holds 3 MiB of the budget (another server sharing
    // it, say).
    let mut other = budget.ticket();
    other.update(3 << 20, None);
    let mut s = connect(addr);
    s.write_all(&request("")).unwrap();
    let head = read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 503"), "{head:?}");
    assert!(head.contains("Retry-After"), "{head:?}");
    let report = budget.report();
    assert_eq!(report.total, 3 << 20);
    assert_eq!(report.refused, 1);
    assert_eq!(report.top, vec![(None, 3 << 20)]);
    drop(other);
    let mut s = handshake(addr, "");
    s.write_all(&frame(0x1, true, false, b"back")).unwrap();
    assert_eq!(read_frame(&mut s).unwrap(), (0x81, b"back".to_vec()));
    stop.stop();
    thread.join().unwrap().unwrap();
}

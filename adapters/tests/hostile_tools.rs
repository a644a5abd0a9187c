//! Hostile peers against the tool set's test server (issue 15, findings 4,
//! 5, 7, 8, 10 and 11) and against the library servers (11a): the real
//! `test-server` example is started as a child process on 127.0.0.1, port
//! 0, with both drivers where the finding applies to both; every wait is
//! bounded; each test asserts what the attacker (or a newcomer) gets:
//! status codes, headers, counts of replayed messages, frames received,
//! the connection being closed, the server's CPU time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

#[path = "tools/support.rs"]
mod tools;

#[path = "hostile/support.rs"]
mod hostile;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hostile::{frame, read_frame, read_head, read_to_close};
use http_upgrade::ServerConfig;
use http_upgrade::testing::SplitMix;
use tools::Proc;
use ws_adapters::blocking::Server;
use ws_adapters::tls::{ClientTls, ServerTls};
use ws_adapters::{Event, ServerOptions, mio as wmio};

const ADAPTERS: [&str; 4] = ["mio", "std", "tokio", "smol"];
const DUMB: &str = "dumb-increment-protocol";
const MIRROR: &str = "lws-mirror-protocol";
/// The test server's ring bound in bytes (protocols::RING_BYTES).
const RING_BYTES: usize = 4 << 20;

/// Starts the test server with `--adapter adapter` and `args`.
fn test_server(adapter: &str, args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = vec!["--port", "0", "-d", "error", "--adapter", adapter];
    all.extend_from_slice(args);
    let mut p = Proc::start("test-server", &all);
    let port = p.listening_port();
    (p, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A raw RFC 6455 client for `protocol`, no extensions.
fn raw_client(addr: SocketAddr, protocol: &str) -> TcpStream {
    hostile::handshake(addr, &format!("Sec-WebSocket-Protocol: {protocol}\r\n"))
}

/// Like [`raw_client`] on a socket whose receive buffer is set to 4 KiB
/// before connecting, so that a client that does not read fills up fast.
fn small_window_client(addr: SocketAddr, protocol: &str) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    connect(&fd, &addr).unwrap();
    let mut s = TcpStream::from(fd);
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(hostile::READ_BOUND)).unwrap();
    s.set_write_timeout(Some(hostile::READ_BOUND)).unwrap();
    s.write_all(&hostile::request(&format!(
        "Sec-WebSocket-Protocol: {protocol}\r\n"
    )))
    .unwrap();
    let head = read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head:?}");
    s
}

/// Writes `req` on a fresh connection and returns the response head.
fn http_head(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = hostile::connect(addr);
    s.write_all(req).unwrap();
    read_head(&mut s).unwrap()
}

// ---------------------------------------------------------------- 11a

/// The hixie-76 request of draft-hixie-76 §1.3 (key3 included) for
/// `protocol`, to `host`.
fn hixie_request(host: &str, protocol: &str) -> Vec<u8> {
    format!(
        "GET /demo HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: {protocol}\r\n\
         Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
         Origin: http://example.com\r\n\r\n^n:ds[4U"
    )
    .into_bytes()
}

/// Sends a hixie-76 upgrade over TLS (any certificate accepted) and
/// returns the response head.
fn hixie_over_tls(addr: SocketAddr, protocol: &str) -> String {
    let tcp = hostile::connect(addr);
    let rustls::Connection::Client(conn) = ClientTls::dangerous_accept_any_certificate()
        .unwrap()
        .connection("127.0.0.1")
        .unwrap()
    else {
        panic!("a client TLS connection");
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&hixie_request(&addr.to_string(), protocol))
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut b) {
            Ok(0) => break,
            Ok(_) => head.push(b[0]),
            Err(e) => panic!("reading the response over TLS: {e} after {head:?}"),
        }
        assert!(head.len() < 16 * 1024, "response head too long");
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut answer = [0u8; 16];
    tls.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"8jKS'y:G*Co,Wxa-", "the draft's challenge answer");
    head
}

fn assert_wss_location(head: &str, addr: SocketAddr, what: &str) {
    assert!(
        head.starts_with("HTTP/1.1 101 WebSocket Protocol Handshake\r\n"),
        "{what}: {head}"
    );
    let want = format!("\r\nSec-WebSocket-Location: wss://{addr}/demo\r\n");
    assert!(
        head.contains(&want),
        "{what}: draft-hixie-76 §5.2 needs wss:// over TLS: {head}"
    );
}

/// draft-hixie-76 §5.2: over TLS the `Sec-WebSocket-Location` is `wss://`.
/// Old code: `ws://` on both drivers (finding 11a).
#[test]
fn test_server_hixie76_over_tls_answers_a_wss_location() {
    for adapter in ADAPTERS {
        let (_server, addr) = test_server(adapter, &["--ssl"]);
        let head = hixie_over_tls(addr, DUMB);
        assert_wss_location(&head, addr, adapter);
    }
}

fn self_signed() -> ServerTls {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    ServerTls::new(vec![generated.cert.der().clone()], key.into()).unwrap()
}

/// Serves one connection on a blocking [`Server`] bound with `options`
/// (every upgrade accepted), in a thread.
fn blocking_server(options: ServerOptions) -> (SocketAddr, JoinHandle<()>) {
    let server = Server::bind_with("127.0.0.1:0", options).unwrap();
    let addr = server.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut ws, _) = server.accept().unwrap();
        while let Ok(Some(_)) = ws.recv_timeout(Duration::from_secs(5)) {}
    });
    (addr, t)
}

struct Nothing;

impl wmio::Handler for Nothing {
    type Data = ();
    fn accepted(&mut self, _peer: SocketAddr) {}
    fn event(&mut self, _: &mut wmio::Conn, _: &mut (), _: Event) {}
}

/// Every way of turning TLS on marks the handshake secure, on every
/// library server (the fix is in `ServerOptions::driver`, which they all
/// use): TLS then HTTP settings, HTTP settings then TLS, and the public
/// field assigned directly; a plain server keeps `ws://`.
#[test]
fn library_servers_hixie76_over_tls_answer_a_wss_location() {
    let http = || ServerConfig::default().with_protocols(["chat"]);
    let tls_then_http = ServerOptions::default()
        .with_tls(self_signed())
        .with_http(http());
    let http_then_tls = ServerOptions::default()
        .with_http(http())
        .with_tls(self_signed());
    let mut assigned = ServerOptions::default().with_http(http());
    assigned.tls = Some(self_signed());
    for (what, options) in [
        ("with_tls then with_http", tls_then_http.clone()),
        ("with_http then with_tls", http_then_tls),
        ("tls field assigned", assigned),
    ] {
        let (addr, t) = blocking_server(options);
        let head = hixie_over_tls(addr, "chat");
        assert_wss_location(&head, addr, what);
        t.join().unwrap();
    }

    let mut server =
        wmio::Server::bind("127.0.0.1:0".parse().unwrap(), tls_then_http, Nothing).unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.stop_handle();
    let t = std::thread::spawn(move || server.run().unwrap());
    let head = hixie_over_tls(addr, "chat");
    assert_wss_location(&head, addr, "mio::Server");
    stop.stop();
    t.join().unwrap();

    // Without TLS the location stays ws://.
    let (addr, t) = blocking_server(ServerOptions::default().with_http(http()));
    let mut s = hostile::connect(addr);
    s.write_all(&hixie_request(&addr.to_string(), "chat"))
        .unwrap();
    let head = read_head(&mut s).unwrap();
    let want = format!("\r\nSec-WebSocket-Location: ws://{addr}/demo\r\n");
    assert!(head.contains(&want), "plain: {head}");
    drop(s);
    t.join().unwrap();
}

// ---------------------------------------------------------------- 11b

/// RFC 7230 §5.4 on the test server: no `Host` in HTTP/1.1, or two, is
/// answered 400, for the page and for an upgrade; HTTP/1.0 without `Host`
/// is still served. Old code: 200 for the plain requests (finding 11b).
#[test]
fn test_server_answers_400_to_a_missing_or_repeated_host() {
    for adapter in ADAPTERS {
        let (_server, addr) = test_server(adapter, &[]);
        let bad: [(&str, &[u8]); 5] = [
            ("no Host", b"GET / HTTP/1.1\r\n\r\n"),
            ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            (
                "two equal Hosts",
                b"GET /test.js HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            ),
            ("invalid Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            (
                "HTTP/1.0 with two Hosts",
                b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            ),
        ];
        for (what, req) in bad {
            let head = http_head(addr, req);
            assert!(
                head.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{adapter} {what}: {head}"
            );
        }
        let mut upgrade = hostile::request(&format!("Sec-WebSocket-Protocol: {MIRROR}\r\n"));
        upgrade.truncate(upgrade.len() - 2);
        upgrade.extend_from_slice(b"Host: evil.example\r\n\r\n");
        let head = http_head(addr, &upgrade);
        assert!(
            head.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{adapter} upgrade with two Hosts: {head}"
        );

        let good: [(&str, &[u8]); 2] = [
            ("HTTP/1.1 with Host", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n"),
        ];
        for (what, req) in good {
            let head = http_head(addr, req);
            assert!(
                head.starts_with("HTTP/1.1 200 OK\r\n"),
                "{adapter} {what}: {head}"
            );
        }
    }
}

// ------------------------------------------------------------- 4 and 8

/// A mirror client that sends `count` binary messages of `size` bytes
/// (its index in the first 8 bytes) and reads (and drops) everything the
/// server sends it meanwhile, so it is never a slow consumer itself.
fn mirror_sender(addr: SocketAddr, count: u64, size: usize) {
    let mut s = raw_client(addr, MIRROR);
    let mut r = s.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    r.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Relaxed) {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    });
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    for i in 0..count {
        let mut payload = vec![0x5a; size];
        payload[..8].copy_from_slice(&i.to_be_bytes());
        s.write_all(&frame(0x2, true, false, &payload)).unwrap();
    }
    // Let the server take the last message in before leaving.
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    drain.join().unwrap();
}

/// A newcomer's replay: the indices of the binary messages it gets until
/// the server has been silent for `quiet`, and their total size.
fn replay(addr: SocketAddr, quiet: Duration) -> (Vec<u64>, usize) {
    let mut s = raw_client(addr, MIRROR);
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut bytes = 0;
    s.set_read_timeout(Some(quiet)).unwrap();
    loop {
        assert!(t0.elapsed() < Duration::from_secs(60), "replay never ends");
        match read_frame(&mut s) {
            Ok((0x82, payload)) => {
                bytes += payload.len();
                got.push(u64::from_be_bytes(payload[..8].try_into().unwrap()));
            }
            Ok((b0, _)) => panic!("unexpected frame {b0:#x}"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("reading the replay: {e}"),
        }
    }
    (got, bytes)
}

/// Finding 4: the ring is bounded in bytes (4 MiB) as well as in messages.
/// 24 messages of 1,000,000 bytes go through the mirror; a newcomer then
/// gets only the newest that fit in 4 MiB, in order. Old code: all 24
/// (std), or whatever the stalled replay delivered (mio).
#[test]
fn mirror_ring_is_bounded_in_bytes() {
    const SIZE: usize = 1_000_000;
    const COUNT: u64 = 24;
    for adapter in ADAPTERS {
        let (_server, addr) = test_server(adapter, &["--no-compression"]);
        mirror_sender(addr, COUNT, SIZE);
        let (got, bytes) = replay(addr, Duration::from_secs(2));
        eprintln!(
            "[{adapter}] ring replay: {} messages, {bytes} bytes",
            got.len()
        );
        assert!(
            bytes <= RING_BYTES,
            "{adapter}: replayed {bytes} bytes ({} messages), bound {RING_BYTES}",
            got.len()
        );
        let want: Vec<u64> = (COUNT - (RING_BYTES / SIZE) as u64..COUNT).collect();
        assert_eq!(
            got, want,
            "{adapter}: the newest messages that fit, in order"
        );
    }
}

/// Finding 8: a newcomer gets the whole ring (3 MB in 30 messages of
/// 100,000 bytes, more than one 256 KiB batch), not only what the first
/// writes took. Old code (mio): the replay stopped after the first batch,
/// waiting for a writable edge that never came.
#[test]
fn mirror_replay_reaches_a_newcomer_in_full() {
    const COUNT: u64 = 30;
    for adapter in ADAPTERS {
        let (_server, addr) = test_server(adapter, &["--no-compression"]);
        mirror_sender(addr, COUNT, 100_000);
        let t0 = Instant::now();
        let (got, _) = replay(addr, Duration::from_secs(3));
        eprintln!(
            "[{adapter}] replay: {} of {COUNT} messages ({:?} including 3 s of quiet)",
            got.len(),
            t0.elapsed()
        );
        assert_eq!(got, (0..COUNT).collect::<Vec<_>>(), "{adapter}");
    }
}

// ------------------------------------------------------------------ 10

/// Sends bursts of 48 pings (125-byte payloads) every millisecond for
/// `during`, never reading: the pongs fill the server's socket and then
/// wait in its output queue. Stops early if the server stops reading.
fn ping_bursts(s: &mut TcpStream, during: Duration) {
    let burst = frame(0x9, true, false, &[0x70; 125]).repeat(48);
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < during {
        if s.write_all(&burst).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Everything the server sends within `during`, as (first header byte,
/// payload) frames (server frames are not masked).
fn frames_within(s: &mut TcpStream, during: Duration) -> Vec<(u8, Vec<u8>)> {
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while t0.elapsed() < during {
        let left = during
            .saturating_sub(t0.elapsed())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        assert!(buf.len() < 64 << 20, "over 64 MiB from the server");
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 <= buf.len() {
        let (b0, len7) = (buf[i], usize::from(buf[i + 1] & 0x7f));
        let (len, at) = match len7 {
            126 if i + 4 <= buf.len() => (
                usize::from(u16::from_be_bytes([buf[i + 2], buf[i + 3]])),
                i + 4,
            ),
            126 | 127 => break,
            n => (n, i + 2),
        };
        if at + len > buf.len() {
            break;
        }
        out.push((b0, buf[at..at + len].to_vec()));
        i = at + len;
    }
    out
}

/// Finding 10 (mio, now every adapter): dumb-increment skips its ticks
/// while the client has not taken its output. The client (4 KiB receive
/// buffer) sends pings for 8 s (160 ticks) and never reads: the pongs fill
/// the server's socket within a second or two and then keep its output
/// queue above the bound. Then the client reads for 1 s (20 ticks) and
/// counts the numbers. Old code: one per tick, ~180; now those of the
/// first seconds, before the socket filled, and of the last second.
fn dumb_increment_skips_ticks(adapter: &str) {
    // The write timeout (5 s by default) would close the connection
    // before the 8 s are over.
    let (_server, addr) = test_server(adapter, &["--no-compression", "--write-timeout", "60"]);
    let mut s = small_window_client(addr, DUMB);
    let t0 = Instant::now();
    ping_bursts(&mut s, Duration::from_secs(8));
    let unread = t0.elapsed();
    let frames = frames_within(&mut s, Duration::from_secs(1));
    let numbers: Vec<u64> = frames
        .iter()
        .filter(|(b0, _)| *b0 == 0x81)
        .map(|(_, p)| std::str::from_utf8(p).unwrap().parse().unwrap())
        .collect();
    let pongs = frames.iter().filter(|(b0, _)| *b0 == 0x8a).count();
    eprintln!(
        "[{adapter}] {} numbers (last {:?}) after {unread:?} unread ({} ticks) and 1 s of reading, \
         {pongs} pongs",
        numbers.len(),
        numbers.last(),
        (unread.as_millis() + 1000) / 50
    );
    assert!(pongs > 0, "the server answered the pings");
    // std's thread blocks in its write once the socket is full (the
    // blocking model), so it stops reading the pings sooner; the others
    // keep reading until their queue passes the high-water mark.
    assert!(
        adapter == "std" || unread >= Duration::from_secs(8),
        "{adapter}: the server stopped reading pings"
    );
    // A skipped tick does not advance the number: they stay consecutive.
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "{adapter}: {numbers:?}"
    );
    assert!(
        numbers.len() <= 60,
        "{adapter}: {} numbers were queued for a client that did not read for {unread:?}",
        numbers.len()
    );
}

#[test]
fn dumb_increment_skips_ticks_while_the_client_does_not_read() {
    std::thread::scope(|scope| {
        for adapter in ADAPTERS {
            scope.spawn(move || dumb_increment_skips_ticks(adapter));
        }
    });
}

/// Finding 10 (std, now every adapter): the writes were blocking, so a
/// dumb-increment client that stopped reading blocked its thread for good
/// once its socket was full. Now output that moves no byte for 2 s (the
/// test server's `--write-timeout` here) closes the connection, on every
/// adapter.
/// The client fills the socket with pongs (pings, never reading, until
/// its writes stall or fail), waits until 12 s have passed, and must then
/// find the connection closed. Old code: still open.
///
/// The pings go on until the server's output is stuck, not for a fixed
/// time: past a backlog a pong replaces the queued one (RFC 6455 §5.5.3),
/// so how many pongs a second of pings makes depends on how much each
/// read takes. A server that wrote every pong into its socket's send
/// buffer has no output waiting and nothing to time out (seen: 1.4 MiB
/// of pongs in 2 s of pings, under a 3 MiB send buffer).
#[test]
fn dumb_increment_closes_a_client_that_stopped_reading() {
    std::thread::scope(|scope| {
        for adapter in ADAPTERS {
            scope.spawn(move || {
                let (_server, addr) =
                    test_server(adapter, &["--no-compression", "--write-timeout", "2"]);
                let mut s = small_window_client(addr, DUMB);
                let t0 = Instant::now();
                ping_bursts(&mut s, Duration::from_secs(8));
                std::thread::sleep(Duration::from_secs(12).saturating_sub(t0.elapsed()));
                let (got, _) = read_to_close(&mut s, Duration::from_secs(5));
                eprintln!(
                    "[{adapter}] stalled dumb-increment client closed; {} bytes were buffered",
                    got.len()
                );
            });
        }
    });
}

// ------------------------------------------------------------------- 5

/// Memory figures of the test server.
fn rss_kib(p: &Proc) -> u64 {
    hostile::Mem::of(p.id()).rss
}

/// Finding 5 (std, now every adapter): a mirror client that never reads
/// had a queue of 1,024 messages (1 GiB of 1 MiB messages) and a thread
/// blocked for good in its write. Now the group skips it past 256 KiB
/// queued, and its stalled output closes it (`--write-timeout 2`). 100 messages of
/// 1,000,000 bytes go through while it stays: old code held all of them
/// for it (+95 MiB).
#[test]
fn mirror_client_that_never_reads_is_bounded_and_closed() {
    for adapter in ADAPTERS {
        let (server, addr) = test_server(adapter, &["--no-compression", "--write-timeout", "2"]);
        let before = rss_kib(&server);
        let mut attacker = small_window_client(addr, MIRROR);
        mirror_sender(addr, 100, 1_000_000);
        let during = rss_kib(&server);
        let grew = during.saturating_sub(before) as f64 / 1024.0;
        eprintln!(
            "[{adapter}] VmRSS {before} -> {during} KiB (+{grew:.1} MiB) with a non-reading mirror client"
        );
        assert!(
            grew < 48.0,
            "{adapter}: the server holds {grew:.1} MiB for a client that does not read"
        );
        std::thread::sleep(Duration::from_secs(7));
        let (got, _) = read_to_close(&mut attacker, Duration::from_secs(5));
        eprintln!(
            "[{adapter}] the non-reading mirror client was closed after {} buffered bytes",
            got.len()
        );
        assert!(
            got.len() < 16 << 20,
            "{adapter}: {} bytes reached the stalled client",
            got.len()
        );
    }
}

/// Finding 5, the reader's side: a std mirror client that floods pings
/// and never reads blocked its reader thread for good writing pongs. Now
/// its stalled output (2 s without any progress) closes it, on every
/// adapter.
#[test]
fn mirror_ping_flooder_that_never_reads_is_closed() {
    std::thread::scope(|scope| {
        for adapter in ADAPTERS {
            scope.spawn(move || {
                let (_server, addr) =
                    test_server(adapter, &["--no-compression", "--write-timeout", "2"]);
                let mut s = small_window_client(addr, MIRROR);
                let t0 = Instant::now();
                ping_bursts(&mut s, Duration::from_secs(8));
                std::thread::sleep(Duration::from_secs(12).saturating_sub(t0.elapsed()));
                let (got, _) = read_to_close(&mut s, Duration::from_secs(5));
                eprintln!(
                    "[{adapter}] ping-flooding mirror client closed; {} bytes were buffered",
                    got.len()
                );
            });
        }
    });
}

// ------------------------------------------------------------------- 7

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name: state is field 3, utime
    // and stime fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Finding 7: idle std mirror connections polled every 5 ms (1,000 of them
/// took 73% of a core). 200 idle mirror connections for 3 s now take
/// (next to) no CPU: their threads block in reads.
#[test]
fn std_idle_mirror_connections_do_not_poll() {
    let (server, addr) = test_server("std", &["--no-compression"]);
    let clients: Vec<TcpStream> = (0..200).map(|_| raw_client(addr, MIRROR)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = cpu_ticks(server.id());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(server.id()) - t0;
    eprintln!("[std] 200 idle mirror connections: {used} CPU ticks in 3 s");
    assert!(
        used <= 5,
        "idle connections used {used} ticks of CPU in 3 s"
    );
    drop(clients);
}

// ------------------------------------------------------------------- 9

/// One ping and its pong on `s` (a raw client; pongs come from the core).
fn ping_pong(s: &mut TcpStream) -> Duration {
    let t0 = Instant::now();
    s.write_all(&frame(0x9, true, false, b"rtt")).unwrap();
    loop {
        let (b0, payload) = read_frame(s).unwrap();
        if b0 == 0x8a {
            assert_eq!(payload, b"rtt");
            return t0.elapsed();
        }
    }
}

/// Server CPU ticks for `n` ping-pongs of a mirror client.
fn cpu_for_ping_pongs(server: &Proc, addr: SocketAddr, n: usize) -> u64 {
    let mut s = raw_client(addr, MIRROR);
    let t0 = cpu_ticks(server.id());
    for _ in 0..n {
        ping_pong(&mut s);
    }
    cpu_ticks(server.id()) - t0
}

/// Finding 9: the mio test server walked every connection on every turn
/// (to find the next deadline, the due timers and the tick's clients), so
/// with many idle connections every message cost more: one client's
/// ping-pong rate dropped 4.1× with 10,000 idle connections. The server's
/// CPU time per ping-pong with 2,000 idle mirror connections must now stay
/// close to that with none.
#[test]
fn mio_idle_connections_do_not_slow_the_loop() {
    let (server, addr) = test_server("mio", &["--no-compression"]);
    let n = 1000;
    let alone = cpu_for_ping_pongs(&server, addr, n);
    let idle: Vec<TcpStream> = (0..2000).map(|_| raw_client(addr, MIRROR)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let crowded = cpu_for_ping_pongs(&server, addr, n);
    eprintln!(
        "[mio] server CPU for {n} ping-pongs: {alone} ticks alone, {crowded} ticks with 2,000 idle connections"
    );
    assert!(
        crowded <= 2 * alone + 30,
        "{crowded} ticks with idle connections against {alone} without"
    );
    drop(idle);
}

// ------------------------------------------------------------------- 6

/// `n` poorly compressible printable characters drawn from `r`.
fn noise(r: &mut SplitMix, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'!' + r.below(90) as u8))
        .collect()
}

/// A permessage-deflate mirror client (raw; it reads nothing).
fn compressed_mirror_client(addr: SocketAddr) -> TcpStream {
    let (s, head) = hostile::handshake_head(
        addr,
        &format!(
            "Sec-WebSocket-Protocol: {MIRROR}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
        ),
    );
    assert!(head.contains("permessage-deflate"), "{head:?}");
    s
}

/// Finding 6: each mirror message is compressed once per
/// permessage-deflate reader inside the one mio loop; with 600 readers a
/// drawn 1 KB message took 281 ms of the loop and a parallel client's
/// round trip reached 1.89 s. Feeding is now capped per loop turn, so a
/// parallel client keeps getting its pongs while 600 compressing readers
/// are fed 20 messages of 4 KiB.
#[test]
fn mio_broadcast_to_compressing_readers_does_not_stall_the_loop() {
    let (_server, addr) = test_server("mio", &[]);
    let readers: Vec<TcpStream> = (0..600).map(|_| compressed_mirror_client(addr)).collect();
    let mut probe = raw_client(addr, MIRROR);
    let mut drawer = raw_client(addr, MIRROR);
    // Poorly compressible text: real work for every reader's compressor.
    let mut x = SplitMix::new(0x2545_f491_4f6c_dd1d);
    let mut worst = Duration::ZERO;
    let t0 = Instant::now();
    for _ in 0..20 {
        let text = noise(&mut x, 4096);
        drawer
            .write_all(&frame(0x1, true, false, text.as_bytes()))
            .unwrap();
        for _ in 0..5 {
            worst = worst.max(ping_pong(&mut probe));
        }
    }
    eprintln!(
        "[mio] 20 messages of 4 KiB broadcast to 600 compressing readers in {:?}; the probe's worst round trip {worst:?}",
        t0.elapsed()
    );
    assert!(
        worst < Duration::from_millis(80),
        "a parallel client waited {worst:?} for its pong"
    );
    drop(readers);
}

//! Tools for the hostile-peer tests: the echo server run as a child
//! process (so its memory can be read from `/proc/<pid>/status`), a raw
//! client that writes bytes by hand (handshakes, masked frames, a deflate
//! bomb), and the checks every attack ends with.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh, well-behaved client must get its echo back within this.
pub const ECHO_BOUND: Duration = Duration::from_secs(2);
/// Bound on every blocking read of the attacker.
pub const READ_BOUND: Duration = Duration::from_secs(5);

/// What the child server is started with.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub max_connections: usize,
    pub max_message: u64,
    pub max_frame: u64,
    pub handshake_ms: u64,
    /// `Config::stall_timeout`, `write_timeout`, `keep_alive` and
    /// `pong_timeout` in ms; 0 keeps the default.
    pub stall_ms: u64,
    pub write_ms: u64,
    pub keep_alive_ms: u64,
    pub pong_ms: u64,
    /// The child's handler keeps this many small (< 64 B) messages, as a
    /// mirror's ring does, and ignores large ones (0: it echoes all).
    pub keep: u64,
    /// The server's memory budget in MiB, soft and hard (0: the default,
    /// derived from the machine).
    pub soft_mib: u64,
    pub hard_mib: u64,
}

impl Default for Spec {
    fn default() -> Self {
        let c = ws_proto::Config::default();
        Spec {
            max_connections: 256,
            max_message: c.max_message_size,
            max_frame: c.max_frame_size,
            handshake_ms: 500,
            stall_ms: 0,
            write_ms: 0,
            keep_alive_ms: 0,
            pong_ms: 0,
            keep: 0,
            soft_mib: 0,
            hard_mib: 0,
        }
    }
}

impl Spec {
    fn encode(&self) -> String {
        [
            self.max_connections as u64,
            self.max_message,
            self.max_frame,
            self.handshake_ms,
            self.stall_ms,
            self.write_ms,
            self.keep_alive_ms,
            self.pong_ms,
            self.keep,
            self.soft_mib,
            self.hard_mib,
        ]
        .map(|v| v.to_string())
        .join(",")
    }

    pub fn decode(s: &str) -> Spec {
        let v: Vec<u64> = s.split(',').map(|x| x.parse().unwrap()).collect();
        Spec {
            max_connections: v[0] as usize,
            max_message: v[1],
            max_frame: v[2],
            handshake_ms: v[3],
            stall_ms: v[4],
            write_ms: v[5],
            keep_alive_ms: v[6],
            pong_ms: v[7],
            keep: v[8],
            soft_mib: v[9],
            hard_mib: v[10],
        }
    }

    /// The server settings the child runs with (around
    /// [`connection_config`](Self::connection_config)).
    pub fn server_options(&self) -> ws_adapters::ServerOptions {
        let session = ws_adapters::session_config(self.connection_config(), true);
        let mut options = ws_adapters::ServerOptions::new(session)
            .with_handshake_timeout(Duration::from_millis(self.handshake_ms))
            .with_max_connections(self.max_connections);
        if self.soft_mib > 0 {
            let budget = ws_adapters::MemoryBudget::new(
                (self.soft_mib as usize) << 20,
                (self.hard_mib as usize) << 20,
            );
            options = options.with_budget(Some(std::sync::Arc::new(budget)));
        }
        options
    }

    /// The connection settings the child server runs with.
    pub fn connection_config(&self) -> ws_proto::Config {
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        let d = ws_proto::Config::default();
        d.clone()
            .with_max_message_size(self.max_message)
            .with_max_frame_size(self.max_frame)
            .with_stall_timeout(ms(self.stall_ms).or(d.stall_timeout))
            .with_write_timeout(ms(self.write_ms).or(d.write_timeout))
            .with_keep_alive(ms(self.keep_alive_ms))
            .with_pong_timeout(ms(self.pong_ms).or(d.pong_timeout))
    }
}

/// The child's body: when this test binary runs as the server
/// ([`CHILD_ENV`] set), serves a mio server with the handler `make` builds
/// from the spec, on 127.0.0.1, until the parent closes its stdin; does
/// nothing in the parent.
pub fn serve_if_child<H: ws_adapters::mio::Handler>(make: impl FnOnce(&Spec) -> H) {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec = Spec::decode(&spec);
    ws_adapters::raise_fd_limit(spec.max_connections + 256);
    let local = "127.0.0.1:0".parse().unwrap();
    let mut server =
        ws_adapters::mio::Server::bind(local, spec.server_options(), make(&spec)).unwrap();
    std::thread::spawn(|| {
        let _ = io::stdin().read(&mut [0u8; 1]);
        std::process::exit(0);
    });
    println!("{READY}{}", server.local_addr().unwrap());
    server.run().unwrap();
}

/// True in the child process (the server under test).
pub fn is_child() -> bool {
    std::env::var(CHILD_ENV).is_ok()
}

/// Environment variable that turns the test binary into the server.
pub const CHILD_ENV: &str = "WS_HOSTILE_CHILD";
/// The line the child prints once it listens.
pub const READY: &str = "HOSTILE_LISTENING ";

/// Memory figures of a process, in KiB (`/proc/<pid>/status`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    /// Resident set size now.
    pub rss: u64,
    /// Peak resident set size.
    pub hwm: u64,
    /// Peak virtual size: a reservation of 1 GiB shows here even if it is
    /// never touched.
    pub peak: u64,
}

impl Mem {
    pub fn of(pid: u32) -> Mem {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Mem {
            rss: field("VmRSS:"),
            hwm: field("VmHWM:"),
            peak: field("VmPeak:"),
        }
    }
}

/// The echo server in a child process; killed when dropped.
pub struct ChildServer {
    child: Child,
    pub addr: SocketAddr,
}

impl ChildServer {
    pub fn start(spec: Spec) -> ChildServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_server", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec.encode())
            // One malloc arena: glibc reserves 64 MiB of address space for
            // each new thread arena, which would show in VmPeak as if the
            // server had reserved it (seen once: +66 MiB virtual, +0.4 MiB
            // resident). The virtual-size bounds are about the server's own
            // reservations, so take that noise out.
            .env("MALLOC_ARENA_MAX", "1")
            // A fixed mmap threshold (glibc raises it after every free of a
            // mapped block otherwise): every block of 128 KiB or more is
            // mapped and returned to the system when freed, so resident
            // memory after an attack shows what the server still holds.
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        // Drain the child's stdout for its whole life (libtest prints on
        // exit too); hand over the address line.
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                // libtest prints "test child_server ... " before it.
                if let Some(i) = line.find(READY) {
                    let _ = tx.send(line[i + READY.len()..].trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("child server did not start");
        let server = ChildServer {
            child,
            addr: addr.parse().unwrap(),
        };
        // Warm up: the first connection allocates what every later one
        // reuses (scratch buffer, slab slots), so baselines are honest.
        server.assert_echo("warm-up");
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn mem(&self) -> Mem {
        Mem::of(self.pid())
    }

    /// A fresh, well-behaved client gets its echo within [`ECHO_BOUND`].
    pub fn assert_echo(&self, tag: &str) -> Duration {
        let t0 = Instant::now();
        let mut s = handshake(self.addr, "");
        let text = format!("echo {tag}");
        s.write_all(&frame(0x1, true, false, text.as_bytes()))
            .unwrap();
        s.set_read_timeout(Some(ECHO_BOUND)).unwrap();
        let (op, payload) = read_frame(&mut s)
            .unwrap_or_else(|e| panic!("{tag}: no echo within {ECHO_BOUND:?}: {e}"));
        assert_eq!(op, 0x81, "{tag}: echo frame header");
        assert_eq!(payload, text.as_bytes(), "{tag}: echo payload");
        let took = t0.elapsed();
        assert!(took < ECHO_BOUND, "{tag}: echo took {took:?}");
        // Leave cleanly: close 1000 and wait for the echo of the close.
        let _ = s.write_all(&frame(0x8, true, false, &1000u16.to_be_bytes()));
        let _ = read_frame(&mut s);
        took
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Growth from `a` to `b` in MiB (saturating), for reports.
pub fn grew_mib(a: u64, b: u64) -> f64 {
    b.saturating_sub(a) as f64 / 1024.0
}

/// Prints and returns the server's memory after an attack, asserting that
/// resident memory grew by less than `rss_bound_mib` and the peak virtual
/// size by less than `peak_bound_mib`.
pub fn assert_mem(
    what: &str,
    server: &ChildServer,
    before: Mem,
    rss_bound_mib: f64,
    peak_bound_mib: f64,
) -> Mem {
    let after = server.mem();
    if std::env::var_os("WS_SANITIZER").is_some() {
        // scripts/sanitize.sh: AddressSanitizer's redzones and quarantine
        // of freed memory inflate every figure; it checks accesses and
        // leaks instead, and the plain test run checks these bounds.
        eprintln!("[{what}] memory bounds not checked under a sanitizer");
        return after;
    }
    let rss = grew_mib(before.rss, after.rss);
    let hwm = grew_mib(before.hwm, after.hwm);
    let peak = grew_mib(before.peak, after.peak);
    eprintln!(
        "[{what}] server VmRSS {} -> {} KiB (+{rss:.1} MiB), VmHWM {} -> {} KiB (+{hwm:.1} MiB), \
         VmPeak {} -> {} KiB (+{peak:.1} MiB)",
        before.rss, after.rss, before.hwm, after.hwm, before.peak, after.peak
    );
    assert!(
        hwm < rss_bound_mib,
        "{what}: peak RSS grew {hwm:.1} MiB (bound {rss_bound_mib} MiB)"
    );
    assert!(
        peak < peak_bound_mib,
        "{what}: peak virtual size grew {peak:.1} MiB (bound {peak_bound_mib} MiB)"
    );
    after
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An upgrade request written by hand, with `extra` header lines.
pub fn request(extra: &str) -> Vec<u8> {
    format!(
        "GET /hostile HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
    .into_bytes()
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, READ_BOUND).unwrap();
    s.set_read_timeout(Some(READ_BOUND)).unwrap();
    s.set_write_timeout(Some(READ_BOUND)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads a response head (up to the blank line), byte by byte so nothing
/// after it is consumed.
pub fn read_head(s: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            break;
        }
        head.push(b[0]);
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Connects and completes an RFC 6455 handshake; returns the socket and
/// the `101` head.
pub fn handshake_head(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    let mut s = connect(addr);
    s.write_all(&request(extra)).unwrap();
    let head = read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head:?}");
    assert!(head.contains(ACCEPT), "wrong accept key: {head:?}");
    (s, head)
}

pub fn handshake(addr: SocketAddr, extra: &str) -> TcpStream {
    handshake_head(addr, extra).0
}

pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame header (client: masked) announcing `len` payload bytes.
pub fn header(op: u8, fin: bool, rsv1: bool, len: u64) -> Vec<u8> {
    let mut h = vec![op | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 }];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&MASK);
    h
}

/// A whole masked client frame.
pub fn frame(op: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = header(op, fin, rsv1, payload.len() as u64);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Reads one server frame: (first header byte, payload). Payloads over
/// 16 MiB are refused (the test would be wrong, not the server).
pub fn read_frame(s: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    assert!(len <= 16 << 20, "server frame of {len} bytes");
    let mut payload = vec![0; len as usize];
    s.read_exact(&mut payload)?;
    Ok((h[0], payload))
}

/// True for the errors a reset connection reads as.
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Reads until the server closes the TCP connection (EOF or reset);
/// panics if it is still open after `within`. Returns what was read and
/// whether it ended in a reset.
pub fn read_to_close(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = within.saturating_sub(t0.elapsed());
        assert!(
            !left.is_zero(),
            "connection still open after {within:?} ({} bytes read)",
            got.len()
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (got, false),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > 64 << 20 {
                    panic!("over 64 MiB read before the close");
                }
            }
            Err(e) if is_reset(&e) => return (got, true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads server frames (skipping data and pongs) until a close frame;
/// returns its status code, then asserts that the TCP connection ends
/// within `within`.
pub fn expect_close(s: &mut TcpStream, within: Duration) -> u16 {
    let t0 = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    loop {
        let (b0, payload) = read_frame(s)
            .unwrap_or_else(|e| panic!("no close frame after {:?}: {e}", t0.elapsed()));
        if b0 & 0x0f == 0x8 {
            assert!(b0 & 0x80 != 0, "close frame without FIN");
            assert!(payload.len() >= 2, "close frame without a code");
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let rest = within
                .saturating_sub(t0.elapsed())
                .max(Duration::from_millis(500));
            let (tail, _) = read_to_close(s, rest);
            assert!(
                tail.is_empty(),
                "{} bytes after the close frame",
                tail.len()
            );
            return code;
        }
        assert!(t0.elapsed() < within, "no close frame within {within:?}");
    }
}

/// Writes as much of `data` as the peer takes; stops at the first error
/// (the server closing on us is expected). Returns bytes written.
pub fn write_some(s: &mut TcpStream, data: &[u8]) -> usize {
    let mut done = 0;
    while done < data.len() {
        match s.write(&data[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
}

/// Makes a close abortive: the next drop sends RST instead of FIN.
pub fn set_abortive(s: &TcpStream) {
    rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO)).unwrap();
}

/// Writes bits LSB first, as DEFLATE (RFC 1951 §3.1.1) packs them.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, v: u64, n: u32) {
        self.acc |= v << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: its most significant bit goes first.
    fn code(&mut self, code: u32, len: u32) {
        let rev = (0..len).fold(0u64, |r, i| (r << 1) | u64::from((code >> i) & 1));
        self.put(rev, len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A permessage-deflate message body (RFC 7692 §7.2.1: the sync-flush
/// tail `00 00 ff ff` removed) that inflates to `1 + 258 * pairs` zero
/// bytes: one fixed-Huffman block (RFC 1951 §3.2.6) holding a literal 0
/// and then `pairs` copies of <length 258, distance 1>, 13 bits each —
/// about 159 bytes out per byte in.
pub fn deflate_bomb(pairs: usize) -> Vec<u8> {
    let mut b = Bits {
        out: Vec::with_capacity(pairs * 13 / 8 + 16),
        acc: 0,
        n: 0,
    };
    b.put(0, 1); // BFINAL = 0
    b.put(1, 2); // BTYPE = 01, fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..pairs {
        b.code(0b1100_0101, 8); // length code 285: 258
        b.code(0, 5); // distance code 0: 1
    }
    b.code(0, 7); // end of block (256)
    b.put(0, 3); // the header of the sync flush's empty stored block
    b.finish()
}

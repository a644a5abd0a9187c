//! Echo-under-load generator, after uWebSockets' `load_test`: N connections
//! to a `ws://` echo server on 127.0.0.1, each with exactly one message in
//! flight (send, wait for the echo, send again), messages per second
//! counted over fixed windows after a warm-up, then a summary.
//!
//! One thread, one mio `Poll`. Frames are encoded (and masked) once; an
//! echo is checked by its length and header bytes, its payload every
//! `--verify-every` messages. `--deflate` offers permessage-deflate and
//! drives each connection with our own client machinery
//! (`ws_adapters::mio::Conn`), which compresses and inflates for real.
//! `--tls` connects with `wss://` (rustls, any certificate accepted) through
//! the same client machinery, which encrypts and decrypts for real.
//! `--mode raw` talks to a plain TCP echo server: no handshake, the same
//! frame bytes go out and must come back unchanged (the ceiling).
//!
//! ```text
//! ws-load --port 9001 -c 100 -s 20 [--mode binary|text|raw] [--deflate] [--tls]
//!         [--warmup 2] [--duration 5] [--window-ms 1000] [--rate MSGS_PER_S]
//!         [--server-pid PID] [--verify-every 16]
//! ws-load --port 9001 -c 10000 --idle [--idle-messages 1] [--hold 60]
//! ```
//!
//! The last line on stdout is `RESULT key=value ...` (rates in messages
//! per second; `total` counts the echoes of the whole run, warm-up
//! included; `server_us_per_msg` is the server's user+system CPU time
//! over the measuring window, from `/proc/<pid>/stat`, per echoed message).
//! In `--idle` mode the program prints `READY <n>` once every connection is
//! open (and has echoed `--idle-messages` messages), then holds them for
//! `--hold` seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use ws_adapters::mio::Conn;
use ws_adapters::{ClientOptions, Event, Turn};
use ws_benches::{Args, clk_tck, cpu_ticks, loopback, median};
use ws_proto::session::SessionConfig;
use ws_proto::{Bytes, Config, Utf8Bytes};

const USAGE: &str = "\
ws-load: closed-loop WebSocket echo load (one message in flight per connection)

  --port P            server port on 127.0.0.1 (default 9001)
  -c, --connections N connections (default 100)
  -s, --size BYTES    payload size (default 20)
  --mode M            binary | text | raw (default binary; raw = TCP echo, no handshake)
  --deflate           offer permessage-deflate (our client machinery compresses)
  --tls               wss:// (our client machinery with rustls; any certificate accepted)
  --warmup SECS       warm-up before measuring (default 2)
  --duration SECS     measuring time (default 5)
  --window-ms MS      counting window (default 1000)
  --rate R            pace to R messages/s in total (default: as fast as echoed)
  --server-pid PID    report the server's CPU time per message
  --verify-every K    check the payload of every K-th echo (default 16; 1 = all)
  --idle              open the connections, print READY, hold them
  --idle-messages K   echoes per connection before READY (default 0)
  --hold SECS         how long --idle holds (default 3600)";

/// What goes over the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Binary,
    Text,
    Raw,
}

#[derive(Debug)]
struct Opts {
    port: u16,
    conns: usize,
    size: usize,
    mode: Mode,
    deflate: bool,
    tls: bool,
    warmup: Duration,
    duration: Duration,
    window: Duration,
    rate: Option<f64>,
    server_pid: Option<u32>,
    verify_every: u64,
    idle: bool,
    idle_messages: u64,
    hold: Duration,
}

fn secs(a: &mut Args, name: &str, default: f64) -> Duration {
    let v: f64 = a.value(name, default);
    if !(v >= 0.0 && v.is_finite()) {
        a.fail(format!("{name} must be a number of seconds"));
    }
    Duration::from_secs_f64(v)
}

fn opts() -> Opts {
    let mut a = Args::from_env(USAGE);
    let conns = a.opt("-c").unwrap_or_else(|| a.value("--connections", 100));
    let size = a.opt("-s").unwrap_or_else(|| a.value("--size", 20));
    let mode = match a.value("--mode", String::from("binary")).as_str() {
        "binary" => Mode::Binary,
        "text" => Mode::Text,
        "raw" => Mode::Raw,
        m => a.fail(format!("unknown mode {m}")),
    };
    let o = Opts {
        port: a.value("--port", 9001),
        conns,
        size,
        mode,
        deflate: a.flag("--deflate"),
        tls: a.flag("--tls"),
        warmup: secs(&mut a, "--warmup", 2.0),
        duration: secs(&mut a, "--duration", 5.0),
        window: Duration::from_millis(a.value("--window-ms", 1000)),
        rate: a.opt("--rate"),
        server_pid: a.opt("--server-pid"),
        verify_every: a.value("--verify-every", 16u64).max(1),
        idle: a.flag("--idle"),
        idle_messages: a.value("--idle-messages", 0),
        hold: secs(&mut a, "--hold", 3600.0),
    };
    if (o.deflate || o.tls) && o.mode == Mode::Raw {
        a.fail("--deflate and --tls need a WebSocket mode");
    }
    if o.conns == 0 || o.window.is_zero() {
        a.fail("need at least one connection and a window");
    }
    a.finish();
    o
}

/// Payload text: valid UTF-8 with 1- to 4-byte sequences, JSON-like (and
/// so compressible).
const TEXT: &str = "{\"id\":12345,\"user\":\"Grüße aus Köln\",\"tags\":[\"ünïcödé\",\"☃\",\"𝄞\",\"日本語\"],\"ok\":true,\"v\":[1,2,3]} ";

fn payload(o: &Opts) -> Vec<u8> {
    if o.mode == Mode::Text || o.deflate {
        let mut s = String::with_capacity(o.size);
        for c in TEXT.chars().cycle() {
            if s.len() + c.len_utf8() > o.size {
                break;
            }
            s.push(c);
        }
        while s.len() < o.size {
            s.push(' ');
        }
        return s.into_bytes();
    }
    // Pseudo-random, hence incompressible, bytes (the same every run).
    http_upgrade::testing::SplitMix::new(0x9E37_79B9_7F4A_7C15).bytes(o.size)
}

/// An RFC 6455 §5.2 frame header: FIN, `opcode`, the length, mask bit.
fn header(opcode: u8, len: usize, masked: bool) -> Vec<u8> {
    let m = if masked { 0x80 } else { 0 };
    let mut h = vec![0x80 | opcode];
    if len < 126 {
        h.push(m | len as u8);
    } else if let Ok(n) = u16::try_from(len) {
        h.push(m | 126);
        h.extend(n.to_be_bytes());
    } else {
        h.push(m | 127);
        h.extend((len as u64).to_be_bytes());
    }
    h
}

/// The bytes one message takes out and back.
struct Wire {
    /// What the client sends (a masked frame; in raw mode the same bytes).
    frame: Vec<u8>,
    /// What must come back.
    echo: Vec<u8>,
    /// Leading bytes of `echo` checked on every message (the header).
    always: usize,
}

fn wire(o: &Opts, payload: &[u8]) -> Wire {
    let opcode = if o.mode == Mode::Text { 1 } else { 2 };
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = header(opcode, payload.len(), true);
    frame.extend(key);
    frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    if o.mode == Mode::Raw {
        let always = frame.len() - payload.len();
        return Wire {
            echo: frame.clone(),
            frame,
            always,
        };
    }
    let mut echo = header(opcode, payload.len(), false);
    let always = echo.len();
    echo.extend_from_slice(payload);
    Wire {
        frame,
        echo,
        always,
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// RFC 6455 §1.3's example answer to [`KEY`].
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Connects (blocking) and, unless raw, completes a minimal RFC 6455
/// handshake; returns the non-blocking mio stream.
fn connect(o: &Opts) -> io::Result<TcpStream> {
    let mut s = std::net::TcpStream::connect(loopback(o.port))?;
    s.set_nodelay(true)?;
    if o.mode != Mode::Raw {
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            o.port
        );
        s.write_all(req.as_bytes())?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf)?;
            if n == 0 || got.len() > 8192 {
                return Err(io::Error::other("handshake: connection closed"));
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        if !text.starts_with("HTTP/1.1 101") || !text.contains(ACCEPT) {
            return Err(io::Error::other(format!("handshake refused: {text}")));
        }
        if !text.ends_with("\r\n\r\n") {
            return Err(io::Error::other("bytes after the handshake response"));
        }
    }
    s.set_nonblocking(true)?;
    Ok(TcpStream::from_std(s))
}

/// A connection on the fast path: pre-encoded frames, byte-compared echoes.
struct Fast {
    s: TcpStream,
    /// Bytes of the current frame written (== frame length when idle).
    wpos: usize,
    /// Bytes of the current echo received.
    rpos: usize,
    verify: bool,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

impl Fast {
    fn flush(&mut self, w: &Wire) -> io::Result<()> {
        while self.wpos < w.frame.len() {
            match self.s.write(&w.frame[self.wpos..]) {
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what arrived; true when a whole echo is in. Stops reading at
    /// a complete echo: with one message in flight nothing else can come,
    /// and the next echo raises a new edge.
    fn read(&mut self, w: &Wire, scratch: &mut [u8]) -> io::Result<bool> {
        loop {
            let n = match self.s.read(scratch) {
                Ok(0) => return Err(bad("server closed the connection")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let end = self.rpos + n;
            if end > w.echo.len() {
                return Err(bad(format!(
                    "{} bytes came back for a {}-byte echo",
                    end,
                    w.echo.len()
                )));
            }
            let check = if self.verify { end } else { end.min(w.always) };
            if check > self.rpos && scratch[..check - self.rpos] != w.echo[self.rpos..check] {
                return Err(bad(format!(
                    "echo differs within bytes {}..{check}: {:02x?}",
                    self.rpos,
                    &scratch[..(check - self.rpos).min(16)]
                )));
            }
            self.rpos = end;
            if end == w.echo.len() {
                self.rpos = 0;
                return Ok(true);
            }
        }
    }
}

/// A connection driven by our own client machinery (permessage-deflate).
struct Proto {
    c: Conn,
    open: bool,
}

/// The message a [`Proto`] connection sends.
#[derive(Clone)]
enum Msg {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Proto {
    fn send(&mut self, m: &Msg) -> io::Result<()> {
        let c = self
            .c
            .driver_mut()
            .session_mut()
            .connection_mut()
            .ok_or_else(|| bad("not open"))?;
        match m {
            Msg::Text(t) => c.send_text(t.clone()),
            Msg::Binary(b) => c.send_binary(b.clone()),
        }
        .map_err(|e| bad(e.to_string()))?;
        self.c.flush().map_err(|e| bad(e.to_string()))?;
        Ok(())
    }

    /// Drives the connection; returns the number of echoes completed
    /// (checked against `payload`; all of it when `verify`).
    fn ready(&mut self, scratch: &mut [u8], payload: &[u8], verify: bool) -> io::Result<u32> {
        let e = |e: ws_adapters::Error| bad(e.to_string());
        let mut done = 0;
        while let Turn::Event(ev) = self.c.turn(scratch).map_err(e)? {
            let got: &[u8] = match &ev {
                Event::Binary(b) => b,
                Event::Text(t) => t.as_str().as_bytes(),
                Event::Close { code, reason } => {
                    return Err(bad(format!("server closed: {code:?} {reason}")));
                }
                _ => continue,
            };
            if got.len() != payload.len() || (verify && got != payload) {
                return Err(bad(format!(
                    "echo of {} bytes differs from the {}-byte message",
                    got.len(),
                    payload.len()
                )));
            }
            done += 1;
        }
        if self.c.is_closed() {
            return Err(bad("connection closed"));
        }
        Ok(done)
    }
}

enum Client {
    Fast(Fast),
    Proto(Box<Proto>),
}

/// Per-connection bookkeeping shared by both kinds.
struct Slot {
    client: Client,
    /// Echoes completed.
    done: u64,
    /// Paced mode: when this connection's next message is due.
    due: Instant,
}

struct Load {
    o: Opts,
    wire: Wire,
    payload: Vec<u8>,
    msg: Msg,
    poll: Poll,
    slots: Vec<Slot>,
    scratch: Vec<u8>,
    /// Paced mode: connections waiting for their next send.
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
    interval: Duration,
    /// Echoes completed, all connections.
    total: u64,
    /// Messages per connection before it stops sending (idle mode).
    limit: u64,
}

impl Load {
    fn new(o: Opts) -> io::Result<Load> {
        let payload = payload(&o);
        let wire = wire(&o, &payload);
        let msg = if o.mode == Mode::Text {
            let text = String::from_utf8(payload.clone()).map_err(|e| bad(e.to_string()))?;
            Msg::Text(Utf8Bytes::from(text))
        } else {
            Msg::Binary(Bytes::from(payload.clone()))
        };
        let interval = match o.rate {
            Some(r) if r > 0.0 => Duration::from_secs_f64(o.conns as f64 / r),
            _ => Duration::ZERO,
        };
        Ok(Load {
            wire,
            payload,
            msg,
            poll: Poll::new()?,
            slots: Vec::with_capacity(o.conns),
            scratch: vec![0; 256 * 1024],
            queue: BinaryHeap::new(),
            interval,
            total: 0,
            limit: u64::MAX,
            o,
        })
    }

    fn verify(&self, done: u64) -> bool {
        done % self.o.verify_every == 0
    }

    /// Opens every connection (handshakes done).
    fn open(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for i in 0..self.o.conns {
            let client = if self.o.deflate || self.o.tls {
                let request = ws_proto_request(self.o.port, self.o.tls)?;
                let mut c = Conn::connect(request, &client_options(&self.o)?)
                    .map_err(|e| bad(e.to_string()))?;
                c.register(self.poll.registry(), Token(i))?;
                Client::Proto(Box::new(Proto { c, open: false }))
            } else {
                let mut s = connect(&self.o).map_err(|e| bad(format!("connection {i}: {e}")))?;
                self.poll.registry().register(
                    &mut s,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Client::Fast(Fast {
                    s,
                    wpos: self.wire.frame.len(),
                    rpos: 0,
                    verify: false,
                })
            };
            self.slots.push(Slot {
                client,
                done: 0,
                due: now,
            });
        }
        if self.o.deflate || self.o.tls {
            self.open_proto()?;
        }
        Ok(())
    }

    /// Runs the machine handshakes until every connection is open.
    fn open_proto(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut events = Events::with_capacity(1024);
        let mut waiting = self.slots.len();
        // Each connection gets a first turn (writes its request).
        let mut turn: Vec<usize> = (0..self.slots.len()).collect();
        while waiting > 0 {
            for i in turn.drain(..) {
                let Client::Proto(p) = &mut self.slots[i].client else {
                    continue;
                };
                if p.open {
                    continue;
                }
                p.ready(&mut self.scratch, &self.payload, true)?;
                if p.c.driver().is_open() {
                    let names: Vec<&str> =
                        p.c.driver()
                            .session()
                            .connection()
                            .map(|c| c.extension_names().collect())
                            .unwrap_or_default();
                    if self.o.deflate && !names.contains(&"permessage-deflate") {
                        return Err(bad(format!(
                            "permessage-deflate not accepted (extensions: {names:?})"
                        )));
                    }
                    p.open = true;
                    waiting -= 1;
                }
            }
            if waiting == 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(bad(format!("{waiting} handshakes still open after 60 s")));
            }
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)))
            {
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
            turn.extend(events.iter().map(|e| e.token().0));
        }
        Ok(())
    }

    /// Sends slot `i`'s next message.
    fn send(&mut self, i: usize) -> io::Result<()> {
        let verify = self.verify(self.slots[i].done);
        match &mut self.slots[i].client {
            Client::Fast(f) => {
                f.verify = verify;
                f.wpos = 0;
                f.flush(&self.wire)
            }
            Client::Proto(p) => p.send(&self.msg),
        }
    }

    /// One echo on slot `i` came back: count it, send the next (now or
    /// when due).
    fn completed(&mut self, i: usize, now: Instant) -> io::Result<()> {
        self.total += 1;
        let slot = &mut self.slots[i];
        slot.done += 1;
        if slot.done >= self.limit {
            return Ok(());
        }
        if self.interval.is_zero() {
            return self.send(i);
        }
        let mut due = slot.due + self.interval;
        if due + self.interval * 10 < now {
            // Far behind (the server cannot keep up): do not burst.
            due = now;
        }
        slot.due = due;
        if due <= now {
            self.send(i)
        } else {
            self.queue.push(Reverse((due, i)));
            Ok(())
        }
    }

    /// Handles readiness of slot `i`.
    fn event(&mut self, i: usize, ev: &mio::event::Event, now: Instant) -> io::Result<()> {
        let verify = self.verify(self.slots[i].done);
        match &mut self.slots[i].client {
            Client::Fast(f) => {
                if ev.is_writable() && f.wpos < self.wire.frame.len() {
                    f.flush(&self.wire)?;
                }
                if (ev.is_readable() || ev.is_read_closed() || ev.is_error())
                    && f.read(&self.wire, &mut self.scratch)?
                {
                    self.completed(i, now)?;
                }
            }
            Client::Proto(p) => {
                let n = p.ready(&mut self.scratch, &self.payload, verify)?;
                for _ in 0..n {
                    self.completed(i, now)?;
                }
            }
        }
        Ok(())
    }

    /// Sends what is due; returns the time until the next is.
    fn send_due(&mut self, now: Instant) -> io::Result<Option<Duration>> {
        while let Some(Reverse((due, i))) = self.queue.peek().copied() {
            if due > now {
                return Ok(Some(due - now));
            }
            self.queue.pop();
            self.send(i)?;
        }
        Ok(None)
    }

    /// Runs the loop; `tick` is called at each window boundary and ends
    /// the run by returning true.
    fn run(&mut self, mut tick: impl FnMut(&mut Load, Instant) -> bool) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + self.o.window;
        loop {
            let now = Instant::now();
            if now >= next_tick {
                if tick(self, now) {
                    return Ok(());
                }
                next_tick += self.o.window;
                if next_tick < now {
                    next_tick = now + self.o.window;
                }
            }
            let mut timeout = next_tick.saturating_duration_since(now);
            if let Some(d) = self.send_due(now)? {
                timeout = timeout.min(d);
            }
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for ev in events.iter() {
                let i = ev.token().0;
                self.event(i, ev, now)
                    .map_err(|e| bad(format!("connection {i}: {e}")))?;
            }
        }
    }

    /// Starts every connection's first message (staggered when paced).
    fn start(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if self.interval.is_zero() {
                self.send(i)?;
            } else {
                let due = now + self.interval.mul_f64(i as f64 / self.slots.len() as f64);
                self.slots[i].due = due;
                self.queue.push(Reverse((due, i)));
            }
        }
        Ok(())
    }
}

fn ws_proto_request(port: u16, tls: bool) -> io::Result<http_upgrade::ClientRequest> {
    let scheme = if tls { "wss" } else { "ws" };
    http_upgrade::ClientRequest::new(&format!("{scheme}://127.0.0.1:{port}/"))
        .map_err(|e| bad(e.to_string()))
}

fn client_options(o: &Opts) -> io::Result<ClientOptions> {
    let mut session = SessionConfig::new(Config::default());
    if o.deflate {
        session = session.with_negotiator(deflate_ext::PerMessageDeflate::negotiator());
    }
    let mut options = ClientOptions::new(session);
    if o.tls {
        let tls = ws_adapters::tls::ClientTls::dangerous_accept_any_certificate()
            .map_err(|e| bad(e.to_string()))?;
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// CPU ticks of the server and of this process.
fn cpu(o: &Opts) -> (Option<u64>, u64) {
    let server = o.server_pid.and_then(|p| cpu_ticks(p).ok());
    (server, cpu_ticks(std::process::id()).unwrap_or(0))
}

fn idle(mut load: Load) -> io::Result<()> {
    let want = load.o.idle_messages;
    if want > 0 {
        load.limit = want;
        load.start()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        load.run(|l, now| now > deadline || l.total >= want * l.slots.len() as u64)?;
        let short = load.slots.iter().filter(|s| s.done < want).count();
        if short > 0 {
            return Err(bad(format!("{short} connections did not echo in time")));
        }
    }
    println!("READY {}", load.slots.len());
    std::thread::sleep(load.o.hold);
    Ok(())
}

fn measure(mut load: Load) -> io::Result<()> {
    let ticks = clk_tck() as f64;
    let begin = Instant::now();
    load.start()?;
    let warm_end = begin + load.o.warmup;
    let windows = (load.o.duration.as_secs_f64() / load.o.window.as_secs_f64()).round() as usize;
    let windows = windows.max(1);
    let mut rates: Vec<f64> = Vec::new();
    let mut mark: Option<(Instant, u64, (Option<u64>, u64))> = None;
    let mut last = (begin, 0u64);
    let mut end = None;
    load.run(|l, now| {
        match &mark {
            None if now + Duration::from_millis(1) >= warm_end => {
                mark = Some((now, l.total, cpu(&l.o)));
                last = (now, l.total);
                eprintln!("warm-up done: {} echoes", l.total);
            }
            None => {}
            Some(_) => {
                let rate = (l.total - last.1) as f64 / (now - last.0).as_secs_f64();
                eprintln!("window {}: {rate:.0} msgs/s", rates.len() + 1);
                rates.push(rate);
                last = (now, l.total);
                if rates.len() == windows {
                    end = Some((now, l.total, cpu(&l.o)));
                    return true;
                }
            }
        }
        false
    })?;
    let (Some((t0, n0, (s0, c0))), Some((t1, n1, (s1, c1)))) = (mark, end) else {
        return Err(bad("no measuring window"));
    };
    let secs = (t1 - t0).as_secs_f64();
    let msgs = n1 - n0;
    let mean = msgs as f64 / secs;
    let mut line = format!(
        "RESULT conns={} size={} mode={:?} deflate={} tls={} windows={} msgs={} median={:.0} mean={:.0} min={:.0} max={:.0} client_cpu_pct={:.1} total={}",
        load.o.conns,
        load.o.size,
        load.o.mode,
        u8::from(load.o.deflate),
        u8::from(load.o.tls),
        rates.len(),
        msgs,
        median(&rates),
        mean,
        rates.iter().copied().fold(f64::INFINITY, f64::min),
        rates.iter().copied().fold(0.0, f64::max),
        (c1 - c0) as f64 / ticks / secs * 100.0,
        load.total,
    );
    if let (Some(s0), Some(s1)) = (s0, s1) {
        let cpu_s = (s1 - s0) as f64 / ticks;
        line += &format!(
            " server_cpu_pct={:.1} server_us_per_msg={:.3}",
            cpu_s / secs * 100.0,
            cpu_s * 1e6 / msgs.max(1) as f64
        );
    }
    if let Some(r) = load.o.rate {
        line += &format!(" rate={r:.0}");
    }
    println!("{line}");
    Ok(())
}

fn main() {
    let o = opts();
    let idle_mode = o.idle;
    let run = || -> io::Result<()> {
        let mut load = Load::new(o)?;
        load.open()?;
        eprintln!("{} connections open", load.slots.len());
        if idle_mode { idle(load) } else { measure(load) }
    };
    if let Err(e) = run() {
        eprintln!("ws-load: {e}");
        std::process::exit(1);
    }
}

//! Broadcast to many connections: one 64-byte message to 10,000
//! WebSocket connections, our servers against the same fan-out written
//! with tokio-tungstenite.
//!
//! A run measures, for one server, the **time to deliver to all** (from
//! the request to the moment the last reading connection holds the whole
//! message; the median and the maximum over the rounds), the **server's
//! CPU time per broadcast** (user + system, from `/proc/<pid>/stat`) and
//! its **resident memory** (`VmRSS`) before and after the rounds. With
//! `--stalled K`, K more connections complete the handshake and then never
//! read (receive buffer set small before connecting): the readers'
//! delivery time and the server's memory should stay bounded.
//!
//! Servers (each in its own process, this binary re-run with `--serve`;
//! one thread each; binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/`):
//!
//! * `ours-mio`: the library's server model, a [`Protocols`] table on the
//!   mio [`Server`](ws_adapters::mio::Server). The `bench` protocol puts
//!   every connection's push handle in one [`Group`] (default
//!   [`SlowConsumer`]: a member with more than 1 MiB queued misses the
//!   message); `go:N` from a client makes it broadcast N bytes, the frame
//!   built once, the payload shared.
//! * `ours-tokio`: the same table on [`ws_adapters::tokio::Server`], a
//!   task per connection (`Protocols::run`), current-thread runtime.
//! * `tungstenite`: tokio-tungstenite 0.30, current-thread runtime, the
//!   common pattern: a task per connection, its write half owned by a
//!   writer task fed by an unbounded channel, the senders in a shared map;
//!   on `go:N` the reader sends one `Message::Binary` (the `Bytes` shared)
//!   into every connection's channel.
//! * `raw-mio`: the floor, no WebSocket library: one mio `Poll`, a fixed
//!   `101` answer, the frame encoded once per broadcast and written with
//!   one `write` per connection (a connection with more than 1 MiB
//!   unwritten misses the message, as in our group).
//!
//! After each broadcast the server answers the requesting connection with
//! a text message `sent=S skipped=K gone=G` (its `Delivery`; tungstenite
//! skips nothing).
//!
//! The driver is one mio `Poll` loop holding all the client connections
//! (raw TCP: the handshake written by hand, the server's frames parsed
//! without keeping payloads). Connection 0 sends masked `go:SIZE`; a round
//! ends when every reading connection has received that round's binary
//! message; rounds are sequential, each bounded by `--timeout`.
//!
//! ```text
//! broadcast --server ours-mio|ours-tokio|tungstenite|raw-mio [--conns 10000]
//!           [--rounds 50] [--size 64] [--stalled 0] [--warmup 1]
//!           [--timeout 30] [--label NAME] [--times]
//! broadcast --drive ws://127.0.0.1:PORT/ [--server-pid PID] [options as above]
//! broadcast --serve ours-mio|ours-tokio|tungstenite|raw-mio [--port 0]
//! ```
//!
//! `--server` starts the server as a child process (killed at the end,
//! also on error) and drives it; `--drive` drives a server started
//! elsewhere (its CPU and memory only with `--server-pid`). The driver
//! prints a summary on stderr and one `RESULT key=value ...` line on
//! stdout (`scripts/bench/broadcast.sh` collects them into a table;
//! `--times` adds every round's time and the server's skips). Each
//! process needs about `--conns` descriptors: the limit is raised towards
//! 30,000 (at most the hard limit, printed).

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_upgrade::testing::SplitMix;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use ws_adapters::{
    Ctx, Delivery, End, Event, Group, MemberId, Protocol, Protocols, Push, ServerOptions,
    SlowConsumer, session_config,
};
use ws_benches::{Args, announce, clk_tck, cpu_ticks, loopback, mask_key, median, vm_rss_kib};

const USAGE: &str = "\
broadcast: one message to many WebSocket connections, time to deliver to
all, server CPU and RSS (see the doc comment of benches/src/bin/broadcast.rs)

  --server MODE      start a server (ours-mio | ours-tokio | tungstenite |
                     raw-mio) as a child process and drive it
  --drive URL        drive a server started elsewhere (ws://127.0.0.1:PORT/)
  --server-pid PID   with --drive: the server's pid (CPU and RSS)
  --conns N          reading connections (default 10000; connection 0
                     asks for the broadcasts)
  --rounds R         measured broadcasts (default 50)
  --warmup W         broadcasts before measuring (default 1)
  --size S           payload bytes (default 64)
  --stalled K        connections that never read (default 0)
  --timeout SECS     bound on one round (default 30)
  --label NAME       name in the RESULT line (default: the server mode)
  --times            print every round's delivery time (ms) and whether
                     the server skipped a member, on stderr
  --serve MODE       be the server (with --port P, default 0)";

/// File descriptors each process asks for (at most the hard limit).
const WANT_FDS: usize = 30_000;
/// The subprotocol every client asks for.
const PROTOCOL: &str = "bench";
/// Handshakes in flight at once (below the listen backlog: std and mio
/// listen with 128).
const CONNECTING_AT_ONCE: usize = 100;
/// Receive buffer asked for on a stalled connection (the kernel doubles
/// it and applies its minimum).
const STALLED_RCVBUF: usize = 4096;
/// A fixed handshake key (the server's answer is not checked against it).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

// ---------------------------------------------------------------- servers

/// The `bench` protocol: every connection joins one group; `go:N`
/// broadcasts N bytes to it.
struct Bench {
    group: Arc<Group<Arc<dyn Push>>>,
}

impl Protocol for Bench {
    type State = Option<MemberId>;

    fn established(&self, cx: &mut Ctx<'_>) -> Self::State {
        cx.push_handle().map(|p| self.group.join(p))
    }

    fn event(&self, _: &mut Self::State, cx: &mut Ctx<'_>, event: Event) {
        let Event::Text(text) = event else { return };
        let Some(size) = go_size(text.as_str()) else {
            return;
        };
        let d: Delivery = self.group.broadcast_binary(payload(size));
        let _ = cx.send_text(reply(d.sent, d.skipped, d.gone + d.closed));
    }

    fn closed(&self, state: Self::State, _: &End) {
        if let Some(id) = state {
            self.group.leave(id);
        }
    }
}

/// The size asked for by a `go:N` request.
fn go_size(text: &str) -> Option<usize> {
    text.strip_prefix("go:")?.parse().ok()
}

/// A broadcast's payload, allocated once per broadcast.
fn payload(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

/// The answer to a `go:N` request.
fn reply(sent: usize, skipped: usize, gone: usize) -> String {
    format!("sent={sent} skipped={skipped} gone={gone}")
}

/// The table both of our servers run (one group).
fn bench_table() -> Protocols {
    let group = Arc::new(Group::new(SlowConsumer::default()));
    Protocols::new()
        .protocol(PROTOCOL, Bench { group })
        .default_protocol(PROTOCOL)
}

/// No compression, the connection limit above the connection count.
fn server_options(table: &Protocols) -> ServerOptions {
    let session = session_config(ws_proto::Config::default(), false);
    table.options(ServerOptions::new(session).with_max_connections(WANT_FDS))
}

fn serve_ours_mio(addr: SocketAddr) -> io::Result<()> {
    let table = bench_table();
    let options = server_options(&table);
    let mut server = ws_adapters::mio::Server::bind(addr, options, table)?;
    announce(server.local_addr()?);
    server.run()
}

fn serve_ours_tokio(addr: SocketAddr) -> io::Result<()> {
    let table = bench_table();
    let options = server_options(&table);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = ws_adapters::tokio::Server::bind(addr, options).await?;
        announce(server.local_addr()?);
        loop {
            let (ws, _) = server.accept().await.map_err(io::Error::other)?;
            let table = table.clone();
            tokio::spawn(async move {
                let _ = table.run(ws).await;
            });
        }
    })
}

type Tx = tokio::sync::mpsc::UnboundedSender<tungstenite::Message>;
/// Every connection's sender (the tokio-tungstenite server example's
/// `PeerMap`).
type PeerMap = Arc<Mutex<HashMap<SocketAddr, Tx>>>;

fn serve_tungstenite(addr: SocketAddr) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        let peers = PeerMap::default();
        loop {
            let (stream, peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(tungstenite_conn(peers.clone(), stream, peer));
        }
    })
}

/// One tokio-tungstenite connection: a reader (this task) and a writer
/// task fed by an unbounded channel.
async fn tungstenite_conn(peers: PeerMap, stream: tokio::net::TcpStream, peer: SocketAddr) {
    use futures_util::{SinkExt, StreamExt};
    use tungstenite::Message;
    use tungstenite::handshake::server::{ErrorResponse, Request, Response};

    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let answer = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
        if offered {
            resp.headers_mut()
                .insert("sec-websocket-protocol", PROTOCOL.parse().expect("header"));
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, answer).await else {
        return;
    };
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    peers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(peer, tx.clone());
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if write.send(msg).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = read.next().await {
        let Message::Text(text) = msg else { continue };
        let Some(size) = go_size(text.as_str()) else {
            continue;
        };
        let data = payload(size);
        let (mut sent, mut gone) = (0, 0);
        for tx in peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            match tx.send(Message::Binary(data.clone())) {
                Ok(()) => sent += 1,
                Err(_) => gone += 1,
            }
        }
        let _ = tx.send(Message::text(reply(sent, 0, gone)));
    }
    peers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&peer);
}

/// The answer of the raw floor to the driver's fixed key (RFC 6455's
/// example key and accept value).
const RAW_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: bench\r\n\r\n";

/// One connection of the raw floor.
struct RawConn {
    s: TcpStream,
    open: bool,
    /// Bytes read and not yet parsed (the request head, then frames).
    input: Vec<u8>,
    /// Bytes the socket did not take.
    pending: Vec<u8>,
}

impl RawConn {
    /// Writes `data` after what is pending; what the socket does not take
    /// waits.
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(data);
            return self.flush();
        }
        let mut off = 0;
        while off < data.len() {
            match self.s.write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.extend_from_slice(&data[off..]);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.s.write(&self.pending) {
                Ok(n) => drop(self.pending.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there; the `go:N` requests among the client's
    /// (masked, short) text frames. `Err` at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<Vec<usize>> {
        loop {
            match self.s.read(buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.open {
            let Some(end) = self.input.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(Vec::new());
            };
            self.input.drain(..end + 4);
            self.open = true;
            self.send(RAW_101)?;
        }
        let mut gos = Vec::new();
        // Client frames: FIN, masked, payload under 126 bytes.
        while self.input.len() >= 6 {
            let len = usize::from(self.input[1] & 0x7f);
            if len >= 126 || self.input[1] & 0x80 == 0 {
                return Err(io::Error::other("raw floor: unexpected client frame"));
            }
            if self.input.len() < 6 + len {
                break;
            }
            let key = [self.input[2], self.input[3], self.input[4], self.input[5]];
            let text: Vec<u8> = self.input[6..6 + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            if self.input[0] & 0x0f == 1 {
                if let Some(n) = std::str::from_utf8(&text).ok().and_then(go_size) {
                    gos.push(n);
                }
            }
            self.input.drain(..6 + len);
        }
        Ok(gos)
    }
}

/// An unmasked frame header for `len` payload bytes.
fn frame_head(opcode: u8, len: usize) -> Vec<u8> {
    let mut h = vec![0x80 | opcode];
    match len {
        0..=125 => h.push(len as u8),
        126..=0xffff => {
            h.push(126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(127);
            h.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    h
}

/// The floor: no WebSocket library, one mio `Poll`. The handshake is
/// answered with a fixed `101` (right only for the driver's key), the
/// frame is encoded once per broadcast and written with one `write` per
/// connection; a connection with more than 1 MiB unwritten misses the
/// message (as our group's default).
fn serve_raw_mio(addr: SocketAddr) -> io::Result<()> {
    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new()?;
    let mut listener = mio::net::TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?);
    let mut conns: Vec<Option<RawConn>> = Vec::new();
    let mut free = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    let (mut s, _) = match listener.accept() {
                        Ok(x) => x,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    };
                    s.set_nodelay(true)?;
                    let i = free.pop().unwrap_or(conns.len());
                    poll.registry().register(
                        &mut s,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    let c = RawConn {
                        s,
                        open: false,
                        input: Vec::new(),
                        pending: Vec::new(),
                    };
                    match conns.get_mut(i) {
                        Some(slot) => *slot = Some(c),
                        None => conns.push(Some(c)),
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(Some(c)) = conns.get_mut(i) else {
                continue;
            };
            let r = c.flush().and_then(|()| c.read(&mut buf));
            let gos = match r {
                Ok(gos) => gos,
                Err(_) => {
                    if let Some(mut c) = conns[i].take() {
                        let _ = poll.registry().deregister(&mut c.s);
                    }
                    free.push(i);
                    continue;
                }
            };
            for size in gos {
                let mut frame = frame_head(2, size);
                frame.extend_from_slice(&payload(size));
                let (mut sent, mut skipped) = (0, 0);
                for c in conns.iter_mut().flatten().filter(|c| c.open) {
                    if c.pending.len() > ws_adapters::HIGH_WATER {
                        skipped += 1;
                    } else if c.send(&frame).is_ok() {
                        sent += 1;
                    }
                }
                let text = reply(sent, skipped, 0);
                let mut answer = frame_head(1, text.len());
                answer.extend_from_slice(text.as_bytes());
                if let Some(Some(c)) = conns.get_mut(i) {
                    let _ = c.send(&answer);
                }
            }
        }
    }
}

fn serve(mode: &str, port: u16) -> ! {
    let fds = ws_adapters::raise_fd_limit(WANT_FDS);
    eprintln!("broadcast server {mode}: descriptor limit {fds}");
    let addr = loopback(port);
    let r = match mode {
        "ours-mio" => serve_ours_mio(addr),
        "ours-tokio" => serve_ours_tokio(addr),
        "tungstenite" => serve_tungstenite(addr),
        "raw-mio" => serve_raw_mio(addr),
        other => {
            eprintln!("unknown server mode {other}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    match r {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("broadcast server {mode}: {e}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------- driver

/// A complete message from the server.
enum Got {
    Binary,
    Text(String),
}

/// The server's frames (unmasked), parsed as they come without keeping
/// binary payloads; text messages are kept (the server's replies).
#[derive(Default)]
struct Frames {
    head: [u8; 14],
    head_len: usize,
    /// Payload bytes left of the frame being read; `None` while reading a
    /// header.
    left: Option<u64>,
    opcode: u8,
    fin: bool,
    /// The opcode of the message being received (0: none).
    message: u8,
    /// The payload of a text message or a close frame being received.
    kept: Vec<u8>,
}

/// Header bytes of a frame whose second byte is `b1`.
fn header_size(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl Frames {
    fn keeps(&self) -> bool {
        self.opcode == 8 || (self.message == 1 && self.opcode <= 1)
    }

    /// Parses `data`, calling `got` for every complete data message. A
    /// close frame or a protocol error is an `Err`.
    fn feed(&mut self, mut data: &[u8], got: &mut impl FnMut(Got)) -> Result<(), String> {
        loop {
            let Some(left) = self.left else {
                if data.is_empty() {
                    return Ok(());
                }
                let want = if self.head_len < 2 {
                    2
                } else {
                    header_size(self.head[1])
                };
                let take = (want - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                self.head_len += take;
                data = &data[take..];
                if self.head_len >= 2 && self.head_len == header_size(self.head[1]) {
                    self.start_frame()?;
                }
                continue;
            };
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
            if self.keeps() {
                self.kept.extend_from_slice(&data[..take]);
            }
            data = &data[take..];
            let left = left - take as u64;
            self.left = Some(left);
            if left > 0 {
                return Ok(());
            }
            self.end_frame(got)?;
        }
    }

    fn start_frame(&mut self) -> Result<(), String> {
        let (b0, b1) = (self.head[0], self.head[1]);
        if b1 & 0x80 != 0 {
            return Err("the server sent a masked frame".into());
        }
        if b0 & 0x70 != 0 {
            return Err(format!("unexpected RSV bits in {b0:#04x}"));
        }
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut b = [0; 8];
                b.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        self.fin = b0 & 0x80 != 0;
        self.opcode = b0 & 0x0f;
        match self.opcode {
            1 | 2 if self.message == 0 => {
                self.message = self.opcode;
                self.kept.clear();
            }
            0 if self.message != 0 => {}
            8..=10 => {
                if self.opcode == 8 {
                    self.kept.clear();
                }
            }
            op => return Err(format!("unexpected opcode {op}")),
        }
        self.head_len = 0;
        self.left = Some(len);
        Ok(())
    }

    fn end_frame(&mut self, got: &mut impl FnMut(Got)) -> Result<(), String> {
        self.left = None;
        match self.opcode {
            8 => {
                let code = match self.kept.get(..2) {
                    Some(c) => u16::from_be_bytes([c[0], c[1]]).to_string(),
                    None => "none".into(),
                };
                let reason = String::from_utf8_lossy(self.kept.get(2..).unwrap_or_default());
                Err(format!(
                    "the server closed the connection ({code} {reason})"
                ))
            }
            9 | 10 => Ok(()),
            _ if !self.fin => Ok(()),
            _ => {
                let kind = std::mem::take(&mut self.message);
                got(if kind == 1 {
                    Got::Text(String::from_utf8_lossy(&self.kept).into_owned())
                } else {
                    Got::Binary
                });
                Ok(())
            }
        }
    }
}

/// Where a client connection is.
enum Phase {
    Connecting,
    /// The request is written; the response so far.
    Upgrading(Vec<u8>),
    Open,
}

struct Client {
    stream: TcpStream,
    phase: Phase,
    /// Bytes to write (the request, `go` frames).
    out: Vec<u8>,
    frames: Frames,
    /// Binary messages received.
    received: u64,
}

impl Client {
    /// Writes what the socket takes of `out`.
    fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(self.out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Bytes read from the server.
    fn input(&mut self, data: &[u8], i: usize, tally: &mut Tally) -> Result<(), String> {
        let data = match &mut self.phase {
            Phase::Connecting => return Err("data before the connection completed".into()),
            Phase::Open => data,
            Phase::Upgrading(head) => {
                head.extend_from_slice(data);
                let Some(end) = upgraded(head)? else {
                    return Ok(());
                };
                let rest = head.split_off(end);
                self.phase = Phase::Open;
                tally.opened += 1;
                return self.input(&rest, i, tally);
            }
        };
        let received = &mut self.received;
        self.frames.feed(data, &mut |got| match got {
            Got::Binary => {
                *received += 1;
                if *received == tally.round {
                    tally.done += 1;
                }
            }
            Got::Text(t) if i == 0 => tally.replies.push(t),
            Got::Text(_) => {}
        })
    }
}

/// The opening handshake request, written by hand.
fn request(host: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
    )
}

/// Checks a complete response head; the bytes after it.
fn upgraded(head: &[u8]) -> Result<Option<usize>, String> {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        if head.len() > 16 * 1024 {
            return Err("no end of the response head in 16 KiB".into());
        }
        return Ok(None);
    };
    let status = head.split(|&b| b == b'\r').next().unwrap_or_default();
    if !status.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "the server answered {:?}",
            String::from_utf8_lossy(status)
        ));
    }
    Ok(Some(end + 4))
}

/// A masked text frame `go:SIZE`.
fn go_frame(size: usize, key: [u8; 4]) -> Vec<u8> {
    let text = format!("go:{size}");
    let mut f = vec![0x81, 0x80 | text.len() as u8];
    f.extend_from_slice(&key);
    f.extend(text.bytes().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// What the connections have received, for the current round.
#[derive(Default)]
struct Tally {
    opened: usize,
    /// Binary messages each reader must hold to finish the round.
    round: u64,
    /// Readers that hold them.
    done: usize,
    /// The server's replies (to connection 0), in order.
    replies: Vec<String>,
}

/// All the reading connections, on one `Poll`.
struct Fleet {
    addr: SocketAddr,
    request: Vec<u8>,
    poll: Poll,
    clients: Vec<Client>,
    scratch: Box<[u8]>,
    tally: Tally,
}

impl Fleet {
    fn new(addr: SocketAddr) -> io::Result<Fleet> {
        Ok(Fleet {
            addr,
            request: request(&addr.to_string()).into_bytes(),
            poll: Poll::new()?,
            clients: Vec::new(),
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
            tally: Tally::default(),
        })
    }

    /// Opens `n` connections (handshakes included), a bounded number in
    /// flight at once.
    fn open(&mut self, n: usize, events: &mut Events, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while self.tally.opened < n {
            while self.clients.len() < n
                && self.clients.len() - self.tally.opened < CONNECTING_AT_ONCE
            {
                let i = self.clients.len();
                let mut stream = TcpStream::connect(self.addr).map_err(|e| {
                    format!("connection {i}: connect: {e} (descriptors or ephemeral ports?)")
                })?;
                self.poll
                    .registry()
                    .register(
                        &mut stream,
                        Token(i),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map_err(|e| format!("connection {i}: register: {e}"))?;
                self.clients.push(Client {
                    stream,
                    phase: Phase::Connecting,
                    out: Vec::new(),
                    frames: Frames::default(),
                    received: 0,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "only {} of {n} connections opened within {within:?}",
                    self.tally.opened
                ));
            }
            self.turn(events, deadline - now)?;
        }
        Ok(())
    }

    /// One poll, and what its events bring.
    fn turn(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        match self.poll.poll(events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            r => r.map_err(|e| format!("poll: {e}"))?,
        }
        for ev in events.iter() {
            let i = ev.token().0;
            self.ready(i, ev.is_read_closed() || ev.is_error())
                .map_err(|e| format!("connection {i}: {e}"))?;
        }
        Ok(())
    }

    /// Moves connection `i` on after a readiness event.
    fn ready(&mut self, i: usize, read_closed: bool) -> Result<(), String> {
        let Fleet {
            request,
            clients,
            scratch,
            tally,
            ..
        } = self;
        let Some(c) = clients.get_mut(i) else {
            return Ok(());
        };
        if let Phase::Connecting = c.phase {
            if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                return Err(format!("connect: {e}"));
            }
            match c.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("connect: {e}")),
            }
            c.phase = Phase::Upgrading(Vec::new());
            c.out.extend_from_slice(request);
        }
        c.flush().map_err(|e| format!("write: {e}"))?;
        loop {
            let n = match c.stream.read(scratch) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            c.input(&scratch[..n], i, tally)?;
            // A short read drained the socket (new data brings a new
            // edge), unless the peer's FIN waits behind it.
            if n < scratch.len() && !read_closed {
                return Ok(());
            }
        }
    }

    /// Runs one broadcast: asks for it on connection 0 and waits until
    /// every connection has it. The time to deliver to all.
    fn round(
        &mut self,
        size: usize,
        rng: &mut SplitMix,
        events: &mut Events,
        timeout: Duration,
    ) -> Result<Duration, String> {
        self.tally.round += 1;
        self.tally.done = 0;
        let start = Instant::now();
        let deadline = start + timeout;
        let c = self.clients.first_mut().ok_or("no connections")?;
        c.out.extend(go_frame(size, mask_key(rng)));
        c.flush().map_err(|e| format!("connection 0: write: {e}"))?;
        while self.tally.done < self.clients.len() {
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "round {}: only {} of {} connections received the message within {timeout:?}",
                    self.tally.round,
                    self.tally.done,
                    self.clients.len()
                ));
            }
            self.turn(events, deadline - now)?;
        }
        Ok(start.elapsed())
    }

    /// Waits (at most `within`) until `n` replies have come.
    fn replies(&mut self, n: usize, events: &mut Events, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while self.tally.replies.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.turn(events, deadline - now)?;
        }
        Ok(())
    }
}

/// A connection that completes the handshake and never reads again, its
/// receive buffer set small before connecting.
fn open_stalled(addr: SocketAddr) -> Result<std::net::TcpStream, String> {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    sockopt::set_socket_recv_buffer_size(&fd, STALLED_RCVBUF)
        .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    rustix::net::connect(&fd, &addr).map_err(|e| format!("connect: {e}"))?;
    let mut s = std::net::TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    s.write_all(request(&addr.to_string()).as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    loop {
        let n = s.read(&mut buf).map_err(|e| format!("handshake: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection in the handshake".into());
        }
        head.extend_from_slice(&buf[..n]);
        if upgraded(&head)?.is_some() {
            return Ok(s);
        }
    }
}

/// A server's reply to a `go` request: `sent=S skipped=K gone=G`.
struct Reply {
    sent: u64,
    skipped: u64,
    gone: u64,
}

impl Reply {
    /// Missing or malformed fields count 0.
    fn parse(text: &str) -> Reply {
        let field = |k: &str| -> u64 {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Reply {
            sent: field("sent"),
            skipped: field("skipped"),
            gone: field("gone"),
        }
    }

    /// Members of the group when the broadcast came.
    fn members(&self) -> u64 {
        self.sent + self.skipped + self.gone
    }

    /// Every member sent (.), one skipped (s), one found closed (g), fewer
    /// members than `first` (-: one left the group).
    fn mark(&self, first: u64) -> char {
        match (self.skipped, self.gone) {
            (0, 0) if self.members() < first => '-',
            (0, 0) => '.',
            (_, 0) => 's',
            _ => 'g',
        }
    }
}

/// A server process of ours, killed when dropped.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this binary as a `mode` server; its address from the line it
/// prints (within 10 s).
fn spawn_server(mode: &str) -> Result<(ServerChild, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args(["--serve", mode, "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the {mode} server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout of the server")?;
    let child = ServerChild(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("the {mode} server did not start within 10 s"))?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("the {mode} server printed {line:?}"))?;
    Ok((child, parse_url(url)?))
}

/// The address of `ws://127.0.0.1:PORT/` (loopback only).
fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("not a ws:// URL: {url}"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let addr: SocketAddr = host
        .parse()
        .map_err(|e| format!("{url}: {e} (give an IP address and port)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{url}: the benchmark only drives loopback servers"));
    }
    Ok(addr)
}

struct Plan {
    label: String,
    server: String,
    conns: usize,
    rounds: usize,
    warmup: usize,
    size: usize,
    stalled: usize,
    timeout: Duration,
    /// Print every round's time.
    times: bool,
}

/// CPU time (ms) and RSS (KiB) of `pid`, if known.
fn sample(pid: Option<u32>) -> (Option<u64>, Option<u64>) {
    match pid {
        Some(p) => (cpu_ticks(p).ok(), vm_rss_kib(p).ok()),
        None => (None, None),
    }
}

fn show(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "na".to_owned(), |v| v.to_string())
}

fn drive(plan: &Plan, addr: SocketAddr, pid: Option<u32>) -> Result<(), String> {
    let fds = ws_adapters::raise_fd_limit(WANT_FDS);
    let mut conns = plan.conns;
    let need = conns + plan.stalled + 64;
    if fds < need {
        conns = fds.saturating_sub(plan.stalled + 64).max(1);
        eprintln!(
            "descriptor limit {fds} (hard limit): {} connections need {need}; \
             driving {conns} instead",
            plan.conns
        );
    }
    let mut events = Events::with_capacity(4096);
    let mut fleet = Fleet::new(addr).map_err(|e| format!("poll: {e}"))?;
    let started = Instant::now();
    fleet.open(conns, &mut events, Duration::from_secs(120))?;
    let mut stalled = Vec::new();
    for k in 0..plan.stalled {
        stalled.push(open_stalled(addr).map_err(|e| format!("stalled connection {k}: {e}"))?);
    }
    let open_time = started.elapsed();
    let (_, rss_open) = sample(pid);

    let mut rng = SplitMix::new(0x6272_6f61_6463_6173);
    for _ in 0..plan.warmup {
        fleet.round(plan.size, &mut rng, &mut events, plan.timeout)?;
    }
    let (cpu0, rss0) = sample(pid);
    let me = std::process::id();
    let own0 = cpu_ticks(me).ok();
    let mut times = Vec::with_capacity(plan.rounds);
    for _ in 0..plan.rounds {
        let t = fleet.round(plan.size, &mut rng, &mut events, plan.timeout)?;
        times.push(t.as_secs_f64() * 1e3);
    }
    let (cpu1, rss1) = sample(pid);
    let own1 = cpu_ticks(me).ok();
    if plan.times {
        let all: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
        eprintln!("{}: round times (ms): {}", plan.label, all.join(" "));
    }
    let total = plan.warmup + plan.rounds;
    fleet.replies(total, &mut events, Duration::from_secs(5))?;

    let ms_per = |a: Option<u64>, b: Option<u64>| {
        let ticks = b?.checked_sub(a?)?;
        Some(format!(
            "{:.2}",
            ticks as f64 * 1e3 / clk_tck() as f64 / plan.rounds.max(1) as f64
        ))
    };
    // The server's replies over the measured rounds.
    let replies: Vec<Reply> = fleet
        .tally
        .replies
        .iter()
        .skip(plan.warmup)
        .map(|r| Reply::parse(r))
        .collect();
    let skipped: u64 = replies.iter().map(|r| r.skipped).sum();
    let gone: u64 = replies.iter().map(|r| r.gone).sum();
    let first_skip = replies.iter().position(|r| r.skipped > 0).map(|n| n + 1);
    let members_first = replies.first().map(Reply::members);
    let members_last = replies.last().map(Reply::members);
    if plan.times {
        let first = members_first.unwrap_or(0);
        let marks: String = replies.iter().map(|r| r.mark(first)).collect();
        eprintln!(
            "{}: per round, all sent (.), skipped (s), gone (g), fewer members (-): {marks}",
            plan.label
        );
    }
    let max = times.iter().copied().fold(0.0, f64::max);
    let growth = rss0.zip(rss1).map(|(a, b)| b as i64 - a as i64);
    let result = [
        ("label", plan.label.clone()),
        ("server", plan.server.clone()),
        ("conns", conns.to_string()),
        ("stalled", plan.stalled.to_string()),
        ("size", plan.size.to_string()),
        ("rounds", plan.rounds.to_string()),
        ("open_s", format!("{:.2}", open_time.as_secs_f64())),
        ("median_ms", format!("{:.2}", median(&times))),
        ("max_ms", format!("{max:.2}")),
        ("server_cpu_ms", show(ms_per(cpu0, cpu1))),
        ("driver_cpu_ms", show(ms_per(own0, own1))),
        ("rss_open_kib", show(rss_open)),
        ("rss_before_kib", show(rss0)),
        ("rss_after_kib", show(rss1)),
        ("rss_growth_kib", show(growth)),
        ("replies", fleet.tally.replies.len().to_string()),
        ("members_first", show(members_first)),
        ("members_last", show(members_last)),
        ("skipped", skipped.to_string()),
        ("first_skip", show(first_skip)),
        ("gone", gone.to_string()),
        ("fds", fds.to_string()),
    ];
    eprintln!(
        "{}: {conns} connections (+{} stalled) open in {:.2} s; {} rounds of {} B: \
         delivery median {:.2} ms, max {max:.2} ms; server CPU {} ms per broadcast, \
         RSS {} -> {} KiB; skipped {skipped}, gone {gone}",
        plan.label,
        plan.stalled,
        open_time.as_secs_f64(),
        plan.rounds,
        plan.size,
        median(&times),
        show(ms_per(cpu0, cpu1)),
        show(rss0),
        show(rss1),
    );
    let line: Vec<String> = result.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    drop(stalled);
    Ok(())
}

fn main() {
    let mut a = Args::from_env(USAGE);
    if let Some(mode) = a.opt::<String>("--serve") {
        let port = a.value("--port", 0);
        a.finish();
        serve(&mode, port);
    }
    let server: Option<String> = a.opt("--server");
    let url: Option<String> = a.opt("--drive");
    let pid: Option<u32> = a.opt("--server-pid");
    let conns: usize = a.value("--conns", 10_000);
    let rounds: usize = a.value("--rounds", 50);
    let warmup: usize = a.value("--warmup", 1);
    let size: usize = a.value("--size", 64);
    let stalled: usize = a.value("--stalled", 0);
    let timeout = Duration::from_secs(a.value("--timeout", 30));
    let times = a.flag("--times");
    let label: Option<String> = a.opt("--label");
    if conns == 0 {
        a.fail("--conns must be at least 1");
    }
    let server_name = match (&server, &url) {
        (Some(mode), None) => mode.clone(),
        (None, Some(_)) => "external".to_owned(),
        _ => a.fail("give either --server MODE or --drive URL"),
    };
    a.finish();
    let plan = Plan {
        label: label.unwrap_or_else(|| server_name.clone()),
        server: server_name,
        conns,
        rounds,
        warmup,
        size,
        stalled,
        timeout,
        times,
    };
    let r = match (server, url) {
        (Some(mode), _) => spawn_server(&mode).and_then(|(child, addr)| {
            let r = drive(&plan, addr, Some(child.0.id()));
            drop(child);
            r
        }),
        (None, Some(url)) => parse_url(&url).and_then(|addr| drive(&plan, addr, pid)),
        (None, None) => Ok(()),
    };
    if let Err(e) = r {
        eprintln!("broadcast {}: {e}", plan.label);
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `step`; the messages seen.
    fn parse(bytes: &[u8], step: usize) -> Result<Vec<String>, String> {
        let mut f = Frames::default();
        let mut seen = Vec::new();
        for piece in bytes.chunks(step) {
            f.feed(piece, &mut |g| {
                seen.push(match g {
                    Got::Binary => "bin".to_owned(),
                    Got::Text(t) => t,
                })
            })?;
        }
        Ok(seen)
    }

    fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = frame_head(opcode, payload.len());
        if !fin {
            f[0] &= 0x7f;
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_in_any_pieces() {
        let mut bytes = frame(2, true, &[7; 64]);
        bytes.extend(frame(2, true, &[]));
        bytes.extend(frame(2, true, &vec![1; 70_000]));
        bytes.extend(frame(1, true, b"sent=3 skipped=0 gone=0"));
        bytes.extend(frame(9, true, b"ping"));
        bytes.extend(frame(1, false, b"frag"));
        bytes.extend(frame(0, true, b"ment"));
        bytes.extend(frame(2, true, &vec![2; 300]));
        for step in [1, 2, 3, 7, 1000, bytes.len()] {
            let seen = parse(&bytes, step).unwrap();
            let want = [
                "bin",
                "bin",
                "bin",
                "sent=3 skipped=0 gone=0",
                "fragment",
                "bin",
            ];
            assert_eq!(seen, want, "step {step}");
        }
    }

    #[test]
    fn close_and_masked_frames_are_errors() {
        let close = frame(8, true, &[0x03, 0xe8, b'b', b'y', b'e']);
        let e = parse(&close, 1).unwrap_err();
        assert!(e.contains("1000 bye"), "{e}");
        let mut masked = frame(2, true, &[0; 4]);
        masked[1] |= 0x80;
        assert!(parse(&masked, 100).is_err());
    }

    #[test]
    fn go_requests() {
        let key = [1, 2, 3, 4];
        let f = go_frame(16384, key);
        assert_eq!(f[0], 0x81);
        let text: Vec<u8> = f[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        assert_eq!(go_size(std::str::from_utf8(&text).unwrap()), Some(16384));
        assert_eq!(go_size("go:x"), None);
    }

    #[test]
    fn responses() {
        assert_eq!(upgraded(b"HTTP/1.1 101 Switching\r\n"), Ok(None));
        assert_eq!(upgraded(b"HTTP/1.1 101 OK\r\nA: b\r\n\r\nxy"), Ok(Some(25)));
        assert!(upgraded(b"HTTP/1.1 400 Bad\r\n\r\n").is_err());
        assert!(parse_url("ws://10.0.0.1:80/").is_err());
        assert_eq!(parse_url("ws://127.0.0.1:9/"), Ok(loopback(9)));
    }
}

//! Frame codec throughput against the field: `ws_proto::Connection`,
//! tungstenite, fastwebsockets and tokio-websockets decoding and encoding
//! the same messages in one run, in both roles.
//!
//! * **Decode.** Every implementation reads the same pre-encoded bytes from
//!   memory, at most [`CHUNK`] (64 KiB) per read call, and must deliver the
//!   expected number of messages and payload bytes (counted inside the timed
//!   loop, asserted after each iteration). The server decodes masked client
//!   frames (one mask key per frame, from a fixed seed), the client
//!   unmasked server frames. Ours reads either always into the
//!   connection's buffer (`ours`: `recv_buf` + `recv_commit`) or as the
//!   adapters' driver does over a socket (`ours_adapter`: into a shared
//!   16 KiB scratch buffer + `receive` between small frames; `recv_into`,
//!   uninitialized room of the connection's buffer, for the rest of a frame
//!   with at least 4 KiB to come, when 16 KiB of room is kept, or while
//!   input streams in). Whole-message APIs are used: tungstenite's
//!   `read`, fastwebsockets' `read_frame` (its `FragmentCollector` for the
//!   fragmented shapes), tokio-websockets' `Stream`, our `poll_event`.
//! * **Encode.** Every implementation turns the same payloads into wire
//!   bytes and writes them into a [`Sink`] that copies what it is given
//!   into a scratch buffer and discards it (as `write(2)` copies into a
//!   socket buffer): tungstenite `write` + `flush`, fastwebsockets
//!   `write_frame`, tokio-websockets `feed` + `flush`, ours `send_*`, then
//!   `fill_io_slices` / `write_vectored` / `advance_transmit`, either after
//!   every message (`ours`, what an adapter does after each send) or when
//!   64 KiB are queued (`ours/batched`, like the peers' write buffers).
//!   A client masks every frame: ours and fastwebsockets take their keys
//!   from the same SplitMix64 sequence; tungstenite (`rand`'s thread RNG)
//!   and tokio-websockets (`fastrand`) pick their own.
//!
//! Counts: 100,000 messages per iteration for the shapes up to 1 KiB; for
//! 16 KiB and 1 MiB the total is bounded to [`BYTE_BUDGET`] (64 MiB) per
//! iteration, i.e. 4,096 and 64 messages. Throughput is reported as
//! messages per second (`Throughput::Elements`).
//!
//! Before the first timed run of each benchmark a check (outside the
//! timing) compares what was decoded with the payloads byte for byte, and
//! what was encoded with an independent reference encoder (byte for byte
//! where the mask keys are known, otherwise by decoding it again).
//!
//! Run: `cargo bench -p ws-benches --bench codec`
//! (`CODEC_ONCE=<id>` runs one call of one benchmark for callgrind, see
//! [`once`]).
//! (filter e.g. `-- decode/server` and shorten with `--warm-up-time 1 --measurement-time 2`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use http_upgrade::testing::SplitMix;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ws_proto::{Config, Connection, Event, Instant};

/// Largest read any implementation gets from the in-memory transport.
const CHUNK: usize = 64 * 1024;
/// Messages per iteration for the small shapes (up to 1 KiB).
const SMALL_COUNT: usize = 100_000;
/// Payload bytes per iteration for the large shapes (16 KiB and 1 MiB).
const BYTE_BUDGET: usize = 64 << 20;
/// The adapters' shared read buffer.
const SCRATCH: usize = ws_adapters::SCRATCH;
/// Our batched encoder drains the transmit queue when this much is queued.
const BATCH: usize = 64 * 1024;
/// Seed of the client mask keys (the same sequence for every encoder that
/// takes keys from outside, and for the pre-encoded client frames).
const SEED: u64 = 0x5eed;

// ---------------------------------------------------------------------------
// Message shapes

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Binary,
}

#[derive(Clone, Copy, Debug)]
struct Shape {
    name: &'static str,
    kind: Kind,
    len: usize,
    /// Frames per message (the payload split into equal byte ranges, which
    /// for text cut through multi-byte characters).
    frags: usize,
}

const SHAPES: [Shape; 8] = [
    Shape::new("text14", Kind::Text, 14, 1),
    Shape::new("bin20", Kind::Binary, 20, 1),
    Shape::new("bin1k", Kind::Binary, 1024, 1),
    Shape::new("bin16k", Kind::Binary, 16 * 1024, 1),
    Shape::new("bin1m", Kind::Binary, 1 << 20, 1),
    Shape::new("text1k_4frag", Kind::Text, 1024, 4),
    Shape::new("text16k_4frag", Kind::Text, 16 * 1024, 4),
    Shape::new("text1m_4frag", Kind::Text, 1 << 20, 4),
];

impl Shape {
    const fn new(name: &'static str, kind: Kind, len: usize, frags: usize) -> Self {
        Shape {
            name,
            kind,
            len,
            frags,
        }
    }

    fn count(&self) -> usize {
        if self.len <= 1024 {
            SMALL_COUNT
        } else {
            BYTE_BUDGET / self.len
        }
    }

    fn frag_len(&self) -> usize {
        self.len / self.frags
    }

    /// The payload: mixed-script UTF-8 for text (cut to a char boundary,
    /// padded with ASCII to the exact length), a byte pattern for binary.
    fn payload(&self) -> Bytes {
        match self.kind {
            Kind::Text => {
                let unit = "WebSocket κόσμε — 日本語のテキスト, emoji 🎉, ascii. ";
                let mut s = String::with_capacity(self.len + unit.len());
                while s.len() < self.len {
                    s.push_str(unit);
                }
                let mut end = self.len;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
                while s.len() < self.len {
                    s.push('.');
                }
                Bytes::from(s)
            }
            Kind::Binary => (0..self.len).map(|i| (i * 31 + 7) as u8).collect(),
        }
    }

    /// The payload cut into this shape's fragments.
    fn pieces(&self, payload: &Bytes) -> Vec<Bytes> {
        let step = self.frag_len();
        (0..self.frags)
            .map(|i| {
                let end = if i + 1 == self.frags {
                    payload.len()
                } else {
                    (i + 1) * step
                };
                payload.slice(i * step..end)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Deterministic keys

// `http_upgrade::testing::SplitMix` (SplitMix64) is the mask-key source for our
// client and the reference frames.

// ---------------------------------------------------------------------------
// Reference encoder (RFC 6455 §5.2), independent of every implementation

fn put_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let m = if key.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let start = out.len();
    if let Some(k) = key {
        out.extend_from_slice(&k);
        out.extend_from_slice(payload);
        for (i, b) in out[start + 4..].iter_mut().enumerate() {
            *b ^= k[i & 3];
        }
    } else {
        out.extend_from_slice(payload);
    }
}

/// `count` messages of `shape` as a client (`masked`) or a server sends them.
fn reference_wire(shape: &Shape, payload: &Bytes, masked: bool) -> Vec<u8> {
    let pieces = shape.pieces(payload);
    let frame_bytes = payload.len() + shape.frags * 14;
    let mut out = Vec::with_capacity(frame_bytes * shape.count());
    let mut rng = SplitMix::new(SEED);
    let first = match shape.kind {
        Kind::Text => 1,
        Kind::Binary => 2,
    };
    for _ in 0..shape.count() {
        for (i, p) in pieces.iter().enumerate() {
            let key = masked.then(|| ws_benches::mask_key(&mut rng));
            let op = if i == 0 { first } else { 0 };
            put_frame(&mut out, i + 1 == pieces.len(), op, p, key);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// In-memory transport

/// The write side: copies everything it is given into a scratch buffer
/// (like a socket's send buffer) and counts it; `keep` retains the bytes
/// instead, for the checks.
struct Sink {
    scratch: Vec<u8>,
    at: usize,
    total: usize,
    keep: Option<Vec<u8>>,
}

impl Sink {
    fn new(keep: bool) -> Self {
        Sink {
            scratch: vec![0; 256 * 1024],
            at: 0,
            total: 0,
            keep: keep.then(Vec::new),
        }
    }

    fn put(&mut self, mut data: &[u8]) {
        self.total += data.len();
        if let Some(v) = &mut self.keep {
            v.extend_from_slice(data);
            return;
        }
        while !data.is_empty() {
            if self.at == self.scratch.len() {
                self.at = 0;
            }
            let n = data.len().min(self.scratch.len() - self.at);
            self.scratch[self.at..self.at + n].copy_from_slice(&data[..n]);
            self.at += n;
            data = &data[n..];
        }
    }

    fn put_vectored(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let mut n = 0;
        for b in bufs {
            self.put(b);
            n += b.len();
        }
        n
    }
}

/// A transport over pre-encoded input (read at most [`CHUNK`] per call)
/// and a [`Sink`], as `Read + Write` and tokio's `AsyncRead + AsyncWrite`.
struct Pipe<'a> {
    input: &'a [u8],
    pos: usize,
    sink: Sink,
}

impl<'a> Pipe<'a> {
    fn new(input: &'a [u8], keep: bool) -> Self {
        Pipe {
            input,
            pos: 0,
            sink: Sink::new(keep),
        }
    }

    fn next_chunk(&mut self, room: usize) -> &'a [u8] {
        let n = room.min(CHUNK).min(self.input.len() - self.pos);
        let chunk = &self.input[self.pos..self.pos + n];
        self.pos += n;
        chunk
    }

    /// Reads into uninitialized room, as `rustix::io::read` does for the
    /// adapters' sockets; returns the filled prefix. (The benches run on
    /// the current stable, not the library's MSRV.)
    #[allow(clippy::incompatible_msrv)]
    fn read_uninit<'b>(&mut self, buf: &'b mut [MaybeUninit<u8>]) -> &'b mut [u8] {
        let chunk = self.next_chunk(buf.len());
        buf[..chunk.len()].write_copy_of_slice(chunk)
    }
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.next_chunk(buf.len());
        buf[..chunk.len()].copy_from_slice(chunk);
        Ok(chunk.len())
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink.put(buf);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.sink.put_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Pipe<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let chunk = this.next_chunk(buf.remaining());
        buf.put_slice(chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pipe<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().sink.put(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().sink.put_vectored(bufs)))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future whose I/O never blocks (the [`Pipe`] is always ready): a
/// poll loop with a no-op waker, no runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory I/O never blocks"),
    }
}

// ---------------------------------------------------------------------------
// Implementations

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Server,
    Client,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Imp {
    Ours,
    OursAdapter,
    OursBatched,
    /// Encode only: `send_text_slice` / `send_binary_slice` (the payload
    /// borrowed and copied, as fastwebsockets' `Payload::Borrowed`).
    OursSlice,
    Tungstenite,
    FastWebSockets,
    TokioWebSockets,
}

impl Imp {
    fn name(self) -> &'static str {
        match self {
            Imp::Ours => "ours",
            Imp::OursAdapter => "ours_adapter",
            Imp::OursBatched => "ours_batched",
            Imp::OursSlice => "ours_slice",
            Imp::Tungstenite => "tungstenite",
            Imp::FastWebSockets => "fastwebsockets",
            Imp::TokioWebSockets => "tokio-websockets",
        }
    }
}

const DECODERS: [Imp; 5] = [
    Imp::Ours,
    Imp::OursAdapter,
    Imp::Tungstenite,
    Imp::FastWebSockets,
    Imp::TokioWebSockets,
];
const ENCODERS: [Imp; 6] = [
    Imp::Ours,
    Imp::OursBatched,
    Imp::OursSlice,
    Imp::Tungstenite,
    Imp::FastWebSockets,
    Imp::TokioWebSockets,
];

fn ours(role: Role, shape: &Shape) -> Connection {
    let config = Config::default().with_fragment_size((shape.frags > 1).then(|| shape.frag_len()));
    match role {
        Role::Server => Connection::server(config, Instant::ZERO).unwrap(),
        Role::Client => {
            Connection::client(config, Box::new(SplitMix::new(SEED)), Instant::ZERO).unwrap()
        }
    }
}

fn tws_config(shape: &Shape) -> tokio_websockets::Config {
    let c = tokio_websockets::Config::default();
    if shape.frags > 1 {
        c.frame_size(shape.frag_len())
    } else {
        c
    }
}

/// Decodes `n` messages from `input` with `imp`, calling `on_msg(is_text,
/// payload)` for each. (Never inlined: callgrind's `--toggle-collect`
/// finds it by name.)
#[inline(never)]
fn decode(
    imp: Imp,
    role: Role,
    shape: &Shape,
    input: &[u8],
    n: usize,
    mut on_msg: impl FnMut(bool, &[u8]),
) {
    let pipe = Pipe::new(input, false);
    match imp {
        Imp::Ours | Imp::OursAdapter | Imp::OursBatched | Imp::OursSlice => {
            let mut conn = ours(role, shape);
            let mut pipe = pipe;
            let mut scratch = vec![0u8; CHUNK];
            let mut streaming = false;
            let mut got = 0;
            while got < n {
                // `ours`: always read into the connection's own buffer
                // (`recv_buf`, zero copy). `ours_adapter`: what the
                // adapters' driver does over a socket
                // (`ws_adapters::in_place_read_size`): in the middle of a
                // large frame, with at least `SCRATCH` of room kept, or
                // while input streams in (the last read was full), read
                // into the connection's uninitialized room (`recv_into`),
                // ending where a frame ends when frames keep one size;
                // else read into a shared `SCRATCH` buffer and copy it in
                // with `receive`.
                let k = if imp == Imp::Ours {
                    let k = pipe.read(conn.recv_buf(CHUNK)).unwrap();
                    conn.recv_commit(Instant::ZERO, k).unwrap();
                    k
                } else {
                    let direct = ws_adapters::in_place_read_size(&mut conn, streaming);
                    let (k, asked) = if direct > 0 {
                        let k = conn
                            .recv_into(Instant::ZERO, direct, |b| {
                                Ok::<_, ws_proto::Error>(pipe.read_uninit(b))
                            })
                            .unwrap();
                        (k, direct)
                    } else {
                        let k = pipe.read(&mut scratch[..SCRATCH]).unwrap();
                        conn.receive(Instant::ZERO, &scratch[..k]).unwrap();
                        (k, SCRATCH)
                    };
                    streaming = k == asked;
                    k
                };
                assert!(k > 0, "input ended after {got} messages");
                while let Some(ev) = conn.poll_event().unwrap() {
                    match ev {
                        Event::Text(t) => on_msg(true, t.as_bytes()),
                        Event::Binary(b) => on_msg(false, &b),
                        other => panic!("unexpected {other:?}"),
                    }
                    got += 1;
                }
            }
        }
        Imp::Tungstenite => {
            use tungstenite::{Message, WebSocket, protocol::Role as R};
            let r = match role {
                Role::Server => R::Server,
                Role::Client => R::Client,
            };
            let mut ws = WebSocket::from_raw_socket(pipe, r, None);
            for _ in 0..n {
                match ws.read().unwrap() {
                    Message::Text(t) => on_msg(true, t.as_bytes()),
                    Message::Binary(b) => on_msg(false, &b),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        Imp::FastWebSockets => {
            use fastwebsockets::{FragmentCollector, OpCode, Role as R, WebSocket};
            let r = match role {
                Role::Server => R::Server,
                Role::Client => R::Client,
            };
            let ws = WebSocket::after_handshake(pipe, r);
            block_on(async {
                if shape.frags > 1 {
                    let mut ws = FragmentCollector::new(ws);
                    for _ in 0..n {
                        let f = ws.read_frame().await.unwrap();
                        on_msg(f.opcode == OpCode::Text, &f.payload);
                    }
                } else {
                    let mut ws = ws;
                    for _ in 0..n {
                        let f = ws.read_frame().await.unwrap();
                        assert!(f.fin);
                        on_msg(f.opcode == OpCode::Text, &f.payload);
                    }
                }
            });
        }
        Imp::TokioWebSockets => {
            let mut ws = match role {
                Role::Server => tokio_websockets::ServerBuilder::new().serve(pipe),
                Role::Client => tokio_websockets::ClientBuilder::new().take_over(pipe),
            };
            block_on(async {
                for _ in 0..n {
                    let m = ws.next().await.unwrap().unwrap();
                    on_msg(m.is_text(), m.as_payload());
                }
            });
        }
    }
}

/// Encodes `n` messages of `shape` with `imp` into a [`Sink`]; returns it.
/// (Never inlined, as [`decode`].)
#[inline(never)]
fn encode(imp: Imp, role: Role, shape: &Shape, payload: &Bytes, n: usize, keep: bool) -> Sink {
    let pieces = shape.pieces(payload);
    let text = shape.kind == Kind::Text;
    let mut pipe = Pipe::new(&[], keep);
    match imp {
        Imp::Ours | Imp::OursAdapter | Imp::OursBatched | Imp::OursSlice => {
            let mut conn = ours(role, shape);
            let threshold = if imp == Imp::OursBatched { BATCH } else { 1 };
            let utf8 = ws_proto::Utf8Bytes::try_from(payload.clone()).ok();
            for _ in 0..n {
                match &utf8 {
                    Some(t) if text && imp == Imp::OursSlice => {
                        conn.send_text_slice(t.as_str()).unwrap()
                    }
                    _ if imp == Imp::OursSlice => conn.send_binary_slice(payload).unwrap(),
                    Some(t) if text => conn.send_text(t.clone()).unwrap(),
                    _ => conn.send_binary(payload.clone()).unwrap(),
                }
                if conn.pending_transmit() >= threshold {
                    drain(&mut conn, &mut pipe.sink);
                }
            }
            drain(&mut conn, &mut pipe.sink);
            pipe.sink
        }
        Imp::Tungstenite => {
            use tungstenite::protocol::frame::Frame;
            use tungstenite::protocol::frame::coding::{Data, OpCode};
            use tungstenite::{Message, Utf8Bytes, WebSocket, protocol::Role as R};
            let r = match role {
                Role::Server => R::Server,
                Role::Client => R::Client,
            };
            let mut ws = WebSocket::from_raw_socket(pipe, r, None);
            let utf8 = Utf8Bytes::try_from(payload.clone()).ok();
            for _ in 0..n {
                if shape.frags > 1 {
                    let first = if text { Data::Text } else { Data::Binary };
                    for (i, p) in pieces.iter().enumerate() {
                        let op = OpCode::Data(if i == 0 { first } else { Data::Continue });
                        let f = Frame::message(p.clone(), op, i + 1 == pieces.len());
                        ws.write(Message::Frame(f)).unwrap();
                    }
                } else {
                    let m = match &utf8 {
                        Some(t) if text => Message::Text(t.clone()),
                        _ => Message::Binary(payload.clone()),
                    };
                    ws.write(m).unwrap();
                }
            }
            ws.flush().unwrap();
            ws.into_inner().sink
        }
        Imp::FastWebSockets => {
            use fastwebsockets::{Frame, OpCode, Payload, Role as R, WebSocket};
            let r = match role {
                Role::Server => R::Server,
                Role::Client => R::Client,
            };
            let mut ws = WebSocket::after_handshake(pipe, r);
            let mut rng = SplitMix::new(SEED);
            let first = if text { OpCode::Text } else { OpCode::Binary };
            block_on(async {
                for _ in 0..n {
                    for (i, p) in pieces.iter().enumerate() {
                        let key = (role == Role::Client).then(|| ws_benches::mask_key(&mut rng));
                        let op = if i == 0 { first } else { OpCode::Continuation };
                        let fin = i + 1 == pieces.len();
                        let f = Frame::new(fin, op, key, Payload::Borrowed(p));
                        ws.write_frame(f).await.unwrap();
                    }
                }
                ws.flush().await.unwrap();
            });
            ws.into_inner().sink
        }
        Imp::TokioWebSockets => {
            use tokio_websockets::Message;
            let config = tws_config(shape);
            let mut ws = match role {
                Role::Server => tokio_websockets::ServerBuilder::new()
                    .config(config)
                    .serve(pipe),
                Role::Client => tokio_websockets::ClientBuilder::new()
                    .config(config)
                    .take_over(pipe),
            };
            block_on(async {
                for _ in 0..n {
                    let m = if text {
                        Message::text(payload.clone())
                    } else {
                        Message::binary(payload.clone())
                    };
                    ws.feed(m).await.unwrap();
                }
                ws.flush().await.unwrap();
            });
            ws.into_inner().sink
        }
    }
}

/// Writes our whole transmit queue, vectored, as the adapters do.
fn drain(conn: &mut Connection, sink: &mut Sink) {
    while conn.pending_transmit() > 0 {
        let n = match conn.contiguous_transmit() {
            Some(one) => sink.put_vectored(&[IoSlice::new(one)]),
            None => {
                let mut slices = [IoSlice::new(&[]); 16];
                let k = conn.fill_io_slices(&mut slices);
                sink.put_vectored(&slices[..k])
            }
        };
        conn.advance_transmit(n);
    }
}

// ---------------------------------------------------------------------------
// Checks (outside the timings)

fn check_decode(imp: Imp, role: Role, shape: &Shape, input: &[u8], payload: &Bytes) {
    let n = shape.count();
    let mut got = 0;
    decode(imp, role, shape, input, n, |is_text, p| {
        assert_eq!(is_text, shape.kind == Kind::Text, "{imp:?} kind");
        assert!(
            p == &payload[..],
            "{imp:?} {role:?} {}: payload",
            shape.name
        );
        got += 1;
    });
    assert_eq!(got, n);
}

fn check_encode(imp: Imp, role: Role, shape: &Shape, payload: &Bytes, reference: &[u8]) {
    let n = shape.count();
    let out = encode(imp, role, shape, payload, n, true).keep.unwrap();
    let keys_known = matches!(
        imp,
        Imp::Ours | Imp::OursAdapter | Imp::OursBatched | Imp::OursSlice | Imp::FastWebSockets
    );
    if role == Role::Server || keys_known {
        assert!(
            out == reference,
            "{imp:?} {role:?} {}: wire differs",
            shape.name
        );
        return;
    }
    // Random mask keys: same length, and our server reads it back.
    assert_eq!(out.len(), reference.len(), "{imp:?} {}: length", shape.name);
    check_decode(Imp::Ours, Role::Server, shape, &out, payload);
}

// ---------------------------------------------------------------------------
// Benchmarks

/// `CODEC_ONCE=<benchmark id>` (e.g. `decode/server/ours/text14`): run that
/// one decode or encode call once, untimed and unchecked, and nothing else;
/// for instruction counts under callgrind
/// (`--toggle-collect='codec::decode*'` or `'codec::encode*'`, divided by
/// the message count).
fn once() -> Option<String> {
    std::env::var("CODEC_ONCE").ok()
}

/// False if `CODEC_ONCE` names no benchmark of `group` with `shape` (its
/// input need not be built).
fn once_wants(group: &str, shape: &Shape, imps: &[Imp]) -> bool {
    once().is_none_or(|want| {
        imps.iter()
            .any(|i| want == format!("{group}/{}/{}", i.name(), shape.name))
    })
}

fn bench_decode(c: &mut Criterion) {
    for role in [Role::Server, Role::Client] {
        let mut g = c.benchmark_group(match role {
            Role::Server => "decode/server",
            Role::Client => "decode/client",
        });
        g.sample_size(10);
        let group = if role == Role::Server {
            "decode/server"
        } else {
            "decode/client"
        };
        for shape in SHAPES {
            if !once_wants(group, &shape, &DECODERS) {
                continue;
            }
            let payload = shape.payload();
            // The server decodes masked client frames and vice versa.
            let input = reference_wire(&shape, &payload, role == Role::Server);
            let n = shape.count();
            g.throughput(Throughput::Elements(n as u64));
            for imp in DECODERS {
                if let Some(want) = once() {
                    if want == format!("{group}/{}/{}", imp.name(), shape.name) {
                        decode(imp, role, &shape, &input, n, |_, p| {
                            black_box(p);
                        });
                    }
                    continue;
                }
                let mut checked = false;
                let id = BenchmarkId::new(imp.name(), shape.name);
                g.bench_function(id, |b| {
                    if !checked {
                        check_decode(imp, role, &shape, &input, &payload);
                        checked = true;
                    }
                    b.iter(|| {
                        let (mut msgs, mut bytes) = (0usize, 0usize);
                        decode(imp, role, &shape, black_box(&input), n, |_, p| {
                            msgs += 1;
                            bytes += p.len();
                        });
                        assert_eq!((msgs, bytes), (n, n * shape.len));
                    })
                });
            }
        }
        g.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    for role in [Role::Server, Role::Client] {
        let mut g = c.benchmark_group(match role {
            Role::Server => "encode/server",
            Role::Client => "encode/client",
        });
        g.sample_size(10);
        let group = if role == Role::Server {
            "encode/server"
        } else {
            "encode/client"
        };
        for shape in SHAPES {
            if !once_wants(group, &shape, &ENCODERS) {
                continue;
            }
            let payload = shape.payload();
            let n = shape.count();
            if let Some(want) = once() {
                for imp in ENCODERS {
                    if want == format!("{group}/{}/{}", imp.name(), shape.name) {
                        black_box(encode(imp, role, &shape, &payload, n, false).total);
                    }
                }
                continue;
            }
            let expected = reference_wire(&shape, &payload, role == Role::Client).len();
            g.throughput(Throughput::Elements(n as u64));
            for imp in ENCODERS {
                let mut checked = false;
                let id = BenchmarkId::new(imp.name(), shape.name);
                g.bench_function(id, |b| {
                    if !checked {
                        let reference = reference_wire(&shape, &payload, role == Role::Client);
                        check_encode(imp, role, &shape, &payload, &reference);
                        checked = true;
                    }
                    b.iter(|| {
                        let sink = encode(imp, role, &shape, black_box(&payload), n, false);
                        assert_eq!(sink.total, expected);
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // 160 benchmarks: a short window each (overridable on the command line).
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench_decode, bench_encode
}
criterion_main!(benches);

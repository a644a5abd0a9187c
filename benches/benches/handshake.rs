//! Opening-handshake throughput: server parse + accept, client build +
//! validate, and a full in-memory round trip, for RFC 6455 and hixie-76;
//! and the RFC 6455 server side against tungstenite, both fed the same
//! request bytes (with `Origin`, a `chat` subprotocol offer and a
//! permessage-deflate offer, which neither side accepts here).
//!
//! The `server accept` group, per implementation:
//! * `ours`: `ServerHandshake::receive` + `poll_event` + `accept` (selects `chat`) +
//!   the 101 response drained into a `Vec`;
//! * `tungstenite_parts`: the same steps with tungstenite's public pieces:
//!   `Request::try_parse` (httparse + `http::Request`), `create_response`,
//!   the `chat` header added, `write_response` into a `Vec`;
//! * `ours+connection`: `ours` followed by `Connection::server`, the
//!   counterpart of
//! * `tungstenite_accept_hdr`: `tungstenite::accept_hdr` over an in-memory
//!   stream (read, callback adding `chat`, write, and the `WebSocket` it
//!   returns, whose 128 KiB read buffer is allocated here).
//!
//! Run: `cargo bench -p ws-benches --bench handshake`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_upgrade::testing::SplitMix;
use http_upgrade::{
    Accept, ClientEvent, ClientHandshake, ClientRequest, Dialect, ExtensionOffer, Instant,
    ServerConfig, ServerEvent, ServerHandshake,
};
use tungstenite::handshake::machine::TryParse;
use tungstenite::handshake::server::{Request, Response, create_response, write_response};
use tungstenite::http::HeaderValue;

fn request(dialect: Dialect) -> ClientRequest {
    ClientRequest::new("ws://example.com/chat")
        .expect("valid URL")
        .dialect(dialect)
        .origin("http://example.com")
        .protocol("chat")
        .extension(
            ExtensionOffer::new("permessage-deflate").with_param("client_max_window_bits", None),
        )
}

fn drain_client(c: &mut ClientHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = c.poll_transmit(&mut out);
    out
}

fn drain_server(s: &mut ServerHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.poll_transmit(&mut out);
    out
}

/// `receive` then `poll_event`: the server's event for a whole request.
fn server_event(s: &mut ServerHandshake, req: &[u8]) -> Option<ServerEvent> {
    s.receive(Instant::ZERO, req).ok()?;
    s.poll_event().ok()?
}

/// One full handshake; returns the bytes exchanged (to keep the work alive).
fn round_trip(dialect: Dialect, config: &Arc<ServerConfig>, rng: &mut SplitMix) -> usize {
    let mut client = ClientHandshake::new(request(dialect), rng, Instant::ZERO).expect("request");
    let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
    let req = drain_client(&mut client);
    let Some(ServerEvent::Upgrade(up)) = server_event(&mut server, &req) else {
        unreachable!("valid request")
    };
    server
        .accept(Accept::for_request(&up), rng)
        .expect("accept");
    let res = drain_server(&mut server);
    client.receive(Instant::ZERO, &res).expect("receive");
    let Ok(Some(ClientEvent::Connected(_))) = client.poll_event() else {
        unreachable!("valid response")
    };
    req.len() + res.len()
}

/// Ours: parse, validate, accept, response bytes.
fn ours_accept(config: &Arc<ServerConfig>, req: &[u8], rng: &mut SplitMix) -> Vec<u8> {
    let mut s = ServerHandshake::new(config.clone(), Instant::ZERO);
    let Some(ServerEvent::Upgrade(up)) = server_event(&mut s, req) else {
        unreachable!("valid request")
    };
    s.accept(Accept::for_request(&up), rng).expect("accept");
    drain_server(&mut s)
}

/// Adds `Sec-WebSocket-Protocol: chat` if the client offered it (what our
/// `ServerConfig::with_protocols(["chat"])` does).
fn select_chat(req: &Request, mut res: Response) -> Response {
    let offered = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "chat");
    if offered {
        res.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("chat"));
    }
    res
}

/// tungstenite's public pieces: parse, response, write.
fn tungstenite_parts(req: &[u8]) -> Vec<u8> {
    let (_, request) = Request::try_parse(req).unwrap().expect("complete");
    let response = select_chat(&request, create_response(&request).unwrap());
    let mut out = Vec::with_capacity(256);
    write_response(&mut out, &response).unwrap();
    out
}

/// An in-memory stream: the request to read, the response written.
struct Duplex<'a> {
    input: &'a [u8],
    out: Vec<u8>,
}

impl Read for Duplex<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `tungstenite::accept_hdr` over the in-memory stream. (The callback's
/// error type is tungstenite's.)
#[allow(clippy::result_large_err)]
fn tungstenite_accept(req: &[u8]) -> Vec<u8> {
    let stream = Duplex {
        input: req,
        out: Vec::new(),
    };
    let cb = |r: &Request, res: Response| Ok(select_chat(r, res));
    let ws = tungstenite::accept_hdr(stream, cb).unwrap();
    ws.into_inner().out
}

/// The status line and the headers, sorted and lower-cased, for comparing
/// the two servers' answers.
fn normalized(res: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(res);
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.to_ascii_lowercase())
        .collect();
    lines[1..].sort();
    lines
}

fn bench_vs_tungstenite(c: &mut Criterion) {
    let config = Arc::new(ServerConfig::default().with_protocols(["chat"]));
    let mut rng = SplitMix::new(1);
    let mut client =
        ClientHandshake::new(request(Dialect::Rfc6455), &mut rng, Instant::ZERO).expect("request");
    let req = drain_client(&mut client);

    // Outside the timings: both answer the same thing.
    let ours = ours_accept(&config, &req, &mut rng);
    let parts = tungstenite_parts(&req);
    let full = tungstenite_accept(&req);
    println!("request:\n{}", String::from_utf8_lossy(&req));
    println!("ours:\n{}", String::from_utf8_lossy(&ours));
    println!("tungstenite:\n{}", String::from_utf8_lossy(&full));
    assert_eq!(parts, full);
    assert_eq!(normalized(&ours), normalized(&parts));

    let mut g = c.benchmark_group("server accept rfc6455");
    g.bench_function("ours", |b| {
        b.iter(|| ours_accept(&config, black_box(&req), &mut rng))
    });
    g.bench_function("tungstenite_parts", |b| {
        b.iter(|| tungstenite_parts(black_box(&req)))
    });
    g.bench_function("ours+connection", |b| {
        b.iter(|| {
            let res = ours_accept(&config, black_box(&req), &mut rng);
            let conn = ws_proto::Connection::server(ws_proto::Config::default(), Instant::ZERO);
            (res, conn.unwrap())
        })
    });
    g.bench_function("tungstenite_accept_hdr", |b| {
        b.iter(|| tungstenite_accept(black_box(&req)))
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let config = Arc::new(ServerConfig::default().with_protocols(["chat"]));
    let mut rng = SplitMix::new(1);
    let mut client =
        ClientHandshake::new(request(Dialect::Rfc6455), &mut rng, Instant::ZERO).expect("request");
    let req = drain_client(&mut client);

    c.bench_function("server parse+validate rfc6455 request", |b| {
        b.iter(|| {
            let mut s = ServerHandshake::new(config.clone(), Instant::ZERO);
            black_box(server_event(&mut s, black_box(&req)).is_some())
        })
    });
    for dialect in [Dialect::Rfc6455, Dialect::Hybi04, Dialect::Hixie76] {
        c.bench_function(&format!("round trip {dialect:?}"), |b| {
            b.iter(|| black_box(round_trip(dialect, &config, &mut rng)))
        });
    }
}

criterion_group!(benches, bench, bench_vs_tungstenite);
criterion_main!(benches);

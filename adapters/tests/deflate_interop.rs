//! permessage-deflate interoperability per setting, over loopback, with
//! Python `websockets` and Node `ws` in both roles (RFC 7692 §7.1).
//!
//! For each peer and role one peer process serves a matrix of settings: the
//! defaults; `server_no_context_takeover`, `client_no_context_takeover` and
//! both, each asked for by the client and imposed by the server;
//! `server_max_window_bits` 8 (where the peer allows it), 9, 10, 12, 15,
//! asked for by the client and imposed by the server; `client_max_window_bits`
//! with a value (8 where allowed, 9, 12, 15) set by the server or hinted by
//! the client, and not offered at all against a server that wants it. Each
//! case checks the negotiated `Sec-WebSocket-Extensions` on both sides
//! against the expected parameters (or the expected refusal), then echoes
//! compressible text and binary messages of 1 KiB to 200 KiB, repeats at
//! distances above and below each window, and fragmented messages both
//! ways, comparing every byte.
//!
//! Our side is the blocking adapter. The peers are installed as in
//! `peers.rs` (a venv and `npm install` under the target directory; a
//! failed install fails the test). Scripts: `scripts/interop-adapters/
//! deflate_peer.{py,js}`. Run with `--nocapture` to see the matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod peer_install;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use deflate_ext::{
    ClientWindowOffer, PmdAgreed, PmdNegotiator, PmdOffer, PmdServerPolicy, WindowBits,
};
use http_upgrade::testing::SplitMix;
use http_upgrade::{Accept, ClientRequest, ExtensionOffer};
use ws_adapters::{ClientOptions, Event, ServerOptions, blocking};
use ws_proto::session::{SessionConfig, SessionEvent};
use ws_proto::{CloseCode, MessageKind};

use peer_install::Peer;

/// Bound on each blocking step.
const STEP: Duration = Duration::from_secs(20);
/// Messages a peer client sends per case (`deflate_peer`: seven whole, one
/// fragmented); our servers must echo exactly these.
const PEER_MESSAGES: usize = 8;
/// Bound on a whole peer process.
const PEER_LIMIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- peers

fn command(peer: Peer) -> Command {
    peer_install::command(peer, "deflate_peer")
}

/// A child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of `child`'s stdout, read on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------- cases

/// What a case must end in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    /// permessage-deflate with exactly these parameters, on both sides.
    Agreed(PmdAgreed),
    /// The server accepts the connection without the extension.
    Declined,
    /// The server answers the upgrade with this HTTP status.
    Rejected(u16),
    /// The server answered with these parameters and the peer client
    /// failed the handshake on them.
    ClientRefuses(PmdAgreed),
}

/// One setting, seen from one role.
#[derive(Clone, Debug)]
struct Case {
    name: String,
    /// The peer's options, as `deflate_peer` tokens.
    peer: String,
    /// Ours: the client's single offer (peer is server) ...
    offer: PmdOffer,
    /// ... or the server's policy (peer is client).
    policy: PmdServerPolicy,
    expect: Expect,
}

fn wb(bits: u8) -> WindowBits {
    WindowBits::new(bits).unwrap()
}

/// The default client offer: `permessage-deflate; client_max_window_bits`.
fn supported() -> PmdOffer {
    PmdOffer {
        client_max_window_bits: ClientWindowOffer::Supported,
        ..PmdOffer::default()
    }
}

fn agreed(snct: bool, cnct: bool, smwb: Option<u8>, cmwb: Option<u8>) -> PmdAgreed {
    PmdAgreed {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: smwb.map(wb),
        client_max_window_bits: cmwb.map(wb),
    }
}

fn case(name: impl Into<String>, peer: &str, expect: Expect) -> Case {
    Case {
        name: name.into(),
        peer: peer.to_owned(),
        offer: supported(),
        policy: PmdServerPolicy::default(),
        expect,
    }
}

/// The peer is the server; our client offers `case.offer`.
fn server_cases(peer: Peer) -> Vec<Case> {
    use Expect::*;
    let with = |name: &str, offer: PmdOffer, peer_tokens: &str, expect: Expect| Case {
        offer,
        ..case(name, peer_tokens, expect)
    };
    let mut v = vec![
        case("default", "-", Agreed(agreed(false, false, None, None))),
        with(
            "snct asked by us",
            PmdOffer {
                server_no_context_takeover: true,
                ..supported()
            },
            "-",
            Agreed(agreed(true, false, None, None)),
        ),
        case(
            "snct set by peer",
            "snct",
            Agreed(agreed(true, false, None, None)),
        ),
        with(
            "cnct hinted by us",
            PmdOffer {
                client_no_context_takeover: true,
                ..supported()
            },
            "-",
            Agreed(agreed(false, true, None, None)),
        ),
        case(
            "cnct set by peer",
            "cnct",
            Agreed(agreed(false, true, None, None)),
        ),
        with(
            "both asked by us",
            PmdOffer {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..supported()
            },
            "-",
            Agreed(agreed(true, true, None, None)),
        ),
        case(
            "both set by peer",
            "snct,cnct",
            Agreed(agreed(true, true, None, None)),
        ),
    ];
    for bits in [8, 9, 10, 12, 15] {
        // Python's server declines to compress with 8 (zlib refuses it).
        let expect = if bits == 8 && peer == Peer::Python {
            Declined
        } else {
            Agreed(agreed(false, false, Some(bits), None))
        };
        v.push(with(
            &format!("smwb={bits} asked by us"),
            PmdOffer {
                server_max_window_bits: Some(wb(bits)),
                ..supported()
            },
            "-",
            expect,
        ));
        // Python's server factory only takes 9..=15.
        if bits != 8 || peer == Peer::Node {
            v.push(case(
                format!("smwb={bits} set by peer"),
                &format!("smwb={bits}"),
                Agreed(agreed(false, false, Some(bits), None)),
            ));
        }
    }
    for bits in [8, 9, 12, 15] {
        v.push(case(
            format!("cmwb={bits} set by peer"),
            &format!("cmwb={bits}"),
            Agreed(agreed(false, false, None, Some(bits))),
        ));
        v.push(with(
            &format!("cmwb={bits} hinted by us"),
            PmdOffer {
                client_max_window_bits: ClientWindowOffer::Hint(wb(bits)),
                ..PmdOffer::default()
            },
            "-",
            Agreed(agreed(false, false, None, Some(bits))),
        ));
    }
    // No client_max_window_bits in the offer, a server that wants 12: Python
    // accepts with a 32 KiB client window, ws refuses the upgrade.
    v.push(with(
        "cmwb not offered, peer wants 12",
        PmdOffer::default(),
        "cmwb=12",
        match peer {
            Peer::Python => Agreed(agreed(false, false, None, None)),
            Peer::Node => Rejected(400),
        },
    ));
    v.push(with(
        "all four asked by us",
        PmdOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(wb(10)),
            client_max_window_bits: ClientWindowOffer::Hint(wb(9)),
        },
        "-",
        Agreed(agreed(true, true, Some(10), Some(9))),
    ));
    v
}

/// The peer is the client with the offer `case.peer`; our server answers
/// under `case.policy`.
fn client_cases(peer: Peer) -> Vec<Case> {
    use Expect::*;
    let ours = |name: &str, policy: PmdServerPolicy, peer_tokens: &str, expect: Expect| Case {
        policy,
        ..case(name, peer_tokens, expect)
    };
    let mut v = vec![
        case("default", "-", Agreed(agreed(false, false, None, None))),
        case(
            "snct asked by peer",
            "snct",
            Agreed(agreed(true, false, None, None)),
        ),
        ours(
            "snct set by us",
            PmdServerPolicy::default().with_server_no_context_takeover(true),
            "-",
            Agreed(agreed(true, false, None, None)),
        ),
        case(
            "cnct hinted by peer",
            "cnct",
            Agreed(agreed(false, true, None, None)),
        ),
        ours(
            "cnct set by us",
            PmdServerPolicy::default().with_client_no_context_takeover(true),
            "-",
            Agreed(agreed(false, true, None, None)),
        ),
        case(
            "both asked by peer",
            "snct,cnct",
            Agreed(agreed(true, true, None, None)),
        ),
        ours(
            "both set by us",
            PmdServerPolicy::default()
                .with_server_no_context_takeover(true)
                .with_client_no_context_takeover(true),
            "-",
            Agreed(agreed(true, true, None, None)),
        ),
    ];
    for bits in [8, 9, 10, 12, 15] {
        v.push(case(
            format!("smwb={bits} asked by peer"),
            &format!("smwb={bits}"),
            Agreed(agreed(false, false, Some(bits), None)),
        ));
        // A policy of 15 is no limit: the response leaves it out.
        v.push(ours(
            &format!("smwb={bits} set by us"),
            PmdServerPolicy::default().with_server_max_window_bits(wb(bits)),
            "-",
            Agreed(agreed(false, false, (bits < 15).then_some(bits), None)),
        ));
    }
    for bits in [8, 9, 12, 15] {
        let answer = agreed(false, false, None, (bits < 15).then_some(bits));
        // Python's client will not compress with 8 and fails the handshake.
        let expect = if bits == 8 && peer == Peer::Python {
            ClientRefuses(answer)
        } else {
            Agreed(answer)
        };
        v.push(ours(
            &format!("cmwb={bits} set by us"),
            PmdServerPolicy::default().with_client_max_window_bits(wb(bits)),
            "cmwb",
            expect,
        ));
        // Python's client factory only hints 9..=15.
        if bits != 8 || peer == Peer::Node {
            v.push(case(
                format!("cmwb={bits} hinted by peer"),
                &format!("cmwb={bits}"),
                Agreed(agreed(false, false, None, Some(bits))),
            ));
        }
    }
    let wants_12 = PmdServerPolicy::default().with_client_max_window_bits(wb(12));
    v.push(ours(
        "cmwb not offered, we want 12",
        wants_12,
        "nocmwb",
        Agreed(agreed(false, false, None, None)),
    ));
    v.push(ours(
        "cmwb not offered, we require 12",
        wants_12.with_require_client_max_window_bits(true),
        "nocmwb",
        Declined,
    ));
    v.push(case(
        "all four asked by peer",
        "snct,cnct,smwb=10,cmwb=9",
        Agreed(agreed(true, true, Some(10), Some(9))),
    ));
    v
}

/// The single permessage-deflate element of `exts`, parsed; `None` if there
/// is no extension. Anything else is an error.
fn pmd_of(exts: &[ExtensionOffer]) -> Result<Option<PmdAgreed>, String> {
    match exts {
        [] => Ok(None),
        [e] => PmdAgreed::parse(e)
            .map(Some)
            .map_err(|err| format!("{e}: {err}")),
        _ => Err(format!(
            "several extensions: {}",
            http_upgrade::serialize_extensions(exts)
        )),
    }
}

/// A `Sec-WebSocket-Extensions` value as the peer reported it, parsed.
fn pmd_of_header(header: &str) -> Result<Option<PmdAgreed>, String> {
    let mut exts = Vec::new();
    if !header.trim().is_empty() {
        http_upgrade::parse_extensions([header.as_bytes()], &mut exts)
            .map_err(|e| format!("{header:?}: {e}"))?;
    }
    pmd_of(&exts)
}

fn check_agreed(
    side: &str,
    got: Result<Option<PmdAgreed>, String>,
    want: Option<PmdAgreed>,
) -> Result<(), String> {
    match got {
        Ok(g) if g == want => Ok(()),
        Ok(g) => Err(format!("{side} negotiated {g:?}, expected {want:?}")),
        Err(e) => Err(format!("{side}: {e}")),
    }
}

// ---------------------------------------------------------------- payloads

/// Text of words from a fixed list, about `n` bytes, chosen by `r`.
fn words(r: &mut SplitMix, n: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "websocket",
        "frame",
        "deflate",
        "window",
        "context",
        "takeover",
        "server",
        "client",
        "message",
        "payload",
        "compress",
        "inflate",
        "rust",
        "loopback",
        "extension",
        "header",
        "bits",
        "\u{2713}",
    ];
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(WORDS[r.below(WORDS.len())]);
        s.push(' ');
    }
    s
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

impl Msg {
    fn len(&self) -> usize {
        match self {
            Msg::Text(t) => t.len(),
            Msg::Binary(b) => b.len(),
        }
    }
}

/// Compressible messages, 1 KiB to 200 KiB: words, a 4 KiB block repeated
/// (matches 4 KiB back, beyond small windows), a 300-byte block repeated
/// (just beyond a 256-byte window), the first message again (cheap with
/// context takeover), and incompressible bytes.
fn messages(seed: u64) -> Vec<Msg> {
    let mut r = SplitMix::new(seed);
    let first = words(&mut r, 1024);
    let block = r.bytes(4096);
    let short = r.bytes(300);
    vec![
        Msg::Text(first.clone()),
        Msg::Binary(block.repeat(16)),
        Msg::Text(words(&mut r, 200 * 1024)),
        Msg::Text(first),
        Msg::Binary(short.repeat(34)),
        Msg::Binary(r.bytes(1500)),
        Msg::Text(words(&mut r, 150 * 1024)),
    ]
}

// ---------------------------------------------------------------- our side

fn session(negotiator: PmdNegotiator) -> SessionConfig {
    SessionConfig::default().with_negotiator(negotiator.with_threshold(0))
}

fn event(ws: &mut blocking::WebSocket<TcpStream>) -> Result<Event, String> {
    match ws.recv_timeout(STEP) {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) if ws.is_finished() => Err("connection finished".into()),
        Ok(None) => Err(format!("no event within {STEP:?}")),
        Err(e) => Err(format!("{e}")),
    }
}

/// The next data message (pings and pongs skipped).
fn message(ws: &mut blocking::WebSocket<TcpStream>) -> Result<Msg, String> {
    loop {
        match event(ws)? {
            Event::Text(t) => return Ok(Msg::Text(t.as_str().to_owned())),
            Event::Binary(b) => return Ok(Msg::Binary(b.to_vec())),
            Event::Ping(_) | Event::Pong(_) => {}
            other => return Err(format!("expected a message, got {other:?}")),
        }
    }
}

fn send(ws: &mut blocking::WebSocket<TcpStream>, m: &Msg) -> Result<(), String> {
    match m {
        Msg::Text(t) => ws.send_text(t),
        Msg::Binary(b) => ws.send_binary(b.clone()),
    }
    .map_err(|e| format!("send: {e}"))
}

/// Client: connect and run the handshake, returning the server's
/// `Sec-WebSocket-Extensions` as the session saw it.
fn open_client(
    url: &str,
    offer: PmdOffer,
) -> Result<(blocking::WebSocket<TcpStream>, Vec<ExtensionOffer>), ws_adapters::Error> {
    let mut options = ClientOptions::new(session(PmdNegotiator::default().with_offers([offer])));
    options.timeout = STEP;
    let (host, port, driver) = options.plan(ClientRequest::new(url)?)?;
    let stream = TcpStream::connect((host.as_str(), port))?;
    stream.set_nodelay(true)?;
    let mut ws = blocking::WebSocket::with_driver(stream, driver);
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ws_adapters::ErrorKind::Timeout("handshake").into());
        }
        match ws.next_event(Some(left))? {
            Some(SessionEvent::Open(h)) => return Ok((ws, h.extensions)),
            Some(SessionEvent::Rejected(res)) => {
                return Err(ws_adapters::ErrorKind::Rejected(res.status).into());
            }
            None if ws.is_finished() => return Err(ws_adapters::ErrorKind::Closed.into()),
            _ => {}
        }
    }
}

/// Our client against the peer server at `url` for one case.
fn client_case(url: &str, case: &Case) -> Result<String, String> {
    let (mut ws, exts) = match (open_client(url, case.offer), &case.expect) {
        (Err(e), Expect::Rejected(want)) if matches!(e.kind(), ws_adapters::ErrorKind::Rejected(got) if got == want) =>
        {
            return Ok(format!("rejected {want}, as expected"));
        }
        (Err(e), _) => return Err(format!("connect: {e}")),
        (Ok(_), Expect::Rejected(s)) => return Err(format!("connected, expected a {s}")),
        (Ok(x), _) => x,
    };
    let want = match &case.expect {
        Expect::Agreed(a) => Some(*a),
        _ => None,
    };
    check_agreed("our client", pmd_of(&exts), want)?;
    // The peer's own view: its response header, and how it configured itself.
    let Msg::Text(hello) = message(&mut ws)? else {
        return Err("first message is not the peer's report".into());
    };
    let (first, detail) = hello.split_once('\n').unwrap_or((&hello, ""));
    let header = first
        .strip_prefix("negotiated ")
        .ok_or_else(|| format!("peer said {first:?}"))?;
    check_agreed("peer server", pmd_of_header(header), want)?;
    converse_as_client(&mut ws)?;
    Ok(format!(
        "{} | peer: {detail}",
        http_upgrade::serialize_extensions(&exts)
    ))
}

fn converse_as_client(ws: &mut blocking::WebSocket<TcpStream>) -> Result<(), String> {
    let mut r = SplitMix::new(0x5eed);
    for (i, m) in messages(0xdef1a7e).iter().enumerate() {
        send(ws, m)?;
        if message(ws)? != *m {
            return Err(format!(
                "message {i} ({} bytes) came back different",
                m.len()
            ));
        }
    }
    // The peer echoes this one in four fragments.
    let frag = Msg::Text(format!("FRAG:{}", words(&mut r, 40 * 1024)));
    send(ws, &frag)?;
    if message(ws)? != frag {
        return Err("the peer's fragmented echo differs".into());
    }
    // Ours in fragments, compressed as one message.
    let parts = [words(&mut r, 9000), words(&mut r, 20), words(&mut r, 30000)];
    {
        let conn = ws.session_mut().connection_mut().ok_or("not open")?;
        for (i, p) in parts.iter().enumerate() {
            conn.send_fragment(MessageKind::Text, p.clone(), i + 1 == parts.len())
                .map_err(|e| format!("send_fragment: {e}"))?;
        }
    }
    ws.flush().map_err(|e| format!("flush: {e}"))?;
    if message(ws)? != Msg::Text(parts.concat()) {
        return Err("our fragmented message came back different".into());
    }
    ws.close(CloseCode(1000), "done")
        .map_err(|e| format!("close: {e}"))?;
    loop {
        match event(ws) {
            Ok(Event::Close { code, .. }) => {
                return match code {
                    Some(CloseCode(1000)) => Ok(()),
                    c => Err(format!("close echo {c:?}")),
                };
            }
            Ok(_) => {}
            Err(e) => return Err(format!("closing: {e}")),
        }
    }
}

/// What one of our servers saw.
#[derive(Debug)]
enum ServerNote {
    Open(Vec<ExtensionOffer>),
    Done(Result<usize, String>),
}

/// Our server for one case: accepts one connection, reports the handshake,
/// echoes until the peer closes.
fn serve_one(policy: PmdServerPolicy) -> (SocketAddr, mpsc::Receiver<ServerNote>) {
    let negotiator = PmdNegotiator::default().with_policy(policy);
    let server =
        blocking::Server::bind_with("127.0.0.1:0", ServerOptions::new(session(negotiator)))
            .unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut ws, _)) = server.accept() else {
            return;
        };
        let exts = loop {
            match ws.next_event(Some(STEP)) {
                Ok(Some(SessionEvent::Upgrade(req))) => {
                    let now = ws.clock().now();
                    let accepted = ws
                        .session_mut()
                        .accept(now, Accept::for_request(&req), &mut rand::rng())
                        .map(|_| ());
                    if let Err(e) = accepted
                        .map_err(|e| e.to_string())
                        .and_then(|()| ws.flush().map_err(|e| e.to_string()))
                    {
                        let _ = tx.send(ServerNote::Done(Err(format!("accept: {e}"))));
                        return;
                    }
                }
                Ok(Some(SessionEvent::Open(h))) => break h.extensions,
                Ok(Some(_)) => {}
                Ok(None) => {
                    let _ = tx.send(ServerNote::Done(Err("no handshake".into())));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(ServerNote::Done(Err(format!("handshake: {e}"))));
                    return;
                }
            }
        };
        let _ = tx.send(ServerNote::Open(exts));
        let mut echoed = 0;
        let result = loop {
            match ws.recv_timeout(STEP) {
                Ok(Some(Event::Text(t))) => {
                    echoed += 1;
                    if let Err(e) = ws.send_text(t.as_str()) {
                        break Err(format!("echo: {e}"));
                    }
                }
                Ok(Some(Event::Binary(b))) => {
                    echoed += 1;
                    if let Err(e) = ws.send_binary(b) {
                        break Err(format!("echo: {e}"));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) if ws.is_finished() => break Ok(echoed),
                Ok(None) => break Err(format!("idle for {STEP:?}")),
                Err(e) => break Err(format!("{e}")),
            }
        };
        let _ = tx.send(ServerNote::Done(result));
    });
    (addr, rx)
}

// ---------------------------------------------------------------- the runs

fn report(title: &str, rows: &[(String, Result<String, String>)]) {
    let mut out = format!("\n== {title} ==\n");
    for (name, r) in rows {
        match r {
            Ok(s) => writeln!(out, "  ok    {name:34} {s}").unwrap(),
            Err(e) => writeln!(out, "  FAIL  {name:34} {e}").unwrap(),
        }
    }
    println!("{out}");
    let failed: Vec<_> = rows.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{title}: {} of {} cases failed:{out}",
        failed.len(),
        rows.len()
    );
}

/// The peer's servers (one port per case) against our client.
fn peer_servers(peer: Peer) {
    let cases = server_cases(peer);
    let mut cmd = command(peer);
    cmd.arg("server");
    for (i, c) in cases.iter().enumerate() {
        cmd.arg(format!("c{i}={}", c.peer));
    }
    let mut child = Proc(
        cmd.stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{peer:?} server: {e}")),
    );
    let lines = lines_of(&mut child.0);
    let mut ports = HashMap::new();
    loop {
        let line = lines
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("{peer:?} server did not get ready"));
        if line == "ready" {
            break;
        }
        let mut it = line.split(' ');
        match (
            it.next(),
            it.next(),
            it.next().and_then(|p| p.parse::<u16>().ok()),
        ) {
            (Some("listening"), Some(name), Some(port)) => {
                ports.insert(name.to_owned(), port);
            }
            _ => panic!("{peer:?} server said {line:?}"),
        }
    }
    let rows: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let url = format!("ws://127.0.0.1:{}/", ports[&format!("c{i}")]);
            let name = format!("{} [{}]", c.name, c.peer);
            (name, client_case(&url, c))
        })
        .collect();
    report(&format!("{peer:?} server, our client"), &rows);
}

/// The peer's client (every case in one process) against our servers.
fn peer_clients(peer: Peer) {
    let cases = client_cases(peer);
    let mut cmd = command(peer);
    cmd.arg("client");
    let mut notes = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let (addr, rx) = serve_one(c.policy);
        cmd.arg(format!("c{i}"))
            .arg(format!("ws://{addr}/"))
            .arg(&c.peer);
        notes.push(rx);
    }
    let mut child = Proc(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{peer:?} client: {e}")),
    );
    let mut stderr = child.0.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let lines = lines_of(&mut child.0);
    // Per case: what the peer printed.
    let mut said: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let deadline = Instant::now() + PEER_LIMIT;
    let mut overall = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let mut it = line.splitn(4, ' ');
                match (it.next(), it.next(), it.next()) {
                    (Some("case"), Some(name), Some(what)) => said
                        .entry(name.to_owned())
                        .or_default()
                        .push((what.to_owned(), it.next().unwrap_or("").to_owned())),
                    _ => overall = Some(line),
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                overall = Some(format!("the peer client ran over {PEER_LIMIT:?}"));
                let _ = child.0.kill();
                break;
            }
        }
    }
    let status = child.0.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    let rows: Vec<_> = cases
        .iter()
        .zip(notes)
        .enumerate()
        .map(|(i, (c, rx))| {
            let name = format!("{} [{}]", c.name, c.peer);
            let said = said.remove(&format!("c{i}")).unwrap_or_default();
            (name, check_client_case(c, &said, &rx))
        })
        .collect();
    if let Some(o) = &overall {
        println!("{peer:?} client: {o}");
    }
    if !stderr.trim().is_empty() {
        println!("{peer:?} client stderr:\n{stderr}");
    }
    report(&format!("{peer:?} client ({status}), our server"), &rows);
}

fn check_client_case(
    c: &Case,
    said: &[(String, String)],
    rx: &mpsc::Receiver<ServerNote>,
) -> Result<String, String> {
    let get = |what: &str| {
        said.iter()
            .find(|(w, _)| w == what)
            .map(|(_, v)| v.as_str())
    };
    let ours = match rx.recv_timeout(STEP) {
        Ok(ServerNote::Open(exts)) => exts,
        Ok(ServerNote::Done(r)) => return Err(format!("our server: {r:?}; peer said {said:?}")),
        Err(_) => return Err(format!("our server saw no handshake; peer said {said:?}")),
    };
    let server_done = rx.recv_timeout(STEP);
    let (want, refused) = match &c.expect {
        Expect::Agreed(a) => (Some(*a), false),
        Expect::Declined => (None, false),
        Expect::ClientRefuses(a) => (Some(*a), true),
        Expect::Rejected(_) => unreachable!("our servers do not reject"),
    };
    check_agreed("our server", pmd_of(&ours), want)?;
    if refused {
        return match get("refused") {
            Some(why) => Ok(format!(
                "{} refused by the peer: {why}",
                http_upgrade::serialize_extensions(&ours)
            )),
            None => Err(format!("expected the peer to refuse; it said {said:?}")),
        };
    }
    let header = get("negotiated").ok_or_else(|| format!("peer said {said:?}"))?;
    check_agreed("peer client", pmd_of_header(header), want)?;
    if let Some(why) = get("FAILED") {
        return Err(format!("peer: {why}; our server: {server_done:?}"));
    }
    if get("ok").is_none() {
        return Err(format!(
            "peer did not finish: {said:?}; our server: {server_done:?}"
        ));
    }
    match server_done {
        Ok(ServerNote::Done(Ok(PEER_MESSAGES))) => {}
        other => return Err(format!("our server: {other:?}")),
    }
    Ok(format!(
        "{} | peer: {}",
        http_upgrade::serialize_extensions(&ours),
        get("detail").unwrap_or("")
    ))
}

#[test]
fn python_websockets_server_per_setting() {
    peer_servers(Peer::Python);
}

#[test]
fn python_websockets_client_per_setting() {
    peer_clients(Peer::Python);
}

#[test]
fn node_ws_server_per_setting() {
    peer_servers(Peer::Node);
}

#[test]
fn node_ws_client_per_setting() {
    peer_clients(Peer::Node);
}

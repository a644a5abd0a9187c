//! End to end through ws-proto's `Session`: a client and a server session
//! wired together in memory, with deflate-ext's negotiators configured,
//! run the opening handshake, negotiate, then exchange text and binary
//! messages of many sizes both ways (whole and fragmented), and the bytes on
//! the wire are checked for RSV1 where the extension sets it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use deflate_ext::{
    ClientWindowOffer, DeflateFrameName, DeflateFrameNegotiator, DeflateStreamNegotiator,
    ExtensionOffer, Level, PerMessageDeflate, PmdNegotiator, PmdOffer, PmdServerPolicy, WindowBits,
    default_negotiators,
};
use http_upgrade::testing::SplitMix;
use http_upgrade::{Accept, ClientRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionError, SessionEvent};
use ws_proto::{CloseCode, Config, Dialect, Event, ExtensionError, Instant};

const NOW: Instant = Instant::ZERO;
/// An odd fragment size, so that messages end in short last frames.
const FRAGMENT: usize = 4100;
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Deterministic inputs

// Mask keys, handshake keys and test data come from `SplitMix`.

fn noise(seed: u64, n: usize) -> Vec<u8> {
    SplitMix::new(seed).bytes(n)
}

/// Random printable ASCII: valid UTF-8 that compresses poorly.
fn noisy_text(seed: u64, n: usize) -> String {
    noise(seed, n)
        .into_iter()
        .map(|b| char::from(b' ' + b % 95))
        .collect()
}

/// JSON-like text that compresses well.
fn json_text(n: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    let mut i = 0u32;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"ok\":true,\"tags\":[\"a\",\"b\"]}},",
            i % 97
        ));
        i += 1;
    }
    s.truncate(n);
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

/// Text and binary messages from empty to 1 MiB, compressible and not.
fn messages() -> Vec<Msg> {
    let mut v = Vec::new();
    for (i, n) in [0, 1, 63, 64, 300, 4130, 5000, 70_000]
        .into_iter()
        .enumerate()
    {
        v.push(Msg::Text(json_text(n)));
        v.push(Msg::Binary(noise(i as u64 + 7, n)));
    }
    v.push(Msg::Text(json_text(MIB)));
    v.push(Msg::Binary(json_text(MIB).into_bytes()));
    v.push(Msg::Text(noisy_text(3, MIB)));
    v.push(Msg::Binary(noise(5, MIB)));
    v
}

// ---------------------------------------------------------------------------
// Two sessions in memory

struct Peers {
    client: Session,
    server: Session,
    /// The extensions the server accepted, as the client saw them.
    accepted: Vec<ExtensionOffer>,
}

fn config(fragment_size: Option<usize>) -> SessionConfig {
    SessionConfig::new(Config::default().with_fragment_size(fragment_size))
}

fn transfer(from: &mut Session, to: &mut Session) -> Result<Vec<u8>, SessionError> {
    let mut wire = Vec::new();
    let _ = from.poll_transmit(&mut wire);
    for chunk in wire.chunks(64 * 1024) {
        to.receive(NOW, chunk)?;
    }
    Ok(wire)
}

/// Runs the handshake. `tamper` may change the server's answer the way a
/// broken or malicious server would, before the negotiators add theirs.
fn handshake(
    dialect: Dialect,
    client: SessionConfig,
    server: SessionConfig,
    tamper: impl FnOnce(&mut Accept),
) -> Result<Peers, SessionError> {
    let mut request = ClientRequest::new("ws://localhost/chat").unwrap();
    request.dialect = dialect;
    let mut c = Session::client(request, Arc::new(client), Box::new(SplitMix::new(11)), NOW)?;
    let mut s = Session::server(Arc::new(ServerConfig::default()), Arc::new(server), NOW);
    transfer(&mut c, &mut s).unwrap();
    let Some(SessionEvent::Upgrade(req)) = s.poll_event().unwrap() else {
        panic!("no upgrade request")
    };
    assert_eq!(req.dialect, dialect);
    let mut accept = Accept::for_request(&req);
    tamper(&mut accept);
    let server_view = s
        .accept(NOW, accept, &mut SplitMix::new(13))
        .unwrap()
        .clone();
    assert!(matches!(
        s.poll_event().unwrap(),
        Some(SessionEvent::Open(_))
    ));
    transfer(&mut s, &mut c)?;
    let Some(SessionEvent::Open(h)) = c.poll_event()? else {
        panic!("client not open")
    };
    assert_eq!(h.dialect, dialect);
    assert_eq!(h.extensions, server_view.extensions);
    Ok(Peers {
        client: c,
        server: s,
        accepted: h.extensions,
    })
}

fn connect(dialect: Dialect, client: SessionConfig, server: SessionConfig) -> Peers {
    handshake(dialect, client, server, |_| {}).unwrap()
}

fn accepted(p: &Peers) -> String {
    http_upgrade::serialize_extensions(&p.accepted)
}

fn drain(s: &mut Session) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(ev) = s.poll_event().unwrap() {
        match ev {
            SessionEvent::Ws(e) => v.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    v
}

// ---------------------------------------------------------------------------
// The wire

/// One frame as sent: its first header byte and its unmasked payload.
#[derive(Debug)]
struct WireFrame {
    b0: u8,
    payload: Vec<u8>,
}

impl WireFrame {
    fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }
    fn fin(&self) -> bool {
        self.b0 & 0x80 != 0
    }
    fn rsv(&self) -> u8 {
        self.b0 & 0x70
    }
}

/// Parses RFC 6455 §5.2 frames; the wire must end on a frame boundary.
fn parse_frames(mut b: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while !b.is_empty() {
        let (b0, b1) = (b[0], b[1]);
        let mut at = 2;
        let mut len = u64::from(b1 & 0x7f);
        if len == 126 {
            len = u64::from(u16::from_be_bytes([b[2], b[3]]));
            at = 4;
        } else if len == 127 {
            len = u64::from_be_bytes(b[2..10].try_into().unwrap());
            at = 10;
        }
        let key = (b1 & 0x80 != 0).then(|| {
            let k = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            k
        });
        let end = at + len as usize;
        let mut payload = b[at..end].to_vec();
        if let Some(k) = key {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x ^= k[i & 3]);
        }
        frames.push(WireFrame { b0, payload });
        b = &b[end..];
    }
    frames
}

/// What the negotiated extension does to the wire.
#[derive(Clone, Copy, Debug)]
enum Wire {
    /// No extension: no RSV bit anywhere, payloads as sent.
    Plain,
    /// permessage-deflate: RSV1 on the first frame of each message at or
    /// above the threshold, never on continuations or control frames.
    PerMessage,
    /// deflate-frame: RSV1 on every data frame at or above the threshold.
    PerFrame,
    /// deflate-stream: frames are not visible; the stream is smaller.
    Stream,
}

/// The threshold every default negotiator uses.
const THRESHOLD: usize = 64;

/// The lengths of the frames a message of `len` bytes is sent in.
fn frame_lengths(len: usize, fragment: Option<usize>) -> Vec<usize> {
    match fragment {
        Some(f) if len > f => {
            let mut v = vec![f; len / f];
            if len % f != 0 {
                v.push(len % f);
            }
            v
        }
        _ => vec![len],
    }
}

fn check_wire(wire: &[u8], msgs: &[Msg], mode: Wire, fragment: Option<usize>) {
    let total: usize = msgs.iter().map(Msg::len).sum();
    if let Wire::Stream = mode {
        // 2 MiB of the 4.2 MiB compress well.
        assert!(wire.len() < total * 3 / 4, "{} of {total}", wire.len());
        return;
    }
    let frames = parse_frames(wire);
    let (data, control): (Vec<_>, Vec<_>) = frames.iter().partition(|f| f.opcode() < 8);
    assert!(
        control.iter().all(|f| f.rsv() == 0),
        "RSV on a control frame"
    );
    // Group data frames into messages.
    let mut groups: Vec<Vec<&WireFrame>> = Vec::new();
    for f in data {
        if f.opcode() != 0 {
            groups.push(Vec::new());
        }
        groups.last_mut().unwrap().push(f);
    }
    assert_eq!(groups.len(), msgs.len());
    let mut wire_payload = 0;
    for (msg, group) in msgs.iter().zip(&groups) {
        let n = msg.len();
        assert!(group.last().unwrap().fin());
        wire_payload += group.iter().map(|f| f.payload.len()).sum::<usize>();
        let rsv: Vec<u8> = group.iter().map(|f| f.rsv()).collect();
        match mode {
            Wire::Plain => {
                assert!(rsv.iter().all(|&r| r == 0));
                let lens: Vec<usize> = group.iter().map(|f| f.payload.len()).collect();
                assert_eq!(lens, frame_lengths(n, fragment), "message of {n}");
            }
            Wire::PerMessage => {
                assert_eq!(rsv[0], if n >= THRESHOLD { 0x40 } else { 0 }, "{n}");
                assert!(rsv[1..].iter().all(|&r| r == 0), "RSV1 on a continuation");
            }
            Wire::PerFrame => {
                let want: Vec<u8> = frame_lengths(n, fragment)
                    .into_iter()
                    .map(|l| if l >= THRESHOLD { 0x40 } else { 0 })
                    .collect();
                assert_eq!(rsv, want, "message of {n}");
            }
            Wire::Stream => unreachable!(),
        }
    }
    match mode {
        Wire::Plain => assert_eq!(wire_payload, total),
        _ => assert!(wire_payload < total * 3 / 4, "{wire_payload} of {total}"),
    }
}

/// Sends `msgs` and a ping from `from` to `to`; checks what arrives and
/// what the wire carried.
fn send_all(from: &mut Session, to: &mut Session, msgs: &[Msg], mode: Wire) {
    let fragment = from.connection().unwrap().config().fragment_size;
    let conn = from.connection_mut().unwrap();
    for m in msgs {
        match m {
            Msg::Text(t) => conn.send_text(t.clone()).unwrap(),
            Msg::Binary(b) => conn.send_binary(b.clone()).unwrap(),
        }
    }
    conn.send_ping(&b"are you there"[..]).unwrap();
    let wire = transfer(from, to).unwrap();
    let events = drain(to);
    let (got, rest) = events.split_at(msgs.len());
    for (m, e) in msgs.iter().zip(got) {
        match (m, e) {
            (Msg::Text(t), Event::Text(g)) => assert!(g.as_str() == t, "text of {}", t.len()),
            (Msg::Binary(b), Event::Binary(g)) => assert!(g[..] == b[..], "binary of {}", b.len()),
            _ => panic!("{} bytes arrived as {e:?}", m.len()),
        }
    }
    assert_eq!(rest, [Event::Ping("are you there".into())]);
    check_wire(&wire, msgs, mode, fragment);
    // The pong goes back.
    transfer(to, from).unwrap();
    assert_eq!(drain(from), [Event::Pong("are you there".into())]);
}

/// Both ways, then a clean close started by the client.
fn exchange(p: &mut Peers, mode: Wire) {
    let msgs = messages();
    send_all(&mut p.client, &mut p.server, &msgs, mode);
    send_all(&mut p.server, &mut p.client, &msgs, mode);
    let conn = p.client.connection_mut().unwrap();
    conn.close(NOW, CloseCode(1000), "bye").unwrap();
    transfer(&mut p.client, &mut p.server).unwrap();
    assert!(matches!(
        drain(&mut p.server)[..],
        [Event::Close {
            code: Some(CloseCode(1000)),
            ..
        }]
    ));
    transfer(&mut p.server, &mut p.client).unwrap();
    assert!(matches!(drain(&mut p.client)[..], [Event::Close { .. }]));
}

/// Connects with `client` and `server` negotiators, whole and fragmented,
/// checks the server's answer, and exchanges everything.
fn run(
    dialect: Dialect,
    client: impl Fn(SessionConfig) -> SessionConfig,
    server: impl Fn(SessionConfig) -> SessionConfig,
    want: &str,
    mode: Wire,
) {
    for fragment in [None, Some(FRAGMENT)] {
        run_with(dialect, &client, &server, want, mode, fragment);
    }
}

/// As [`run`], with one fragment size.
fn run_with(
    dialect: Dialect,
    client: impl Fn(SessionConfig) -> SessionConfig,
    server: impl Fn(SessionConfig) -> SessionConfig,
    want: &str,
    mode: Wire,
    fragment: Option<usize>,
) {
    let mut p = connect(dialect, client(config(fragment)), server(config(fragment)));
    assert_eq!(accepted(&p), want, "{dialect:?}, fragments {fragment:?}");
    exchange(&mut p, mode);
}

fn with_pmd(n: PmdNegotiator) -> impl Fn(SessionConfig) -> SessionConfig {
    move |c| c.with_negotiator(n.clone())
}

fn with_defaults(mut c: SessionConfig) -> SessionConfig {
    c.negotiators = default_negotiators();
    c
}

fn wb(n: u8) -> WindowBits {
    WindowBits::new(n).unwrap()
}

fn policy(f: impl FnOnce(&mut PmdServerPolicy)) -> PmdNegotiator {
    let mut p = PmdServerPolicy::default();
    f(&mut p);
    PmdNegotiator::default().with_policy(p)
}

fn offer(f: impl FnOnce(&mut PmdOffer)) -> PmdOffer {
    let mut o = PmdOffer::default();
    f(&mut o);
    o
}

// ---------------------------------------------------------------------------
// permessage-deflate

#[test]
fn permessage_deflate_default() {
    let n = PerMessageDeflate::negotiator();
    assert_eq!(
        http_upgrade::serialize_extensions(&ws_proto::session::Negotiator::offers(
            &n,
            Dialect::Rfc6455
        )),
        "permessage-deflate; client_max_window_bits"
    );
    run(
        Dialect::Rfc6455,
        with_pmd(n.clone()),
        with_pmd(n),
        "permessage-deflate",
        Wire::PerMessage,
    );
}

#[test]
fn permessage_deflate_on_hybi_07_and_08() {
    for d in [Dialect::Hybi07, Dialect::Hybi08] {
        let n = PmdNegotiator::default();
        run(
            d,
            with_pmd(n.clone()),
            with_pmd(n),
            "permessage-deflate",
            Wire::PerMessage,
        );
    }
}

#[test]
fn permessage_deflate_server_no_context_takeover() {
    run(
        Dialect::Rfc6455,
        with_pmd(PmdNegotiator::default()),
        with_pmd(policy(|p| p.server_no_context_takeover = true)),
        "permessage-deflate; server_no_context_takeover",
        Wire::PerMessage,
    );
}

#[test]
fn permessage_deflate_client_no_context_takeover() {
    run(
        Dialect::Rfc6455,
        with_pmd(PmdNegotiator::default()),
        with_pmd(policy(|p| p.client_no_context_takeover = true)),
        "permessage-deflate; client_no_context_takeover",
        Wire::PerMessage,
    );
    // Both, the client asking for the server's.
    run(
        Dialect::Rfc6455,
        with_pmd(PmdNegotiator::default().with_offers([offer(|o| {
            o.server_no_context_takeover = true;
            o.client_no_context_takeover = true;
        })])),
        with_pmd(PmdNegotiator::default()),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        Wire::PerMessage,
    );
}

/// The server limits its window, then the client asks for the limit; one
/// of the two runs fragments (alternating with `bits`, to halve the time).
fn server_window(bits: u8) {
    let want = if bits == 15 {
        "permessage-deflate".to_owned()
    } else {
        format!("permessage-deflate; server_max_window_bits={bits}")
    };
    let (first, second) = if bits % 2 == 0 {
        (None, Some(FRAGMENT))
    } else {
        (Some(FRAGMENT), None)
    };
    run_with(
        Dialect::Rfc6455,
        with_pmd(PmdNegotiator::default()),
        with_pmd(policy(|p| p.server_max_window_bits = wb(bits))),
        &want,
        Wire::PerMessage,
        first,
    );
    run_with(
        Dialect::Rfc6455,
        with_pmd(PmdNegotiator::default().with_offers([offer(|o| {
            o.server_max_window_bits = Some(wb(bits));
        })])),
        with_pmd(PmdNegotiator::default()),
        &format!("permessage-deflate; server_max_window_bits={bits}"),
        Wire::PerMessage,
        second,
    );
}

// Split for the test harness's threads: small windows are the slowest.
#[test]
fn permessage_deflate_server_max_window_bits_8_9() {
    (8..=9).for_each(server_window);
}

#[test]
fn permessage_deflate_server_max_window_bits_10_11() {
    (10..=11).for_each(server_window);
}

#[test]
fn permessage_deflate_server_max_window_bits_12_to_15() {
    (12..=15).for_each(server_window);
}

#[test]
fn permessage_deflate_client_max_window_bits_without_value() {
    // The default offer carries it without a value: the server may limit.
    for bits in [8, 10, 14] {
        run(
            Dialect::Rfc6455,
            with_pmd(PmdNegotiator::default()),
            with_pmd(policy(|p| p.client_max_window_bits = wb(bits))),
            &format!("permessage-deflate; client_max_window_bits={bits}"),
            Wire::PerMessage,
        );
    }
}

#[test]
fn permessage_deflate_client_max_window_bits_with_value() {
    let hint = |bits| {
        PmdNegotiator::default().with_offers([offer(|o| {
            o.client_max_window_bits = ClientWindowOffer::Hint(wb(bits));
        })])
    };
    // The hint is echoed; a smaller server limit wins.
    run(
        Dialect::Rfc6455,
        with_pmd(hint(12)),
        with_pmd(PmdNegotiator::default()),
        "permessage-deflate; client_max_window_bits=12",
        Wire::PerMessage,
    );
    run(
        Dialect::Rfc6455,
        with_pmd(hint(12)),
        with_pmd(policy(|p| p.client_max_window_bits = wb(9))),
        "permessage-deflate; client_max_window_bits=9",
        Wire::PerMessage,
    );
}

#[test]
fn permessage_deflate_policies_that_decline() {
    // No client_max_window_bits offered: the server cannot limit the
    // client's window, and this one insists, so no compression.
    let strict = policy(|p| {
        p.client_max_window_bits = wb(10);
        p.require_client_max_window_bits = true;
    });
    let bare = PmdNegotiator::default().with_offers([PmdOffer::default()]);
    run(
        Dialect::Rfc6455,
        with_pmd(bare.clone()),
        with_pmd(strict),
        "",
        Wire::Plain,
    );
    // The same limit without insisting: accepted, the client keeps 15.
    run(
        Dialect::Rfc6455,
        with_pmd(bare),
        with_pmd(policy(|p| p.client_max_window_bits = wb(10))),
        "permessage-deflate",
        Wire::PerMessage,
    );
    // A server that does not do server_max_window_bits, or not that small.
    let smwb8 = PmdNegotiator::default().with_offers([offer(|o| {
        o.server_max_window_bits = Some(wb(8));
    })]);
    for server in [
        policy(|p| p.accept_server_max_window_bits = false),
        policy(|p| p.min_server_max_window_bits = wb(9)),
    ] {
        let p = connect(
            Dialect::Rfc6455,
            with_pmd(smwb8.clone())(config(None)),
            with_pmd(server)(config(None)),
        );
        assert_eq!(accepted(&p), "");
    }
}

#[test]
fn permessage_deflate_offers_in_preference_order() {
    let client = PmdNegotiator::default().with_offers([
        offer(|o| {
            o.server_max_window_bits = Some(wb(10));
            o.client_max_window_bits = ClientWindowOffer::Supported;
        }),
        offer(|o| o.server_no_context_takeover = true),
        PmdOffer::default(),
    ]);
    assert_eq!(
        http_upgrade::serialize_extensions(&ws_proto::session::Negotiator::offers(
            &client,
            Dialect::Rfc6455
        )),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
         permessage-deflate; server_no_context_takeover, permessage-deflate"
    );
    // The first acceptable one is taken.
    run(
        Dialect::Rfc6455,
        with_pmd(client.clone()),
        with_pmd(PmdNegotiator::default()),
        "permessage-deflate; server_max_window_bits=10",
        Wire::PerMessage,
    );
    // A server without server_max_window_bits takes the second.
    run(
        Dialect::Rfc6455,
        with_pmd(client),
        with_pmd(policy(|p| p.accept_server_max_window_bits = false)),
        "permessage-deflate; server_no_context_takeover",
        Wire::PerMessage,
    );
}

// ---------------------------------------------------------------------------
// deflate-frame, deflate-stream, the full set, nothing

#[test]
fn deflate_frame_and_x_webkit_deflate_frame() {
    for dialect in [Dialect::Rfc6455, Dialect::Hybi08] {
        for name in [DeflateFrameName::DeflateFrame, DeflateFrameName::XWebkit] {
            let n = DeflateFrameNegotiator::named(name);
            run(
                dialect,
                move |c| c.with_negotiator(n),
                with_defaults,
                name.as_str(),
                Wire::PerFrame,
            );
        }
    }
}

#[test]
fn deflate_stream_on_hybi_07_and_08() {
    for dialect in [Dialect::Hybi07, Dialect::Hybi08] {
        run(
            dialect,
            |c| c.with_negotiator(DeflateStreamNegotiator::default()),
            with_defaults,
            "deflate-stream",
            Wire::Stream,
        );
    }
}

#[test]
fn full_sets_agree_on_permessage_deflate_alone() {
    // The client offers all three on hybi-08, both on 13; the server takes
    // permessage-deflate and declines the rest (RSV1 taken, deflate-stream
    // only as a fallback).
    for dialect in [Dialect::Rfc6455, Dialect::Hybi08] {
        let p = connect(
            dialect,
            with_defaults(config(None)),
            with_defaults(config(None)),
        );
        assert_eq!(accepted(&p), "permessage-deflate");
    }
    run(
        Dialect::Hybi08,
        with_defaults,
        with_defaults,
        "permessage-deflate",
        Wire::PerMessage,
    );
}

#[test]
fn server_without_extensions() {
    run(Dialect::Rfc6455, with_defaults, |c| c, "", Wire::Plain);
}

#[test]
fn client_without_extensions() {
    run(Dialect::Rfc6455, |c| c, with_defaults, "", Wire::Plain);
}

// ---------------------------------------------------------------------------
// Hostile servers

fn hostile(client: SessionConfig, dialect: Dialect, response: &[&str]) -> SessionError {
    let mut elements = Vec::new();
    for r in response {
        http_upgrade::parse_extensions([r.as_bytes()], &mut elements).unwrap();
    }
    let result = handshake(dialect, client, config(None), |a| {
        a.extensions = elements;
    });
    match result {
        Err(e) => e,
        Ok(p) => panic!("client accepted {:?}", accepted(&p)),
    }
}

#[test]
fn client_fails_a_hostile_response() {
    let pmd =
        |o: Vec<PmdOffer>| config(None).with_negotiator(PmdNegotiator::default().with_offers(o));
    let default = || pmd(vec![PmdOffer::default().with_cmwb()]);
    let bare = || pmd(vec![PmdOffer::default()]);
    let smwb10 = || pmd(vec![offer(|o| o.server_max_window_bits = Some(wb(10)))]);
    let snct = || pmd(vec![offer(|o| o.server_no_context_takeover = true)]);
    let both = || {
        config(None)
            .with_negotiator(PmdNegotiator::default())
            .with_negotiator(DeflateFrameNegotiator::default())
    };
    let table: Vec<(&str, SessionConfig, Vec<&str>)> = vec![
        (
            "unknown parameter",
            default(),
            vec!["permessage-deflate; foo"],
        ),
        (
            "unknown parameter value",
            default(),
            vec!["permessage-deflate; foo=1"],
        ),
        (
            "client_max_window_bits not offered",
            bare(),
            vec!["permessage-deflate; client_max_window_bits=10"],
        ),
        (
            "client_max_window_bits without value",
            default(),
            vec!["permessage-deflate; client_max_window_bits"],
        ),
        (
            "server_max_window_bits 7",
            default(),
            vec!["permessage-deflate; server_max_window_bits=7"],
        ),
        (
            "server_max_window_bits 16",
            default(),
            vec!["permessage-deflate; server_max_window_bits=16"],
        ),
        (
            "server_max_window_bits leading zero",
            default(),
            vec!["permessage-deflate; server_max_window_bits=09"],
        ),
        (
            "client_max_window_bits 7",
            default(),
            vec!["permessage-deflate; client_max_window_bits=7"],
        ),
        (
            "server_max_window_bits larger than asked",
            smwb10(),
            vec!["permessage-deflate; server_max_window_bits=11"],
        ),
        (
            "server_max_window_bits asked, not answered",
            smwb10(),
            vec!["permessage-deflate"],
        ),
        (
            "server_no_context_takeover asked, not answered",
            snct(),
            vec!["permessage-deflate"],
        ),
        (
            "flag with a value",
            default(),
            vec!["permessage-deflate; server_no_context_takeover=1"],
        ),
        (
            "duplicate parameter",
            default(),
            vec!["permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
        ),
        (
            "permessage-deflate twice",
            default(),
            vec!["permessage-deflate", "permessage-deflate"],
        ),
        (
            "two RSV1 extensions",
            both(),
            vec!["permessage-deflate, x-webkit-deflate-frame"],
        ),
        (
            "two RSV1 extensions, other order",
            both(),
            vec!["x-webkit-deflate-frame", "permessage-deflate"],
        ),
        (
            "deflate-frame window 16",
            both(),
            vec!["x-webkit-deflate-frame; max_window_bits=16"],
        ),
    ];
    for (why, client, response) in table {
        let e = hostile(client, Dialect::Rfc6455, &response);
        assert!(
            matches!(
                e,
                SessionError::Negotiation(ExtensionError::Negotiation(_))
                    | SessionError::Handshake(_)
            ),
            "{why}: {e:?}"
        );
        eprintln!("{why}: {e}");
    }
    // deflate-stream owns no RSV bit: only the duplicate-name check catches this.
    let stream = config(None).with_negotiator(DeflateStreamNegotiator::default());
    let e = hostile(stream, Dialect::Hybi08, &["deflate-stream, deflate-stream"]);
    assert!(
        matches!(
            e,
            SessionError::Negotiation(ExtensionError::Negotiation(_)) | SessionError::Handshake(_)
        ),
        "deflate-stream twice: {e:?}"
    );
}

trait WithCmwb {
    fn with_cmwb(self) -> Self;
}

impl WithCmwb for PmdOffer {
    fn with_cmwb(mut self) -> Self {
        self.client_max_window_bits = ClientWindowOffer::Supported;
        self
    }
}

// ---------------------------------------------------------------------------
// Decompression bomb

#[test]
fn decompression_bomb_through_a_session_closes_with_1009() {
    let mut server = with_defaults(config(None));
    server.connection.max_message_size = MIB as u64;
    let mut p = connect(
        Dialect::Rfc6455,
        // The best ratio, so that the bomb is small on the wire.
        config(None).with_negotiator(PmdNegotiator::default().with_level(Level::BEST)),
        server,
    );
    assert_eq!(accepted(&p), "permessage-deflate");
    let conn = p.client.connection_mut().unwrap();
    conn.send_binary(vec![0u8; 64 * MIB]).unwrap();
    let mut wire = Vec::new();
    let _ = p.client.poll_transmit(&mut wire);
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].rsv(), 0x40);
    assert!(
        frames[0].payload.len() < 128 * 1024,
        "{}",
        frames[0].payload.len()
    );
    // The server inflates until the limit, then fails with 1009.
    // The error is reported by `receive` or by the next `poll_event`.
    let err = p
        .server
        .receive(NOW, &wire)
        .and_then(|()| p.server.poll_event())
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SessionError::Connection(e) if e.close_code() == Some(CloseCode(1009))
        ),
        "{err:?}"
    );
    let mut back = Vec::new();
    let _ = p.server.poll_transmit(&mut back);
    let frames = parse_frames(&back);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].b0, 0x88, "FIN + close, no RSV");
    assert_eq!(frames[0].payload[..2], 1009u16.to_be_bytes());
    // The client sees the server's close.
    p.client.receive(NOW, &back).unwrap();
    assert!(matches!(
        drain(&mut p.client)[..],
        [Event::Close {
            code: Some(CloseCode(1009)),
            ..
        }]
    ));
}

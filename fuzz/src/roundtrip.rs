//! `roundtrip`: a differential round trip. A client and a server session
//! handshake in memory (any dialect whose framing ws-proto implements, any
//! compression extension with fuzzed parameters), then exchange arbitrary
//! messages in both directions, delivered in arbitrary chunks, and close.
//!
//! Asserts: the handshake succeeds and both sides agree on the extensions;
//! every message (text, binary, sent in parts, ping, pong) arrives exactly
//! once, in order and byte for byte, whatever the fragmentation, receive
//! mode, compression settings and chunking; no error on either side; the
//! close code and reason arrive as sent.

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use deflate_ext::{
    ClientWindowOffer, DeflateFrameClientConfig, DeflateFrameName, DeflateFrameNegotiator,
    DeflateFrameParams, DeflateStreamNegotiator, Level, PmdNegotiator, PmdOffer, PmdServerPolicy,
    WindowBits,
};
use http_upgrade::{Accept, ClientRequest, ServerConfig};
use ws_proto::session::{Negotiator, Session, SessionConfig, SessionError, SessionEvent};
use ws_proto::{CloseCode, Config, Connection, Dialect, Error, Event, MessageKind};

use crate::check::EventCheck;
use crate::util::{ChunkPlan, Mode, T0, XorShift, dialect, mask_rng};

/// One message to send.
#[derive(Arbitrary, Clone, Debug)]
pub enum Msg {
    /// `send_text`.
    Text(String),
    /// `send_binary`.
    Binary(Vec<u8>),
    /// `send_fragment` parts; text parts are cut from a string at arbitrary
    /// byte positions (code points may be split across parts).
    Parts {
        /// Text or binary.
        text: bool,
        /// The message.
        data: Vec<u8>,
        /// Part lengths (cycled).
        cuts: Vec<u8>,
    },
    /// `send_ping` (payload truncated to 125 bytes).
    Ping(Vec<u8>),
    /// `send_pong` (payload truncated to 125 bytes).
    Pong(Vec<u8>),
}

/// A message and who sends it.
#[derive(Arbitrary, Clone, Debug)]
pub struct Step {
    /// The client sends it (else the server).
    pub from_client: bool,
    /// The message.
    pub msg: Msg,
}

/// The compression extension both sides are set up with.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ExtChoice {
    /// None.
    None,
    /// permessage-deflate with these offer and policy knobs.
    Pmd {
        /// Client offer: server_no_context_takeover.
        server_nct: bool,
        /// Client offer: client_no_context_takeover.
        client_nct: bool,
        /// Client offer: server_max_window_bits (8..=15 when in range).
        server_bits: Option<u8>,
        /// Client offer: client_max_window_bits (absent, bare, or a hint).
        client_bits: Option<Option<u8>>,
        /// Server policy: its own no_context_takeover.
        policy_server_nct: bool,
        /// Server policy: client_max_window_bits it asks for.
        policy_client_bits: u8,
        /// Compression level (0..=9).
        level: u8,
        /// Smallest message compressed.
        threshold: u8,
    },
    /// deflate-frame or x-webkit-deflate-frame.
    DeflateFrame {
        /// Use the x-webkit name.
        webkit: bool,
        /// Client's request of the server: no_context_takeover.
        nct: bool,
        /// Client's request of the server: max_window_bits.
        bits: Option<u8>,
        /// Compression level.
        level: u8,
        /// Smallest frame compressed.
        threshold: u8,
    },
    /// deflate-stream (hybi dialects only; none otherwise).
    DeflateStream {
        /// Compression level.
        level: u8,
    },
    /// `default_negotiators()` on both sides.
    Defaults,
}

/// One side's settings.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Side {
    /// Receive mode.
    pub mode: Mode,
    /// `fragment_size` for its sends (0: none).
    pub fragment_size: u8,
}

/// A `roundtrip` input.
#[derive(Arbitrary, Clone, Debug)]
pub struct RtInput {
    /// Index into `Dialect::ALL`.
    pub dialect: u8,
    /// Compression.
    pub ext: ExtChoice,
    /// Client settings.
    pub client: Side,
    /// Server settings.
    pub server: Side,
    /// How bytes are cut on the way.
    pub chunks: ChunkPlan,
    /// The messages.
    pub steps: Vec<Step>,
    /// Who closes at the end (client?), with which code and reason.
    pub close: Option<(bool, u16, String)>,
}

/// What a receiver hands out, messages reassembled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rx {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
}

/// The harness.
pub fn run(data: &[u8]) {
    let u = Unstructured::new(data);
    let Ok(input) = RtInput::arbitrary_take_rest(u) else {
        return;
    };
    let d = dialect(input.dialect);
    let Some((client, server)) = handshake(&input, d) else {
        return;
    };
    exchange(d, client, server, &input);
}

fn window(bits: u8) -> Option<WindowBits> {
    WindowBits::new(8 + bits % 8)
}

fn level(l: u8) -> Level {
    Level::new(l % 10).unwrap_or_default()
}

/// A set of extension negotiators for one side.
pub type Negotiators = Vec<Box<dyn Negotiator>>;

/// The (client, server) negotiators for a choice.
pub fn negotiators(ext: ExtChoice) -> (Negotiators, Negotiators) {
    match ext {
        ExtChoice::None => (Vec::new(), Vec::new()),
        ExtChoice::Pmd {
            server_nct,
            client_nct,
            server_bits,
            client_bits,
            policy_server_nct,
            policy_client_bits,
            level: l,
            threshold,
        } => {
            let offer = PmdOffer {
                server_no_context_takeover: server_nct,
                client_no_context_takeover: client_nct,
                server_max_window_bits: server_bits.and_then(window),
                client_max_window_bits: match client_bits {
                    None => ClientWindowOffer::Absent,
                    Some(None) => ClientWindowOffer::Supported,
                    Some(Some(b)) => {
                        window(b).map_or(ClientWindowOffer::Supported, ClientWindowOffer::Hint)
                    }
                },
            };
            let policy = PmdServerPolicy::default()
                .with_server_no_context_takeover(policy_server_nct)
                .with_client_max_window_bits(window(policy_client_bits).unwrap_or(WindowBits::MAX));
            let t = usize::from(threshold);
            let c = PmdNegotiator::default()
                .with_offers([offer])
                .with_level(level(l))
                .with_threshold(t);
            let s = PmdNegotiator::default()
                .with_policy(policy)
                .with_level(level(l.wrapping_add(3)))
                .with_threshold(t);
            (vec![Box::new(c)], vec![Box::new(s)])
        }
        ExtChoice::DeflateFrame {
            webkit,
            nct,
            bits,
            level: l,
            threshold,
        } => {
            let name = if webkit {
                DeflateFrameName::XWebkit
            } else {
                DeflateFrameName::DeflateFrame
            };
            let client = DeflateFrameClientConfig::default()
                .with_name(name)
                .with_request(DeflateFrameParams {
                    max_window_bits: bits.and_then(window),
                    no_context_takeover: nct,
                });
            let c = DeflateFrameNegotiator::named(name)
                .with_client(client)
                .with_level(level(l))
                .with_threshold(usize::from(threshold));
            let s = DeflateFrameNegotiator::named(name)
                .with_level(level(l))
                .with_threshold(usize::from(threshold));
            (vec![Box::new(c)], vec![Box::new(s)])
        }
        ExtChoice::DeflateStream { level: l } => (
            vec![Box::new(
                DeflateStreamNegotiator::default().with_level(level(l)),
            )],
            vec![Box::new(
                DeflateStreamNegotiator::default().with_level(level(l)),
            )],
        ),
        ExtChoice::Defaults => (
            deflate_ext::default_negotiators(),
            deflate_ext::default_negotiators(),
        ),
    }
}

fn side_config(side: &Side) -> Config {
    Config::default()
        .with_receive_mode(side.mode.receive_mode())
        .with_fragment_size((side.fragment_size > 0).then_some(usize::from(side.fragment_size)))
        .with_auto_pong(false)
}

/// Handshakes a client and a server session in memory; `None` when the
/// dialect's framing is not implemented yet.
fn handshake(input: &RtInput, d: Dialect) -> Option<(Session, Session)> {
    let (cn, sn) = negotiators(input.ext);
    let mut ccfg = SessionConfig::new(side_config(&input.client));
    ccfg.negotiators = cn;
    let mut scfg = SessionConfig::new(side_config(&input.server));
    scfg.negotiators = sn;
    let request = ClientRequest::new("ws://example.com/chat")
        .expect("url")
        .dialect(d)
        .origin("http://example.com");
    let mut client =
        Session::client(request, Arc::new(ccfg), mask_rng(11), T0).expect("client session");
    let mut server = Session::server(Arc::new(ServerConfig::default()), Arc::new(scfg), T0);
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    server.receive(T0, &wire).expect("server reads the request");
    let req = match server.poll_event().expect("request is valid") {
        Some(SessionEvent::Upgrade(req)) => req,
        other => panic!("expected an upgrade, got {other:?}"),
    };
    match server.accept(T0, Accept::for_request(&req), &mut XorShift(5)) {
        Ok(_) => {}
        Err(SessionError::Connection(Error::UnsupportedDialect(_))) => return None,
        Err(e) => panic!("accept failed: {e:?}"),
    }
    let Some(SessionEvent::Open(sh)) = server.poll_event().expect("server open") else {
        panic!("server did not open");
    };
    wire.clear();
    let _ = server.poll_transmit(&mut wire);
    client
        .receive(T0, &wire)
        .expect("client reads the response");
    let ch = match client.poll_event().expect("response is valid") {
        Some(SessionEvent::Open(h)) => h,
        other => panic!("client did not open: {other:?}"),
    };
    assert_eq!(ch.extensions, sh.extensions, "extensions differ");
    assert_eq!(ch.dialect, sh.dialect);
    assert_eq!(server.pending_transmit(), 0);
    Some((client, server))
}

/// What the exchange needs of an endpoint: a [`Connection`] on its own or
/// an open [`Session`].
pub trait Endpoint {
    /// The connection, to send with.
    fn conn(&mut self) -> &mut Connection;
    /// Feeds received bytes.
    fn feed(&mut self, data: &[u8]) -> Result<(), String>;
    /// The next event.
    fn next(&mut self) -> Result<Option<Event>, String>;
    /// Drains the output.
    fn drain(&mut self, out: &mut Vec<u8>);
}

impl Endpoint for Connection {
    fn conn(&mut self) -> &mut Connection {
        self
    }
    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        self.receive(T0, data).map_err(|e| format!("{e:?}"))
    }
    fn next(&mut self) -> Result<Option<Event>, String> {
        self.poll_event().map_err(|e| format!("{e:?}"))
    }
    fn drain(&mut self, out: &mut Vec<u8>) {
        self.poll_transmit(out);
    }
}

impl Endpoint for Session {
    fn conn(&mut self) -> &mut Connection {
        self.connection_mut().expect("open session")
    }
    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        self.receive(T0, data).map_err(|e| format!("{e:?}"))
    }
    fn next(&mut self) -> Result<Option<Event>, String> {
        match self.poll_event() {
            Ok(Some(SessionEvent::Ws(ev))) => Ok(Some(ev)),
            Ok(Some(other)) => panic!("session event {other:?} after open"),
            Ok(None) => Ok(None),
            Err(e) => Err(format!("{e:?}")),
        }
    }
    fn drain(&mut self, out: &mut Vec<u8>) {
        let _ = self.poll_transmit(out);
    }
}

/// Moves everything `from` has queued to `to`, in chunks, polling `to`'s
/// events into `rx` after each chunk.
fn deliver(from: &mut dyn Endpoint, to: &mut dyn Endpoint, rx: &mut Receiver, plan: ChunkPlan) {
    let mut wire = Vec::new();
    from.drain(&mut wire);
    for chunk in plan.split(&wire) {
        if chunk.is_empty() {
            continue;
        }
        if let Err(e) = to.feed(chunk) {
            panic!("receiver failed on a correct peer's bytes: {e}");
        }
        loop {
            match to.next() {
                Ok(Some(ev)) => rx.event(ev),
                Ok(None) => break,
                Err(e) => panic!("receiver failed on a correct peer's bytes: {e}"),
            }
        }
    }
}

/// Sends `msg` on `c`; returns what the peer must receive, or `None` if the
/// connection refused it as a usage error (e.g. a control frame the
/// dialect cannot carry).
fn send(c: &mut Connection, msg: &Msg) -> Option<Rx> {
    let (r, rx) = match msg {
        Msg::Text(t) => (c.send_text(t.as_str()), Rx::Text(t.clone())),
        Msg::Binary(b) => (c.send_binary(b.clone()), Rx::Binary(b.clone())),
        Msg::Ping(p) => {
            let p = p[..p.len().min(125)].to_vec();
            (c.send_ping(p.clone()), Rx::Ping(p))
        }
        Msg::Pong(p) => {
            let p = p[..p.len().min(125)].to_vec();
            (c.send_pong(p.clone()), Rx::Pong(p))
        }
        Msg::Parts { text, data, cuts } => {
            let (kind, data, rx) = if *text {
                let s = String::from_utf8_lossy(data).into_owned();
                (MessageKind::Text, s.clone().into_bytes(), Rx::Text(s))
            } else {
                (MessageKind::Binary, data.clone(), Rx::Binary(data.clone()))
            };
            let mut rest = &data[..];
            let mut i = 0;
            let r = loop {
                let n = cuts
                    .get(i % cuts.len().max(1))
                    .map_or(rest.len(), |&n| usize::from(n))
                    .min(rest.len());
                let (part, tail) = rest.split_at(n);
                rest = tail;
                i += 1;
                // At most a few hundred parts; the last one carries FIN.
                let fin = rest.is_empty() || i > 256;
                let part = if fin {
                    let mut all = part.to_vec();
                    all.extend_from_slice(rest);
                    rest = &[];
                    all
                } else {
                    part.to_vec()
                };
                if let Err(e) = c.send_fragment(kind, part, fin) {
                    break Err(e);
                }
                if fin {
                    break Ok(());
                }
            };
            (r, rx)
        }
    };
    match r {
        Ok(()) => Some(rx),
        Err(e) => {
            assert!(!e.is_fatal(), "send failed fatally: {e:?}");
            None
        }
    }
}

/// A close code every dialect with close codes may send.
fn close_code(n: u16) -> CloseCode {
    const CODES: [u16; 12] = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
    ];
    match CODES.get(usize::from(n % 16)) {
        Some(&c) => CloseCode(c),
        None => CloseCode(3000 + n % 2000),
    }
}

/// Exchanges the input's messages between `client` and `server` (either
/// connections or open sessions) and checks they arrive exactly.
pub fn exchange<C: Endpoint, S: Endpoint>(
    d: Dialect,
    mut client: C,
    mut server: S,
    input: &RtInput,
) {
    let ccfg = client.conn().config().clone();
    let scfg = server.conn().config().clone();
    let mut at_server = Receiver::new(&scfg);
    let mut at_client = Receiver::new(&ccfg);
    at_server.check.set_dialect(d);
    at_client.check.set_dialect(d);
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    for step in &input.steps {
        if step.from_client {
            to_server.extend(send(client.conn(), &step.msg));
        } else {
            to_client.extend(send(server.conn(), &step.msg));
        }
        deliver(&mut client, &mut server, &mut at_server, input.chunks);
        deliver(&mut server, &mut client, &mut at_client, input.chunks);
    }
    assert_eq!(at_server.got, to_server, "client -> server differs");
    assert_eq!(at_client.got, to_client, "server -> client differs");
    let Some((by_client, code, reason)) = &input.close else {
        return;
    };
    let code = close_code(*code);
    let mut reason = reason.as_str();
    while reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    let (closer, peer_rx): (&mut dyn Endpoint, &Receiver) = if *by_client {
        (&mut client, &at_server)
    } else {
        (&mut server, &at_client)
    };
    let _ = peer_rx;
    closer.conn().close(T0, code, reason).expect("close");
    for _ in 0..2 {
        deliver(&mut client, &mut server, &mut at_server, input.chunks);
        deliver(&mut server, &mut client, &mut at_client, input.chunks);
    }
    let (got, echo) = if *by_client {
        (&at_server.close, &at_client.close)
    } else {
        (&at_client.close, &at_server.close)
    };
    let got = got.as_ref().expect("the peer saw no close");
    assert!(echo.is_some(), "the closer saw no close echo");
    if d.has_rfc6455_framing() {
        assert_eq!(got, &(Some(code), reason.to_owned()), "close differs");
    }
    assert_eq!(client.conn().state(), ws_proto::State::Closed);
    assert_eq!(server.conn().state(), ws_proto::State::Closed);
}

/// The receiving half of one direction.
#[derive(Debug)]
struct Receiver {
    check: EventCheck,
    got: Vec<Rx>,
    streaming: Option<(MessageKind, Vec<u8>)>,
    close: Option<(Option<CloseCode>, String)>,
}

impl Receiver {
    fn new(config: &Config) -> Self {
        Receiver {
            check: EventCheck::new(config),
            got: Vec::new(),
            streaming: None,
            close: None,
        }
    }

    fn event(&mut self, ev: Event) {
        self.check.event(&ev);
        match ev {
            Event::Text(t) => self.got.push(Rx::Text(t.as_str().to_owned())),
            Event::Binary(b) => self.got.push(Rx::Binary(b.to_vec())),
            Event::MessageStart(k) => self.streaming = Some((k, Vec::new())),
            Event::MessageChunk(c) => {
                if let Some((_, acc)) = &mut self.streaming {
                    acc.extend_from_slice(&c);
                }
            }
            Event::MessageEnd => {
                let (k, acc) = self.streaming.take().expect("end without start");
                self.got.push(match k {
                    MessageKind::Text => Rx::Text(String::from_utf8(acc).expect("utf8")),
                    MessageKind::Binary => Rx::Binary(acc),
                });
            }
            Event::Ping(p) => self.got.push(Rx::Ping(p.to_vec())),
            Event::Pong(p) => self.got.push(Rx::Pong(p.to_vec())),
            Event::Close { code, reason } => self.close = Some((code, reason.as_str().to_owned())),
            other => panic!("unknown event {other:?}"),
        }
    }
}

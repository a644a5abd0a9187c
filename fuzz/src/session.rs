//! `session_server` and `session_client`: the whole endpoint machine (the
//! http-upgrade handshake, extension negotiation with deflate-ext's
//! negotiators, then the connection in the negotiated dialect) fed arbitrary
//! bytes in arbitrary chunks, with timers fired at the end.
//!
//! Asserts: no panic; every handshake error is a 4xx/5xx and the server
//! queues a response with that status (an idle timeout aside); every fatal
//! connection error has a close code; failures are permanent; events respect
//! the connection's limits ([`EventCheck`]); once open, the transmit queue
//! stays bounded without application sends; a client's rejection body is
//! bounded by `max_body`; and the transcript does not depend on the
//! chunking.

use std::sync::Arc;

use arbitrary::Arbitrary;
use deflate_ext::{DeflateFrameNegotiator, DeflateStreamNegotiator, PmdNegotiator};
use http_upgrade::{Accept, ClientRequest, Dialect, DialectSet, Response, ServerConfig};
use ws_proto::session::{Negotiator, Session, SessionConfig, SessionError, SessionEvent};
use ws_proto::{Bytes, Error};

use crate::check::{self, AUTO_TX_BOUND, EventCheck, Transcript};
use crate::util::{ChunkPlan, Settings, T0, XorShift, dialect, limits, mask_rng, split_input};

/// The fixed-size prefix of a `session_server` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct ServerInput {
    /// Dialects the server accepts: 0 all, else a bit per `Dialect::ALL` entry.
    pub dialects: u8,
    /// Negotiators: 0 `default_negotiators()`, else bit 0 permessage-deflate,
    /// bit 1 deflate-frame, bit 2 deflate-stream (not only as a fallback).
    pub negotiators: u8,
    /// Connection settings.
    pub settings: Settings,
    /// Small HTTP limits.
    pub small_http: bool,
    /// Reject upgrades (403) instead of accepting them.
    pub reject: bool,
    /// Send a text message when the connection opens.
    pub send_on_open: bool,
    /// Never drain the transmit queue before the end.
    pub no_drain: bool,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
    /// End of stream after the input.
    pub eof: bool,
}

/// The fixed-size prefix of a `session_client` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct ClientInput {
    /// Index into `Dialect::ALL`.
    pub dialect: u8,
    /// Negotiators, as for the server (0: permessage-deflate alone).
    pub negotiators: u8,
    /// Connection settings.
    pub settings: Settings,
    /// Small HTTP limits.
    pub small_http: bool,
    /// Offer no subprotocol (else `chat`).
    pub no_protocol: bool,
    /// Send a text message when the connection opens.
    pub send_on_open: bool,
    /// Never drain the transmit queue before the end.
    pub no_drain: bool,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
    /// End of stream after the input.
    pub eof: bool,
}

/// The RNG seed of the client session; the seeds' handshake answers depend
/// on it (the `Sec-WebSocket-Key` comes from it).
pub const CLIENT_SEED: u64 = 1;

fn negotiators(bits: u8, default: fn() -> Vec<Box<dyn Negotiator>>) -> Vec<Box<dyn Negotiator>> {
    if bits & 7 == 0 {
        return default();
    }
    let mut v: Vec<Box<dyn Negotiator>> = Vec::new();
    if bits & 1 != 0 {
        v.push(Box::new(PmdNegotiator::default()));
    }
    if bits & 2 != 0 {
        v.push(Box::new(DeflateFrameNegotiator::default()));
    }
    if bits & 4 != 0 {
        v.push(Box::new(DeflateStreamNegotiator::default()));
    }
    v
}

/// The server's HTTP config for an input.
pub fn server_config(input: &ServerInput) -> ServerConfig {
    let dialects = if input.dialects & 127 == 0 {
        DialectSet::ALL
    } else {
        let chosen: Vec<Dialect> = Dialect::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| input.dialects & (1 << i) != 0)
            .map(|(_, d)| *d)
            .collect();
        DialectSet::of(&chosen)
    };
    ServerConfig::default()
        .with_protocols(["chat", "superchat"])
        .with_dialects(dialects)
        .with_limits(limits(input.small_http))
}

/// The `session_server` harness.
pub fn run_server(data: &[u8]) {
    let (input, wire): (ServerInput, _) = split_input(data);
    let http = Arc::new(server_config(&input));
    let mut cfg = SessionConfig::new(input.settings.config());
    cfg.negotiators = negotiators(input.negotiators, deflate_ext::default_negotiators);
    let cfg = Arc::new(cfg);
    let mk = || Session::server(http.clone(), cfg.clone(), T0);
    let chunked = drive(
        mk(),
        &input.settings,
        Opts::server(&input),
        wire,
        input.chunks,
    );
    let max = http.limits.max_head + http.limits.max_body + 8;
    if wire.len() <= max {
        let whole = drive(
            mk(),
            &input.settings,
            Opts::server(&input),
            wire,
            ChunkPlan::default(),
        );
        let lenient = check::races_errors(&chunked) || check::races_errors(&whole);
        check::same_outcome(&chunked, &whole, "session_server", lenient);
    }
}

/// The client session for an input.
pub fn client_session(input: &ClientInput) -> Session {
    let d = dialect(input.dialect);
    let mut cfg = SessionConfig::new(input.settings.config());
    cfg.negotiators = negotiators(input.negotiators, || {
        vec![Box::new(PmdNegotiator::default())]
    });
    let mut request = ClientRequest::new("ws://example.com/chat")
        .expect("url")
        .dialect(d)
        .origin("http://example.com")
        .limits(limits(input.small_http));
    if !input.no_protocol {
        request = request.protocol("chat");
    }
    Session::client(request, Arc::new(cfg), mask_rng(CLIENT_SEED), T0).expect("client session")
}

/// The `session_client` harness.
pub fn run_client(data: &[u8]) {
    let (input, wire): (ClientInput, _) = split_input(data);
    let chunked = drive(
        client_session(&input),
        &input.settings,
        Opts::client(&input),
        wire,
        input.chunks,
    );
    let whole = drive(
        client_session(&input),
        &input.settings,
        Opts::client(&input),
        wire,
        ChunkPlan::default(),
    );
    let lenient = check::races_errors(&chunked) || check::races_errors(&whole);
    check::same_outcome(&chunked, &whole, "session_client", lenient);
}

/// What the driver does on its own.
#[derive(Clone, Copy, Debug)]
struct Opts {
    reject: bool,
    send_on_open: bool,
    no_drain: bool,
    eof: bool,
    max_body: usize,
    client: bool,
}

impl Opts {
    fn server(i: &ServerInput) -> Self {
        Opts {
            reject: i.reject,
            send_on_open: i.send_on_open,
            no_drain: i.no_drain,
            eof: i.eof,
            max_body: limits(i.small_http).max_body,
            client: false,
        }
    }
    fn client(i: &ClientInput) -> Self {
        Opts {
            reject: false,
            send_on_open: i.send_on_open,
            no_drain: i.no_drain,
            eof: i.eof,
            max_body: limits(i.small_http).max_body,
            client: true,
        }
    }
}

struct Driver {
    opts: Opts,
    check: EventCheck,
    t: Transcript,
    out: Vec<u8>,
    /// The first error, and where the output stood when it happened.
    err: Option<(SessionError, usize)>,
    sent: usize,
}

fn drive(
    mut s: Session,
    settings: &Settings,
    opts: Opts,
    wire: &[u8],
    plan: ChunkPlan,
) -> Transcript {
    let mut d = Driver {
        opts,
        check: EventCheck::new(&settings.config()),
        t: Transcript::default(),
        out: Vec::new(),
        err: None,
        sent: 0,
    };
    for chunk in plan.split(wire) {
        if let Err(e) = s.receive(T0, chunk) {
            d.error(e);
        }
        d.pump(&mut s);
    }
    if opts.eof {
        s.receive_eof(T0);
        d.pump(&mut s);
    }
    crate::util::fire_timers(&mut s, Session::poll_timeout, |s, at| {
        s.handle_timeout(at);
        if let Some(e) = s.error().cloned() {
            d.error(e);
        }
        d.pump(s);
    });
    let _ = s.poll_transmit(&mut d.out);
    d.finish()
}

impl Driver {
    /// Records an error returned by a call; checks its status / close code.
    fn error(&mut self, e: SessionError) {
        check::session_error(&e);
        assert!(!e.is_misuse(), "the driver followed the call order: {e:?}");
        if let SessionError::Connection(c) = &e {
            assert!(c.is_fatal(), "usage error from receive/poll: {c:?}");
        }
        if self.err.is_none() {
            self.err = Some((e, self.out.len()));
        }
    }

    /// An error from `poll_event`: the recorded one, if any (failure is
    /// permanent), and reported again by the next call.
    fn polled_error(&mut self, s: &mut Session, e: SessionError) {
        if let Some((first, _)) = &self.err {
            assert_eq!(first, &e, "poll_event reports a different error");
        }
        assert_eq!(
            s.poll_event().err().as_ref(),
            Some(&e),
            "failure not permanent"
        );
        self.error(e);
    }

    fn pump(&mut self, s: &mut Session) {
        for _ in 0..10_000 {
            let ev = match s.poll_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    self.polled_error(s, e);
                    break;
                }
            };
            assert!(
                self.err
                    .as_ref()
                    .is_none_or(|(e, _)| !matches!(e, SessionError::Handshake(_))),
                "event {ev:?} after a handshake failure"
            );
            self.event(s, &ev);
            let ev = match ev {
                SessionEvent::Rejected(mut res) => {
                    res.body = Bytes::new();
                    SessionEvent::Rejected(res)
                }
                ev => ev,
            };
            self.t.push(ev);
        }
        if let Some(c) = s.connection() {
            assert!(
                c.pending_transmit() <= AUTO_TX_BOUND + self.sent,
                "transmit queue grew to {} without sends",
                c.pending_transmit()
            );
        }
        if !self.opts.no_drain {
            let _ = s.poll_transmit(&mut self.out);
            self.sent = 0;
        }
    }

    fn event(&mut self, s: &mut Session, ev: &SessionEvent) {
        match ev {
            SessionEvent::Upgrade(req) => {
                assert!(!self.opts.client);
                if let Some(p) = &req.selected_protocol {
                    assert!(req.protocols.contains(p), "selected {p} not offered");
                }
                let r = if self.opts.reject {
                    s.reject(Response::new(403)).map(|_| ())
                } else {
                    s.accept(T0, Accept::for_request(req), &mut XorShift(9))
                        .map(|_| ())
                };
                match r {
                    Ok(()) => {}
                    // Legacy framings are not implemented yet: the session
                    // reports it after the 101 went out.
                    Err(SessionError::Connection(Error::UnsupportedDialect(_))) => {}
                    Err(e @ SessionError::Connection(_)) => self.error(e),
                    Err(e) => panic!("accept/reject of a valid upgrade failed: {e:?}"),
                }
            }
            SessionEvent::Request(_) => {
                assert!(!self.opts.client);
                let resp = Response::new(200).body(Bytes::from_static(b"ok"));
                if let Err(e) = s.respond(T0, resp) {
                    self.error(e);
                }
            }
            SessionEvent::Open(h) => {
                assert!(s.connection().is_some(), "open without a connection");
                self.check.set_dialect(h.dialect);
                let names: Vec<&str> = s
                    .connection()
                    .map(|c| c.extension_names().collect())
                    .unwrap_or_default();
                assert_eq!(
                    names.len(),
                    h.extensions.len(),
                    "extensions {names:?} vs {h:?}"
                );
                if self.opts.send_on_open
                    && let Some(c) = s.connection_mut()
                {
                    let before = c.pending_transmit();
                    if c.send_text("hello").is_ok() {
                        self.sent += c.pending_transmit().saturating_sub(before);
                    }
                }
            }
            SessionEvent::Redirect { status, .. } => {
                assert!(self.opts.client);
                assert!((300..400).contains(status));
            }
            SessionEvent::Rejected(res) => {
                assert!(self.opts.client);
                assert!(
                    res.body.len() <= self.opts.max_body,
                    "rejection body over max_body"
                );
            }
            SessionEvent::Ws(e) => self.check.event(e),
            other => panic!("unknown session event {other:?}"),
        }
    }

    fn finish(mut self) -> Transcript {
        if let Some((SessionError::Handshake(e), at)) = &self.err {
            let idle_timeout = *e == http_upgrade::Error::Timeout;
            if !self.opts.client && !idle_timeout {
                let status = format!("HTTP/1.1 {} ", e.status());
                let tail = &self.out[*at..];
                assert!(
                    tail.windows(status.len()).any(|w| w == status.as_bytes()),
                    "no {status} response queued for {e:?}"
                );
            }
        }
        self.t.error = self.err.take().map(|(e, _)| match e {
            SessionError::Handshake(h) => format!("status {}", h.status()),
            SessionError::Connection(c) => format!("close {:?}", c.close_code()),
            other => format!("{other:?}"),
        });
        self.t
    }
}

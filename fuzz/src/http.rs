//! `http_request` and `http_response`: http-upgrade's parsers and handshake
//! machines on their own (server, client, proxy CONNECT).
//!
//! Asserts: no panic; every error's `status()` is 4xx/5xx, the server
//! queues a response with that status, and the error is permanent; an
//! upgrade request's dialect is one the config accepts, its extensions are
//! valid elements and its chosen subprotocol was offered; an accepted hybi
//! request is answered with `accept_key` of its key; a client's connection
//! only reports a subprotocol and extensions it offered; not one byte is
//! lost or duplicated around the handshake (leftover plus the bytes not
//! taken equal the input after the head); and the outcome, responses
//! included byte for byte, does not depend on the chunking.

use std::sync::Arc;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http_upgrade::{
    Accept, ClientEvent, ClientHandshake, ClientRequest, Dialect, DialectSet, Error,
    ExtensionOffer, Instant, MisuseError, OriginPolicy, ProxyConnect, ProxyEvent, Response,
    ServerConfig, ServerEvent, ServerHandshake, keys,
};

use crate::check;
use crate::util::{ChunkPlan, T0, XorShift, dialect, limits, split_input};

/// The fixed-size prefix of an `http_request` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct RequestInput {
    /// Small limits.
    pub small: bool,
    /// Dialects accepted: 0 all, else a bit per `Dialect::ALL` entry.
    pub dialects: u8,
    /// Only `http://example.com` may connect.
    pub origin_allow_list: bool,
    /// Reject upgrades (403) instead of accepting them.
    pub reject: bool,
    /// Answer plain requests with a streamed body.
    pub streamed: bool,
    /// TLS (hixie-76 location says wss).
    pub secure: bool,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
}

/// The fixed-size prefix of an `http_response` input; the rest is the wire.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct ResponseInput {
    /// Index into `Dialect::ALL`.
    pub dialect: u8,
    /// Small limits.
    pub small: bool,
    /// Parse as a proxy's answer to CONNECT instead.
    pub proxy: bool,
    /// Offer no subprotocol and no extension.
    pub bare: bool,
    /// How the wire is cut.
    pub chunks: ChunkPlan,
}

fn dialect_set(bits: u8) -> DialectSet {
    if bits & 127 == 0 {
        return DialectSet::ALL;
    }
    let chosen: Vec<Dialect> = Dialect::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, d)| *d)
        .collect();
    DialectSet::of(&chosen)
}

/// The `http_request` harness.
pub fn run_request(data: &[u8]) {
    let (input, wire): (RequestInput, _) = split_input(data);
    let mut config = ServerConfig::default()
        .with_protocols(["chat", "superchat"])
        .with_dialects(dialect_set(input.dialects))
        .with_limits(limits(input.small))
        .with_secure(input.secure);
    if input.origin_allow_list {
        config = config.with_origin(OriginPolicy::AllowList(vec!["http://example.com".into()]));
    }
    let config = Arc::new(config);
    let chunked = serve(&config, &input, wire, input.chunks);
    let l = config.limits;
    if wire.len() <= l.max_head + l.max_body + 8 {
        let whole = serve(&config, &input, wire, ChunkPlan::default());
        assert_eq!(chunked, whole, "result depends on chunking");
    }
}

/// Everything a server run produced. A capacity error reports how far the
/// peer got, which depends on the chunking: the error is compared by its
/// status, and the error response by its status line.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    events: Vec<String>,
    out: Vec<u8>,
    error: Option<Error>,
    /// Leftover after the upgrade plus every byte not taken.
    after: Vec<u8>,
}

fn serve(config: &Arc<ServerConfig>, input: &RequestInput, wire: &[u8], plan: ChunkPlan) -> Served {
    let mut s = ServerHandshake::new(config.clone(), T0);
    let mut r = Served {
        events: Vec::new(),
        out: Vec::new(),
        error: None,
        after: Vec::new(),
    };
    let mut err_at = 0;
    let mut upgraded = false;
    let chunks = plan.split(wire);
    for chunk in chunks {
        if upgraded {
            // The bytes belong to the WebSocket connection: refused, not taken.
            let e = s.receive(T0, chunk).expect_err("receive after accept");
            assert!(
                matches!(e, Error::Misuse(MisuseError::WrongState(_))),
                "{e:?}"
            );
            r.after.extend_from_slice(chunk);
            continue;
        }
        let mut ev = s.receive(T0, chunk).and_then(|()| s.poll_event());
        loop {
            match ev {
                Ok(None) => break,
                Ok(Some(ServerEvent::Close)) => {
                    assert!(s.wants_close());
                    r.events.push("close".into());
                    break;
                }
                Ok(Some(ServerEvent::Upgrade(req))) => {
                    assert!(
                        config.dialects.contains(req.dialect),
                        "{:?} not accepted",
                        req.dialect
                    );
                    assert!(req.extensions.iter().all(ExtensionOffer::is_valid));
                    if let Some(p) = &req.selected_protocol {
                        assert!(req.protocols.contains(p));
                    }
                    r.events.push(format!("{req:?}"));
                    if input.reject {
                        s.reject(Response::new(403)).expect("reject");
                        break;
                    }
                    let hs = s
                        .accept(Accept::for_request(&req), &mut XorShift(2))
                        .expect("accept a valid upgrade");
                    assert_eq!(hs.dialect, req.dialect);
                    let before = r.out.len();
                    let n = s.poll_transmit(&mut r.out);
                    assert_eq!(n, r.out.len() - before);
                    if req.dialect.is_hybi() {
                        let key = req.headers.get("sec-websocket-key").expect("key");
                        let line = format!("Sec-WebSocket-Accept: {}\r\n", keys::accept_key(key));
                        let resp = &r.out[before..];
                        assert!(
                            resp.windows(line.len()).any(|w| w == line.as_bytes()),
                            "101 without the right accept"
                        );
                    }
                    r.after.extend_from_slice(&s.take_leftover());
                    assert_eq!(s.poll_event(), Ok(None), "an event after accept");
                    upgraded = true;
                    break;
                }
                Ok(Some(ServerEvent::Request(req))) => {
                    assert!(req.body.len() <= config.limits.max_body);
                    r.events.push(format!("{req:?}"));
                    if input.streamed {
                        s.respond(T0, Response::new(200).streamed(3))
                            .expect("respond");
                        // A HEAD response has no body to stream.
                        if let Err(e) = s.send_body(T0, Bytes::from_static(b"abc")) {
                            assert!(req.method == "HEAD", "send_body: {e:?}");
                        }
                    } else {
                        s.respond(T0, Response::new(404).body(Bytes::from_static(b"no")))
                            .expect("respond");
                    }
                    ev = s.poll_event();
                }
                Ok(Some(other)) => panic!("unknown event {other:?}"),
                Err(e) => {
                    check::http_error(&e);
                    assert!(!matches!(e, Error::Misuse(_)), "misuse: {e:?}");
                    assert_eq!(s.error(), Some(&e));
                    assert_eq!(
                        s.receive(T0, b"x").as_ref().err(),
                        Some(&e),
                        "not permanent"
                    );
                    assert_eq!(s.poll_event().as_ref().err(), Some(&e), "not permanent");
                    if r.error.is_none() {
                        err_at = r.out.len();
                        r.error = Some(e);
                    }
                    break;
                }
            }
        }
        let _ = s.poll_transmit(&mut r.out);
        if r.error.is_some() || s.wants_close() {
            break;
        }
    }
    // The deadline: an incomplete request times out with 408.
    if let Some(at) = s.poll_timeout() {
        let _ = s.handle_timeout(Instant::from_millis(1));
        if let Err(e) = s.handle_timeout(at) {
            check::http_error(&e);
            if r.error.is_none() {
                err_at = r.out.len();
                r.error = Some(e);
            }
        }
        let _ = s.poll_transmit(&mut r.out);
    }
    if let Some(e) = &r.error {
        if *e != Error::Timeout {
            let status = format!("HTTP/1.1 {} ", e.status());
            let tail = &r.out[err_at.min(r.out.len())..];
            let at = tail
                .windows(status.len())
                .position(|w| w == status.as_bytes())
                .unwrap_or_else(|| panic!("no {status} response for {e:?}"));
            r.out.truncate(err_at + at + status.len());
        }
        if let Error::Capacity(_) = e {
            r.error = Some(normalize(e.clone()));
        }
    }
    r
}

/// The `http_response` harness.
pub fn run_response(data: &[u8]) {
    let (input, wire): (ResponseInput, _) = split_input(data);
    if input.proxy {
        let a = proxy(&input, wire, input.chunks);
        let b = proxy(&input, wire, ChunkPlan::default());
        assert_eq!(a, b, "result depends on chunking");
        return;
    }
    let a = client(&input, wire, input.chunks);
    let b = client(&input, wire, ChunkPlan::default());
    assert_eq!(a, b, "result depends on chunking");
}

/// The client request of the `http_response` harness.
pub fn client_request(input: &ResponseInput) -> ClientRequest {
    let mut r = ClientRequest::new("ws://example.com/chat")
        .expect("url")
        .dialect(dialect(input.dialect))
        .origin("http://example.com")
        .limits(limits(input.small));
    if !input.bare {
        r = r
            .protocol("chat")
            .extension(
                ExtensionOffer::new("permessage-deflate")
                    .with_param("client_max_window_bits", None),
            )
            .extension(ExtensionOffer::new("x-webkit-deflate-frame"));
    }
    r
}

/// The RNG seed of the `http_response` client.
pub const RESPONSE_SEED: u64 = 3;

fn client(
    input: &ResponseInput,
    wire: &[u8],
    plan: ChunkPlan,
) -> (Vec<String>, Option<Error>, Vec<u8>) {
    let request = client_request(input);
    let offered: Vec<String> = request.extensions.iter().map(|e| e.name.clone()).collect();
    let mut c = ClientHandshake::new(request, &mut XorShift(RESPONSE_SEED), T0).expect("client");
    assert!(c.poll_transmit(&mut Vec::new()) > 0);
    let max_body = limits(input.small).max_body;
    let mut events = Vec::new();
    let mut error = None;
    let mut after = Vec::new();
    let mut connected = false;
    for chunk in plan.split(wire) {
        if connected {
            let e = c.receive(T0, chunk).expect_err("receive after Connected");
            assert!(
                matches!(e, Error::Misuse(MisuseError::WrongState(_))),
                "{e:?}"
            );
            after.extend_from_slice(chunk);
            continue;
        }
        match c.receive(T0, chunk).and_then(|()| c.poll_event()) {
            Ok(None) => {}
            Ok(Some(ClientEvent::Connected(h))) => {
                if let Some(p) = &h.protocol {
                    assert!(!input.bare && p == "chat", "unoffered protocol {p}");
                }
                for e in &h.extensions {
                    assert!(
                        offered.iter().any(|n| n.eq_ignore_ascii_case(&e.name)),
                        "unoffered {e}"
                    );
                }
                events.push(format!("{h:?}"));
                after.extend_from_slice(&c.take_leftover());
                assert_eq!(c.poll_event(), Ok(None), "an event after Connected");
                assert!(!c.wants_close());
                connected = true;
            }
            Ok(Some(ClientEvent::Redirect { status, location })) => {
                assert!((300..400).contains(&status));
                events.push(format!("redirect {status} {location}"));
                assert!(c.wants_close());
                break;
            }
            Ok(Some(ClientEvent::Rejected(res))) => {
                assert_ne!(res.status, 101);
                assert!(res.body.len() <= max_body, "rejection body over max_body");
                events.push(format!("rejected {}", res.status));
                assert!(c.wants_close());
                break;
            }
            Ok(Some(other)) => panic!("unknown event {other:?}"),
            Err(e) => {
                check::http_error(&e);
                assert!(!matches!(e, Error::Misuse(_)), "misuse: {e:?}");
                assert_eq!(c.error(), Some(&e));
                assert!(c.wants_close());
                assert_eq!(
                    c.receive(T0, b"x").as_ref().err(),
                    Some(&e),
                    "not permanent"
                );
                assert_eq!(c.poll_event().as_ref().err(), Some(&e), "not permanent");
                error = Some(normalize(e));
                break;
            }
        }
    }
    if error.is_none()
        && !connected
        && let Some(at) = c.poll_timeout()
        && let Err(e) = c.handle_timeout(at)
    {
        check::http_error(&e);
        error = Some(e);
    }
    (events, error, after)
}

fn proxy(input: &ResponseInput, wire: &[u8], plan: ChunkPlan) -> (bool, Option<Error>, Vec<u8>) {
    let mut p = ProxyConnect::new(
        "example.com",
        443,
        Some(("user", "secret")),
        limits(input.small),
    )
    .expect("proxy");
    assert!(p.poll_transmit(&mut Vec::new()) > 0);
    let mut open = false;
    let mut error = None;
    let mut after = Vec::new();
    for chunk in plan.split(wire) {
        if open {
            assert!(p.receive(T0, chunk).is_err(), "receive after Open");
            after.extend_from_slice(chunk);
            continue;
        }
        match p.receive(T0, chunk).and_then(|()| p.poll_event()) {
            Ok(None) => {}
            Ok(Some(ProxyEvent::Open)) => {
                let res = p.response().expect("response");
                assert!((200..300).contains(&res.status));
                after.extend_from_slice(&p.take_leftover());
                assert_eq!(p.poll_event(), Ok(None), "an event after Open");
                open = true;
            }
            Ok(Some(other)) => panic!("unknown event {other:?}"),
            Err(e) => {
                check::http_error(&e);
                assert!(p.wants_close());
                assert_eq!(
                    p.receive(T0, b"x").as_ref().err(),
                    Some(&e),
                    "not permanent"
                );
                assert_eq!(p.poll_event().as_ref().err(), Some(&e), "not permanent");
                error = Some(normalize(e));
                break;
            }
        }
    }
    (open, error, after)
}

/// A capacity error reduced to its status: how far the peer got, and which
/// of several exceeded head limits trips first, depend on the chunking.
fn normalize(e: Error) -> Error {
    let limit = match e.status() {
        414 => http_upgrade::Limit::RequestLine,
        413 => http_upgrade::Limit::Body,
        _ => http_upgrade::Limit::HeadTotal,
    };
    match e {
        Error::Capacity(_) => Error::Capacity(http_upgrade::HttpLimitError {
            limit,
            size: 0,
            max: 0,
        }),
        e => e,
    }
}

//! `HostedUpgrade`: a request a host HTTP server parsed goes through the
//! same checks and gets the same answer as the bytes of that request fed to
//! the `ServerHandshake` machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http_upgrade::*;

/// What a host server hands over: the head parsed (here by httparse).
fn parsed(bytes: &[u8]) -> HttpRequest {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut slots);
    assert!(req.parse(bytes).unwrap().is_complete());
    let mut headers = Headers::new();
    for h in req.headers.iter() {
        headers.push(h.name, h.value);
    }
    HttpRequest::new(
        req.method.unwrap(),
        req.path.unwrap(),
        req.version.unwrap(),
        headers,
    )
}

/// A `101` as written by the machine: its header fields, in order.
fn response_fields(bytes: &[u8]) -> Vec<(String, String)> {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut res = httparse::Response::new(&mut slots);
    let n = match res.parse(bytes).unwrap() {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("truncated 101"),
    };
    assert_eq!(n, bytes.len(), "a hybi 101 has nothing after its head");
    assert_eq!(res.code, Some(101));
    assert_eq!(res.reason, Some("Switching Protocols"));
    res.headers
        .iter()
        .map(|h| {
            let v = String::from_utf8(h.value.to_vec()).unwrap();
            (h.name.to_string(), v)
        })
        .collect()
}

fn hosted(bytes: &[u8], config: &ServerConfig) -> Result<HostedUpgrade, Error> {
    HostedUpgrade::new(parsed(bytes), config)
}

/// RFC 6455 §1.3: key `dGhlIHNhbXBsZSBub25jZQ==` is answered
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
#[test]
fn rfc6455_accept_vector() {
    let config = ServerConfig::default().with_protocols(["chat"]);
    let up = hosted(RFC6455_REQUEST, &config).unwrap();
    let req = up.request();
    assert_eq!(req.dialect, Dialect::Rfc6455);
    assert_eq!(req.target, "/chat");
    assert_eq!(req.host, "server.example.com");
    assert_eq!(req.origin.as_deref(), Some("http://example.com"));
    assert_eq!(req.protocols, ["chat", "superchat"]);
    assert_eq!(req.selected_protocol.as_deref(), Some("chat"));
    let accept = Accept::for_request(req);
    let (hs, res) = up.accept(accept, &mut SplitMix::new(1)).unwrap();
    assert_eq!(res.status(), 101);
    assert_eq!(res.body_ref(), &Body::Full(Default::default()));
    let fields: Vec<(&str, &str)> = res
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("Sec-WebSocket-Protocol", "chat"),
        ]
    );
    assert_eq!(hs.role, Role::Server);
    assert_eq!(hs.protocol.as_deref(), Some("chat"));
    assert_eq!(hs.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(hs.nonce, None);
    assert_eq!(hs.target.as_deref(), Some("/chat"));
}

/// The request of RFC 6455 §1.2 with its request line replaced.
fn with_request_line(line: &str) -> Vec<u8> {
    let req = rfc6455_with(&[]);
    let at = req.windows(2).position(|w| w == b"\r\n").unwrap();
    [line.as_bytes(), &req[at..]].concat()
}

/// The request with one more `name: value` line at the end of its head.
fn with_extra(name: &str, value: &str) -> Vec<u8> {
    let mut req = rfc6455_with(&[]);
    req.truncate(req.len() - 2);
    req.extend_from_slice(format!("{name}: {value}\r\n\r\n").as_bytes());
    req
}

struct Case {
    what: &'static str,
    request: Vec<u8>,
    config: ServerConfig,
    status: u16,
}

fn case(what: &'static str, request: Vec<u8>, status: u16) -> Case {
    let config = ServerConfig::default();
    Case {
        what,
        request,
        config,
        status,
    }
}

fn refusals() -> Vec<Case> {
    let modern = ServerConfig::default().with_dialects(DialectSet::MODERN);
    let allow = OriginPolicy::AllowList(vec!["http://good.example".into()]);
    let tight = |l: Limits| ServerConfig::default().with_limits(l);
    let base = Limits::default();
    let head_len = rfc6455_with(&[]).len();
    vec![
        case("POST", with_request_line("POST /chat HTTP/1.1"), 405),
        case("HTTP/1.0", with_request_line("GET /chat HTTP/1.0"), 400),
        case("no Host", rfc6455_with(&[("Host", None)]), 400),
        case("two Hosts", with_extra("Host", "other.example"), 400),
        case("bad Host", rfc6455_with(&[("Host", Some("a b"))]), 400),
        case("no Upgrade", rfc6455_with(&[("Upgrade", None)]), 400),
        case(
            "Upgrade h2c",
            rfc6455_with(&[("Upgrade", Some("h2c"))]),
            400,
        ),
        case("no Connection", rfc6455_with(&[("Connection", None)]), 400),
        case(
            "Connection close",
            rfc6455_with(&[("Connection", Some("close"))]),
            400,
        ),
        case("no key", rfc6455_with(&[("Sec-WebSocket-Key", None)]), 400),
        case(
            "short key",
            rfc6455_with(&[("Sec-WebSocket-Key", Some("AQIDBAUGBwgJCgsMDQ4P"))]),
            400,
        ),
        case(
            "two keys",
            with_extra("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA=="),
            400,
        ),
        case(
            "version 9",
            rfc6455_with(&[("Sec-WebSocket-Version", Some("9"))]),
            426,
        ),
        case(
            "no version",
            rfc6455_with(&[("Sec-WebSocket-Version", None)]),
            426,
        ),
        case("hixie-76", HIXIE76_REQUEST.to_vec(), 426),
        Case {
            what: "hybi-05 refused by the config",
            request: rfc6455_with(&[("Sec-WebSocket-Version", Some("5"))]),
            config: modern,
            status: 426,
        },
        Case {
            what: "origin refused",
            request: rfc6455_with(&[]),
            config: ServerConfig::default().with_origin(allow),
            status: 403,
        },
        case(
            "bad protocols",
            rfc6455_with(&[("Sec-WebSocket-Protocol", Some("a b"))]),
            400,
        ),
        case(
            "bad extensions",
            with_extra("Sec-WebSocket-Extensions", "permessage-deflate;"),
            400,
        ),
        Case {
            what: "request line too long",
            request: with_request_line(&format!("GET /{} HTTP/1.1", "a".repeat(100))),
            config: tight(base.with_max_start_line(64)),
            status: 414,
        },
        Case {
            what: "header line too long",
            request: with_extra("Cookie", &"c".repeat(100)),
            config: tight(base.with_max_header_line(64)),
            status: 431,
        },
        Case {
            what: "too many headers",
            request: rfc6455_with(&[]),
            config: tight(base.with_max_headers(6)),
            status: 431,
        },
        Case {
            what: "head too large",
            request: rfc6455_with(&[]),
            config: tight(base.with_max_head(head_len - 1)),
            status: 431,
        },
    ]
}

/// Every refusal has the status the machine gives, the same error (the
/// machine told not to accept hixie-76, for hixie-76), and the same
/// automatic response.
#[test]
fn refusals_match_the_machine() {
    for c in refusals() {
        let e = hosted(&c.request, &c.config).expect_err(c.what);
        assert_eq!(e.status(), c.status, "{}: {e:?}", c.what);
        let machine_config = if c.what == "hixie-76" {
            let d = c.config.dialects.without(Dialect::Hixie76);
            c.config.clone().with_dialects(d)
        } else {
            c.config.clone()
        };
        let (machine, out) = rejected_with(machine_config.clone(), &c.request);
        assert_eq!(e, machine, "{}", c.what);
        let response = error_response(&e, &c.config);
        assert_eq!(response.status(), c.status, "{}", c.what);
        let Body::Full(body) = response.body_ref() else {
            panic!("{}: streamed", c.what)
        };
        assert!(out.ends_with(std::str::from_utf8(body).unwrap()));
        for (n, v) in response.headers() {
            assert!(out.contains(&format!("\r\n{n}: {v}\r\n")), "{}", c.what);
        }
    }
}

#[test]
fn refused_versions_are_listed() {
    let e = hosted(HIXIE76_REQUEST, &ServerConfig::default()).unwrap_err();
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::DialectRefused(Dialect::Hixie76))
    );
    let r = error_response(&e, &ServerConfig::default());
    assert!(
        r.headers()
            .contains(&("Sec-WebSocket-Version".into(), "13, 8, 7, 6, 5, 4".into()))
    );
    let modern = ServerConfig::default().with_dialects(DialectSet::MODERN);
    let bad = rfc6455_with(&[("Sec-WebSocket-Version", Some("9"))]);
    let e = hosted(&bad, &modern).unwrap_err();
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::UnsupportedVersion("9".into()))
    );
    let r = error_response(&e, &modern);
    assert!(
        r.headers()
            .contains(&("Sec-WebSocket-Version".into(), "13, 8, 7".into()))
    );
    let post = with_request_line("POST /chat HTTP/1.1");
    let e = hosted(&post, &modern).unwrap_err();
    let r = error_response(&e, &modern);
    assert!(r.headers().contains(&("Allow".into(), "GET".into())));
}

/// The limits hold at their edge as in the machine: a head of exactly
/// `max_head` bytes, `max_headers` fields, passes.
#[test]
fn limits_at_the_edge() {
    let req = rfc6455_with(&[]);
    let limits = Limits::default()
        .with_max_head(req.len())
        .with_max_headers(7)
        .with_max_start_line("GET /chat HTTP/1.1".len())
        .with_max_header_line("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".len());
    let config = ServerConfig::default().with_limits(limits);
    assert!(hosted(&req, &config).is_ok());
    upgrade(&mut server(config), &req);
}

#[test]
fn accept_refuses_what_was_not_offered() {
    let up = hosted(RFC6455_REQUEST, &ServerConfig::default()).unwrap();
    let e = up
        .clone()
        .accept(Accept::default().protocol("nope"), &mut SplitMix::new(1))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Misuse(MisuseError::ProtocolNotOffered("nope".into()))
    );
    let ext = Accept::default().extension(ExtensionOffer::new("permessage-deflate"));
    assert!(up.clone().accept(ext, &mut SplitMix::new(1)).is_err());
    let bad = Accept::default().header("X-Evil", "a\r\nb: c");
    assert!(up.clone().accept(bad, &mut SplitMix::new(1)).is_err());
    assert!(up.accept(Accept::default(), &mut SplitMix::new(1)).is_ok());
}

/// Varied valid requests, every hybi dialect: the machine fed the bytes and
/// `HostedUpgrade` fed the parsed head see the same `UpgradeRequest`, and
/// accepting alike (same answer, same RNG) gives equal `Handshake`s and the
/// same `101` header fields, in the same order.
#[test]
fn same_answer_as_the_machine() {
    let config = ServerConfig::default().with_protocols(["superchat", "chat"]);
    let pmd = "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame";
    let mut checked = 0;
    for d in Dialect::ALL.into_iter().filter(|d| d.is_hybi()) {
        let version = d.version().unwrap().to_string();
        let origin = if d.uses_sec_websocket_origin() {
            "Sec-WebSocket-Origin"
        } else {
            "Origin"
        };
        let variants: [&[(&str, Option<&str>)]; 4] = [
            &[
                ("Origin", None),
                ("Sec-WebSocket-Protocol", None),
                ("Host", Some("[::1]:9001")),
            ],
            &[("Origin", None), (origin, Some("http://example.com"))],
            &[("Sec-WebSocket-Extensions", Some(pmd))],
            &[
                ("Sec-WebSocket-Protocol", Some("chat")),
                ("Sec-WebSocket-Extensions", Some("permessage-deflate")),
                ("Cookie", Some("a=1")),
            ],
        ];
        for edits in variants {
            let mut edits = edits.to_vec();
            edits.push(("Sec-WebSocket-Version", Some(&version)));
            let bytes = rfc6455_with(&edits);
            let mut machine = server(config.clone());
            let from_bytes = upgrade(&mut machine, &bytes);
            let up = HostedUpgrade::new(parsed(&bytes), &config).unwrap();
            assert_eq!(up.request(), &from_bytes, "{d:?} {edits:?}");

            let mut accept = Accept::for_request(&from_bytes).header("Set-Cookie", "s=2");
            if let Some(first) = from_bytes.extensions.first() {
                accept = accept.extension(ExtensionOffer::new(first.name.clone()));
            }
            let hs_machine = machine
                .accept(accept.clone(), &mut SplitMix::new(5))
                .unwrap();
            let (hs, response) = up.accept(accept, &mut SplitMix::new(5)).unwrap();
            assert_eq!(hs, hs_machine, "{d:?} {edits:?}");
            assert_eq!(hs.nonce.is_some(), d.server_sends_nonce());
            let written = response_fields(&drain_server(&mut machine));
            assert_eq!(response.headers(), written.as_slice(), "{d:?} {edits:?}");
            assert_eq!(response.status(), 101);
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

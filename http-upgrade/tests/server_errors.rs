//! Malformed and hostile requests: the specific error, its HTTP status and
//! the queued response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http_upgrade::*;

fn reject(req: &[u8]) -> (Error, String) {
    rejected_with(ServerConfig::default(), req)
}

fn peer(e: HttpPeerError) -> Error {
    Error::Peer(e)
}

#[test]
fn missing_key() {
    let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Key", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingHeader("Sec-WebSocket-Key")));
    assert_eq!(e.status(), 400);
}

#[test]
fn duplicate_key() {
    let mut req = rfc6455_with(&[]);
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n");
    let (e, out) = reject(&req);
    assert_eq!(e, peer(HttpPeerError::DuplicateHeader("Sec-WebSocket-Key")));
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn key_not_16_bytes() {
    for key in [
        "AQIDBAUGBwgJCgsMDQ4P",
        "AQIDBAUGBwgJCgsMDQ4PEBE=",
        "not-base64!",
        "a, b",
    ] {
        let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Key", Some(key))]));
        assert_eq!(e, peer(HttpPeerError::BadKey), "{key}");
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn bad_version_is_426_with_versions() {
    let (e, out) = reject(&rfc6455_with(&[("Sec-WebSocket-Version", Some("9"))]));
    assert_eq!(e, peer(HttpPeerError::UnsupportedVersion("9".into())));
    assert_eq!(e.status(), 426);
    assert!(
        out.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{out}"
    );
    assert!(
        out.contains("\r\nSec-WebSocket-Version: 13, 8, 7, 6, 5, 4\r\n"),
        "{out}"
    );
    let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Version", Some("013x"))]));
    assert_eq!(e.status(), 426);
    // §4.1: no leading zeros (found by the tungstenite oracle).
    for v in ["013", "08", "00"] {
        let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Version", Some(v))]));
        assert_eq!(e, peer(HttpPeerError::UnsupportedVersion(v.into())), "{v}");
        assert_eq!(e.status(), 426);
    }
    let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Version", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingVersion));
    assert_eq!(e.status(), 426);
}

#[test]
fn refused_old_dialect() {
    let config = || ServerConfig::default().with_dialects(DialectSet::MODERN);
    let (e, out) = rejected_with(
        config(),
        &rfc6455_with(&[("Sec-WebSocket-Version", Some("4"))]),
    );
    assert_eq!(e, peer(HttpPeerError::DialectRefused(Dialect::Hybi04)));
    assert_eq!(e.status(), 426);
    assert!(
        out.contains("\r\nSec-WebSocket-Version: 13, 8, 7\r\n"),
        "{out}"
    );
    let (e, _) = rejected_with(config(), HIXIE76_REQUEST);
    assert_eq!(e, peer(HttpPeerError::DialectRefused(Dialect::Hixie76)));
    // Allowed ones still pass.
    let mut s = server(config());
    assert_eq!(
        upgrade(
            &mut s,
            &rfc6455_with(&[("Sec-WebSocket-Version", Some("8"))])
        )
        .dialect,
        Dialect::Hybi08
    );
}

#[test]
fn header_too_long_is_431() {
    let long = "a".repeat(5000);
    let (e, out) = reject(&rfc6455_with(&[("X-Long", Some(&long))]));
    let Error::Capacity(c) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((c.limit, c.max), (Limit::HeaderLine, 4096));
    assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

#[test]
fn request_line_too_long_is_414() {
    let path = "/".repeat(9000);
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
    let (e, out) = reject(req.as_bytes());
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::RequestLine,
            max: 8192,
            ..
        })
    ));
    assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
}

/// `receive` checks the head's limits as the head arrives: a driver that
/// reads a lot before it polls gets the same 414, not the 431 of the
/// total input bound, and nothing past the refusal is buffered.
#[test]
fn head_limits_are_checked_by_receive() {
    let mut s = server(ServerConfig::default());
    let mut req = b"GET /".to_vec();
    req.resize(100_000, b'a');
    let mut refused = None;
    for chunk in req.chunks(16 * 1024) {
        if let Err(e) = s.receive(T0, chunk) {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("refused before the end");
    assert!(
        matches!(
            e,
            Error::Capacity(HttpLimitError {
                limit: Limit::RequestLine,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(s.poll_event(), Err(e));
    assert!(drain_server(&mut s).starts_with(b"HTTP/1.1 414 URI Too Long\r\n"));
}

#[test]
fn too_many_headers_is_431() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..70 {
        req.push_str(&format!("X-{i}: v\r\n"));
    }
    let (e, _) = reject(req.as_bytes());
    assert_eq!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::HeaderCount,
            size: 65,
            max: 64
        })
    );
    assert_eq!(e.status(), 431);
}

#[test]
fn total_head_too_large_is_431() {
    let mut req = String::from("GET / HTTP/1.1\r\n");
    for i in 0..10 {
        req.push_str(&format!("X-{i}: {}\r\n", "v".repeat(2000)));
    }
    let (e, _) = reject(req.as_bytes());
    assert!(
        matches!(
            e,
            Error::Capacity(HttpLimitError {
                limit: Limit::HeadTotal,
                max: 16384,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(e.status(), 431);
}

#[test]
fn custom_limits() {
    let limits = Limits::default().with_max_headers(3);
    let (e, _) = rejected_with(ServerConfig::default().with_limits(limits), RFC6455_REQUEST);
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::HeaderCount,
            max: 3,
            ..
        })
    ));
}

#[test]
fn bad_extension_syntax() {
    for (value, g) in [
        ("permessage-deflate;", GrammarError::InvalidToken),
        (" , ,", GrammarError::EmptyElement),
        ("a; x=\"1", GrammarError::UnterminatedQuote),
        ("a; x=\"1 2\"", GrammarError::QuotedValueNotToken),
    ] {
        let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Extensions", Some(value))]));
        assert_eq!(e, peer(HttpPeerError::BadExtensions(g)), "{value}");
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn bad_protocol_syntax() {
    let (e, _) = reject(&rfc6455_with(&[("Sec-WebSocket-Protocol", Some(","))]));
    assert_eq!(
        e,
        peer(HttpPeerError::BadProtocols(GrammarError::EmptyElement))
    );
}

#[test]
fn post_upgrade_is_405() {
    let req = String::from_utf8(RFC6455_REQUEST.to_vec())
        .unwrap()
        .replacen("GET", "POST", 1);
    let (e, out) = reject(req.as_bytes());
    assert_eq!(e, peer(HttpPeerError::MethodNotAllowed("POST".into())));
    assert!(out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(out.contains("\r\nAllow: GET\r\n"));
}

#[test]
fn http10_upgrade_is_400() {
    let req = String::from_utf8(RFC6455_REQUEST.to_vec())
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    let (e, _) = reject(req.as_bytes());
    assert_eq!(e, peer(HttpPeerError::HttpVersion));
    assert_eq!(e.status(), 400);
}

#[test]
fn missing_or_duplicate_host() {
    let (e, _) = reject(&rfc6455_with(&[("Host", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingHeader("Host")));
    let mut req = rfc6455_with(&[]);
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"Host: evil.example\r\n\r\n");
    let (e, _) = reject(&req);
    assert_eq!(e, peer(HttpPeerError::DuplicateHeader("Host")));
}

#[test]
fn missing_upgrade_or_connection() {
    let (e, _) = reject(&rfc6455_with(&[("Upgrade", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingHeader("Upgrade")));
    let (e, _) = reject(&rfc6455_with(&[("Upgrade", Some("h2c"))]));
    assert_eq!(e, peer(HttpPeerError::BadHeaderValue("Upgrade")));
    let (e, _) = reject(&rfc6455_with(&[("Connection", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingHeader("Connection")));
    let (e, _) = reject(&rfc6455_with(&[("Connection", Some("keep-alive"))]));
    assert_eq!(e, peer(HttpPeerError::BadHeaderValue("Connection")));
    // Token lists, case-insensitive.
    let mut s = server(ServerConfig::default());
    upgrade(
        &mut s,
        &rfc6455_with(&[
            ("Connection", Some("keep-alive, UPGRADE")),
            ("Upgrade", Some("WebSocket")),
        ]),
    );
}

#[test]
fn malformed_http() {
    let (e, _) = reject(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert!(
        matches!(e, Error::Peer(HttpPeerError::Malformed(_))),
        "{e:?}"
    );
    assert_eq!(e.status(), 400);
    let (e, _) = reject(b"\x00\x01\x02\r\n\r\n");
    assert!(
        matches!(e, Error::Peer(HttpPeerError::Malformed(_))),
        "{e:?}"
    );
}

#[test]
fn bad_hixie_keys() {
    let req = String::from_utf8(HIXIE76_REQUEST.to_vec()).unwrap();
    let no_spaces = req.replace("12998 5 Y3 1  .P00", "12998");
    let (e, _) = reject(no_spaces.as_bytes());
    assert!(
        matches!(e, Error::Peer(HttpPeerError::BadHixieKey(_))),
        "{e:?}"
    );
    let missing = req.replace("Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n", "");
    let (e, _) = reject(missing.as_bytes());
    assert_eq!(
        e,
        peer(HttpPeerError::MissingVersion),
        "only Key2: not hixie-76"
    );
}

#[test]
fn origin_policies() {
    let allow = || {
        ServerConfig::default()
            .with_origin(OriginPolicy::AllowList(vec!["http://EXAMPLE.com".into()]))
    };
    let mut s = server(allow());
    upgrade(&mut s, RFC6455_REQUEST);
    let (e, out) = rejected_with(
        allow(),
        &rfc6455_with(&[("Origin", Some("http://evil.com"))]),
    );
    assert_eq!(e, peer(HttpPeerError::OriginRefused));
    assert!(out.starts_with("HTTP/1.1 403 Forbidden\r\n"));
    let (e, _) = rejected_with(allow(), &rfc6455_with(&[("Origin", None)]));
    assert_eq!(e, peer(HttpPeerError::OriginRefused));
    let hook = OriginPolicy::Check(std::sync::Arc::new(|o: Option<&str>| o.is_none()));
    let mut s = server(ServerConfig::default().with_origin(hook.clone()));
    upgrade(&mut s, &rfc6455_with(&[("Origin", None)]));
    let (e, _) = rejected_with(ServerConfig::default().with_origin(hook), RFC6455_REQUEST);
    assert_eq!(e.status(), 403);
    // Versions 4-8 send Sec-WebSocket-Origin.
    let mut s = server(allow());
    let old = rfc6455_with(&[
        ("Origin", None),
        ("Sec-WebSocket-Origin", Some("http://example.com")),
        ("Sec-WebSocket-Version", Some("8")),
    ]);
    assert_eq!(
        upgrade(&mut s, &old).origin.as_deref(),
        Some("http://example.com")
    );
}

#[test]
fn transfer_encoding_is_501_and_huge_body_413() {
    let (e, _) = reject(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(e, peer(HttpPeerError::TransferEncoding));
    assert_eq!(e.status(), 501);
    let (e, out) = reject(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n");
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::Body,
            ..
        })
    ));
    assert!(out.starts_with("HTTP/1.1 413 "));
    let (e, _) = reject(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n");
    assert_eq!(e, peer(HttpPeerError::BadHeaderValue("Content-Length")));
}

#[test]
fn misuse_does_not_break_the_machine() {
    let mut s = server(ServerConfig::default());
    let req = upgrade(&mut s, RFC6455_REQUEST);
    let e = s
        .accept(Accept::default().protocol("nope"), &mut SplitMix::new(0))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Misuse(MisuseError::ProtocolNotOffered("nope".into()))
    );
    assert_eq!(e.status(), 500);
    let e = s
        .accept(
            Accept::default().extension(ExtensionOffer::new("x")),
            &mut SplitMix::new(0),
        )
        .unwrap_err();
    assert_eq!(
        e,
        Error::Misuse(MisuseError::ExtensionNotOffered("x".into()))
    );
    let e = s
        .accept(Accept::default().header("X", "a\nb"), &mut SplitMix::new(0))
        .unwrap_err();
    assert!(matches!(e, Error::Misuse(MisuseError::InvalidHeader(_))));
    assert_eq!(s.pending_transmit(), 0);
    assert!(
        s.respond(Instant::ZERO, Response::new(200)).is_err(),
        "wrong state"
    );
    s.accept(
        Accept::for_request(&req).protocol("chat"),
        &mut SplitMix::new(0),
    )
    .unwrap();
    assert!(s.accept(Accept::default(), &mut SplitMix::new(0)).is_err());
    assert_eq!(
        s.receive(T0, b"\x81"),
        Err(Error::Misuse(MisuseError::WrongState("receive")))
    );
    assert_eq!(s.poll_event(), Ok(None), "nothing after accept");
}

#[test]
fn application_rejects_upgrade() {
    let mut s = server(ServerConfig::default());
    upgrade(&mut s, RFC6455_REQUEST);
    s.reject(
        Response::new(401)
            .header("WWW-Authenticate", "Basic")
            .body("who?"),
    )
    .unwrap();
    let out = String::from_utf8(drain_server(&mut s)).unwrap();
    assert_eq!(
        out,
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 4\r\nConnection: close\r\n\r\nwho?"
    );
    assert!(s.wants_close());
    assert_eq!(step_server(&mut s, b"GET"), Ok(Some(ServerEvent::Close)));
    assert_eq!(
        step_server(&mut s, b"GET"),
        Ok(None),
        "Close is reported once"
    );
}

/// RFC 7230 §5.4: a plain HTTP/1.1 request without `Host`, any request with
/// two, and any with an invalid `Host` value get `400`, like an upgrade.
#[test]
fn plain_request_host_rules_are_400() {
    let cases: [(&[u8], HttpPeerError); 6] = [
        (
            b"GET / HTTP/1.1\r\n\r\n",
            HttpPeerError::MissingHeader("Host"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            HttpPeerError::DuplicateHeader("Host"),
        ),
        // The same name twice counts as two even when the values agree.
        (
            b"GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n",
            HttpPeerError::DuplicateHeader("Host"),
        ),
        // HTTP/1.0 may omit Host but never send two (RFC 7230 §5.4: "any
        // request message").
        (
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            HttpPeerError::DuplicateHeader("Host"),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            HttpPeerError::BadHeaderValue("Host"),
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: a:80x\r\n\r\n",
            HttpPeerError::BadHeaderValue("Host"),
        ),
    ];
    for (req, want) in cases {
        let (e, out) = reject(req);
        let shown = String::from_utf8_lossy(req);
        assert_eq!(e, peer(want), "{shown}");
        assert_eq!(e.status(), 400, "{shown}");
        assert!(
            out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{shown}: {out}"
        );
        assert!(out.contains("Connection: close\r\n"), "{shown}: {out}");
    }
}

#[test]
fn invalid_host_values_are_400() {
    for host in [
        "a b",
        "a/b",
        "a@b",
        "a:b",
        "a:1:2",
        "[::1",
        "[]",
        "[::1]x",
        "[::1]:8o",
        "a%zz",
        "a%4",
        "\u{e9}.example",
    ] {
        let (e, out) = reject(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(e, peer(HttpPeerError::BadHeaderValue("Host")), "{host:?}");
        assert!(out.starts_with("HTTP/1.1 400 "), "{host:?}: {out}");
        // An upgrade with the same Host is refused the same way.
        let (e, _) = reject(&rfc6455_with(&[("Host", Some(host))]));
        assert_eq!(e, peer(HttpPeerError::BadHeaderValue("Host")), "{host:?}");
    }
}

#[test]
fn valid_host_values_are_served() {
    for host in [
        "a",
        "",
        "example.com:8080",
        "example.com:",
        "127.0.0.1",
        "[::1]",
        "[::1]:7681",
        "[v1.fe80::a+en1]",
        "xn--bcher-kva.example",
        "a%20b",
        "sub_delims!$&'()*+,;=.example",
    ] {
        let mut s = server(ServerConfig::default());
        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let ev = step_server(&mut s, req.as_bytes());
        assert!(
            matches!(ev, Ok(Some(ServerEvent::Request(_)))),
            "{host:?}: {ev:?}"
        );
    }
}

/// HTTP/1.0 clients need not send `Host` (RFC 7230 §5.4 binds HTTP/1.1
/// clients): served as before.
#[test]
fn http10_request_without_host_is_served() {
    let mut s = server(ServerConfig::default());
    let ev = step_server(&mut s, b"GET / HTTP/1.0\r\n\r\n");
    assert!(matches!(ev, Ok(Some(ServerEvent::Request(_)))), "{ev:?}");
}

/// An upgrade with two `Host` fields or none is refused with 400 before any
/// other check, and never reaches the application.
#[test]
fn upgrade_host_rules_are_400() {
    let (e, out) = reject(&rfc6455_with(&[("Host", None)]));
    assert_eq!(e, peer(HttpPeerError::MissingHeader("Host")));
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    let mut req = rfc6455_with(&[]);
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"Host: server.example.com\r\n\r\n");
    let (e, out) = reject(&req);
    assert_eq!(e, peer(HttpPeerError::DuplicateHeader("Host")));
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    let mut hixie = HIXIE76_REQUEST.to_vec();
    let at = hixie.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    hixie.splice(at..at, b"\r\nHost: other".iter().copied());
    let (e, _) = reject(&hixie);
    assert_eq!(e, peer(HttpPeerError::DuplicateHeader("Host")));
}

#[test]
fn upgrade_target_must_name_a_resource() {
    // RFC 7230 §5.3: origin-form or absolute-form (found by the tungstenite
    // oracle: `GET ]chat` used to upgrade).
    let good = String::from_utf8(RFC6455_REQUEST.to_vec()).unwrap();
    for target in ["]chat", "chat", "*", "ftp://example.com/chat", "ws://"] {
        let req = good.replacen("GET /chat ", &format!("GET {target} "), 1);
        assert_ne!(req, good);
        let (e, out) = reject(req.as_bytes());
        assert!(
            matches!(e, Error::Peer(HttpPeerError::Malformed(_))),
            "{target}: {e:?}"
        );
        assert_eq!(e.status(), 400, "{target}");
        assert!(out.starts_with("HTTP/1.1 400 "), "{target}: {out}");
    }
}

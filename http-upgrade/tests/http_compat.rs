//! The `http` feature: conversions to and from the `http` crate's types,
//! each way and with its errors, and a host server's whole upgrade through
//! them.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, Version};
use http_upgrade::*;

/// The request of RFC 6455 §1.2 as a host server's `http::Request`.
fn rfc6455_request() -> http::Request<()> {
    http::Request::get("/chat")
        .header("Host", "server.example.com")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Origin", "http://example.com")
        .header("Sec-WebSocket-Protocol", "chat, superchat")
        .header("Sec-WebSocket-Version", "13")
        .body(())
        .unwrap()
}

fn fields(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// http::Request / Parts -> HttpRequest

#[test]
fn request_head_from_parts() {
    let req = rfc6455_request();
    let from_req = HttpRequest::try_from(&req).unwrap();
    let (parts, ()) = req.into_parts();
    let from_parts = HttpRequest::try_from(&parts).unwrap();
    assert_eq!(from_req, from_parts);
    assert_eq!(from_parts.method, "GET");
    assert_eq!(from_parts.target, "/chat");
    assert_eq!(from_parts.minor_version, 1);
    assert!(from_parts.body.is_empty());
    let names: Vec<&str> = from_parts.headers.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "host",
            "upgrade",
            "connection",
            "sec-websocket-key",
            "origin",
            "sec-websocket-protocol",
            "sec-websocket-version"
        ]
    );
    assert_eq!(
        from_parts.headers.get_str("Origin"),
        Some("http://example.com")
    );
}

#[test]
fn request_targets_and_versions() {
    let target = |uri: &str| {
        let req = http::Request::get(uri).body(()).unwrap();
        HttpRequest::try_from(&req).unwrap().target
    };
    assert_eq!(target("/chat?room=1&x"), "/chat?room=1&x");
    assert_eq!(target("http://example.com/a?b"), "/a?b");
    assert_eq!(target("http://example.com"), "/");
    assert_eq!(target("*"), "*");

    let with = |v: Version| {
        let req = http::Request::get("/").version(v).body(()).unwrap();
        HttpRequest::try_from(&req)
    };
    assert_eq!(with(Version::HTTP_10).unwrap().minor_version, 0);
    assert_eq!(with(Version::HTTP_11).unwrap().minor_version, 1);
    for v in [Version::HTTP_09, Version::HTTP_2, Version::HTTP_3] {
        let e = with(v).unwrap_err();
        assert_eq!(e, Error::Peer(HttpPeerError::HttpVersion), "{v:?}");
        assert_eq!(e.status(), 400);
    }
    // The body is not looked at.
    let req = http::Request::post("/form").body("a=1").unwrap();
    let head = HttpRequest::try_from(&req).unwrap();
    assert_eq!((head.method.as_str(), head.body.len()), ("POST", 0));
}

/// A host's request through `HostedUpgrade` is the machine's request: the
/// same `UpgradeRequest` but for the header names' case.
#[test]
fn hosted_upgrade_from_an_http_request() {
    let config = ServerConfig::default().with_protocols(["chat"]);
    let up =
        HostedUpgrade::new(HttpRequest::try_from(&rfc6455_request()).unwrap(), &config).unwrap();
    let machine = upgrade(&mut server(config.clone()), RFC6455_REQUEST);
    let mut ours = up.request().clone();
    assert_eq!(ours.headers.len(), machine.headers.len());
    for ((n1, v1), (n2, v2)) in ours.headers.iter().zip(machine.headers.iter()) {
        assert!(n1.eq_ignore_ascii_case(n2));
        assert_eq!(v1, v2);
    }
    ours.headers = machine.headers.clone();
    assert_eq!(ours, machine);

    let (_, response) = up
        .accept(Accept::for_request(&machine), &mut SplitMix::new(1))
        .unwrap();
    let response = http::Response::<Bytes>::try_from(response).unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(response.body().is_empty());
    assert_eq!(
        fields(response.headers()),
        [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("sec-websocket-protocol", "chat"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
}

// ---------------------------------------------------------------------------
// Response -> http::Response<Bytes>

#[test]
fn error_responses_convert() {
    let config = ServerConfig::default().with_dialects(DialectSet::MODERN);
    let bad = http::Request::get("/chat")
        .header("Host", "h")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "5")
        .body(())
        .unwrap();
    let e = HostedUpgrade::new(HttpRequest::try_from(&bad).unwrap(), &config).unwrap_err();
    let r = http::Response::<Bytes>::try_from(error_response(&e, &config)).unwrap();
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.headers()["sec-websocket-version"], "13, 8, 7");
    assert_eq!(r.headers()["upgrade"], "websocket");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(r.headers().get("connection").is_none());
    assert_eq!(&r.body()[..], format!("{e}\n").as_bytes());

    let post = http::Request::post("/chat")
        .header("Host", "h")
        .body(())
        .unwrap();
    let e = HostedUpgrade::new(HttpRequest::try_from(&post).unwrap(), &config).unwrap_err();
    let r = http::Response::<Bytes>::try_from(error_response(&e, &config)).unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET");
}

#[test]
fn responses_convert_and_fail() {
    let r = Response::new(404)
        .reason("Nowhere")
        .header("X-A", "1")
        .header("x-a", "2")
        .body("gone");
    let r = http::Response::<Bytes>::try_from(r).unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let all: Vec<_> = r.headers().get_all("x-a").iter().collect();
    assert_eq!(all, ["1", "2"]);
    assert_eq!(r.body(), "gone");
    // Statuses without a body drop it, as the machine does.
    let r = http::Response::<Bytes>::try_from(Response::new(204).body("x")).unwrap();
    assert!(r.body().is_empty());

    let misuse = |r: Response| match http::Response::<Bytes>::try_from(r) {
        Err(Error::Misuse(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        misuse(Response::new(200).streamed(10)),
        MisuseError::Unconvertible("a streamed body")
    );
    assert!(matches!(
        misuse(Response::new(42)),
        MisuseError::InvalidHeader(_)
    ));
    assert!(matches!(
        misuse(Response::new(200).header("Bad Name", "x")),
        MisuseError::InvalidHeader(_)
    ));
    assert!(matches!(
        misuse(Response::new(200).header("X", "a\r\nEvil: 1")),
        MisuseError::InvalidHeader(_)
    ));
}

// ---------------------------------------------------------------------------
// Headers <-> HeaderMap

#[test]
fn headers_both_ways() {
    let mut map = HeaderMap::new();
    map.append("cookie", HeaderValue::from_static("a=1"));
    map.append("sec-websocket-protocol", HeaderValue::from_static(" chat "));
    map.append("cookie", HeaderValue::from_static("b=2"));
    map.append("x-bin", HeaderValue::from_bytes(b"\xfe\xff").unwrap());
    let headers = Headers::from(&map);
    assert_eq!(headers.len(), 4);
    let cookies: Vec<&[u8]> = headers.get_all("Cookie").collect();
    assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
    assert_eq!(headers.get("sec-websocket-protocol"), Some(&b"chat"[..]));
    assert_eq!(headers.get("x-bin"), Some(&b"\xfe\xff"[..]));
    let back = HeaderMap::try_from(&headers).unwrap();
    assert_eq!(back.len(), 4);
    let cookies: Vec<_> = back.get_all("cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);

    let mut own = Headers::new();
    own.push("Set-Cookie", "s=1");
    own.push("X-Empty", "");
    let map = HeaderMap::try_from(&own).unwrap();
    assert_eq!(map["set-cookie"], "s=1");
    assert_eq!(map["x-empty"], "");
    for (n, v) in [
        ("Bad Name", &b"x"[..]),
        ("", b"x"),
        ("X", b"a\r\nb: c"),
        ("X", b"\0"),
    ] {
        let mut h = Headers::new();
        h.push(n, v);
        let e = HeaderMap::try_from(&h).unwrap_err();
        assert!(
            matches!(e, Error::Misuse(MisuseError::InvalidHeader(_))),
            "{n:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Uri -> WsUrl, http::Request<()> -> ClientRequest

#[test]
fn urls_from_uris() {
    let url = |s: &str| WsUrl::try_from(&s.parse::<Uri>().unwrap());
    let u = url("wss://Example.com:8443/chat?x=1").unwrap();
    assert_eq!(
        (u.is_secure(), u.host(), u.port(), u.resource()),
        (true, "example.com", 8443, "/chat?x=1")
    );
    let u = url("ws://[::1]:9001").unwrap();
    assert_eq!((u.host(), u.port(), u.resource()), ("::1", 9001, "/"));
    assert_eq!(url("http://h/").unwrap().port(), 80);
    assert_eq!(url("https://h/").unwrap().port(), 443);
    assert_eq!(url("/chat"), Err(UrlError::BadScheme));
    assert_eq!(url("ftp://h/"), Err(UrlError::BadScheme));
    assert_eq!(url("ws://u:p@h/"), Err(UrlError::Userinfo));
    assert_eq!(url("ws://h:0/"), Err(UrlError::BadPort));
}

#[test]
fn client_request_from_http() {
    let req = http::Request::get("wss://example.com/chat?room=1")
        .header("Host", "ignored.example")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "ignored")
        .header("Sec-WebSocket-Version", "8")
        .header("Sec-WebSocket-Protocol", "chat, superchat")
        .header("Sec-WebSocket-Protocol", "v2")
        .header(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        )
        .header("Origin", "https://example.com")
        .header("Cookie", "a=1")
        .header("Authorization", "Bearer t")
        .body(())
        .unwrap();
    let c = ClientRequest::try_from(req).unwrap();
    assert_eq!(
        c.url,
        WsUrl::parse("wss://example.com/chat?room=1").unwrap()
    );
    assert_eq!(c.dialect, Dialect::Hybi08);
    assert_eq!(c.protocols, ["chat", "superchat", "v2"]);
    assert_eq!(
        c.extensions,
        [ExtensionOffer::new("permessage-deflate").with_param("client_max_window_bits", None)]
    );
    assert_eq!(c.origin.as_deref(), Some("https://example.com"));
    assert_eq!(
        c.headers,
        [("cookie", "a=1"), ("authorization", "Bearer t")]
            .map(|(n, v)| (n.to_string(), v.to_string()))
    );

    // The handshake writes the dropped fields itself, once.
    let mut client = ClientHandshake::new(c, &mut CountingRng(0), T0).unwrap();
    let sent = String::from_utf8(drain_client(&mut client)).unwrap();
    assert_eq!(sent.matches("Host:").count(), 1, "{sent}");
    assert!(sent.contains("Host: example.com\r\n"), "{sent}");
    assert!(sent.contains("Sec-WebSocket-Version: 8\r\n"), "{sent}");
    assert!(sent.contains("Sec-WebSocket-Origin: https://example.com\r\n"));
    assert!(!sent.contains("ignored"), "{sent}");

    let plain = http::Request::get("ws://h/").body(()).unwrap();
    let c = ClientRequest::try_from(plain).unwrap();
    assert_eq!(c.dialect, Dialect::Rfc6455);
    for (v, d) in [
        ("13", Dialect::Rfc6455),
        ("7", Dialect::Hybi07),
        ("4", Dialect::Hybi04),
    ] {
        let req = http::Request::get("ws://h/")
            .header("Sec-WebSocket-Version", v)
            .body(())
            .unwrap();
        assert_eq!(ClientRequest::try_from(req).unwrap().dialect, d);
    }
}

#[test]
fn client_request_errors() {
    let misuse = |req: http::Request<()>| match ClientRequest::try_from(req) {
        Err(Error::Misuse(m)) => m,
        other => panic!("{other:?}"),
    };
    let get = |uri: &str| http::Request::get(uri);
    assert_eq!(
        misuse(http::Request::post("ws://h/").body(()).unwrap()),
        MisuseError::Unconvertible("a method other than GET")
    );
    assert_eq!(
        misuse(get("ws://h/").version(Version::HTTP_2).body(()).unwrap()),
        MisuseError::Unconvertible("an HTTP version other than 1.1")
    );
    assert_eq!(
        misuse(get("/chat").body(()).unwrap()),
        MisuseError::Url(UrlError::BadScheme)
    );
    let invalid = |name: &str, values: &[&[u8]]| {
        let mut b = get("ws://h/");
        for v in values {
            b = b.header(name, HeaderValue::from_bytes(v).unwrap());
        }
        match misuse(b.body(()).unwrap()) {
            MisuseError::InvalidHeader(s) => s,
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(
        invalid("Sec-WebSocket-Version", &[b"9"]),
        "sec-websocket-version: 9"
    );
    invalid("Sec-WebSocket-Version", &[b"13", b"13"]);
    invalid("Sec-WebSocket-Version", &[b"thirteen"]);
    invalid("Sec-WebSocket-Protocol", &[b"a b"]);
    invalid("Sec-WebSocket-Protocol", &[b""]);
    invalid("Sec-WebSocket-Extensions", &[b"permessage-deflate;"]);
    invalid("Origin", &[b"http://a", b"http://b"]);
    invalid("Origin", &[b"http://\xff"]);
    invalid("Cookie", &[b"\xff"]);
    let both = get("ws://h/")
        .header("Origin", "http://a")
        .header("Sec-WebSocket-Origin", "http://a")
        .body(())
        .unwrap();
    assert!(matches!(misuse(both), MisuseError::InvalidHeader(_)));
}

// ---------------------------------------------------------------------------
// Handshake -> http::Response<()>

#[test]
fn client_handshake_as_a_response() {
    let request = ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .protocol("chat");
    let mut client = ClientHandshake::new(request, &mut CountingRng(0), T0).unwrap();
    let mut s = server(ServerConfig::default().with_protocols(["chat"]));
    let req = upgrade(&mut s, &drain_client(&mut client));
    let accept = Accept::for_request(&req).header("Set-Cookie", "s=1");
    let server_side = s.accept(accept, &mut CountingRng(0)).unwrap();
    let Some(ClientEvent::Connected(hs)) = step_client(&mut client, &drain_server(&mut s)).unwrap()
    else {
        panic!("not connected")
    };
    let r = http::Response::<()>::try_from(&hs).unwrap();
    assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(r.headers()["upgrade"], "websocket");
    assert_eq!(r.headers()["connection"], "Upgrade");
    assert_eq!(r.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(r.headers()["set-cookie"], "s=1");
    assert_eq!(
        r.headers()["sec-websocket-accept"],
        keys::accept_key(hs.key.as_deref().unwrap().as_bytes()).as_str()
    );
    assert_eq!(r.headers().len(), hs.headers.len());

    // A server's handshake keeps no response fields: a bare 101.
    let bare = http::Response::<()>::try_from(&server_side).unwrap();
    assert_eq!(bare.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(bare.headers().is_empty());

    let mut broken = hs.clone();
    broken.headers.push("Bad Name", "x");
    assert!(matches!(
        http::Response::<()>::try_from(&broken),
        Err(Error::Misuse(MisuseError::InvalidHeader(_)))
    ));
}

//! The extended CONNECT handshake of RFC 8441 (HTTP/2) and RFC 9220
//! (HTTP/3) on header lists: the RFC's example, the table of rejections
//! (each with its status), every prefix of a valid list, and a client and
//! a server agreeing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http_upgrade::{
    Accept, ClientRequest, ConnectClient, ConnectUpgrade, Error, ExtensionOffer, Headers,
    HttpLimitError, HttpPeerError, Limit, Limits, OriginPolicy, ServerConfig,
    connect_error_response,
};

/// RFC 8441 §5.1, the client's HEADERS.
const EXAMPLE: [(&str, &str); 9] = [
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "https"),
    (":path", "/chat"),
    (":authority", "server.example.com"),
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate"),
    ("sec-websocket-version", "13"),
    ("origin", "http://www.example.com"),
];

fn fields(pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (n, v) in pairs {
        h.push(*n, *v);
    }
    h
}

fn config() -> ServerConfig {
    ServerConfig::default().with_protocols(["chat"])
}

#[test]
fn the_rfc_8441_example_is_accepted_with_a_200() {
    let upgrade = ConnectUpgrade::new(fields(&EXAMPLE), &config()).unwrap();
    let req = upgrade.request();
    assert_eq!(req.target, "/chat");
    assert_eq!(req.host, "server.example.com");
    assert_eq!(req.origin.as_deref(), Some("http://www.example.com"));
    assert_eq!(req.protocols, ["chat", "superchat"]);
    assert_eq!(req.extensions, [ExtensionOffer::new("permessage-deflate")]);
    assert_eq!(req.selected_protocol.as_deref(), Some("chat"));
    assert_eq!(upgrade.scheme(), "https");
    let accept = Accept::for_request(upgrade.request());
    let (hs, response) = upgrade.accept(accept).unwrap();
    // [[ From Server ]] HEADERS: :status = 200, sec-websocket-protocol = chat
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers(),
        [("sec-websocket-protocol".to_owned(), "chat".to_owned())]
    );
    assert!(matches!(response.body_ref(), http_upgrade::Body::Full(b) if b.is_empty()));
    assert_eq!(hs.key, None);
    assert_eq!(hs.protocol.as_deref(), Some("chat"));
    assert_eq!(hs.target.as_deref(), Some("/chat"));
}

/// Replaces (or, with `None`, removes) the first field named `name`.
fn with(name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = EXAMPLE
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let i = v.iter().position(|(n, _)| n == name);
    match (i, value) {
        (Some(i), Some(val)) => v[i].1 = val.to_owned(),
        (Some(i), None) => {
            v.remove(i);
        }
        (None, Some(val)) => v.push((name.to_owned(), val.to_owned())),
        (None, None) => {}
    }
    v
}

fn check(list: &[(String, String)]) -> Result<ConnectUpgrade, Error> {
    check_with(list, &config())
}

fn check_with(list: &[(String, String)], config: &ServerConfig) -> Result<ConnectUpgrade, Error> {
    let mut h = Headers::new();
    for (n, v) in list {
        h.push(n.as_str(), v.as_str());
    }
    ConnectUpgrade::new(h, config)
}

/// A rejection: what, the fields, the error, the status.
type Case = (&'static str, Vec<(String, String)>, Error, u16);

/// Every rejection of the table in `ConnectUpgrade::new`'s documentation,
/// with its status; the automatic response carries it and the fields a
/// client needs (the version for a 426, `allow` for a 405).
#[test]
fn the_table_of_rejections() {
    use HttpPeerError as P;
    let mut cases: Vec<Case> = vec![
        (
            "GET over HTTP/2",
            with(":method", Some("GET")),
            P::MethodNotAllowed("GET".into()).into(),
            405,
        ),
        (
            "no :method",
            with(":method", None),
            P::MissingHeader(":method").into(),
            400,
        ),
        (
            "a plain CONNECT (no :protocol)",
            with(":protocol", None),
            P::MissingHeader(":protocol").into(),
            400,
        ),
        (
            "another :protocol",
            with(":protocol", Some("webtransport")),
            P::UnsupportedProtocol("webtransport".into()).into(),
            501,
        ),
        (
            ":protocol is case-sensitive",
            with(":protocol", Some("WebSocket")),
            P::UnsupportedProtocol("WebSocket".into()).into(),
            501,
        ),
        (
            "no :scheme",
            with(":scheme", None),
            P::MissingHeader(":scheme").into(),
            400,
        ),
        (
            "no :path",
            with(":path", None),
            P::MissingHeader(":path").into(),
            400,
        ),
        (
            "no :authority",
            with(":authority", None),
            P::MissingHeader(":authority").into(),
            400,
        ),
        (
            "a ws scheme",
            with(":scheme", Some("wss")),
            P::BadHeaderValue(":scheme").into(),
            400,
        ),
        (
            "an asterisk path",
            with(":path", Some("*")),
            P::BadHeaderValue(":path").into(),
            400,
        ),
        (
            "a space in the path",
            with(":path", Some("/a b")),
            P::BadHeaderValue(":path").into(),
            400,
        ),
        (
            "userinfo in :authority",
            with(":authority", Some("user@server.example.com")),
            P::BadHeaderValue(":authority").into(),
            400,
        ),
        (
            "a host that is not :authority",
            with("host", Some("other.example.com")),
            P::BadHeaderValue("host").into(),
            400,
        ),
        (
            "a Sec-WebSocket-Key",
            with("sec-websocket-key", Some("dGhlIHNhbXBsZSBub25jZQ==")),
            P::ForbiddenHeader("sec-websocket-key").into(),
            400,
        ),
        (
            "Connection",
            with("connection", Some("upgrade")),
            P::ForbiddenHeader("connection").into(),
            400,
        ),
        (
            "Upgrade",
            with("upgrade", Some("websocket")),
            P::ForbiddenHeader("upgrade").into(),
            400,
        ),
        (
            "transfer-encoding",
            with("transfer-encoding", Some("chunked")),
            P::ForbiddenHeader("transfer-encoding").into(),
            400,
        ),
        (
            "te other than trailers",
            with("te", Some("gzip")),
            P::ForbiddenHeader("te").into(),
            400,
        ),
        (
            "no version",
            with("sec-websocket-version", None),
            P::MissingVersion.into(),
            426,
        ),
        (
            "version 8",
            with("sec-websocket-version", Some("8")),
            P::UnsupportedVersion("8".into()).into(),
            426,
        ),
        (
            "two versions",
            with("sec-websocket-version", Some("13"))
                .into_iter()
                .chain([("sec-websocket-version".to_owned(), "13".to_owned())])
                .collect(),
            P::DuplicateHeader("sec-websocket-version").into(),
            400,
        ),
        (
            "a bad subprotocol list",
            with("sec-websocket-protocol", Some("chat,,(x)")),
            Error::Peer(P::BadProtocols(
                http_upgrade::parse_token_list([b"(x)".as_slice()], &mut Vec::new()).unwrap_err(),
            )),
            400,
        ),
    ];
    // Malformed lists (RFC 9113 §8.2.1, §8.3).
    let mut upper = with(":method", Some("CONNECT"));
    upper[7].0 = "Sec-WebSocket-Version".into();
    let mut late = with(":method", Some("CONNECT"));
    let m = late.remove(0);
    late.push(m);
    let mut twice = with(":method", Some("CONNECT"));
    twice.insert(1, (":path".into(), "/other".into()));
    let status = with(":status", Some("200"));
    let mut status_first = status.clone();
    let s = status_first.pop().unwrap();
    status_first.insert(0, s);
    for (what, list) in [
        ("an uppercase name", upper),
        ("a pseudo-header field last", late),
        ("a response pseudo-header field", status_first),
    ] {
        let e = check(&list).unwrap_err();
        assert!(matches!(e, Error::Peer(P::Malformed(_))), "{what}: {e:?}");
        assert_eq!(e.status(), 400, "{what}");
    }
    cases.push((
        "a pseudo-header field twice",
        twice,
        P::DuplicateHeader(":path").into(),
        400,
    ));
    for (what, list, want, status) in cases {
        let e = match check(&list) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e,
        };
        if let (Error::Peer(P::BadProtocols(_)), Error::Peer(P::BadProtocols(_))) = (&e, &want) {
        } else {
            assert_eq!(e, want, "{what}");
        }
        assert_eq!(e.status(), status, "{what}");
        let r = connect_error_response(&e);
        assert_eq!(r.status(), status, "{what}");
        assert!(
            r.headers()
                .iter()
                .all(|(n, _)| *n == n.to_ascii_lowercase())
        );
        let has = |n: &str, v: &str| r.headers().iter().any(|(a, b)| a == n && b == v);
        assert_eq!(status == 426, has("sec-websocket-version", "13"), "{what}");
        assert_eq!(status == 405, has("allow", "CONNECT"), "{what}");
    }
}

/// The configuration's checks: the origin policy (403), a server that
/// refuses RFC 6455 (426), and the limits (431, 414).
#[test]
fn configured_refusals_and_limits() {
    let only = ServerConfig::default()
        .with_origin(OriginPolicy::AllowList(vec!["https://good.example".into()]));
    let e = check_with(&with(":method", Some("CONNECT")), &only).unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (HttpPeerError::OriginRefused.into(), 403)
    );
    let good = with("origin", Some("https://good.example"));
    assert!(check_with(&good, &only).is_ok());

    let no_6455 = ServerConfig::default().with_dialects(http_upgrade::DialectSet::of(&[
        http_upgrade::Dialect::Hybi08,
    ]));
    let e = check_with(&good, &no_6455).unwrap_err();
    assert_eq!(e.status(), 426);

    let limited = |l: Limits| ServerConfig::default().with_limits(l);
    let e = check_with(&good, &limited(Limits::default().with_max_headers(5))).unwrap_err();
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::HeaderCount,
            ..
        })
    ));
    assert_eq!(e.status(), 431);
    let long = with(":path", Some(&format!("/{}", "a".repeat(9000))));
    let e = check(&long).unwrap_err();
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
    assert_eq!(e.status(), 414);
    let big = with("cookie", Some(&"c".repeat(7000)));
    let e = check(&big).unwrap_err();
    assert_eq!(e.status(), 431, "{e:?}");
    let many: Vec<(String, String)> = good
        .iter()
        .cloned()
        .chain((0..200).map(|i| (format!("x-{i}"), "v".repeat(100))))
        .collect();
    let e = check(&many).unwrap_err();
    assert_eq!(e.status(), 431, "{e:?}");
}

/// Every prefix of the example's list either fails with an error (never a
/// panic) or, once it holds every required field, is accepted; the
/// optional fields at the end change only what is offered.
#[test]
fn every_prefix_of_a_valid_list() {
    let required = [
        ":method",
        ":protocol",
        ":scheme",
        ":path",
        ":authority",
        "sec-websocket-version",
    ];
    for k in 0..=EXAMPLE.len() {
        let prefix = &EXAMPLE[..k];
        let complete = required.iter().all(|r| prefix.iter().any(|(n, _)| n == r));
        match ConnectUpgrade::new(fields(prefix), &config()) {
            Ok(u) => {
                assert!(complete, "prefix {k} accepted without every required field");
                assert_eq!(
                    u.request().origin.is_some(),
                    prefix.iter().any(|(n, _)| *n == "origin")
                );
            }
            Err(e) => {
                assert!(!complete, "prefix {k}: {e}");
                assert!(matches!(e.status(), 400 | 426 | 405 | 501), "{k}: {e}");
            }
        }
    }
    // And every field of the example moved to each other place: a list
    // out of order is accepted only with the pseudo-header fields first.
    for from in 0..EXAMPLE.len() {
        for to in 0..EXAMPLE.len() {
            let mut v = EXAMPLE.to_vec();
            let f = v.remove(from);
            v.insert(to, f);
            let pseudo_first = v
                .iter()
                .position(|(n, _)| !n.starts_with(':'))
                .is_none_or(|i| v[i..].iter().all(|(n, _)| !n.starts_with(':')));
            let r = ConnectUpgrade::new(fields(&v), &config());
            assert_eq!(r.is_ok(), pseudo_first, "{v:?}: {:?}", r.err());
        }
    }
}

/// A client's fields, checked by the server, answered, checked by the
/// client: the two ends agree.
#[test]
fn client_and_server_agree() {
    let request = ClientRequest::new("ws://127.0.0.1:9000/echo?x=1")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .origin("http://127.0.0.1:9000")
        .header("Cookie", "a=b")
        .extension(
            ExtensionOffer::new("permessage-deflate").with_param("client_max_window_bits", None),
        );
    let client = ConnectClient::new(request).unwrap();
    assert_eq!(client.scheme(), "http");
    assert_eq!(client.authority(), "127.0.0.1:9000");
    assert_eq!(client.path(), "/echo?x=1");
    let f = client.fields();
    let names: Vec<&str> = f.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            ":method",
            ":protocol",
            ":scheme",
            ":path",
            ":authority",
            "sec-websocket-version",
            "sec-websocket-protocol",
            "sec-websocket-extensions",
            "origin",
            "cookie"
        ]
    );
    let upgrade = ConnectUpgrade::new(f, &config()).unwrap();
    assert_eq!(upgrade.request().host, "127.0.0.1:9000");
    assert_eq!(upgrade.request().headers.get_str("cookie"), Some("a=b"));
    let accept = Accept::for_request(upgrade.request())
        .extension(
            ExtensionOffer::new("permessage-deflate")
                .with_param("server_no_context_takeover", None),
        )
        .header("Set-Cookie", "s=1");
    let (server_hs, response) = upgrade.accept(accept).unwrap();
    let answer = fields(
        &response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(answer.get_str("set-cookie"), Some("s=1"));
    let client_hs = client.response(response.status(), &answer).unwrap();
    assert_eq!(client_hs.protocol, server_hs.protocol);
    assert_eq!(client_hs.extensions, server_hs.extensions);
    assert_eq!(client_hs.headers.get_str("set-cookie"), Some("s=1"));
}

/// What a server may not answer and a client may not send.
#[test]
fn misuse_on_either_side() {
    let upgrade = ConnectUpgrade::new(fields(&EXAMPLE), &config()).unwrap();
    let e = upgrade
        .clone()
        .accept(Accept::for_request(upgrade.request()).protocol("superchat2"))
        .unwrap_err();
    assert_eq!(e.status(), 500, "a subprotocol not offered");
    for bad in ["Connection", "Upgrade", "Sec-WebSocket-Accept", "TE"] {
        let e = upgrade
            .clone()
            .accept(Accept::for_request(upgrade.request()).header(bad, "x"))
            .unwrap_err();
        assert!(matches!(e, Error::Misuse(_)), "{bad}: {e:?}");
    }
    let hybi = ClientRequest::new("ws://a.example/")
        .unwrap()
        .dialect(http_upgrade::Dialect::Hybi08);
    assert!(matches!(ConnectClient::new(hybi), Err(Error::Misuse(_))));
    for bad in [
        "Host",
        "Connection",
        "Sec-WebSocket-Key",
        "Transfer-Encoding",
    ] {
        let r = ClientRequest::new("ws://a.example/")
            .unwrap()
            .header(bad, "x");
        assert!(
            matches!(ConnectClient::new(r), Err(Error::Misuse(_))),
            "{bad}"
        );
    }
    let client = ConnectClient::new(ClientRequest::new("wss://a.example/").unwrap()).unwrap();
    assert_eq!(
        client.clone().response(403, &Headers::new()).unwrap_err(),
        HttpPeerError::Rejected(403).into()
    );
    assert_eq!(
        client
            .clone()
            .response(101, &Headers::new())
            .unwrap_err()
            .status(),
        400
    );
    assert!(
        client.response(204, &Headers::new()).is_ok(),
        "any 2xx (RFC 9110 §9.3.6)"
    );
}

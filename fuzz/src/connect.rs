//! `connect_handshake`: the extended CONNECT handshake of RFC 8441 / RFC
//! 9220 (`http_upgrade::{ConnectUpgrade, ConnectClient}`), both roles, on
//! header lists.
//!
//! The input is text-like so that seeds are readable and mutations stay
//! near real requests: a settings byte, then the request's fields, a NUL,
//! then the answer (first line the status, then its fields). A field is a
//! line `name<TAB>value` (no TAB: an empty value); names and values are
//! any bytes.
//!
//! Asserts, server side: no panic; a refusal's status is one of the table
//! (400, 403, 405, 414, 426, 431, 501) and its automatic response has that
//! status, lowercase names and, for a 426, `sec-websocket-version: 13`; an
//! accepted request had exactly one `:method CONNECT` and `:protocol
//! websocket`, no `sec-websocket-key`, a `/` path, a subprotocol the
//! client offered (or none); its `200` has lowercase names, nothing
//! connection-specific, and a client that offered what the request
//! offered accepts it and agrees on the subprotocol and extensions.
//! Client side: no panic; only a 2xx opens, with a subprotocol and
//! extensions it offered; a 101 never does.

use http_upgrade::{
    Accept, ClientRequest, ConnectClient, ConnectUpgrade, ExtensionOffer, Headers, Limits,
    OriginPolicy, ServerConfig, connect_error_response,
};

/// Splits `part` into fields.
fn fields(part: &[u8]) -> Headers {
    let mut h = Headers::new();
    for line in part.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let (name, value) = match line.iter().position(|&b| b == b'\t') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        h.push(String::from_utf8_lossy(name).into_owned(), value.to_vec());
    }
    h
}

fn config(settings: u8) -> ServerConfig {
    let mut c = ServerConfig::default();
    if settings & 1 != 0 {
        c = c.with_protocols(["chat", "superchat"]);
    }
    if settings & 2 != 0 {
        c = c.with_origin(OriginPolicy::AllowList(vec![
            "http://www.example.com".into(),
        ]));
    }
    if settings & 4 != 0 {
        c = c.with_limits(
            Limits::default()
                .with_max_headers(8)
                .with_max_start_line(64),
        );
    }
    c
}

fn lowercase(r: &http_upgrade::Response) -> bool {
    r.headers()
        .iter()
        .all(|(n, _)| !n.bytes().any(|b| b.is_ascii_uppercase()))
}

/// The fuzz target.
pub fn run(data: &[u8]) {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let (request, answer) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    server(settings, fields(request));
    client(settings, answer);
}

fn server(settings: u8, f: Headers) {
    let config = config(settings);
    match ConnectUpgrade::new(f.clone(), &config) {
        Err(e) => {
            let status = e.status();
            assert!(
                [400, 403, 405, 414, 426, 431, 501].contains(&status),
                "{e:?} -> {status}"
            );
            let r = connect_error_response(&e);
            assert_eq!(r.status(), status);
            assert!(lowercase(&r), "{:?}", r.headers());
            if status == 426 {
                assert!(
                    r.headers()
                        .iter()
                        .any(|(n, v)| n == "sec-websocket-version" && v == "13")
                );
            }
        }
        Ok(upgrade) => {
            assert_eq!(f.get_all(":method").collect::<Vec<_>>(), [b"CONNECT"]);
            assert_eq!(f.get_all(":protocol").collect::<Vec<_>>(), [b"websocket"]);
            assert!(f.get("sec-websocket-key").is_none());
            let req = upgrade.request().clone();
            assert!(req.target.starts_with('/'));
            assert!(["http", "https"].contains(&upgrade.scheme()));
            if let Some(p) = &req.selected_protocol {
                assert!(req.protocols.contains(p));
            }
            let accept = Accept::for_request(&req);
            let (hs, response) = upgrade
                .accept(accept)
                .expect("the default answer is always valid");
            assert_eq!(response.status(), 200);
            assert!(lowercase(&response), "{:?}", response.headers());
            for (n, _) in response.headers() {
                assert!(
                    !["connection", "upgrade", "sec-websocket-accept"].contains(&n.as_str()),
                    "{n}"
                );
            }
            // A client offering what this request offered accepts the
            // answer and agrees.
            let mut cr = match ClientRequest::new("wss://fuzz.test/") {
                Ok(r) => r,
                Err(_) => return,
            };
            cr.protocols = req.protocols.clone();
            cr.extensions = req
                .extensions
                .iter()
                .map(|e| ExtensionOffer::new(e.name.clone()))
                .collect();
            let Ok(client) = ConnectClient::new(cr) else {
                return;
            };
            let mut answer = Headers::new();
            for (n, v) in response.headers() {
                answer.push(n.as_str(), v.as_str());
            }
            let client_hs = client
                .response(200, &answer)
                .expect("our own 200 is accepted by a client that offered the same");
            assert_eq!(client_hs.protocol, hs.protocol);
        }
    }
}

fn client(settings: u8, answer: &[u8]) {
    let mut lines = answer.splitn(2, |&b| b == b'\n');
    let status: u16 = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(200);
    let f = fields(lines.next().unwrap_or_default());
    let mut request = ClientRequest::new("ws://fuzz.test/chat")
        .expect("a valid URL")
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate"));
    if settings & 8 != 0 {
        request = request.origin("http://www.example.com");
    }
    let client = ConnectClient::new(request).expect("a valid request");
    let sent = client.fields();
    assert_eq!(sent.get_str(":method"), Some("CONNECT"));
    assert!(sent.get("sec-websocket-key").is_none());
    match client.response(status, &f) {
        Ok(hs) => {
            assert!((200..300).contains(&status), "{status} opened");
            if let Some(p) = &hs.protocol {
                assert!(p == "chat" || p == "superchat", "{p}");
            }
            for e in &hs.extensions {
                assert!(e.name.eq_ignore_ascii_case("permessage-deflate"), "{e}");
            }
        }
        Err(e) => {
            assert!(e.status() >= 400, "{e:?}");
        }
    }
}

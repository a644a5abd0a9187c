//! `Session::server_hosted`: a host HTTP server parsed the client session's
//! request (httparse here, standing in for hyper), the session accepts it
//! and hands back the `101` as a value; the host writes it, and the two
//! sessions talk and close. A toy RSV1 extension stands in for compression
//! (deflate-ext's own test runs permessage-deflate through the same path);
//! the hosted session negotiates exactly as `Session::accept` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::SplitMix;
use http_upgrade::{
    Accept, ClientRequest, ExtensionOffer, Headers, HostedUpgrade, HttpRequest, Response,
    ServerConfig,
};
use ws_proto::session::{Negotiator, Session, SessionConfig, SessionError, SessionEvent};
use ws_proto::{
    Bytes, CloseCode, Config, Dialect, Encoded, Error, Event, Extension, ExtensionError, FrameMeta,
    Instant, UsageError,
};

const NOW: Instant = Instant::ZERO;

/// XORs message payloads with a key, marking them with RSV1.
struct Xor(u8);

impl Extension for Xor {
    fn name(&self) -> &str {
        "x-xor"
    }
    fn rsv_mask(&self) -> u8 {
        0x40
    }
    fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        let rsv = if meta.first { 0x40 } else { 0 };
        let payload = payload.iter().map(|b| b ^ self.0).collect::<Vec<u8>>();
        Ok(Encoded {
            payload: payload.into(),
            rsv,
        })
    }
    fn decode(&mut self, _: &FrameMeta, payload: Bytes, _: usize) -> Result<Bytes, ExtensionError> {
        Ok(payload
            .iter()
            .map(|b| b ^ self.0)
            .collect::<Vec<u8>>()
            .into())
    }
}

/// Negotiates `name; key=N` with an RSV1 `Xor(N)`.
struct XorNegotiator(&'static str);

impl Negotiator for XorNegotiator {
    fn name(&self) -> &str {
        self.0
    }
    fn offers(&self, _: Dialect) -> Vec<ExtensionOffer> {
        vec![ExtensionOffer::new(self.0).with_param("key", Some("90"))]
    }
    fn accept(
        &self,
        _: Dialect,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        let offer = offers.iter().find(|o| o.name == self.0)?;
        let key: u8 = offer.param("key")??.parse().ok()?;
        let resp = ExtensionOffer::new(self.0).with_param("key", Some(&key.to_string()));
        Some((resp, Box::new(Xor(key))))
    }
    fn confirm(
        &self,
        _: Dialect,
        response: &ExtensionOffer,
    ) -> Result<Option<Box<dyn Extension>>, ExtensionError> {
        if response.name != self.0 {
            return Ok(None);
        }
        let key = response.param("key").flatten().and_then(|k| k.parse().ok());
        let key = key.ok_or_else(|| ExtensionError::Negotiation("bad key".into()))?;
        Ok(Some(Box::new(Xor(key))))
    }
}

/// Two RSV1 negotiators: the second loses to the first (RFC 7692 §5).
fn session_config() -> Arc<SessionConfig> {
    Arc::new(
        SessionConfig::new(Config::default())
            .with_negotiator(XorNegotiator("x-xor"))
            .with_negotiator(XorNegotiator("x-xor-too")),
    )
}

fn client(dialect: Dialect) -> Session {
    let request = ClientRequest::new("ws://example.com/chat?room=1")
        .unwrap()
        .dialect(dialect)
        .protocol("v1.chat")
        .protocol("v2.chat")
        .origin("http://example.com");
    Session::client(request, session_config(), Box::new(SplitMix::new(3)), NOW).unwrap()
}

fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.poll_transmit(&mut out);
    out
}

/// The host server's part: parse the request head.
fn parse_request(bytes: &[u8]) -> HttpRequest {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut slots);
    let n = match req.parse(bytes).unwrap() {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("partial request"),
    };
    assert_eq!(n, bytes.len());
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

/// The host server's part: write the `101` head.
fn encode_101(r: &Response) -> Vec<u8> {
    assert_eq!(r.status(), 101);
    let mut out = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    for (n, v) in r.headers() {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(ev) = s.poll_event().unwrap() {
        match ev {
            SessionEvent::Ws(e) => v.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    v
}

fn hosted(dialect: Dialect) -> (Session, Session, Response) {
    let mut c = client(dialect);
    let request = parse_request(&transmit(&mut c));
    let http = ServerConfig::default().with_protocols(["v2.chat", "v1.chat"]);
    let upgrade = HostedUpgrade::new(request, &http).unwrap();
    assert_eq!(upgrade.request().dialect, dialect);
    let accept = Accept::for_request(upgrade.request());
    let (s, response) = Session::server_hosted(
        session_config(),
        upgrade,
        accept,
        &mut SplitMix::new(5),
        NOW,
    )
    .unwrap();
    (c, s, response)
}

#[test]
fn hosted_session_talks_to_a_client_session() {
    for dialect in Dialect::ALL.into_iter().filter(|d| d.is_hybi()) {
        let (mut c, mut s, response) = hosted(dialect);

        // Open at once, the 101 not queued, handshake() set as after accept.
        assert!(s.connection_mut().is_some());
        assert_eq!(s.pending_transmit(), 0);
        let Some(SessionEvent::Open(opened)) = s.poll_event().unwrap() else {
            panic!("no Open first")
        };
        assert!(opened.key.is_some());
        assert_eq!(opened.nonce.is_some(), dialect.server_sends_nonce());
        let hs = s.handshake().unwrap().clone();
        assert_eq!((hs.key.as_deref(), hs.nonce.as_deref()), (None, None));
        assert_eq!(hs.dialect, dialect);
        assert_eq!(hs.protocol.as_deref(), Some("v2.chat"));
        assert_eq!(hs.target.as_deref(), Some("/chat?room=1"));
        assert_eq!(hs.origin.as_deref(), Some("http://example.com"));
        let xor = ExtensionOffer::new("x-xor").with_param("key", Some("90"));
        assert_eq!(hs.extensions, std::slice::from_ref(&xor), "{dialect:?}");
        assert!(transmit(&mut s).is_empty());
        assert_eq!(s.poll_event().unwrap(), None);

        // The host writes the 101; the client checks it.
        c.receive(NOW, &encode_101(&response)).unwrap();
        let Some(SessionEvent::Open(client_hs)) = c.poll_event().unwrap() else {
            panic!("client not open ({dialect:?})")
        };
        assert_eq!(client_hs.protocol.as_deref(), Some("v2.chat"));
        assert_eq!(client_hs.extensions, [xor]);
        assert_eq!(c.handshake().unwrap().extensions, hs.extensions);

        // Messages both ways, through the extension (RSV1 on the wire).
        let conn = c.connection_mut().unwrap();
        conn.send_text("hello from the client").unwrap();
        conn.send_binary(vec![0u8, 1, 2, 255]).unwrap();
        let wire = transmit(&mut c);
        if dialect.has_rfc6455_framing() {
            assert_eq!(wire[0] & 0x40, 0x40, "RSV1 ({dialect:?})");
        }
        s.receive(NOW, &wire).unwrap();
        assert_eq!(
            events(&mut s),
            [
                Event::Text("hello from the client".into()),
                Event::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            ]
        );
        let conn = s.connection_mut().unwrap();
        conn.send_binary(vec![7u8; 300]).unwrap();
        conn.send_text("hello from the host").unwrap();
        c.receive(NOW, &transmit(&mut s)).unwrap();
        assert_eq!(
            events(&mut c),
            [
                Event::Binary(Bytes::from(vec![7u8; 300])),
                Event::Text("hello from the host".into()),
            ]
        );

        // The close handshake, started by the server.
        let conn = s.connection_mut().unwrap();
        conn.close(NOW, CloseCode::NORMAL, "bye").unwrap();
        c.receive(NOW, &transmit(&mut s)).unwrap();
        let got = events(&mut c);
        assert!(
            matches!(got.as_slice(), [Event::Close { .. }]),
            "{dialect:?}: {got:?}"
        );
        s.receive(NOW, &transmit(&mut c)).unwrap();
        assert!(matches!(events(&mut s).as_slice(), [Event::Close { .. }]));
        // The server closes the transport first (RFC 6455 §7.1.1).
        assert!(s.wants_close(), "{dialect:?}");
        c.receive_eof(NOW);
        assert!(c.wants_close(), "{dialect:?}");
    }
}

/// The close codes of RFC 6455 §7.4 on the framing that carries them.
#[test]
fn hosted_close_codes() {
    let (mut c, mut s, response) = hosted(Dialect::Rfc6455);
    c.receive(NOW, &encode_101(&response)).unwrap();
    assert!(matches!(
        c.poll_event().unwrap(),
        Some(SessionEvent::Open(_))
    ));
    assert!(matches!(
        s.poll_event().unwrap(),
        Some(SessionEvent::Open(_))
    ));
    let conn = c.connection_mut().unwrap();
    conn.close(NOW, CloseCode::GOING_AWAY, "leaving").unwrap();
    s.receive(NOW, &transmit(&mut c)).unwrap();
    assert_eq!(
        events(&mut s),
        [Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: "leaving".into()
        }]
    );
    c.receive(NOW, &transmit(&mut s)).unwrap();
    assert!(matches!(
        events(&mut c).as_slice(),
        [Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            ..
        }]
    ));
    assert!(s.wants_close());
    c.receive_eof(NOW);
    assert!(c.wants_close());
}

/// For the same request, `server_hosted` and `Session::server` + `accept`
/// negotiate the same extensions, settle the same handshake, and answer
/// with the same `101`.
#[test]
fn same_as_accept() {
    for dialect in Dialect::ALL.into_iter().filter(|d| d.is_hybi()) {
        let mut c = client(dialect);
        let bytes = transmit(&mut c);
        let http = Arc::new(ServerConfig::default().with_protocols(["v1.chat"]));
        let mut machine = Session::server(http.clone(), session_config(), NOW);
        machine.receive(NOW, &bytes).unwrap();
        let Some(SessionEvent::Upgrade(req)) = machine.poll_event().unwrap() else {
            panic!("no upgrade")
        };
        let accept = Accept::for_request(&req).header("Set-Cookie", "id=1");
        machine
            .accept(NOW, accept.clone(), &mut SplitMix::new(9))
            .unwrap();
        let Some(SessionEvent::Open(from_machine)) = machine.poll_event().unwrap() else {
            panic!("no Open")
        };
        let written = transmit(&mut machine);

        let upgrade = HostedUpgrade::new(parse_request(&bytes), &http).unwrap();
        assert_eq!(upgrade.request(), &*req);
        let (mut s, response) = Session::server_hosted(
            session_config(),
            upgrade,
            accept,
            &mut SplitMix::new(9),
            NOW,
        )
        .unwrap();
        let Some(SessionEvent::Open(from_hosted)) = s.poll_event().unwrap() else {
            panic!("no Open")
        };
        assert_eq!(from_hosted, from_machine, "{dialect:?}");
        assert_eq!(s.handshake(), machine.handshake());
        assert_eq!(encode_101(&response), written, "{dialect:?}");
    }
}

#[test]
fn misuse_is_reported() {
    let mut c = client(Dialect::Rfc6455);
    let request = parse_request(&transmit(&mut c));
    let upgrade = HostedUpgrade::new(request, &ServerConfig::default()).unwrap();
    let accept = Accept::default().protocol("not-offered");
    let e = Session::server_hosted(
        session_config(),
        upgrade,
        accept,
        &mut SplitMix::new(1),
        NOW,
    )
    .unwrap_err();
    assert!(e.is_misuse(), "{e:?}");
    assert!(matches!(
        e,
        SessionError::Connection(Error::Usage(UsageError::Handshake(_)))
    ));
}

/// WebSocket over an HTTP/2 or HTTP/3 stream (RFC 8441 §5, RFC 9220 §3):
/// the client session's extended CONNECT fields go to a server session
/// made by `server_connect`, its `200` back to `client_connect`; the two
/// negotiate the extension, talk through it (the client masking, the
/// server not), close, and the stream's end stands for the TCP close.
#[test]
fn extended_connect_sessions_talk_over_a_stream() {
    let request = ClientRequest::new("wss://example.com/chat?room=1")
        .unwrap()
        .protocol("v1.chat")
        .protocol("v2.chat")
        .origin("http://example.com");
    let config = session_config();
    let client = Session::connect_request(request, &config).unwrap();
    let fields = client.fields();
    assert_eq!(fields.get_str(":method"), Some("CONNECT"));
    assert_eq!(fields.get_str(":protocol"), Some("websocket"));
    assert_eq!(fields.get_str(":scheme"), Some("https"));
    assert_eq!(fields.get_str(":path"), Some("/chat?room=1"));
    assert_eq!(fields.get_str("sec-websocket-key"), None);
    assert_eq!(
        fields.get_str("sec-websocket-extensions"),
        Some("x-xor; key=90, x-xor-too; key=90")
    );

    let http = ServerConfig::default().with_protocols(["v2.chat", "v1.chat"]);
    let upgrade = http_upgrade::ConnectUpgrade::new(fields, &http).unwrap();
    let accept = Accept::for_request(upgrade.request());
    let (mut s, response) =
        Session::server_connect(config.clone(), upgrade, accept, None, NOW).unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase()),
        "{:?}",
        response.headers()
    );
    let Some(SessionEvent::Open(opened)) = s.poll_event().unwrap() else {
        panic!("no Open first")
    };
    assert_eq!(opened.key, None);
    assert_eq!(opened.protocol.as_deref(), Some("v2.chat"));
    assert_eq!(opened.target.as_deref(), Some("/chat?room=1"));
    assert!(transmit(&mut s).is_empty(), "the 200 is the host's to send");

    let mut answer = Headers::new();
    for (n, v) in response.headers() {
        answer.push(n.as_str(), v.as_str());
    }
    let mut c = Session::client_connect(
        client,
        response.status(),
        &answer,
        config,
        Box::new(SplitMix::new(3)),
        NOW,
    )
    .unwrap();
    let Some(SessionEvent::Open(client_hs)) = c.poll_event().unwrap() else {
        panic!("client not open")
    };
    assert_eq!(client_hs.protocol.as_deref(), Some("v2.chat"));
    assert_eq!(client_hs.extensions, opened.extensions);
    assert_eq!(client_hs.extensions.len(), 1, "one RSV1 extension wins");

    // Client to server: masked (RFC 6455 §5.3), RSV1 from the extension.
    c.connection_mut().unwrap().send_text("over h2").unwrap();
    let wire = transmit(&mut c);
    assert_eq!(wire[0] & 0x40, 0x40);
    assert_eq!(wire[1] & 0x80, 0x80, "the client masks over HTTP/2 too");
    s.receive(NOW, &wire).unwrap();
    assert_eq!(events(&mut s), [Event::Text("over h2".into())]);
    s.connection_mut()
        .unwrap()
        .send_binary(vec![9u8; 70_000])
        .unwrap();
    let wire = transmit(&mut s);
    assert_eq!(wire[1] & 0x80, 0, "the server does not");
    c.receive(NOW, &wire).unwrap();
    assert_eq!(
        events(&mut c),
        [Event::Binary(Bytes::from(vec![9u8; 70_000]))]
    );

    // Closing: the server's END_STREAM after the close handshake is the
    // client's end of input.
    c.connection_mut()
        .unwrap()
        .close(NOW, CloseCode::NORMAL, "done")
        .unwrap();
    s.receive(NOW, &transmit(&mut c)).unwrap();
    assert!(matches!(events(&mut s).as_slice(), [Event::Close { .. }]));
    c.receive(NOW, &transmit(&mut s)).unwrap();
    assert!(matches!(events(&mut c).as_slice(), [Event::Close { .. }]));
    assert!(s.wants_close());
    c.receive_eof(NOW);
    assert!(c.wants_close());
}

/// The client session refuses what the server may not answer over HTTP/2:
/// a `101`, a refusal, an extension or subprotocol it did not offer.
#[test]
fn extended_connect_client_refusals() {
    let config = session_config();
    let mk = || {
        let request = ClientRequest::new("ws://example.com/")
            .unwrap()
            .protocol("chat");
        Session::connect_request(request, &config).unwrap()
    };
    let h = |pairs: &[(&str, &str)]| {
        let mut h = Headers::new();
        for (n, v) in pairs {
            h.push(*n, *v);
        }
        h
    };
    let cases: [(u16, Headers, &str); 5] = [
        (101, h(&[]), "101"),
        (404, h(&[]), "404"),
        (200, h(&[("sec-websocket-protocol", "other")]), "other"),
        (
            200,
            h(&[("sec-websocket-extensions", "x-unknown")]),
            "x-unknown",
        ),
        (200, h(&[("connection", "upgrade")]), "connection"),
    ];
    for (status, fields, what) in cases {
        let err = Session::client_connect(
            mk(),
            status,
            &fields,
            config.clone(),
            Box::new(SplitMix::new(1)),
            NOW,
        )
        .err()
        .unwrap_or_else(|| panic!("{status} {fields:?} accepted"));
        assert!(err.to_string().contains(what), "{status}: {err}");
    }
    // A 2xx without any field: no subprotocol, no extension, open.
    let s = Session::client_connect(mk(), 200, &h(&[]), config, Box::new(SplitMix::new(1)), NOW);
    assert!(s.unwrap().connection().is_some());
}

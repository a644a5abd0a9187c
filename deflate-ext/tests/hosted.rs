//! permessage-deflate behind a host HTTP server: a client `Session` with
//! deflate-ext's negotiators sends its request, the "host" parses it
//! (httparse standing in for hyper), `Session::server_hosted` negotiates
//! and returns the `101`, the host writes it, and compressed messages go
//! both ways before the close handshake.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use deflate_ext::default_negotiators;
use http_upgrade::testing::SplitMix;
use http_upgrade::{Accept, ClientRequest, Headers, HostedUpgrade, HttpRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{Bytes, CloseCode, Config, Event, Instant};

const NOW: Instant = Instant::ZERO;

fn config() -> Arc<SessionConfig> {
    let mut c = SessionConfig::new(Config::default());
    c.negotiators = default_negotiators();
    Arc::new(c)
}

fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.poll_transmit(&mut out);
    out
}

fn parse_request(bytes: &[u8]) -> HttpRequest {
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut slots);
    assert!(req.parse(bytes).unwrap().is_complete());
    let mut headers = Headers::new();
    for h in req.headers.iter() {
        headers.push(h.name, h.value);
    }
    let (method, target) = (req.method.unwrap(), req.path.unwrap());
    HttpRequest::new(method, target, req.version.unwrap(), headers)
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

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"ok\":true,\"tags\":[\"a\",\"b\"]}},"
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

#[test]
fn permessage_deflate_through_a_hosted_upgrade() {
    let request = ClientRequest::new("ws://localhost/feed")
        .unwrap()
        .protocol("feed.v1");
    let mut client = Session::client(request, config(), Box::new(SplitMix::new(11)), NOW).unwrap();

    // The host server's side.
    let head = parse_request(&transmit(&mut client));
    let http = ServerConfig::default().with_protocols(["feed.v1"]);
    let upgrade = HostedUpgrade::new(head, &http).unwrap();
    let offered: Vec<&str> = upgrade
        .request()
        .extensions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(offered.contains(&"permessage-deflate"), "{offered:?}");
    let accept = Accept::for_request(upgrade.request());
    let (mut server, response) =
        Session::server_hosted(config(), upgrade, accept, &mut SplitMix::new(13), NOW).unwrap();
    assert!(transmit(&mut server).is_empty(), "the host sends the 101");
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    for (n, v) in response.headers() {
        head.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");

    let Some(SessionEvent::Open(server_hs)) = server.poll_event().unwrap() else {
        panic!("server not open")
    };
    client.receive(NOW, &head).unwrap();
    let Some(SessionEvent::Open(client_hs)) = client.poll_event().unwrap() else {
        panic!("client not open")
    };
    assert_eq!(server_hs.protocol.as_deref(), Some("feed.v1"));
    assert_eq!(client_hs.protocol.as_deref(), Some("feed.v1"));
    assert_eq!(client_hs.extensions, server_hs.extensions);
    assert_eq!(client_hs.extensions[0].name, "permessage-deflate");
    assert_eq!(server.handshake().unwrap().extensions, server_hs.extensions);
    assert_eq!(client.handshake().unwrap().extensions, client_hs.extensions);

    // Compressed both ways: RSV1 set, far fewer bytes than the text.
    let text = json(20_000);
    let binary = json(5_000).into_bytes();
    let c = client.connection_mut().unwrap();
    c.send_text(text.clone()).unwrap();
    c.send_binary(binary.clone()).unwrap();
    let wire = transmit(&mut client);
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1");
    assert!(
        wire.len() < (text.len() + binary.len()) / 4,
        "{}",
        wire.len()
    );
    server.receive(NOW, &wire).unwrap();
    assert_eq!(
        events(&mut server),
        [
            Event::Text(text.clone().into()),
            Event::Binary(Bytes::from(binary.clone())),
        ]
    );
    let s = server.connection_mut().unwrap();
    s.send_binary(binary.clone()).unwrap();
    s.send_text(text.clone()).unwrap();
    let wire = transmit(&mut server);
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1");
    client.receive(NOW, &wire).unwrap();
    assert_eq!(
        events(&mut client),
        [Event::Binary(Bytes::from(binary)), Event::Text(text.into())]
    );

    // The close handshake, started by the client.
    let c = client.connection_mut().unwrap();
    c.close(NOW, CloseCode::NORMAL, "done").unwrap();
    server.receive(NOW, &transmit(&mut client)).unwrap();
    assert_eq!(
        events(&mut server),
        [Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "done".into()
        }]
    );
    client.receive(NOW, &transmit(&mut server)).unwrap();
    assert!(matches!(
        events(&mut client).as_slice(),
        [Event::Close {
            code: Some(CloseCode::NORMAL),
            ..
        }]
    ));
    assert!(server.wants_close());
    client.receive_eof(NOW);
    assert!(client.wants_close());
}

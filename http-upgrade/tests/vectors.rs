//! Byte-exact handshakes per dialect, and client <-> server round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http_upgrade::*;

const ORIGIN_13: &str = "Origin";
const ORIGIN_OLD: &str = "Sec-WebSocket-Origin";

fn origin_header(d: Dialect) -> &'static str {
    if d.uses_sec_websocket_origin() {
        ORIGIN_OLD
    } else {
        ORIGIN_13
    }
}

#[test]
fn rfc6455_key_and_accept_example() {
    // RFC 6455 §1.3 / §4.2.2.
    assert_eq!(
        keys::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn hixie76_draft_example_answer() {
    // draft-00 §1.3 (lines 225-250): the server's answer, byte for byte.
    let mut s = server(ServerConfig::default().with_protocols(["sample"]));
    let req = upgrade(&mut s, HIXIE76_REQUEST);
    assert_eq!(req.dialect, Dialect::Hixie76);
    assert_eq!(req.origin.as_deref(), Some("http://example.com"));
    let hs = s
        .accept(Accept::for_request(&req), &mut SplitMix::new(1))
        .unwrap();
    assert_eq!(hs.dialect, Dialect::Hixie76);
    assert_eq!(hs.protocol.as_deref(), Some("sample"));
    let expected: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Location: ws://example.com/demo\r\n\
Sec-WebSocket-Protocol: sample\r\n\
\r\n\
8jKS'y:G*Co,Wxa-";
    assert_eq!(
        String::from_utf8_lossy(&drain_server(&mut s)),
        String::from_utf8_lossy(expected)
    );
    assert!(s.take_leftover().is_empty(), "key3 is not leftover");
}

#[test]
fn hixie76_location_is_wss_when_secure() {
    let mut s = server(ServerConfig::default().with_secure(true));
    let req = upgrade(&mut s, HIXIE76_REQUEST);
    s.accept(Accept::default(), &mut SplitMix::new(1)).unwrap();
    let _ = req;
    let out = String::from_utf8_lossy(&drain_server(&mut s)).into_owned();
    assert!(
        out.contains("Sec-WebSocket-Location: wss://example.com/demo\r\n"),
        "{out}"
    );
    assert!(
        !out.contains("Sec-WebSocket-Protocol"),
        "no protocol chosen"
    );
}

/// Server answers per hybi dialect (RFC 6455 §4.2.2; -04/-05 §5.2.2 with
/// the nonce; -06 and later without).
#[test]
fn hybi_server_responses() {
    for d in Dialect::ALL.into_iter().filter(|d| d.is_hybi()) {
        let version = d.version().unwrap().to_string();
        let request = rfc6455_with(&[
            ("Sec-WebSocket-Version", Some(&version)),
            ("Origin", None),
            (origin_header(d), Some("http://example.com")),
            (
                "Sec-WebSocket-Extensions",
                Some("permessage-deflate; client_max_window_bits"),
            ),
        ]);
        let mut s = server(ServerConfig::default().with_protocols(["chat"]));
        let req = upgrade(&mut s, &request);
        assert_eq!(req.dialect, d);
        assert_eq!(req.origin.as_deref(), Some("http://example.com"));
        assert_eq!(req.protocols, ["chat", "superchat"]);
        let accept = Accept::for_request(&req)
            .extension(ExtensionOffer::new("permessage-deflate"))
            .header("Set-Cookie", "a=b");
        let hs = s.accept(accept, &mut CountingRng(0)).unwrap();
        let nonce = if d.server_sends_nonce() {
            "Sec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
        } else {
            ""
        };
        let expected = format!(
            "HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
{nonce}\
Sec-WebSocket-Protocol: chat\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Set-Cookie: a=b\r\n\r\n"
        );
        assert_eq!(
            String::from_utf8(drain_server(&mut s)).unwrap(),
            expected,
            "{d:?}"
        );
        assert_eq!(hs.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(hs.hybi04_masking_key().is_some(), d == Dialect::Hybi04);
    }
}

/// Client requests per hybi dialect (RFC 6455 §4.1; -04..-08 §5.1 with
/// `Sec-WebSocket-Origin`).
#[test]
fn hybi_client_requests() {
    for d in Dialect::ALL.into_iter().filter(|d| d.is_hybi()) {
        let request = ClientRequest::new("ws://server.example.com/chat")
            .unwrap()
            .dialect(d)
            .origin("http://example.com")
            .protocol("chat")
            .protocol("superchat")
            .extension(
                ExtensionOffer::new("permessage-deflate")
                    .with_param("client_max_window_bits", None),
            )
            .header("Cookie", "x=1");
        let mut c = ClientHandshake::new(request, &mut CountingRng(0), Instant::ZERO).unwrap();
        assert_eq!(c.key(), "AQIDBAUGBwgJCgsMDQ4PEA==");
        let expected = format!(
            "GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
{}: http://example.com\r\n\
Sec-WebSocket-Version: {}\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Cookie: x=1\r\n\r\n",
            origin_header(d),
            d.version().unwrap()
        );
        assert_eq!(
            String::from_utf8(drain_client(&mut c)).unwrap(),
            expected,
            "{d:?}"
        );
        // The answer for that key: base64(SHA-1(key ‖ GUID)).
        let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: C/0nmHhBztSRGR1CwL6Tf4ZjwpY=\r\n\
Sec-WebSocket-Nonce: ERITFBUWFxgZGhscHR4fIA==\r\n\r\n";
        let hs = match step_client(&mut c, answer.as_bytes()) {
            Ok(Some(ClientEvent::Connected(hs))) => hs,
            other => panic!("{d:?}: {other:?}"),
        };
        assert_eq!(hs.dialect, d);
        assert_eq!(hs.protocol, None);
        assert_eq!(hs.nonce.is_some(), d.server_sends_nonce());
    }
}

#[test]
fn hixie76_client_request() {
    let request = ClientRequest::new("ws://example.com:8080/demo?x")
        .unwrap()
        .dialect(Dialect::Hixie76)
        .origin("http://example.com")
        .protocol("sample")
        .extension(ExtensionOffer::new("ignored-for-hixie"));
    let mut c = ClientHandshake::new(request, &mut SplitMix::new(3), Instant::ZERO).unwrap();
    let bytes = drain_client(&mut c);
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(bytes.len(), end + 8, "key3 follows the head");
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let lines: Vec<&str> = head.trim_end().split("\r\n").collect();
    assert_eq!(
        lines[..5],
        [
            "GET /demo?x HTTP/1.1",
            "Host: example.com:8080",
            "Upgrade: WebSocket",
            "Connection: Upgrade",
            "Origin: http://example.com",
        ]
    );
    assert!(lines[5].starts_with("Sec-WebSocket-Key1: "));
    assert!(lines[6].starts_with("Sec-WebSocket-Key2: "));
    assert_eq!(lines[7], "Sec-WebSocket-Protocol: sample");
    assert_eq!(lines.len(), 8, "no version, no extensions: {head}");
    for l in &lines[5..7] {
        let value = &l.as_bytes()[20..];
        assert!(keys::hixie76_key_part(value).is_ok(), "{l}");
    }
}

/// Client -> server -> client in every dialect, with subprotocols,
/// extension offers and data pipelined behind both handshakes.
#[test]
fn round_trip_every_dialect() {
    for (i, d) in Dialect::ALL.into_iter().enumerate() {
        let request = ClientRequest::new("ws://[::1]:9001/echo?x=1")
            .unwrap()
            .dialect(d)
            .origin("http://localhost")
            .protocol("chat")
            .protocol("superchat")
            .extension(
                ExtensionOffer::new("permessage-deflate")
                    .with_param("client_max_window_bits", None),
            )
            .extension(ExtensionOffer::new("x-webkit-deflate-frame"));
        let mut rng = SplitMix::new(i as u64);
        let mut client = ClientHandshake::new(request, &mut rng, Instant::ZERO).unwrap();
        let config = ServerConfig::default().with_protocols(["superchat", "chat"]);
        let mut srv = server(config);

        let mut wire = drain_client(&mut client);
        wire.extend_from_slice(b"\x00frame\xff");
        let req = upgrade(&mut srv, &wire);
        assert_eq!(req.dialect, d);
        assert_eq!(req.target, "/echo?x=1");
        assert_eq!(req.host, "[::1]:9001");
        assert_eq!(req.selected_protocol.as_deref(), Some("superchat"));
        assert_eq!(req.extensions.len(), if d.is_hybi() { 2 } else { 0 });
        let mut accept = Accept::for_request(&req);
        if d.is_hybi() {
            accept = accept.extension(ExtensionOffer::new("x-webkit-deflate-frame"));
        }
        let server_hs = srv.accept(accept, &mut rng).unwrap();
        assert_eq!(&srv.take_leftover()[..], b"\x00frame\xff", "{d:?}");

        let mut answer = drain_server(&mut srv);
        answer.extend_from_slice(b"\x81\x02hi");
        let client_hs = match step_client(&mut client, &answer) {
            Ok(Some(ClientEvent::Connected(hs))) => hs,
            other => panic!("{d:?}: {other:?}"),
        };
        assert_eq!(&client.take_leftover()[..], b"\x81\x02hi");
        assert_eq!(client_hs.role, Role::Client);
        assert_eq!(server_hs.role, Role::Server);
        assert_eq!(client_hs.dialect, d);
        assert_eq!(client_hs.protocol.as_deref(), Some("superchat"));
        assert_eq!(client_hs.extensions, server_hs.extensions);
        assert_eq!(client_hs.key, server_hs.key);
        assert_eq!(client_hs.nonce, server_hs.nonce);
        assert_eq!(
            client_hs.hybi04_masking_key(),
            server_hs.hybi04_masking_key()
        );
        assert_eq!(
            client_hs.hybi04_masking_key().is_some(),
            d == Dialect::Hybi04
        );
        assert_eq!(client.handshake(), Some(&client_hs));
        assert_eq!(srv.handshake(), Some(&server_hs));
        assert!(srv.is_upgraded());
        assert!(
            step_client(&mut client, b"x").is_err(),
            "bytes after Connected go to the connection"
        );
    }
}

#[test]
fn client_preference_policy() {
    let mut config = ServerConfig::default().with_protocols(["b", "a"]);
    config.protocol_policy = ProtocolPolicy::ClientPreference;
    let mut s = server(config);
    let req = upgrade(
        &mut s,
        &rfc6455_with(&[("Sec-WebSocket-Protocol", Some("a, b"))]),
    );
    assert_eq!(req.selected_protocol.as_deref(), Some("a"));
    let mut s = server(ServerConfig::default().with_protocols(["b", "a"]));
    let req = upgrade(
        &mut s,
        &rfc6455_with(&[("Sec-WebSocket-Protocol", Some("a, b"))]),
    );
    assert_eq!(req.selected_protocol.as_deref(), Some("b"));
    let mut s = server(ServerConfig::default().with_protocols(["c"]));
    let req = upgrade(
        &mut s,
        &rfc6455_with(&[("Sec-WebSocket-Protocol", Some("a"))]),
    );
    assert_eq!(req.selected_protocol, None);
}

/// draft-00 §4.1 step 13: a hixie-76 request always carries `Origin`;
/// without one set, the client sends the URL's own origin.
#[test]
fn hixie76_client_sends_a_default_origin() {
    for (url, origin) in [
        (
            "ws://example.com:8080/demo",
            "Origin: http://example.com:8080",
        ),
        ("wss://example.com/demo", "Origin: https://example.com"),
    ] {
        let request = ClientRequest::new(url).unwrap().dialect(Dialect::Hixie76);
        let mut c = ClientHandshake::new(request, &mut SplitMix::new(3), Instant::ZERO).unwrap();
        let bytes = drain_client(&mut c);
        let head = String::from_utf8_lossy(&bytes);
        assert!(head.lines().any(|l| l.trim_end() == origin), "{head}");
    }
}

//! The client's validation of the server's answer (RFC 6455 §4.1; draft-00
//! §4.1 steps 28-44), redirects, rejections and misuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http_upgrade::*;

fn client(d: Dialect) -> ClientHandshake {
    let request = ClientRequest::new("ws://example.com/chat")
        .unwrap()
        .dialect(d)
        .origin("http://example.com")
        .protocol("chat")
        .extension(ExtensionOffer::new("permessage-deflate"));
    ClientHandshake::new(request, &mut SplitMix::new(9), Instant::ZERO).unwrap()
}

/// Our server's answer to `c`'s request, as text.
fn answer(c: &mut ClientHandshake, accept: impl FnOnce(&UpgradeRequest) -> Accept) -> Vec<u8> {
    let mut s = server(ServerConfig::default());
    let up = upgrade(&mut s, &drain_client(c));
    s.accept(accept(&up), &mut SplitMix::new(10)).unwrap();
    drain_server(&mut s)
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

fn fails(d: Dialect, edit: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Error {
    let mut c = client(d);
    let accept = |_: &UpgradeRequest| match d {
        Dialect::Hixie76 => Accept::default().protocol("chat"),
        _ => Accept::default(),
    };
    let res = edit(answer(&mut c, accept));
    let e = step_client(&mut c, &res).expect_err("must fail");
    assert_eq!(step_client(&mut c, b""), Err(e.clone()), "permanent");
    assert_eq!(c.poll_event(), Err(e.clone()), "permanent");
    assert!(c.wants_close());
    assert_eq!(c.pending_transmit(), 0);
    e
}

#[test]
fn wrong_accept() {
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "Sec-WebSocket-Accept: ", "Sec-WebSocket-Accept: x")
    });
    assert_eq!(e, Error::Peer(HttpPeerError::AcceptMismatch));
    assert_eq!(e.status(), 502);
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "Sec-WebSocket-Accept", "X-Accept")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::MissingHeader("Sec-WebSocket-Accept"))
    );
}

#[test]
fn missing_upgrade_or_connection() {
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "Upgrade: websocket", "X-Upgrade: websocket")
    });
    assert_eq!(e, Error::Peer(HttpPeerError::MissingHeader("Upgrade")));
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "Connection: Upgrade", "Connection: close")
    });
    assert_eq!(e, Error::Peer(HttpPeerError::BadHeaderValue("Connection")));
}

#[test]
fn unoffered_protocol_and_extension() {
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: other\r\n\r\n")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::UnofferedProtocol("other".into()))
    );
    let e = fails(Dialect::Rfc6455, |r| {
        replace(
            &r,
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: deflate-stream\r\n\r\n",
        )
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::UnofferedExtension("deflate-stream".into()))
    );
    let e = fails(Dialect::Rfc6455, |r| {
        replace(&r, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: a;;\r\n\r\n")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::BadExtensions(GrammarError::InvalidToken))
    );
}

#[test]
fn accepted_extension_parameters_reach_the_handshake() {
    let mut c = client(Dialect::Rfc6455);
    let res = answer(&mut c, |_| {
        Accept::default().extension(
            ExtensionOffer::new("permessage-deflate")
                .with_param("server_no_context_takeover", None),
        )
    });
    let Ok(Some(ClientEvent::Connected(hs))) = step_client(&mut c, &res) else {
        panic!()
    };
    assert_eq!(
        hs.extensions[0].param("server_no_context_takeover"),
        Some(None)
    );
}

#[test]
fn hybi04_needs_the_nonce_hybi05_does_not() {
    let e = fails(Dialect::Hybi04, |r| {
        replace(&r, "Sec-WebSocket-Nonce", "X-Nonce")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::MissingHeader("Sec-WebSocket-Nonce"))
    );
    let mut c = client(Dialect::Hybi05);
    let res = replace(
        &answer(&mut c, |_| Accept::default()),
        "Sec-WebSocket-Nonce",
        "X-Nonce",
    );
    assert!(matches!(
        step_client(&mut c, &res),
        Ok(Some(ClientEvent::Connected(_)))
    ));
}

#[test]
fn hixie76_checks() {
    let e = fails(Dialect::Hixie76, |mut r| {
        let n = r.len();
        r[n - 1] ^= 1;
        r
    });
    assert_eq!(e, Error::Peer(HttpPeerError::HixieAnswerMismatch));
    let e = fails(Dialect::Hixie76, |r| {
        replace(&r, "ws://example.com/chat", "ws://evil.com/chat")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::BadHeaderValue("Sec-WebSocket-Location"))
    );
    let e = fails(Dialect::Hixie76, |r| {
        replace(&r, "Origin: http://example.com", "Origin: http://evil.com")
    });
    assert_eq!(
        e,
        Error::Peer(HttpPeerError::BadHeaderValue("Sec-WebSocket-Origin"))
    );
    // The protocol was offered, so hixie-76 requires it back (step 41).
    let mut c = client(Dialect::Hixie76);
    let res = answer(&mut c, |_| Accept::default());
    assert_eq!(
        step_client(&mut c, &res),
        Err(Error::Peer(HttpPeerError::MissingHeader(
            "Sec-WebSocket-Protocol"
        )))
    );
    let mut c = client(Dialect::Hixie76);
    let res = answer(&mut c, |_| Accept::default().protocol("chat"));
    assert!(matches!(
        step_client(&mut c, &res),
        Ok(Some(ClientEvent::Connected(_)))
    ));
}

#[test]
fn redirect() {
    let mut c = client(Dialect::Rfc6455);
    let r = step_client(
        &mut c,
        b"HTTP/1.1 302 Found\r\nLocation: ws://other/x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        r,
        Ok(Some(ClientEvent::Redirect {
            status: 302,
            location: "ws://other/x".into()
        }))
    );
    assert!(c.wants_close());
    assert_eq!(
        c.poll_event(),
        Err(Error::Peer(HttpPeerError::Rejected(302)))
    );
    assert_eq!(
        step_client(&mut c, b""),
        Err(Error::Peer(HttpPeerError::Rejected(302)))
    );
}

#[test]
fn rejection_with_bounded_body() {
    let mut c = client(Dialect::Rfc6455);
    let head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nnot ";
    assert_eq!(step_client(&mut c, head), Ok(None));
    let Ok(Some(ClientEvent::Rejected(res))) = step_client(&mut c, b"you!!extra") else {
        panic!()
    };
    assert_eq!((res.status, res.reason.as_str()), (403, "Forbidden"));
    assert_eq!(&res.body[..], b"not you!!e");
    assert_eq!(
        step_client(&mut c, b""),
        Err(Error::Peer(HttpPeerError::Rejected(403)))
    );

    let limits = Limits::default().with_max_body(4);
    let request = ClientRequest::new("ws://h/").unwrap().limits(limits);
    let mut c = ClientHandshake::new(request, &mut SplitMix::new(1), Instant::ZERO).unwrap();
    let Ok(Some(ClientEvent::Rejected(res))) = step_client(
        &mut c,
        b"HTTP/1.1 500 Oops\r\nContent-Length: 1000\r\n\r\nabcdefgh",
    ) else {
        panic!()
    };
    assert_eq!(&res.body[..], b"abcd", "what arrived, up to the limit");
    let mut c = client(Dialect::Rfc6455);
    let Ok(Some(ClientEvent::Rejected(res))) = step_client(&mut c, b"HTTP/1.1 400 Bad\r\n\r\nwhy")
    else {
        panic!()
    };
    assert_eq!(&res.body[..], b"why", "no Content-Length: what arrived");
}

#[test]
fn malformed_response() {
    let mut c = client(Dialect::Rfc6455);
    let e = step_client(&mut c, b"HTTP/1.1 abc\r\n\r\n").unwrap_err();
    assert!(
        matches!(e, Error::Peer(HttpPeerError::Malformed(_))),
        "{e:?}"
    );
    // The head's limits are checked by `receive`, before any poll.
    let mut c = client(Dialect::Rfc6455);
    let long = format!("HTTP/1.1 101 OK\r\nX: {}", "a".repeat(5000));
    let e = c.receive(T0, long.as_bytes()).unwrap_err();
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::HeaderLine,
            ..
        })
    ));
    assert_eq!(c.poll_event(), Err(e));
    let mut c = client(Dialect::Rfc6455);
    let long = format!("HTTP/1.1 101 OK\r\nX: {}\r\n\r\n", "a".repeat(5000));
    let e = step_client(&mut c, long.as_bytes()).unwrap_err();
    assert!(matches!(
        e,
        Error::Capacity(HttpLimitError {
            limit: Limit::HeaderLine,
            ..
        })
    ));
}

#[test]
fn caller_misuse() {
    assert_eq!(
        ClientRequest::new("ftp://x").unwrap_err(),
        Error::Misuse(MisuseError::Url(UrlError::BadScheme))
    );
    let bad = ClientRequest::new("ws://h/").unwrap().protocol("a b");
    let e = ClientHandshake::new(bad, &mut SplitMix::new(1), Instant::ZERO).unwrap_err();
    assert_eq!(e, Error::Misuse(MisuseError::InvalidToken("a b".into())));
    let bad = ClientRequest::new("ws://h/")
        .unwrap()
        .header("X", "1\r\nEvil: 2");
    assert!(ClientHandshake::new(bad, &mut SplitMix::new(1), Instant::ZERO).is_err());
    let bad = ClientRequest::new("ws://h/")
        .unwrap()
        .extension(ExtensionOffer::new("a=b"));
    assert!(ClientHandshake::new(bad, &mut SplitMix::new(1), Instant::ZERO).is_err());
}

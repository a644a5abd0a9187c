//! Plain HTTP requests on the server machine: responses, keep-alive,
//! pipelining, streamed bodies, then an upgrade on the same connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::*;
use http_upgrade::*;

fn request(s: &mut ServerHandshake, data: &[u8]) -> HttpRequest {
    match step_server(s, data) {
        Ok(Some(ServerEvent::Request(r))) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn page_then_assets_then_websocket_on_one_connection() {
    let mut s = server(ServerConfig::default());
    let r = request(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        (r.method.as_str(), r.target.as_str(), r.minor_version),
        ("GET", "/", 1)
    );
    assert_eq!(s.poll_timeout(), None, "the application holds the request");
    s.respond(
        Instant::from_millis(100),
        Response::new(200)
            .header("Content-Type", "text/html")
            .body("<p>hi</p>"),
    )
    .unwrap();
    assert_eq!(
        drain_server(&mut s),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n<p>hi</p>"
    );
    assert_eq!(
        s.poll_timeout(),
        Some(Instant::from_millis(5100)),
        "deadline restarts"
    );
    assert!(!s.wants_close());

    // Two pipelined requests in one segment.
    let r = request(
        &mut s,
        b"GET /a.js HTTP/1.1\r\nHost: a\r\n\r\nGET /b.css HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(r.target, "/a.js");
    assert_eq!(s.poll_event(), Ok(None), "one at a time");
    s.respond(Instant::ZERO, Response::new(404)).unwrap();
    let r = match s.poll_event() {
        Ok(Some(ServerEvent::Request(r))) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.target, "/b.css");
    s.respond(Instant::ZERO, Response::new(200).body("x"))
        .unwrap();
    drain_server(&mut s);

    // Then the page opens its WebSocket on the same connection.
    let up = upgrade(&mut s, RFC6455_REQUEST);
    s.accept(Accept::for_request(&up), &mut SplitMix::new(0))
        .unwrap();
    assert!(drain_server(&mut s).starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
}

#[test]
fn request_body_is_delivered() {
    let mut s = server(ServerConfig::default());
    assert_eq!(
        step_server(
            &mut s,
            b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab"
        ),
        Ok(None)
    );
    let r = request(&mut s, b"cdeGET");
    assert_eq!(&r.body[..], b"abcde");
    s.respond(Instant::ZERO, Response::new(204)).unwrap();
    assert_eq!(drain_server(&mut s), b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(
        step_server(&mut s, b" / HTTP/1.1\r\nHost: a\r\n\r\n")
            .map(|e| matches!(e, Some(ServerEvent::Request(_)))),
        Ok(true)
    );
}

#[test]
fn connection_close_and_http10() {
    let mut s = server(ServerConfig::default());
    request(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    s.respond(Instant::ZERO, Response::new(200)).unwrap();
    let out = String::from_utf8(drain_server(&mut s)).unwrap();
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(s.wants_close());
    assert_eq!(s.poll_event(), Ok(Some(ServerEvent::Close)));
    assert_eq!(s.poll_event(), Ok(None), "Close is reported once");
    assert_eq!(
        s.receive(T0, b"GET"),
        Ok(()),
        "input after the close is dropped"
    );
    assert_eq!(s.poll_event(), Ok(None));

    let mut s = server(ServerConfig::default());
    request(&mut s, b"GET / HTTP/1.0\r\n\r\n");
    s.respond(Instant::ZERO, Response::new(200)).unwrap();
    assert!(s.wants_close(), "HTTP/1.0 closes by default");

    let mut s = server(ServerConfig::default());
    request(&mut s, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    s.respond(Instant::ZERO, Response::new(200)).unwrap();
    let out = String::from_utf8(drain_server(&mut s)).unwrap();
    assert!(out.contains("Connection: keep-alive\r\n"), "{out}");
    assert!(!s.wants_close());

    let mut s = server(ServerConfig::default());
    request(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    s.respond(
        Instant::ZERO,
        Response::new(200).header("Connection", "close"),
    )
    .unwrap();
    assert!(s.wants_close(), "the application may close");
}

#[test]
fn streamed_body_and_head() {
    let mut s = server(ServerConfig::default());
    request(&mut s, b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    s.respond(Instant::ZERO, Response::new(200).streamed(6))
        .unwrap();
    assert_eq!(s.poll_timeout(), None);
    s.send_body(Instant::ZERO, Bytes::from_static(b"abc"))
        .unwrap();
    assert_eq!(
        s.send_body(Instant::ZERO, Bytes::from_static(b"defg")),
        Err(Error::Misuse(MisuseError::BodyOverrun(1)))
    );
    assert_eq!(s.poll_event(), Ok(None));
    s.send_body(Instant::from_millis(7), Bytes::from_static(b"def"))
        .unwrap();
    assert_eq!(
        drain_server(&mut s),
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef"
    );
    assert_eq!(s.poll_timeout(), Some(Instant::from_millis(5007)));
    assert!(
        s.send_body(Instant::ZERO, Bytes::from_static(b"x"))
            .is_err()
    );

    request(&mut s, b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n");
    s.respond(Instant::ZERO, Response::new(200).body("abcdef"))
        .unwrap();
    assert_eq!(
        drain_server(&mut s),
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"
    );
}

#[test]
fn non_websocket_upgrade_is_a_plain_request() {
    let mut s = server(ServerConfig::default());
    let r = request(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    );
    assert_eq!(r.headers.get_str("upgrade"), Some("h2c"));
}

#[test]
fn buffered_bytes_are_bounded_while_the_app_thinks() {
    let limits = Limits::default().with_max_head(100).with_max_body(100);
    let mut s = server(ServerConfig::default().with_limits(limits));
    request(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let flood = vec![b'x'; 300];
    let e = step_server(&mut s, &flood).unwrap_err();
    assert_eq!(e.status(), 431);
}

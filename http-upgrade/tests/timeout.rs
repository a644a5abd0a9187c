//! The handshake deadline on a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http_upgrade::*;

#[test]
fn server_deadline_with_partial_request_sends_408() {
    let start = Instant::from_millis(1_000);
    let mut s = ServerHandshake::new(Arc::new(ServerConfig::default()), start);
    assert_eq!(
        s.poll_timeout(),
        Some(Instant::from_millis(6_000)),
        "5 s default"
    );
    assert_eq!(step_server(&mut s, &RFC6455_REQUEST[..20]), Ok(None));
    assert_eq!(s.handle_timeout(Instant::from_millis(5_999)), Ok(()));
    assert_eq!(s.pending_transmit(), 0);
    assert_eq!(
        s.handle_timeout(Instant::from_millis(6_000)),
        Err(Error::Timeout)
    );
    assert_eq!(Error::Timeout.status(), 408);
    let out = String::from_utf8(drain_server(&mut s)).unwrap();
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(out.contains("Connection: close\r\n"));
    assert_eq!(
        step_server(&mut s, &RFC6455_REQUEST[20..]),
        Err(Error::Timeout),
        "permanent"
    );
    assert_eq!(s.poll_timeout(), None);
    assert!(s.wants_close());
}

#[test]
fn server_idle_deadline_just_closes() {
    let config = ServerConfig::default().with_timeout(Duration::from_millis(50));
    let mut s = ServerHandshake::new(Arc::new(config), Instant::ZERO);
    assert_eq!(
        s.handle_timeout(Instant::from_millis(50)),
        Err(Error::Timeout)
    );
    assert!(
        s.pending_transmit() == 0,
        "nothing was asked, nothing is answered"
    );
}

#[test]
fn server_hixie_waits_for_key3_within_deadline() {
    let mut s = server(ServerConfig::default());
    let head = HIXIE76_REQUEST.len() - 8;
    assert_eq!(step_server(&mut s, &HIXIE76_REQUEST[..head + 3]), Ok(None));
    assert!(s.poll_timeout().is_some());
    assert_eq!(
        s.handle_timeout(Instant::from_millis(5_000)),
        Err(Error::Timeout)
    );
    assert!(drain_server(&mut s).starts_with(b"HTTP/1.1 408 "));
}

#[test]
fn no_deadline_after_accept() {
    let mut s = server(ServerConfig::default());
    let up = upgrade(&mut s, RFC6455_REQUEST);
    assert_eq!(s.poll_timeout(), None);
    s.accept(Accept::for_request(&up), &mut SplitMix::new(1))
        .unwrap();
    assert_eq!(s.handle_timeout(Instant::from_millis(1_000_000)), Ok(()));
}

#[test]
fn client_deadline() {
    let request = ClientRequest::new("ws://h/")
        .unwrap()
        .timeout(Duration::from_secs(2));
    let mut c =
        ClientHandshake::new(request, &mut SplitMix::new(1), Instant::from_millis(500)).unwrap();
    assert_eq!(c.poll_timeout(), Some(Instant::from_millis(2_500)));
    assert_eq!(c.handle_timeout(Instant::from_millis(2_499)), Ok(()));
    assert_eq!(step_client(&mut c, b"HTTP/1.1 101 Switching"), Ok(None));
    assert_eq!(
        c.handle_timeout(Instant::from_millis(2_500)),
        Err(Error::Timeout)
    );
    assert_eq!(
        step_client(&mut c, b" Protocols\r\n\r\n"),
        Err(Error::Timeout)
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.error(), Some(&Error::Timeout));
}

//! Behind a trusted reverse proxy: `X-Forwarded-For` names the client for
//! the address filter and the application, on every adapter; the same
//! header from a peer that is not trusted changes nothing.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::{Kind, bounded, server_options, start_table};
use ws_adapters::{Ctx, Event, Protocol, Protocols};

/// Says who it thinks the client is.
struct WhoAmI;

impl Protocol for WhoAmI {
    type State = ();
    fn established(&self, cx: &mut Ctx<'_>) {
        let peer = cx.peer().map(|p| p.ip().to_string()).unwrap_or_default();
        let _ = cx.send_text(peer);
    }
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, _: Event) {}
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request with `forwarded` as its `X-Forwarded-For` fields;
/// returns the status and the first text message's payload (if 101).
fn upgrade(addr: SocketAddr, forwarded: &[&str]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for f in forwarded {
        req.push_str(&format!("X-Forwarded-For: {f}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let (status, rest) = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before a response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let status = head[9..12].parse().unwrap();
            break (status, got[end + 4..].to_vec());
        }
    };
    if status != 101 {
        return (status, String::new());
    }
    // One unmasked text frame with a short payload.
    let mut frame = rest;
    while frame.len() < 2 || frame.len() < 2 + usize::from(frame[1] & 0x7f) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        frame.extend_from_slice(&buf[..n]);
    }
    assert_eq!(frame[0], 0x81, "{frame:?}");
    let len = usize::from(frame[1] & 0x7f);
    (
        status,
        String::from_utf8(frame[2..2 + len].to_vec()).unwrap(),
    )
}

fn table() -> Protocols {
    Protocols::new()
        .protocol("who", WhoAmI)
        .default_protocol("who")
}

fn not_doc(ip: IpAddr) -> bool {
    ip.to_string() != "203.0.113.7"
}

fn behind_a_proxy(kind: Kind) {
    // This test's loopback client is the trusted proxy.
    let options = server_options(false)
        .with_trusted_proxies(|ip| ip == IpAddr::from([127, 0, 0, 1]))
        .with_filter(|client| not_doc(client.ip()));
    let addr = start_table(kind, table(), options);
    // The client is the rightmost untrusted entry; what is left of it
    // (written by the client itself) is not believed.
    assert_eq!(
        upgrade(addr, &["198.51.100.9"]),
        (101, "198.51.100.9".into())
    );
    assert_eq!(
        upgrade(addr, &["203.0.113.7, 198.51.100.9"]),
        (101, "198.51.100.9".into())
    );
    assert_eq!(
        upgrade(addr, &["198.51.100.9", "127.0.0.1"]),
        (101, "198.51.100.9".into())
    );
    assert_eq!(
        upgrade(addr, &["[2001:db8::5]:443"]),
        (101, "2001:db8::5".into())
    );
    // The filter sees the client: 403, even when a trusted hop follows.
    assert_eq!(upgrade(addr, &["203.0.113.7"]).0, 403);
    assert_eq!(upgrade(addr, &["203.0.113.7, 127.0.0.1"]).0, 403);
    assert_eq!(upgrade(addr, &["198.51.100.9, 203.0.113.7"]).0, 403);
    // Garbage: 400. No field: the proxy is the client.
    assert_eq!(upgrade(addr, &["unknown"]).0, 400);
    assert_eq!(upgrade(addr, &[]), (101, "127.0.0.1".into()));

    // A server trusting another proxy ignores the header, and the filter
    // judges the socket's address before reading anything.
    let options = server_options(false)
        .with_trusted_proxies(|ip| ip == IpAddr::from([127, 0, 0, 2]))
        .with_filter(|client| not_doc(client.ip()));
    let addr = start_table(kind, table(), options);
    assert_eq!(upgrade(addr, &["203.0.113.7"]), (101, "127.0.0.1".into()));
    let options = server_options(false)
        .with_trusted_proxies(|ip| ip == IpAddr::from([127, 0, 0, 2]))
        .with_filter(|client| !client.ip().is_loopback());
    let addr = start_table(kind, table(), options);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(
        matches!(s.read(&mut buf), Ok(0) | Err(_)),
        "not filtered at accept"
    );
}

#[test]
fn forwarded_for_on_every_adapter() {
    for kind in [Kind::Std, Kind::Mio, Kind::Tokio, Kind::Smol] {
        bounded(Duration::from_secs(60), "forwarded", move || {
            behind_a_proxy(kind)
        });
    }
}

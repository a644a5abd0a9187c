//! Behind a trusted reverse proxy: `X-Forwarded-For` names the client for
//! the address filter and the application, on every adapter; the same
//! header from a peer that is not trusted changes nothing.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "forwarded/who.rs"]
mod who;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{Kind, bounded, server_options, start_table};
use who::{WhoAmI, upgrade_from};
use ws_adapters::Protocols;

/// The client's address as the server sees it, for an upgrade with
/// `forwarded` as its `X-Forwarded-For` fields (status 0: closed unread).
fn upgrade(addr: SocketAddr, forwarded: &[&str]) -> (u16, String) {
    upgrade_from(None, addr, forwarded)
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
    assert_eq!(
        upgrade(addr, &["198.51.100.9"]).0,
        0,
        "not filtered at accept"
    );
}

#[test]
fn forwarded_for_on_every_adapter() {
    for kind in [Kind::Std, Kind::Mio, Kind::Tokio, Kind::Smol, Kind::Uring] {
        bounded(Duration::from_secs(60), "forwarded", move || {
            behind_a_proxy(kind)
        });
    }
}

//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;

use http_upgrade::*;

pub use http_upgrade::testing::SplitMix;

/// Fills with 1, 2, 3, ... (so a 16-byte key is `AQIDBAUGBwgJCgsMDQ4PEA==`).
pub struct CountingRng(pub u8);

impl rand_core::TryRng for CountingRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}

pub const T0: Instant = Instant::ZERO;

pub fn server(config: ServerConfig) -> ServerHandshake {
    ServerHandshake::new(Arc::new(config), T0)
}

/// Everything queued for transmission, concatenated; checks that the
/// vectored form sees the same bytes.
pub fn drain_server(s: &mut ServerHandshake) -> Vec<u8> {
    let mut slices = [&[][..]; 8];
    let k = s.transmit_slices(&mut slices);
    let vectored = slices[..k].concat();
    let all = k < slices.len();
    let mut out = Vec::new();
    assert_eq!(s.poll_transmit(&mut out), out.len());
    if all {
        assert_eq!(vectored, out, "transmit_slices and poll_transmit differ");
    }
    assert_eq!(s.pending_transmit(), 0);
    out
}

pub fn drain_client(c: &mut ClientHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    assert_eq!(c.poll_transmit(&mut out), out.len());
    assert_eq!(c.pending_transmit(), 0);
    out
}

/// `receive` then `poll_event`, as a driver calls them: the server's first
/// event after `data` (`Ok(None)`: it needs more).
pub fn step_server(s: &mut ServerHandshake, data: &[u8]) -> Result<Option<ServerEvent>, Error> {
    s.receive(T0, data)?;
    s.poll_event()
}

/// `receive` then `poll_event` on a client.
pub fn step_client(c: &mut ClientHandshake, data: &[u8]) -> Result<Option<ClientEvent>, Error> {
    c.receive(T0, data)?;
    c.poll_event()
}

/// Feeds a whole request; expects an upgrade.
pub fn upgrade(s: &mut ServerHandshake, req: &[u8]) -> UpgradeRequest {
    match step_server(s, req) {
        Ok(Some(ServerEvent::Upgrade(u))) => u,
        other => panic!("expected an upgrade, got {other:?}"),
    }
}

/// Feeds a whole request to a default server; expects an error and checks
/// its status and the queued status line.
pub fn rejected_with(config: ServerConfig, req: &[u8]) -> (Error, String) {
    let mut s = server(config);
    let err = step_server(&mut s, req).expect_err("request must fail");
    let out = String::from_utf8_lossy(&drain_server(&mut s)).into_owned();
    let line = format!("HTTP/1.1 {} ", err.status());
    assert!(out.starts_with(&line), "queued {out:?} for {err:?}");
    assert!(out.contains("Connection: close\r\n"), "{out:?}");
    assert_eq!(
        s.receive(T0, b"more"),
        Err(err.clone()),
        "failure is permanent"
    );
    assert_eq!(s.poll_event(), Err(err.clone()), "failure is permanent");
    assert!(s.wants_close());
    (err, out)
}

/// The 13 request of RFC 6455 §1.2.
pub const RFC6455_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The hixie-76 request of draft-00 §1.3, key3 included.
pub const HIXIE76_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\r\n^n:ds[4U";

/// A request with `name: value` lines replaced: `None` removes the header.
pub fn rfc6455_with(edits: &[(&str, Option<&str>)]) -> Vec<u8> {
    let text = std::str::from_utf8(RFC6455_REQUEST).unwrap();
    let mut lines: Vec<String> = text.trim_end().split("\r\n").map(String::from).collect();
    for (name, value) in edits {
        let prefix = format!("{name}:");
        let pos = lines.iter().position(|l| l.starts_with(&prefix));
        match (pos, value) {
            (Some(i), Some(v)) => lines[i] = format!("{name}: {v}"),
            (Some(i), None) => {
                lines.remove(i);
            }
            (None, Some(v)) => lines.push(format!("{name}: {v}")),
            (None, None) => {}
        }
    }
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

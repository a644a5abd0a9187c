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

pub fn server(config: ServerConfig) -> ServerHandshake {
    ServerHandshake::new(Arc::new(config), Instant::ZERO)
}

/// Everything queued for transmission, concatenated.
pub fn drain_server(s: &mut ServerHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

pub fn drain_client(c: &mut ClientHandshake) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = c.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// Feeds a whole request; expects an upgrade.
pub fn upgrade(s: &mut ServerHandshake, req: &[u8]) -> UpgradeRequest {
    match s.receive_data(req) {
        Ok(ServerEvent::Upgrade(u)) => u,
        other => panic!("expected an upgrade, got {other:?}"),
    }
}

/// Feeds a whole request to a default server; expects an error and checks
/// its status and the queued status line.
pub fn rejected_with(config: ServerConfig, req: &[u8]) -> (Error, String) {
    let mut s = server(config);
    let err = s.receive_data(req).expect_err("request must fail");
    let out = String::from_utf8_lossy(&drain_server(&mut s)).into_owned();
    let line = format!("HTTP/1.1 {} ", err.status());
    assert!(out.starts_with(&line), "queued {out:?} for {err:?}");
    assert!(out.contains("Connection: close\r\n"), "{out:?}");
    assert_eq!(
        s.receive_data(b"more"),
        Err(err.clone()),
        "failure is permanent"
    );
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

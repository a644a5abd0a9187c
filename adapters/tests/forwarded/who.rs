//! Shared by tests/forwarded.rs and tests/nginx.rs: a protocol that tells
//! the client who the server thinks it is, and a raw upgrade request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ws_adapters::{Ctx, Event, Protocol};

/// Sends the client its address as the server sees it (the peer, or the
/// client `X-Forwarded-For` named), then nothing.
pub(crate) struct WhoAmI;

impl Protocol for WhoAmI {
    type State = ();
    fn established(&self, cx: &mut Ctx<'_>) {
        let peer = cx.peer().map(|p| p.ip().to_string()).unwrap_or_default();
        let _ = cx.send_text(peer);
    }
    fn event(&self, _: &mut (), _: &mut Ctx<'_>, _: Event) {}
}

/// An upgrade request to `to` (from `source`, if given), with `forwarded`
/// as its `X-Forwarded-For` fields. Returns the status (0: closed without
/// an answer) and, if 101, the first text message's payload.
pub(crate) fn upgrade_from(
    source: Option<SocketAddr>,
    to: SocketAddr,
    forwarded: &[&str],
) -> (u16, String) {
    let mut s = match source {
        Some(source) => {
            use rustix::net::{AddressFamily, SocketType, bind, connect, socket};
            let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
            bind(&fd, &source).unwrap();
            connect(&fd, &to).unwrap();
            TcpStream::from(fd)
        }
        None => TcpStream::connect(to).unwrap(),
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: {to}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for f in forwarded {
        req.push_str(&format!("X-Forwarded-For: {f}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let (status, mut frame) = loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) if got.is_empty() => return (0, String::new()),
            Ok(n) if n > 0 => n,
            other => panic!("{other:?} after {:?}", String::from_utf8_lossy(&got)),
        };
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let status: u16 = String::from_utf8_lossy(&got[9..12]).parse().unwrap();
            break (status, got[end + 4..].to_vec());
        }
    };
    if status != 101 {
        return (status, String::new());
    }
    // One unmasked text frame with a short payload.
    while frame.len() < 2 || frame.len() < 2 + usize::from(frame[1] & 0x7f) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        frame.extend_from_slice(&buf[..n]);
    }
    assert_eq!(frame[0], 0x81, "{frame:?}");
    let len = usize::from(frame[1] & 0x7f);
    (
        status,
        String::from_utf8_lossy(&frame[2..2 + len]).into_owned(),
    )
}

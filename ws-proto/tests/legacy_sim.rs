//! Two-peer simulation for every dialect: a client `Connection` wired to a
//! server `Connection` (and, end to end, two `Session`s through the
//! `http-upgrade` handshake), running echo, fragmented messages and
//! ping/pong where the dialect has them, and the close started by either
//! role, with whole, one-byte and random chunking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use bytes::BytesMut;
use common::*;
use http_upgrade::{Accept, ClientRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{
    Bytes, CloseCode, Config, Connection, Dialect, Event, Extension, ExtensionError, Granularity,
    Instant, MessageKind, Role, State,
};

const NOW: Instant = Instant::ZERO;

#[derive(Clone, Copy, Debug)]
enum Chunks {
    Whole,
    OneByte,
    Random(u64),
}

const CHUNKINGS: [Chunks; 4] = [
    Chunks::Whole,
    Chunks::OneByte,
    Chunks::Random(1),
    Chunks::Random(0xDEAD_BEEF),
];

/// Delivers `wire` to `to` in pieces, draining events after each piece.
fn deliver(wire: &[u8], to: &mut Connection, chunks: Chunks) -> Vec<Event> {
    let mut r = match chunks {
        Chunks::Random(seed) => SplitMix::new(seed),
        _ => SplitMix::new(1),
    };
    let mut evs = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let n = match chunks {
            Chunks::Whole => wire.len(),
            Chunks::OneByte => 1,
            Chunks::Random(_) => 1 + r.below(64),
        }
        .min(wire.len() - at);
        to.receive(NOW, &wire[at..at + n]).unwrap();
        evs.extend(drain(to).unwrap());
        at += n;
    }
    evs.extend(drain(to).unwrap());
    evs
}

fn pair(d: Dialect, exts: fn() -> Vec<Box<dyn Extension>>) -> (Connection, Connection) {
    let with = |exts| negotiated(d).with_extensions(exts);
    let config = Config::default;
    let c = Connection::new(Role::Client, config(), with(exts()), Some(rng()), NOW).unwrap();
    let s = Connection::new(Role::Server, config(), with(exts()), None, NOW).unwrap();
    (c, s)
}

fn has_control_and_fragments(d: Dialect) -> bool {
    d != Dialect::Hixie76
}

fn big_text() -> String {
    "0123456789abcdé😀".repeat(5000)
}

/// Echo, fragments, ping/pong, then the close from `closer`.
fn conversation(d: Dialect, closer: Role, chunks: Chunks, exts: fn() -> Vec<Box<dyn Extension>>) {
    let (mut c, mut s) = pair(d, exts);
    let full = has_control_and_fragments(d);
    c.send_text("hello").unwrap();
    c.send_text(big_text()).unwrap();
    let mut expect = vec![Event::Text("hello".into()), Event::Text(big_text().into())];
    if full {
        c.send_binary(vec![0u8, 1, 2, 255]).unwrap();
        c.send_fragment(MessageKind::Text, &b"frag"[..], false)
            .unwrap();
        c.send_ping(&b"p"[..]).unwrap();
        // A code point split across fragments.
        let tail = "mented 😀".as_bytes();
        c.send_fragment(MessageKind::Text, &tail[..9], false)
            .unwrap();
        c.send_fragment(MessageKind::Text, &tail[9..], true)
            .unwrap();
        expect.extend([
            Event::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            Event::Ping(Bytes::from_static(b"p")),
            Event::Text("fragmented 😀".into()),
        ]);
    }
    let got = deliver(&transmit(&mut c), &mut s, chunks);
    assert_eq!(got, expect, "{d:?} {chunks:?}: server received");

    // The server echoes every data message and pings once.
    let mut back = Vec::new();
    if full {
        back.push(Event::Pong(Bytes::from_static(b"p")));
    }
    for ev in got {
        match ev {
            Event::Text(t) => s.send_text(t.clone()).map(|()| back.push(Event::Text(t))),
            Event::Binary(b) => s
                .send_binary(b.clone())
                .map(|()| back.push(Event::Binary(b))),
            _ => Ok(()),
        }
        .unwrap();
    }
    if full {
        s.send_ping(&b"q"[..]).unwrap();
        back.push(Event::Ping(Bytes::from_static(b"q")));
    }
    let got = deliver(&transmit(&mut s), &mut c, chunks);
    assert_eq!(got, back, "{d:?} {chunks:?}: client received");
    let pong = deliver(&transmit(&mut c), &mut s, chunks);
    if full {
        assert_eq!(pong, [Event::Pong(Bytes::from_static(b"q"))]);
    } else {
        assert!(pong.is_empty());
    }

    // The closing handshake.
    let (a, b) = match closer {
        Role::Client => (&mut c, &mut s),
        Role::Server => (&mut s, &mut c),
    };
    a.close(NOW, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(a.state(), State::Closing);
    let evs = deliver(&transmit(a), b, chunks);
    assert_eq!(evs.len(), 1, "{d:?}: {evs:?}");
    let Event::Close { code, reason } = &evs[0] else {
        panic!("{d:?}: {evs:?}")
    };
    let (want_code, want_reason) = match d {
        Dialect::Hixie76 => (None, ""),
        Dialect::Hybi05 => (None, "bye"),
        _ => (Some(CloseCode::NORMAL), "bye"),
    };
    assert_eq!((*code, reason.as_str()), (want_code, want_reason), "{d:?}");
    assert_eq!(b.state(), State::Closed);
    let evs = deliver(&transmit(b), a, chunks);
    assert!(matches!(&evs[..], [Event::Close { .. }]), "{d:?}: {evs:?}");
    assert_eq!(a.state(), State::Closed);
    assert!(transmit(a).is_empty(), "{d:?}: nothing after the handshake");
    assert!(s.wants_close(), "{d:?}: the server closes TCP first");
    c.receive_eof(NOW);
    assert!(c.wants_close());
}

fn no_exts() -> Vec<Box<dyn Extension>> {
    Vec::new()
}

#[test]
fn every_dialect_both_roles_all_chunkings() {
    for d in Dialect::ALL {
        for closer in [Role::Client, Role::Server] {
            for chunks in CHUNKINGS {
                conversation(d, closer, chunks, no_exts);
            }
        }
    }
}

#[test]
fn fragment_size_splits_on_hybi_and_not_on_hixie() {
    for d in Dialect::ALL {
        let cfg = Config::default().with_fragment_size(Some(3));
        let mut s = Connection::new(Role::Server, cfg, negotiated(d), None, NOW).unwrap();
        let mut c = conn_in(d, Role::Client, Config::default());
        s.send_text("abcdefgh").unwrap();
        let wire = transmit(&mut s);
        if d == Dialect::Hixie76 {
            assert_eq!(wire, b"\x00abcdefgh\xff");
        }
        let evs = deliver(&wire, &mut c, Chunks::OneByte);
        assert_eq!(evs, [Event::Text("abcdefgh".into())], "{d:?}");
    }
}

/// A stream extension below the framing (deflate-stream's granularity): a
/// running XOR, so lost or reordered bytes would garble everything after.
struct RunningXor {
    tx: u8,
    rx: u8,
}

impl Extension for RunningXor {
    fn name(&self) -> &str {
        "x-running-xor"
    }
    fn rsv_mask(&self) -> u8 {
        0
    }
    fn granularity(&self) -> Granularity {
        Granularity::Stream
    }
    fn encode_stream(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ExtensionError> {
        for &b in input {
            out.extend_from_slice(&[b ^ self.tx]);
            self.tx = self.tx.wrapping_add(7);
        }
        Ok(())
    }
    fn decode_stream(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        max: usize,
    ) -> Result<usize, ExtensionError> {
        let input = &input[..input.len().min(max)];
        for &b in input {
            out.extend_from_slice(&[b ^ self.rx]);
            self.rx = self.rx.wrapping_add(7);
        }
        Ok(input.len())
    }
}

fn running_xor() -> Vec<Box<dyn Extension>> {
    vec![Box::new(RunningXor { tx: 1, rx: 1 })]
}

#[test]
fn stream_extension_works_on_every_hybi_dialect() {
    for d in [
        Dialect::Hybi04,
        Dialect::Hybi05,
        Dialect::Hybi06,
        Dialect::Hybi07,
        Dialect::Hybi08,
        Dialect::Rfc6455,
    ] {
        for closer in [Role::Client, Role::Server] {
            for chunks in [Chunks::Whole, Chunks::OneByte, Chunks::Random(3)] {
                conversation(d, closer, chunks, running_xor);
            }
        }
        // And the bytes on the wire really are transformed.
        let (mut c, _) = pair(d, running_xor);
        c.send_text("hello").unwrap();
        let (mut plain, _) = pair(d, no_exts);
        plain.send_text("hello").unwrap();
        assert_ne!(transmit(&mut c), transmit(&mut plain), "{d:?}");
    }
}

/// Whole sessions: the handshake `http-upgrade` produces selects the
/// framing, and hybi-04's masking key reaches both connections.
#[test]
fn sessions_open_and_talk_in_every_dialect() {
    for d in Dialect::ALL {
        let config = Arc::new(SessionConfig::default());
        let request = ClientRequest::new("ws://localhost/echo")
            .unwrap()
            .dialect(d);
        let mut client = Session::client(request, config.clone(), rng(), NOW).unwrap();
        let mut server = Session::server(Arc::new(ServerConfig::default()), config, NOW);
        let mut wire = Vec::new();
        let _ = client.poll_transmit(&mut wire);
        server.receive(NOW, &wire).unwrap();
        let Some(SessionEvent::Upgrade(req)) = server.poll_event().unwrap() else {
            panic!("{d:?}: no upgrade")
        };
        assert_eq!(req.dialect, d);
        let h = server
            .accept(NOW, Accept::for_request(&req), &mut SplitMix::new(77))
            .unwrap()
            .clone();
        assert_eq!(h.hybi04_masking_key().is_some(), d == Dialect::Hybi04);
        assert!(matches!(
            server.poll_event().unwrap(),
            Some(SessionEvent::Open(_))
        ));
        let conn = server.connection_mut().unwrap();
        assert_eq!(conn.dialect(), d);
        conn.send_text("from server").unwrap();
        wire.clear();
        let _ = server.poll_transmit(&mut wire);
        // One byte at a time: handshake response and frames back to back.
        for b in &wire {
            client.receive(NOW, std::slice::from_ref(b)).unwrap();
        }
        assert!(matches!(
            client.poll_event().unwrap(),
            Some(SessionEvent::Open(_))
        ));
        assert_eq!(
            client.poll_event().unwrap(),
            Some(SessionEvent::Ws(Event::Text("from server".into())))
        );
        let cc = client.connection_mut().unwrap();
        cc.send_text("from client").unwrap();
        cc.close(NOW, CloseCode::NORMAL, "").unwrap();
        wire.clear();
        let _ = client.poll_transmit(&mut wire);
        server.receive(NOW, &wire).unwrap();
        assert_eq!(
            server.poll_event().unwrap(),
            Some(SessionEvent::Ws(Event::Text("from client".into())))
        );
        assert!(matches!(
            server.poll_event().unwrap(),
            Some(SessionEvent::Ws(Event::Close { .. }))
        ));
        wire.clear();
        let _ = server.poll_transmit(&mut wire);
        assert!(server.wants_close(), "{d:?}");
        client.receive(NOW, &wire).unwrap();
        assert!(matches!(
            client.poll_event().unwrap(),
            Some(SessionEvent::Ws(Event::Close { .. }))
        ));
    }
}

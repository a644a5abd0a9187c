//! The `arbitrary` feature: every generated value keeps the promises of
//! `ws_proto::fuzzing` (a message is sendable and arrives as sent, a header
//! encodes and parses back, a config is accepted).
#![cfg(feature = "arbitrary")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use arbitrary::{Arbitrary, Unstructured};
use common::{conn, drain, transmit};
use http_upgrade::testing::SplitMix;
use ws_proto::{CloseCode, Config, Connection, Event, FrameHeader, Instant, Message, Role, Status};

const T0: Instant = Instant::ZERO;

fn bytes(rng: &mut SplitMix, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn messages_are_sendable_and_arrive_as_sent() {
    let mut rng = SplitMix::new(11);
    let (mut codes, mut sendable) = (0, 0);
    for _ in 0..2000 {
        let raw = bytes(&mut rng, 300);
        let mut u = Unstructured::new(&raw);
        let msg = Message::arbitrary(&mut u).unwrap();
        let code = CloseCode::arbitrary(&mut u).unwrap();
        codes += 1;
        sendable += usize::from(code.is_sendable());
        let mut client = conn(Role::Client, Config::default());
        let mut server = conn(Role::Server, Config::default());
        if let Message::Close { code, .. } = &msg
            && !code.is_sendable()
        {
            assert!(client.send(T0, msg.clone()).is_err(), "{msg:?}");
            continue;
        }
        client
            .send(T0, msg.clone())
            .unwrap_or_else(|e| panic!("{msg:?}: {e}"));
        server.receive(T0, &transmit(&mut client)).unwrap();
        let events = drain(&mut server).unwrap_or_else(|(_, e)| panic!("{msg:?}: {e}"));
        let got = match &events[..] {
            [Event::Text(t)] => Message::Text(t.clone()),
            [Event::Binary(b)] => Message::Binary(b.clone()),
            [Event::Ping(p)] => Message::Ping(p.clone()),
            [Event::Pong(p)] => Message::Pong(p.clone()),
            [
                Event::Close {
                    code: Some(code),
                    reason,
                },
            ] => Message::Close {
                code: *code,
                reason: reason.clone(),
            },
            other => panic!("{msg:?} arrived as {other:?}"),
        };
        assert_eq!(got, msg);
    }
    // Mostly sendable codes, some not.
    assert!(
        sendable * 10 > codes * 6 && sendable < codes,
        "{sendable}/{codes}"
    );
}

#[test]
fn headers_encode_and_parse_back() {
    let mut rng = SplitMix::new(12);
    for _ in 0..2000 {
        let raw = bytes(&mut rng, 32);
        let h = FrameHeader::arbitrary(&mut Unstructured::new(&raw)).unwrap();
        let (buf, len) = h.to_bytes();
        match FrameHeader::parse(&buf[..len]) {
            Ok(Status::Complete((back, n))) => {
                assert_eq!(n, len);
                assert_eq!(back, h);
            }
            // A header the parser refuses must be one the RFC forbids.
            Err(_) => assert!(
                h.opcode.is_control() && (h.payload_len > 125 || !h.fin),
                "{h:?} refused"
            ),
            Ok(Status::Partial) => panic!("{h:?}: partial"),
        }
    }
}

#[test]
fn configs_are_accepted() {
    let mut rng = SplitMix::new(13);
    for _ in 0..500 {
        let raw = bytes(&mut rng, 128);
        let c = Config::arbitrary(&mut Unstructured::new(&raw)).unwrap();
        assert!(c.max_frame_size >= 1 && c.max_message_size <= 64 << 20);
        Connection::server(c.clone(), T0).unwrap();
        let mut client = conn(Role::Client, c);
        client.send_text("hi").unwrap();
    }
}

//! Byte vectors from the drafts' own examples, both directions, for the
//! legacy dialects: hybi-04 (§4.2 masking-key example, §4.7), hybi-05
//! (§4.7 framing examples, masked and unmasked), hybi-06 (status codes),
//! hybi-07/08 (what differs from RFC 6455) and hixie-76 (draft-00 §4.2,
//! §5.3). Worked examples are those of
//! `shared/specs/HYBI-04-05-FRAMING-SUMMARY.md` §2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ws_proto::MaskRng;
use ws_proto::legacy::{hybi04_frame_key, hybi04_masking_key};
use ws_proto::{
    Bytes, CapacityError, CloseCode, Config, Connection, Dialect, Error, Event, Instant,
    MessageKind, PeerError, ReceiveMode, Role, UsageError, apply_mask,
};

const KEY: &str = HYBI04_KEY;
const NONCE: &str = HYBI04_NONCE;

/// A connection in dialect `d` (a server ignores `rng`).
fn open(d: Dialect, role: Role, config: Config, rng: MaskRng) -> Connection {
    let rng = (role == Role::Client).then_some(rng);
    Connection::new(role, config, negotiated(d), rng, Instant::ZERO).unwrap()
}

fn client_with_key(d: Dialect, key: [u8; 4]) -> Connection {
    open(d, Role::Client, Config::default(), Box::new(FixedKey(key)))
}

fn server(d: Dialect) -> Connection {
    open(d, Role::Server, Config::default(), rng())
}

fn client(d: Dialect) -> Connection {
    client_with_key(d, [0x37, 0xfa, 0x21, 0x3d])
}

/// Feeds `wire` whole, one byte at a time and in random splits to a fresh
/// connection of `role` (all three must agree) and returns the events.
fn recv_all_ways(d: Dialect, role: Role, wire: &[u8]) -> (Vec<Event>, Option<Error>) {
    events_all_ways_in(d, role, &Config::default(), wire)
}

/// A client frame of -05/-06: key, then the whole clear frame masked.
fn mask05(key: [u8; 4], clear: &[u8]) -> Vec<u8> {
    let mut out = key.to_vec();
    let mut body = clear.to_vec();
    apply_mask(&mut body, key, 0);
    out.extend_from_slice(&body);
    out
}

/// A client frame of -04: nonce, then the clear frame XOR SHA-1(nonce ‖ key).
fn mask04(nonce: [u8; 4], clear: &[u8]) -> Vec<u8> {
    let fk = hybi04_frame_key(nonce, &hybi04_masking_key(KEY, NONCE));
    let mut out = nonce.to_vec();
    out.extend(clear.iter().enumerate().map(|(i, b)| b ^ fk[i % 20]));
    out
}

fn text(s: &str) -> Event {
    Event::Text(s.into())
}

// ---------------------------------------------------------------- hybi-04

#[test]
fn hybi04_worked_example_both_directions() {
    let fk = hybi04_frame_key([1, 2, 3, 4], &hybi04_masking_key(KEY, NONCE));
    assert_eq!(
        fk,
        [
            0x9e, 0x97, 0x4c, 0x32, 0x84, 0x18, 0x94, 0xb7, 0x1b, 0xbd, 0x90, 0x96, 0xff, 0x66,
            0x40, 0x1e, 0x5d, 0xa6, 0x58, 0x01
        ]
    );
    let wire = [
        0x01, 0x02, 0x03, 0x04, 0x1a, 0x92, 0x04, 0x57, 0xe8, 0x74, 0xfb,
    ];
    let mut c = client_with_key(Dialect::Hybi04, [1, 2, 3, 4]);
    c.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut c), wire);
    assert_eq!(
        recv_all_ways(Dialect::Hybi04, Role::Server, &wire),
        (vec![text("Hello")], None)
    );
    // Server to client: clear text, FIN set (the prose reading, see below).
    let mut s = server(Dialect::Hybi04);
    s.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut s), b"\x84\x05Hello");
}

#[test]
fn hybi04_long_frames_cycle_the_20_byte_key() {
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut clear = vec![0x85, 126, 0x01, 0x2c];
    clear.extend_from_slice(&payload);
    let wire = mask04([9, 8, 7, 6], &clear);
    let mut c = client_with_key(Dialect::Hybi04, [9, 8, 7, 6]);
    c.send_binary(payload.clone()).unwrap();
    assert_eq!(transmit(&mut c), wire);
    let (evs, err) = recv_all_ways(Dialect::Hybi04, Role::Server, &wire);
    assert_eq!((evs, err), (vec![Event::Binary(payload.into())], None));
}

/// -04's FIN/MORE inconsistency: §4.3's prose and §4.4 say FIN ("final
/// fragment"), its ABNF (`frame-more`) and §4.7 examples say the opposite.
/// We follow the prose (as -05 and pywebsocket did); the §4.7 examples
/// therefore read differently, and this test pins how.
#[test]
fn hybi04_fin_means_final_not_more() {
    // "0x84 0x03 Hel" is a complete message; "0x00 0x02 lo" then continues
    // nothing.
    let (evs, err) = recv_all_ways(Dialect::Hybi04, Role::Client, b"\x84\x03Hel\x00\x02lo");
    assert_eq!(evs, vec![text("Hel")]);
    assert_eq!(err, Some(PeerError::UnexpectedContinuation.into()));
    // "0x04 0x05 Hello" is the first fragment of a message still open.
    let (evs, err) = recv_all_ways(Dialect::Hybi04, Role::Client, b"\x04\x05Hello\x80\x00");
    assert_eq!((evs, err), (vec![text("Hello")], None));
    // The §4.7 ping "0x02 0x05 Hello" would be a fragmented control frame.
    let (_, err) = recv_all_ways(Dialect::Hybi04, Role::Client, b"\x02\x05Hello");
    assert_eq!(err, Some(PeerError::FragmentedControl.into()));
    // The same examples with FIN set are what we accept and send.
    let (evs, _) = recv_all_ways(Dialect::Hybi04, Role::Client, b"\x82\x05Hello");
    assert!(matches!(&evs[..], [Event::Ping(p)] if p == "Hello"));
}

#[test]
fn hybi04_close_is_acknowledged_by_matching_body() {
    // Server starts: body = code + reason (-04 leaves it unstructured).
    let mut s = server(Dialect::Hybi04);
    s.close(Instant::ZERO, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(transmit(&mut s), b"\x81\x05\x03\xe8bye");
    // The client echoes the body exactly; that is the acknowledgement.
    let mut c = client_with_key(Dialect::Hybi04, [5, 5, 5, 5]);
    c.receive(Instant::ZERO, b"\x81\x05\x03\xe8bye").unwrap();
    let ev = c.poll_event().unwrap();
    assert!(matches!(
        ev,
        Some(Event::Close {
            code: Some(CloseCode::NORMAL),
            ..
        })
    ));
    let echo = transmit(&mut c);
    assert_eq!(echo, mask04([5, 5, 5, 5], b"\x81\x05\x03\xe8bye"));
    s.receive(Instant::ZERO, &echo).unwrap();
    assert!(matches!(s.poll_event().unwrap(), Some(Event::Close { .. })));
    assert!(
        transmit(&mut s).is_empty(),
        "an acknowledgement is not answered"
    );
    assert!(s.wants_close());
    // An arbitrary body is a close the peer started: echoed verbatim.
    let mut s = server(Dialect::Hybi04);
    s.receive(Instant::ZERO, &mask04([1, 1, 1, 1], b"\x81\x02\xff\x00"))
        .unwrap();
    let ev = s.poll_event().unwrap();
    assert!(matches!(ev, Some(Event::Close { code: None, .. })));
    assert_eq!(transmit(&mut s), b"\x81\x02\xff\x00");
}

// ---------------------------------------------------------------- hybi-05

/// -05 §4.7, as a server sends them (clear text) and as a client sends
/// them (masked with the worked example's key).
const EXAMPLES_05: &[&[u8]] = &[
    b"\x84\x05\x48\x65\x6c\x6c\x6f",
    b"\x04\x03\x48\x65\x6c\x80\x02\x6c\x6f",
    b"\x82\x05\x48\x65\x6c\x6c\x6f",
    b"\x83\x05\x48\x65\x6c\x6c\x6f",
];

fn expected_05() -> Vec<Event> {
    vec![
        text("Hello"),
        text("Hello"),
        Event::Ping(Bytes::from_static(b"Hello")),
        Event::Pong(Bytes::from_static(b"Hello")),
    ]
}

#[test]
fn hybi05_examples_received_by_client() {
    for d in [Dialect::Hybi05, Dialect::Hybi06] {
        let wire: Vec<u8> = EXAMPLES_05.concat();
        assert_eq!(recv_all_ways(d, Role::Client, &wire), (expected_05(), None));
    }
}

#[test]
fn hybi05_examples_masked_received_by_server() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    for d in [Dialect::Hybi05, Dialect::Hybi06] {
        let mut wire = Vec::new();
        wire.extend(mask05(key, EXAMPLES_05[0]));
        wire.extend(mask05(key, &EXAMPLES_05[1][..5]));
        wire.extend(mask05(key, &EXAMPLES_05[1][5..]));
        wire.extend(mask05(key, EXAMPLES_05[2]));
        wire.extend(mask05(key, EXAMPLES_05[3]));
        assert_eq!(recv_all_ways(d, Role::Server, &wire), (expected_05(), None));
    }
}

#[test]
fn hybi05_examples_sent() {
    for d in [Dialect::Hybi05, Dialect::Hybi06] {
        let mut s = server(d);
        s.send_text("Hello").unwrap();
        s.send_fragment(MessageKind::Text, &b"Hel"[..], false)
            .unwrap();
        s.send_fragment(MessageKind::Text, &b"lo"[..], true)
            .unwrap();
        s.send_ping(&b"Hello"[..]).unwrap();
        s.send_pong(&b"Hello"[..]).unwrap();
        assert_eq!(transmit(&mut s), EXAMPLES_05.concat());
        // The worked example: "Hello" from a client with key 37 fa 21 3d.
        let mut c = client(d);
        c.send_text("Hello").unwrap();
        assert_eq!(
            transmit(&mut c),
            [
                0x37, 0xfa, 0x21, 0x3d, 0xb3, 0xff, 0x69, 0x58, 0x5b, 0x96, 0x4e
            ]
        );
    }
}

#[test]
fn hybi05_binary_256_and_64k() {
    let p256 = vec![0xAB; 256];
    let p64k = vec![0xCD; 65536];
    let mut wire = b"\x85\x7E\x01\x00".to_vec();
    wire.extend_from_slice(&p256);
    wire.extend_from_slice(b"\x85\x7F\x00\x00\x00\x00\x00\x01\x00\x00");
    wire.extend_from_slice(&p64k);
    let mut s = server(Dialect::Hybi05);
    s.send_binary(p256.clone()).unwrap();
    s.send_binary(p64k.clone()).unwrap();
    assert_eq!(transmit(&mut s), wire);
    let mut c = client(Dialect::Hybi05);
    c.receive(Instant::ZERO, &wire).unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        [Event::Binary(p256.into()), Event::Binary(p64k.into())]
    );
}

#[test]
fn hybi05_ping_is_answered_with_the_same_body_masked() {
    let mut s = server(Dialect::Hybi05);
    s.receive(Instant::ZERO, &mask05([1, 2, 3, 4], b"\x82\x05Hello"))
        .unwrap();
    assert!(matches!(s.poll_event().unwrap(), Some(Event::Ping(_))));
    assert_eq!(transmit(&mut s), b"\x83\x05Hello");
    let mut c = client_with_key(Dialect::Hybi05, [4, 3, 2, 1]);
    c.receive(Instant::ZERO, b"\x82\x05Hello").unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Ping(_))));
    assert_eq!(transmit(&mut c), mask05([4, 3, 2, 1], b"\x83\x05Hello"));
}

/// -05 §4.5.1: the body starts with 'C' (client started) or 'S' (server
/// started); the acknowledgement repeats it.
#[test]
fn hybi05_close_initiator_byte() {
    let key = [0x10, 0x20, 0x30, 0x40];
    let mut c = client_with_key(Dialect::Hybi05, key);
    let mut s = server(Dialect::Hybi05);
    c.close(Instant::ZERO, CloseCode::NORMAL, "done").unwrap();
    let wire = transmit(&mut c);
    assert_eq!(wire, mask05(key, b"\x81\x05Cdone"));
    s.receive(Instant::ZERO, &wire).unwrap();
    let ev = s.poll_event().unwrap();
    assert!(matches!(ev, Some(Event::Close { code: None, reason }) if reason.as_str() == "done"));
    let ack = transmit(&mut s);
    assert_eq!(ack, b"\x81\x05Cdone");
    c.receive(Instant::ZERO, &ack).unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Close { .. })));
    assert!(transmit(&mut c).is_empty());
    // Server-started: 'S'.
    let mut s = server(Dialect::Hybi05);
    s.close(Instant::ZERO, CloseCode::GOING_AWAY, "").unwrap();
    assert_eq!(transmit(&mut s), b"\x81\x01S");
    // Both start at once: each answers the other's body.
    let mut c = client_with_key(Dialect::Hybi05, key);
    c.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    transmit(&mut c);
    c.receive(Instant::ZERO, b"\x81\x01S").unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Close { .. })));
    assert_eq!(transmit(&mut c), mask05(key, b"\x81\x01S"));
    // A body without the initiator byte is a protocol error.
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Client, b"\x81\x00");
    assert_eq!(err, Some(PeerError::InvalidClosePayload.into()));
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Client, b"\x81\x02\x03\xe8");
    assert_eq!(err, Some(PeerError::InvalidClosePayload.into()));
}

#[test]
fn hybi05_reserved_opcodes_and_rsv4() {
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Client, b"\x86\x00");
    assert_eq!(err, Some(PeerError::ReservedOpcode(6).into()));
    // 0x8 is an RFC 6455 close but reserved in -05.
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Client, b"\x88\x00");
    assert_eq!(err, Some(PeerError::ReservedOpcode(8).into()));
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Client, b"\x84\x81a");
    assert_eq!(err, Some(PeerError::ReservedBits(0x80).into()));
    // Masked, the same checks apply after unmasking the header.
    let (_, err) = recv_all_ways(Dialect::Hybi05, Role::Server, &mask05([9; 4], b"\x86\x00"));
    assert_eq!(err, Some(PeerError::ReservedOpcode(6).into()));
}

// ---------------------------------------------------------------- hybi-06

#[test]
fn hybi06_close_carries_status_codes() {
    let mut s = server(Dialect::Hybi06);
    s.close(Instant::ZERO, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(transmit(&mut s), b"\x81\x05\x03\xe8bye");
    let (evs, err) = recv_all_ways(Dialect::Hybi06, Role::Client, b"\x81\x02\x03\xec");
    assert_eq!(err, None);
    assert!(matches!(
        &evs[..],
        [Event::Close {
            code: Some(CloseCode(1004)),
            ..
        }]
    ));
    let (_, err) = recv_all_ways(Dialect::Hybi06, Role::Client, b"\x81\x02\x03\xed");
    assert_eq!(err, Some(PeerError::InvalidCloseCode(1005).into()));
    // A limit exceeded on -06 is answered with -06's "frame too large".
    let mut c = open(
        Dialect::Hybi06,
        Role::Client,
        Config::default().with_max_frame_size(4),
        rng(),
    );
    c.receive(Instant::ZERO, b"\x84\x05Hello").unwrap();
    assert!(matches!(c.poll_event(), Err(Error::Capacity(_))));
    let out = transmit(&mut c);
    let mut body = out[6..].to_vec();
    apply_mask(&mut body, out[..4].try_into().unwrap(), 2);
    assert_eq!(body, [0x03, 0xec]);
}

// ----------------------------------------------------------- hybi-07 / 08

#[test]
fn hybi0708_rfc_framing_with_draft_rules() {
    for d in [Dialect::Hybi07, Dialect::Hybi08] {
        // RFC 6455 §5.7 examples read the same.
        let (evs, _) = recv_all_ways(d, Role::Client, b"\x81\x05Hello\x01\x03Hel\x80\x02lo");
        assert_eq!(evs, [text("Hello"), text("Hello")]);
        // Non-minimal lengths: only RFC 6455 §5.2 forbids them.
        let (evs, err) = recv_all_ways(d, Role::Client, b"\x81\x7E\x00\x05Hello");
        assert_eq!((evs, err), (vec![text("Hello")], None));
        // A masked server frame: -07..-12 do not make it an error.
        let masked = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        assert_eq!(
            recv_all_ways(d, Role::Client, masked),
            (vec![text("Hello")], None)
        );
        // 1004 "frame too large" is a defined code in these drafts.
        let (evs, err) = recv_all_ways(d, Role::Client, b"\x88\x02\x03\xec");
        assert_eq!(err, None);
        assert!(matches!(
            &evs[..],
            [Event::Close {
                code: Some(CloseCode(1004)),
                ..
            }]
        ));
        // Version-8 peers check RFC 6455's codes; -07 gets its own 1004.
        let too_big = Error::from(CapacityError::FrameTooLarge { size: 2, max: 1 });
        let expect = if d == Dialect::Hybi07 { 1004 } else { 1009 };
        assert_eq!(too_big.close_code_in(d), Some(CloseCode(expect)));
    }
    // RFC 6455 keeps all three rules.
    let rfc = Dialect::Rfc6455;
    let (_, err) = recv_all_ways(rfc, Role::Client, b"\x81\x7E\x00\x05Hello");
    assert_eq!(err, Some(PeerError::NonMinimalLength.into()));
    let (_, err) = recv_all_ways(
        rfc,
        Role::Client,
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    );
    assert_eq!(err, Some(PeerError::MaskedFrame.into()));
    let (_, err) = recv_all_ways(rfc, Role::Client, b"\x88\x02\x03\xec");
    assert_eq!(err, Some(PeerError::InvalidCloseCode(1004).into()));
}

#[test]
fn hybi07_client_masks_like_rfc6455() {
    let mut c = client(Dialect::Hybi07);
    c.send_text("Hello").unwrap();
    assert_eq!(
        transmit(&mut c),
        [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
        ]
    );
    // A server still requires masking (-07 §4.3).
    let (_, err) = recv_all_ways(Dialect::Hybi08, Role::Server, b"\x81\x05Hello");
    assert_eq!(err, Some(PeerError::UnmaskedFrame.into()));
}

// --------------------------------------------------------------- hixie-76

#[test]
fn hixie_text_frames_both_directions() {
    for role in [Role::Client, Role::Server] {
        let mut wire = b"\x00Hello\xff\x00".to_vec();
        wire.extend_from_slice("héllo 😀".as_bytes());
        wire.extend_from_slice(b"\xff\x00\xff");
        assert_eq!(
            recv_all_ways(Dialect::Hixie76, role, &wire),
            (vec![text("Hello"), text("héllo 😀"), text("")], None)
        );
        let mut c = open(Dialect::Hixie76, role, Config::default(), rng());
        c.send_text("Hello").unwrap();
        c.send_text("").unwrap();
        assert_eq!(transmit(&mut c), b"\x00Hello\xff\x00\xff");
    }
}

#[test]
fn hixie_closing_handshake() {
    let mut s = server(Dialect::Hixie76);
    let mut c = client(Dialect::Hixie76);
    c.close(Instant::ZERO, CloseCode::NORMAL, "ignored")
        .unwrap();
    let wire = transmit(&mut c);
    assert_eq!(wire, [0xFF, 0x00]);
    s.receive(Instant::ZERO, &wire).unwrap();
    assert_eq!(
        s.poll_event().unwrap(),
        Some(Event::Close {
            code: None,
            reason: Default::default()
        })
    );
    assert_eq!(transmit(&mut s), [0xFF, 0x00]);
    assert!(s.wants_close());
    c.receive(Instant::ZERO, &[0xFF, 0x00, 0x00, b'x', 0xFF])
        .unwrap();
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Close { .. })));
    assert_eq!(
        c.poll_event().unwrap(),
        None,
        "data after the close is discarded"
    );
    assert!(transmit(&mut c).is_empty());
}

#[test]
fn hixie_other_frames_are_skipped() {
    // Length frames (0x80 with 129 bytes), other sentinel types (0x7F),
    // an empty 0x80 frame: all discarded, the text around them delivered.
    let mut wire = b"\x00a\xff\x80\x81\x01".to_vec();
    wire.extend_from_slice(&[0xEE; 129]);
    wire.extend_from_slice(b"\x7fjunk\xff\x80\x00\x00b\xff");
    for role in [Role::Client, Role::Server] {
        assert_eq!(
            recv_all_ways(Dialect::Hixie76, role, &wire),
            (vec![text("a"), text("b")], None)
        );
    }
}

#[test]
fn hixie_limits_and_utf8() {
    let small = Config::default().with_max_frame_size(8);
    // An unterminated text frame fails once it passes the limit.
    let (_, err) = events_all_ways_in(Dialect::Hixie76, Role::Server, &small, b"\x00123456789");
    assert!(matches!(
        err,
        Some(Error::Capacity(CapacityError::MessageTooLarge {
            size: 9,
            max: 8
        }))
    ));
    let (evs, err) =
        events_all_ways_in(Dialect::Hixie76, Role::Server, &small, b"\x0012345678\xff");
    assert_eq!((evs, err), (vec![text("12345678")], None));
    // Discarded frames are bounded too, length frames on their header.
    let (_, err) = events_all_ways_in(Dialect::Hixie76, Role::Server, &small, b"\x01123456789");
    assert!(matches!(err, Some(Error::Capacity(_))));
    let (_, err) = events_all_ways_in(Dialect::Hixie76, Role::Server, &small, b"\x80\x09");
    assert!(matches!(err, Some(Error::Capacity(_))));
    // Invalid UTF-8 fails the connection and sends the closing handshake.
    let mut s = server(Dialect::Hixie76);
    s.receive(Instant::ZERO, b"\x00\xc3\x28\xff").unwrap();
    assert_eq!(s.poll_event(), Err(PeerError::InvalidUtf8.into()));
    assert_eq!(transmit(&mut s), [0xFF, 0x00]);
    // Streaming delivers an unterminated frame as it arrives.
    let stream = Config::default().with_receive_mode(ReceiveMode::Stream);
    let mut c = open(Dialect::Hixie76, Role::Client, stream, rng());
    c.receive(Instant::ZERO, b"\x00Hel").unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        [
            Event::MessageStart(MessageKind::Text),
            Event::MessageChunk(Bytes::from_static(b"Hel"))
        ]
    );
    c.receive(Instant::ZERO, b"lo\xff").unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        [
            Event::MessageChunk(Bytes::from_static(b"lo")),
            Event::MessageEnd
        ]
    );
}

#[test]
fn hixie_refuses_what_it_does_not_have() {
    let mut c = client(Dialect::Hixie76);
    let not = |op| {
        Err(Error::Usage(UsageError::NotInDialect {
            op,
            dialect: Dialect::Hixie76,
        }))
    };
    assert_eq!(c.send_binary(&b"x"[..]), not("send_binary"));
    assert_eq!(c.send_ping(&b"x"[..]), not("send_ping"));
    assert_eq!(c.send_pong(&b"x"[..]), not("send_pong"));
    assert_eq!(
        c.send_fragment(MessageKind::Text, &b"x"[..], false),
        not("send_fragment")
    );
    assert!(transmit(&mut c).is_empty());
    assert!(c.send_text("still fine").is_ok());
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]
        /// Arbitrary input never panics in any dialect or role, and the
        /// legacy prefixes (-04/-05 masks) never index past the input.
        #[test]
        fn arbitrary_bytes_never_panic_in_any_dialect(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            server in any::<bool>(),
            dialect in 0usize..7,
            chunk in 1usize..40,
        ) {
            let d = Dialect::ALL[dialect];
            let role = if server { Role::Server } else { Role::Client };
            let cfg = Config::default().with_max_frame_size(200).with_max_message_size(400).with_max_fragments(8);
            let mut c = open(d, role, cfg, rng());
            let _ = feed_chunked(&mut c, &input, &[chunk]);
            let _ = transmit(&mut c);
            c.receive_eof(Instant::ZERO);
            let _ = drain(&mut c);
        }
    }
}

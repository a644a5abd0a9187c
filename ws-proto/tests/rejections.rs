//! One test per rejection: the error, and the close code actually sent
//! (parsed back from the transmitted close frame).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ws_proto::{
    CapacityError, Config, Error, Event, Instant, OpCode, PeerError, Role, State, UsageError,
};

/// Feeds `input` to a fresh `role` connection, expects a failure, checks the
/// close frame sent, and that the failure is permanent.
fn rejected_with(role: Role, config: Config, input: &[u8], code: u16) -> Error {
    let mut c = conn(role, config);
    let (_, err) = feed_chunked(&mut c, input, &[usize::MAX]);
    let err = err.expect("input must be rejected");
    assert_eq!(err.close_code().map(|c| c.0), Some(code), "{err}");
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(code)));
    // Permanent: every later call reports the same error.
    assert_eq!(c.poll_event(), Err(err.clone()));
    assert_eq!(c.send_text("x"), Err(err.clone()));
    assert_eq!(c.receive(Instant::ZERO, b"\x81\x00"), Err(err.clone()));
    assert_eq!(c.state(), State::Closed);
    assert!(c.wants_close());
    // Byte by byte fails the same way.
    let (_, again) = feed_chunked(&mut conn(role, Config::default()), input, &[1]);
    if again.is_some() {
        assert_eq!(again.and_then(|e| e.close_code()), err.close_code());
    }
    err
}

fn rejected(role: Role, input: &[u8], code: u16) -> Error {
    rejected_with(role, Config::default(), input, code)
}

const S: Role = Role::Server;
const C: Role = Role::Client;

#[test]
fn reserved_data_opcode() {
    let e = rejected(C, &[0x83, 0x00], 1002);
    assert_eq!(e, Error::Peer(PeerError::ReservedOpcode(3)));
}

#[test]
fn reserved_control_opcode() {
    let e = rejected(S, &[0x8B, 0x80, 1, 2, 3, 4], 1002);
    assert_eq!(e, Error::Peer(PeerError::ReservedOpcode(0xB)));
}

#[test]
fn length_with_top_bit() {
    let e = rejected(C, &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1], 1002);
    assert_eq!(e, Error::Peer(PeerError::LengthTopBit));
}

#[test]
fn non_minimal_length() {
    let mut wire = vec![0x82, 0x7E, 0x00, 0x05];
    wire.extend_from_slice(b"hello");
    assert_eq!(
        rejected(C, &wire, 1002),
        Error::Peer(PeerError::NonMinimalLength)
    );
}

#[test]
fn control_over_125_bytes() {
    let wire = frame(S, true, 0, OpCode::Ping, &[0u8; 126]);
    assert_eq!(
        rejected(S, &wire, 1002),
        Error::Peer(PeerError::ControlTooLong(126))
    );
}

#[test]
fn fragmented_control() {
    let wire = frame(C, false, 0, OpCode::Ping, b"x");
    assert_eq!(
        rejected(C, &wire, 1002),
        Error::Peer(PeerError::FragmentedControl)
    );
}

#[test]
fn rsv_bits_without_extension() {
    for rsv in [0x40, 0x20, 0x10] {
        let wire = frame(S, true, rsv, OpCode::Text, b"x");
        assert_eq!(
            rejected(S, &wire, 1002),
            Error::Peer(PeerError::ReservedBits(rsv))
        );
    }
}

#[test]
fn unmasked_frame_at_server() {
    let wire = raw_frame(true, 0, OpCode::Text, None, b"hi");
    assert_eq!(
        rejected(S, &wire, 1002),
        Error::Peer(PeerError::UnmaskedFrame)
    );
}

#[test]
fn masked_frame_at_client() {
    let wire = raw_frame(true, 0, OpCode::Text, Some([1, 2, 3, 4]), b"hi");
    assert_eq!(
        rejected(C, &wire, 1002),
        Error::Peer(PeerError::MaskedFrame)
    );
}

#[test]
fn continuation_without_message() {
    let wire = frame(C, true, 0, OpCode::Continuation, b"x");
    assert_eq!(
        rejected(C, &wire, 1002),
        Error::Peer(PeerError::UnexpectedContinuation)
    );
}

#[test]
fn new_message_inside_fragmented_one() {
    let mut wire = frame(C, false, 0, OpCode::Text, b"a");
    wire.extend(frame(C, true, 0, OpCode::Binary, b"b"));
    assert_eq!(
        rejected(C, &wire, 1002),
        Error::Peer(PeerError::ExpectedContinuation)
    );
}

#[test]
fn invalid_utf8_text() {
    let wire = frame(S, true, 0, OpCode::Text, &[b'a', 0xff]);
    assert_eq!(
        rejected(S, &wire, 1007),
        Error::Peer(PeerError::InvalidUtf8)
    );
}

#[test]
fn truncated_utf8_at_message_end() {
    let mut wire = frame(C, false, 0, OpCode::Text, "κ".as_bytes());
    wire.extend(frame(C, true, 0, OpCode::Continuation, &[0xe2, 0x82]));
    assert_eq!(
        rejected(C, &wire, 1007),
        Error::Peer(PeerError::InvalidUtf8)
    );
}

#[test]
fn invalid_utf8_fails_fast_mid_frame() {
    // A 100-byte text frame of which only the first 20 bytes arrived; the
    // invalid byte is at position 10 (Autobahn 6.4.*).
    let mut payload = vec![b'a'; 100];
    payload[10] = 0xf5;
    let wire = frame(C, true, 0, OpCode::Text, &payload);
    let mut c = conn(C, Config::default());
    c.receive(Instant::ZERO, &wire[..22]).unwrap();
    assert_eq!(c.poll_event(), Err(Error::Peer(PeerError::InvalidUtf8)));
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1007)));
}

#[test]
fn invalid_utf8_fails_fast_across_fragments() {
    // The bad sequence starts in one fragment and is impossible as soon as
    // the next fragment's first byte arrives.
    let mut wire = frame(C, false, 0, OpCode::Text, &[b'a', 0xed]);
    wire.extend(frame(
        C,
        true,
        0,
        OpCode::Continuation,
        &[0xa0, 0x80, b'z', b'z'],
    ));
    let mut c = conn(C, Config::default());
    c.receive(Instant::ZERO, &wire[..wire.len() - 3]).unwrap();
    assert_eq!(c.poll_event(), Err(Error::Peer(PeerError::InvalidUtf8)));
}

#[test]
fn close_with_one_byte_body() {
    let wire = frame(S, true, 0, OpCode::Close, &[0x03]);
    assert_eq!(
        rejected(S, &wire, 1002),
        Error::Peer(PeerError::InvalidClosePayload)
    );
}

#[test]
fn close_with_invalid_codes() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let wire = frame(C, true, 0, OpCode::Close, &code.to_be_bytes());
        assert_eq!(
            rejected(C, &wire, 1002),
            Error::Peer(PeerError::InvalidCloseCode(code))
        );
    }
}

#[test]
fn close_reason_not_utf8() {
    let wire = frame(S, true, 0, OpCode::Close, &[0x03, 0xe8, 0xce, 0xba, 0xff]);
    assert_eq!(
        rejected(S, &wire, 1007),
        Error::Peer(PeerError::InvalidCloseReason)
    );
}

#[test]
fn frame_too_large_before_payload_arrives() {
    let config = Config::default().with_max_frame_size(1000);
    // Only the header: rejected without buffering anything.
    let wire = [0x82, 0x7F, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
    let e = rejected_with(C, config, &wire, 1009);
    assert_eq!(
        e,
        Error::Capacity(CapacityError::FrameTooLarge {
            size: 0x7fff_ffff,
            max: 1000
        })
    );
}

#[test]
fn message_too_large() {
    let config = Config::default().with_max_message_size(10);
    let mut wire = frame(C, false, 0, OpCode::Binary, &[0; 6]);
    wire.extend(frame(C, true, 0, OpCode::Continuation, &[0; 6]));
    let e = rejected_with(C, config, &wire, 1009);
    assert_eq!(
        e,
        Error::Capacity(CapacityError::MessageTooLarge { size: 12, max: 10 })
    );
}

#[test]
fn too_many_fragments() {
    let config = Config::default().with_max_fragments(3);
    let mut wire = frame(S, false, 0, OpCode::Binary, b"a");
    for _ in 0..3 {
        wire.extend(frame(S, false, 0, OpCode::Continuation, b"a"));
    }
    let e = rejected_with(S, config, &wire, 1009);
    assert_eq!(
        e,
        Error::Capacity(CapacityError::TooManyFragments { size: 4, max: 3 })
    );
}

#[test]
fn default_limits_allow_autobahn_9_4() {
    // 4 MiB in 64-byte fragments = 65536 fragments must pass by default.
    let c = Config::default();
    assert!(c.max_fragments >= 65536 && c.max_message_size >= 4 << 20);
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut c = conn(C, Config::default());
    c.receive(Instant::ZERO, &frame(C, true, 0, OpCode::Text, b"hi"))
        .unwrap();
    c.receive_eof(Instant::ZERO);
    assert_eq!(c.poll_event().unwrap(), Some(Event::Text("hi".into())));
    let e = c.poll_event().unwrap_err();
    assert_eq!(e, Error::Peer(PeerError::UnexpectedEof));
    assert_eq!(e.close_code().map(|c| c.0), Some(1006));
    // 1006 is never put on the wire.
    assert_eq!(sent_close(&transmit(&mut c)), None);
    assert!(c.wants_close());
}

#[test]
fn data_after_close_is_ignored() {
    let mut wire = frame(S, true, 0, OpCode::Close, &1000u16.to_be_bytes());
    wire.extend(frame(S, true, 0, OpCode::Text, b"late"));
    wire.extend([0xff, 0xff]); // even garbage
    let mut s = conn(S, Config::default());
    s.receive(Instant::ZERO, &wire).unwrap();
    assert!(matches!(s.poll_event().unwrap(), Some(Event::Close { .. })));
    assert_eq!(s.poll_event().unwrap(), None);
    s.receive(Instant::ZERO, b"more garbage").unwrap();
    assert_eq!(s.poll_event().unwrap(), None);
}

#[test]
fn caller_errors_are_not_fatal() {
    let mut c = conn(C, Config::default());
    assert_eq!(
        c.send_ping(vec![0u8; 126]),
        Err(UsageError::ControlTooLong { size: 126 }.into())
    );
    let now = Instant::ZERO;
    assert_eq!(
        c.close(now, 1005.into(), ""),
        Err(UsageError::InvalidCloseCode(1005).into())
    );
    assert_eq!(
        c.close(now, 1000.into(), &"x".repeat(124)),
        Err(UsageError::ReasonTooLong { size: 124 }.into())
    );
    assert_eq!(
        c.recv_commit(now, 1),
        Err(UsageError::CommitTooLarge { size: 1, max: 0 }.into())
    );
    assert_eq!(c.state(), State::Open);
    c.send_fragment(ws_proto::MessageKind::Text, &b"a"[..], false)
        .unwrap();
    assert_eq!(c.send_text("b"), Err(UsageError::MessageInProgress.into()));
    assert_eq!(
        c.send_fragment(ws_proto::MessageKind::Text, &[0xffu8][..], true),
        Err(UsageError::InvalidUtf8.into())
    );
    c.close(now, 1000.into(), "").unwrap();
    assert_eq!(
        c.send_binary(&b"x"[..]),
        Err(UsageError::AlreadyClosing.into())
    );
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn every_dialect_opens_hybi04_needs_its_key() {
    use ws_proto::{Connection, Dialect, UsageError};
    use ws_proto::{Negotiated, Role};
    let open = |n| Connection::new(Role::Server, Config::default(), n, None, Instant::ZERO);
    let r = open(Negotiated::new(Dialect::Hybi04));
    assert_eq!(r.err(), Some(Error::Usage(UsageError::MissingHybi04Key)));
    for d in Dialect::ALL {
        let c = open(Negotiated::new(d).with_hybi04_key([7; 20])).unwrap();
        assert_eq!(c.dialect(), d);
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            server in any::<bool>(),
            chunk in 1usize..50,
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let config = Config::default().with_max_frame_size(200).with_max_message_size(400).with_max_fragments(8);
            let mut c = conn(role, config);
            let _ = feed_chunked(&mut c, &input, &[chunk]);
            let _ = transmit(&mut c);
            c.receive_eof(Instant::ZERO);
            let _ = drain(&mut c);
        }
    }
}

/// The limits hold exactly at their edge for whole small frames (decoded
/// in one step when they fit, the general way otherwise): a payload of the
/// limit is delivered, one byte more is refused with 1009 (frame or
/// message limit) or streamed (the streaming threshold).
#[test]
fn small_frame_limits_hold_at_their_edge() {
    use ws_proto::{MessageKind, ReceiveMode};
    for max in [0u64, 1, 20, 125, 126, 1000, 65_535] {
        for (name, config) in [
            ("frame", Config::default().with_max_frame_size(max)),
            ("message", Config::default().with_max_message_size(max)),
        ] {
            let fits = frame(S, true, 0, OpCode::Binary, &vec![7; max as usize]);
            let (events, err) = feed_chunked(&mut conn(S, config.clone()), &fits, &[usize::MAX]);
            assert_eq!(err, None, "{name} limit {max}: a payload of the limit");
            assert_eq!(events, [Event::Binary(vec![7; max as usize].into())]);
            let over = frame(S, true, 0, OpCode::Binary, &vec![7; max as usize + 1]);
            let e = rejected_with(S, config, &over, 1009);
            assert!(matches!(e, Error::Capacity(_)), "{name} limit {max}: {e}");
        }
        if max == 0 {
            // A threshold of 0 streams every message, as `Stream` does.
            continue;
        }
        let config = Config::default().with_receive_mode(ReceiveMode::Threshold(max as usize));
        let fits = frame(S, true, 0, OpCode::Binary, &vec![7; max as usize]);
        let (events, err) = feed_chunked(&mut conn(S, config.clone()), &fits, &[usize::MAX]);
        assert_eq!(err, None);
        assert_eq!(
            events,
            [Event::Binary(vec![7; max as usize].into())],
            "threshold {max}"
        );
        let over = frame(S, true, 0, OpCode::Binary, &vec![7; max as usize + 1]);
        let (events, err) = feed_chunked(&mut conn(S, config), &over, &[usize::MAX]);
        assert_eq!(err, None);
        assert_eq!(
            events.first(),
            Some(&Event::MessageStart(MessageKind::Binary)),
            "threshold {max}"
        );
    }
}

//! What a peer can make a connection hold, and for how long: the stall,
//! write and pong deadlines, and payloads that do not pin the receive
//! buffer they were read into (issue 15, findings 2 and 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use ws_proto::{Config, Connection, Error, Event, Instant, OpCode, Role, TimeoutError};

fn at(secs: u64) -> Instant {
    Instant::from_since_epoch(Duration::from_secs(secs))
}

fn server() -> Connection {
    conn(Role::Server, Config::default())
}

/// Fires every timer due up to `t` the way a driver does: sleep until
/// `poll_timeout`, call `handle_timeout`, repeat.
fn run_timers_until(c: &mut Connection, t: Instant) {
    for _ in 0..100 {
        match c.poll_timeout() {
            Some(due) if due <= t => c.handle_timeout(due),
            _ => return,
        }
    }
    panic!("timers keep firing");
}

#[test]
fn a_stalled_partial_message_is_closed_with_1008() {
    // Half of a frame's payload, then silence (finding 3: the peer parks
    // a partial message and goes quiet).
    let mut c = server();
    let f = frame(Role::Server, true, 0, OpCode::Binary, &[7; 1000]);
    c.receive(at(0), &f[..500]).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![]);
    assert_eq!(c.poll_timeout(), Some(at(30)), "default stall timeout");
    run_timers_until(&mut c, at(29));
    assert!(drain(&mut c).is_ok(), "not yet");
    run_timers_until(&mut c, at(30));
    let (_, e) = drain(&mut c).unwrap_err();
    assert_eq!(e, Error::Timeout(TimeoutError::Stalled));
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1008)));
    assert!(c.wants_close());
    assert_eq!(c.buffered_receive(), 0, "the partial message is released");
}

#[test]
fn unfinished_fragmented_message_and_partial_header_stall_too() {
    // A first fragment (FIN=0), complete, then nothing.
    let mut c = server();
    c.receive(at(0), &frame(Role::Server, false, 0, OpCode::Text, b"part"))
        .unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![]);
    run_timers_until(&mut c, at(31));
    assert_eq!(
        drain(&mut c).unwrap_err().1,
        Error::Timeout(TimeoutError::Stalled)
    );
    // One byte of a header.
    let mut c = server();
    c.receive(at(0), &[0x82]).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![]);
    run_timers_until(&mut c, at(31));
    assert_eq!(
        drain(&mut c).unwrap_err().1,
        Error::Timeout(TimeoutError::Stalled)
    );
}

#[test]
fn progress_restarts_the_stall_clock_and_idle_connections_do_not_stall() {
    let mut c = server();
    let f = frame(Role::Server, true, 0, OpCode::Binary, &[7; 1000]);
    // A byte every 20 s: slow, but never silent for 30 s.
    for (i, byte) in f.iter().take(5).enumerate() {
        let t = at(20 * i as u64);
        run_timers_until(&mut c, t);
        c.receive(t, std::slice::from_ref(byte)).unwrap();
        assert_eq!(drain(&mut c).unwrap(), vec![]);
    }
    // Between messages nothing is held: no stall timer at all. After one
    // message no deadline either (the drained receive buffer is released
    // at once); after a second within a `buffer_linger` the buffer is kept
    // and its release is the one deadline, a linger after the last use.
    let mut c = server();
    let hi = frame(Role::Server, true, 0, OpCode::Text, b"hi");
    c.receive(at(0), &hi).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![Event::Text("hi".into())]);
    assert_eq!(c.poll_timeout(), None);
    let linger = Config::default().buffer_linger.unwrap();
    let soon = at(0) + linger / 2;
    c.receive(soon, &hi).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![Event::Text("hi".into())]);
    assert_eq!(c.poll_timeout(), Some(soon + linger));
    c.handle_timeout(soon + linger);
    assert_eq!(c.poll_timeout(), None);
    // And the stall timeout can be turned off.
    let mut c = conn(Role::Server, Config::default().with_stall_timeout(None));
    c.receive(at(0), &[0x82]).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let mut c = server();
    c.send_binary(vec![1u8; 100]).unwrap();
    // The driver writes nothing (the socket is full) from t = 0 on. The
    // first check restarts the wait (the queue may have started at a stale
    // `now`); no byte written for a whole period after that fails.
    run_timers_until(&mut c, at(59));
    assert!(drain(&mut c).is_ok());
    assert!(!c.wants_close());
    run_timers_until(&mut c, at(60));
    assert_eq!(
        drain(&mut c).unwrap_err().1,
        Error::Timeout(TimeoutError::WriteStalled)
    );
    assert!(
        c.wants_close(),
        "closed at once: the close frame cannot be delivered"
    );
}

#[test]
fn a_slow_but_moving_reader_is_not_dropped() {
    let mut c = server();
    c.send_binary(vec![1u8; 1000]).unwrap();
    // Ten bytes written every 25 s: progress in every period.
    for i in 1..=20 {
        run_timers_until(&mut c, at(25 * i));
        c.advance_transmit(10);
    }
    assert!(drain(&mut c).is_ok());
    assert!(c.pending_transmit() > 0);
    assert!(!c.wants_close());
}

#[test]
fn keep_alive_pings_need_a_pong_within_the_pong_timeout() {
    let config = Config::default()
        .with_keep_alive(Some(Duration::from_secs(10)))
        .with_pong_timeout(Some(Duration::from_secs(5)));
    // Answered: the connection lives on.
    let mut c = conn(Role::Server, config.clone());
    run_timers_until(&mut c, at(10));
    let ping = transmit(&mut c);
    assert_eq!(parse_frames(&ping)[0].0.opcode, OpCode::Ping);
    c.receive(at(12), &frame(Role::Server, true, 0, OpCode::Pong, b""))
        .unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        vec![Event::Pong(Default::default())]
    );
    run_timers_until(&mut c, at(21));
    assert!(drain(&mut c).is_ok());
    // Not answered: closed with 1001 at the deadline, even though other
    // data keeps arriving.
    let mut c = conn(Role::Server, config);
    run_timers_until(&mut c, at(10));
    transmit(&mut c);
    c.receive(at(13), &frame(Role::Server, true, 0, OpCode::Text, b"x"))
        .unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![Event::Text("x".into())]);
    run_timers_until(&mut c, at(15));
    assert_eq!(
        drain(&mut c).unwrap_err().1,
        Error::Timeout(TimeoutError::NoPong)
    );
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1001)));
}

#[test]
fn a_small_message_does_not_pin_a_large_receive_buffer() {
    // Finding 2: a 1 MiB frame and a 2-byte message read together. The
    // big payload is handed out zero copy; the small one is copied, so
    // keeping it does not keep the megabyte alive.
    let mut c = server();
    let mut wire = frame(Role::Server, true, 0, OpCode::Binary, &vec![3u8; 1 << 20]);
    wire.extend(frame(Role::Server, true, 0, OpCode::Binary, b"hi"));
    wire.push(0x82); // the first byte of a next header
    c.receive(at(0), &wire).unwrap();
    let evs = drain(&mut c).unwrap();
    let [Event::Binary(big), Event::Binary(small)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!((big.len(), &small[..]), (1 << 20, &b"hi"[..]));
    let small = small.clone();
    drop(evs);
    assert!(
        small.is_unique(),
        "the 2-byte message shares the 1 MiB allocation"
    );
    // The connection itself holds one byte of header, in a buffer of its
    // own size, not the megabyte.
    assert_eq!(c.buffered_receive(), 1);
    assert!(
        c.buffer_capacity() <= 64,
        "holds {} bytes for one header byte",
        c.buffer_capacity()
    );
}

#[test]
fn messages_of_a_read_still_share_its_buffer() {
    // Zero copy where it does not pin: messages about the size of the read
    // share it.
    let mut c = server();
    let mut wire = frame(Role::Server, true, 0, OpCode::Binary, &[1; 3000]);
    wire.extend(frame(Role::Server, true, 0, OpCode::Binary, &[2; 3000]));
    c.receive(at(0), &wire).unwrap();
    let evs = drain(&mut c).unwrap();
    let [Event::Binary(a), Event::Binary(b)] = &evs[..] else {
        panic!("{evs:?}")
    };
    let (a, b) = (a.clone(), b.clone());
    drop(evs);
    assert!(!a.is_unique(), "copied although it pins little");
    drop(b);
    // The connection keeps the buffer for its next message, a linger long.
    c.handle_timeout(at(0) + Config::default().buffer_linger.unwrap());
    assert!(a.is_unique());
}

#[test]
fn abort_closes_now_and_drops_what_was_received() {
    let mut c = server();
    let f = frame(Role::Server, true, 0, OpCode::Binary, &[7; 10_000]);
    c.receive(at(0), &f[..6000]).unwrap();
    assert_eq!(drain(&mut c).unwrap(), vec![]);
    c.abort(ws_proto::CloseCode::TRY_AGAIN_LATER, "over budget");
    assert_eq!(c.buffered_receive(), 0);
    let out = transmit(&mut c);
    let frames = parse_frames(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0].1[..2], &1013u16.to_be_bytes());
    assert_eq!(&frames[0].1[2..], b"over budget");
    assert!(c.wants_close());
    assert_eq!(
        drain(&mut c).unwrap_err().1,
        Error::Aborted(ws_proto::CloseCode::TRY_AGAIN_LATER)
    );
    // Later input is ignored; a second abort changes nothing.
    c.abort(ws_proto::CloseCode::POLICY_VIOLATION, "");
    assert!(transmit(&mut c).is_empty());
}

//! Streaming receive, vectored transmit, bounded memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ws_proto::{
    Bytes, Config, Connection, Event, Instant, MessageKind, OpCode, PeerError, ReceiveMode, Role,
};

fn stream_conn() -> ws_proto::Connection {
    conn(
        Role::Client,
        Config::default().with_receive_mode(ReceiveMode::Stream),
    )
}

#[test]
fn chunks_are_delivered_mid_frame() {
    let payload: Vec<u8> = (0..100).collect();
    let wire = frame(Role::Client, true, 0, OpCode::Binary, &payload);
    let mut c = stream_conn();
    c.receive(Instant::ZERO, &wire[..12]).unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        vec![
            Event::MessageStart(MessageKind::Binary),
            Event::MessageChunk(Bytes::from(payload[..10].to_vec())),
        ]
    );
    c.receive(Instant::ZERO, &wire[12..62]).unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        vec![Event::MessageChunk(Bytes::from(payload[10..60].to_vec()))]
    );
    c.receive(Instant::ZERO, &wire[62..]).unwrap();
    assert_eq!(
        drain(&mut c).unwrap(),
        vec![
            Event::MessageChunk(Bytes::from(payload[60..].to_vec())),
            Event::MessageEnd,
        ]
    );
}

#[test]
fn control_frames_interleave_with_a_streamed_message() {
    let mut wire = frame(Role::Client, false, 0, OpCode::Text, b"ab");
    wire.extend(frame(Role::Client, true, 0, OpCode::Ping, b"!"));
    wire.extend(frame(Role::Client, true, 0, OpCode::Continuation, b"cd"));
    let evs = feed_chunked(&mut stream_conn(), &wire, &[usize::MAX]).0;
    assert_eq!(
        evs,
        vec![
            Event::MessageStart(MessageKind::Text),
            Event::MessageChunk(Bytes::from_static(b"ab")),
            Event::Ping(Bytes::from_static(b"!")),
            Event::MessageChunk(Bytes::from_static(b"cd")),
            Event::MessageEnd,
        ]
    );
}

#[test]
fn threshold_switches_large_messages_to_streaming() {
    let config = Config::default().with_receive_mode(ReceiveMode::Threshold(8));
    let mut wire = frame(Role::Client, true, 0, OpCode::Binary, b"small");
    wire.extend(frame(Role::Client, false, 0, OpCode::Binary, b"12345"));
    wire.extend(frame(Role::Client, true, 0, OpCode::Continuation, b"67890"));
    let evs = feed_chunked(&mut conn(Role::Client, config), &wire, &[usize::MAX]).0;
    assert_eq!(
        evs,
        vec![
            Event::Binary(Bytes::from_static(b"small")),
            Event::MessageStart(MessageKind::Binary),
            // What was buffered and the frame that crossed the threshold.
            Event::MessageChunk(Bytes::from_static(b"1234567890")),
            Event::MessageEnd,
        ]
    );
}

#[test]
fn streamed_text_fails_fast() {
    let mut payload = b"valid so far ".to_vec();
    payload.push(0xC0);
    payload.extend_from_slice(&[b'x'; 50]);
    let wire = frame(Role::Client, true, 0, OpCode::Text, &payload);
    let mut c = stream_conn();
    c.receive(Instant::ZERO, &wire[..2 + 14]).unwrap();
    let r = drain(&mut c);
    assert_eq!(
        r.unwrap_err().1,
        ws_proto::Error::Peer(PeerError::InvalidUtf8)
    );
}

#[test]
fn vectored_transmit_is_zero_copy_on_the_server() {
    let mut s = conn(Role::Server, Config::default());
    let payload = Bytes::from(vec![7u8; 100_000]);
    s.send_binary(payload.clone()).unwrap();
    s.send_ping(&b"p"[..]).unwrap();
    {
        let mut slices: [&[u8]; 8] = [&[]; 8];
        let n = s.transmit_slices(&mut slices);
        // Header and payload of the large frame apart; the small ping
        // whole, in one slice.
        assert_eq!(n, 3);
        assert_eq!(slices[0], &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x86, 0xA0]);
        assert_eq!(slices[2], &[0x89, 0x01, b'p']);
        assert_eq!(
            slices[1].as_ptr(),
            payload.as_ptr(),
            "payload written from the caller's buffer"
        );
    }
    assert_eq!(s.pending_transmit(), 10 + 100_000 + 3);
    // A partial write, then the rest.
    s.advance_transmit(5);
    {
        let mut slices: [&[u8]; 8] = [&[]; 8];
        let n = s.transmit_slices(&mut slices);
        assert_eq!((n, slices[0].len()), (3, 5));
    }
    s.advance_transmit(5 + 99_990);
    let mut rest = Vec::new();
    s.poll_transmit(&mut rest);
    assert_eq!(rest, [7u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0x89, 0x01, b'p']);
    assert_eq!(s.pending_transmit(), 0);
}

#[test]
fn io_slices_match_transmit_slices() {
    let mut s = conn(Role::Server, Config::default());
    s.send_text("hello").unwrap();
    let mut io = [std::io::IoSlice::new(&[]); 4];
    let n = s.fill_io_slices(&mut io);
    let joined: Vec<u8> = io[..n].iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(joined, transmit(&mut s));
}

#[test]
fn ping_flood_stays_bounded() {
    let mut s = conn(Role::Server, Config::default());
    for i in 0..10_000u32 {
        s.receive(
            Instant::ZERO,
            &frame(Role::Server, true, 0, OpCode::Ping, &i.to_be_bytes()),
        )
        .unwrap();
        drain(&mut s).unwrap();
    }
    // The output is never drained: past a backlog of 64 frames (or 16 KiB)
    // pongs replace the last queued one, which answers the latest ping.
    assert!(s.pending_transmit() <= 65 * 6, "{}", s.pending_transmit());
    let frames = parse_frames(&transmit(&mut s));
    assert!(frames.len() <= 65, "{}", frames.len());
    assert_eq!(frames.last().unwrap().1, 9999u32.to_be_bytes());
}

/// Autobahn 2.10: ten pings in one read, each answered by its own pong,
/// in order, even though nothing is written in between.
#[test]
fn ping_burst_gets_every_pong() {
    let mut s = conn(Role::Server, Config::default());
    let mut wire = Vec::new();
    for i in 0..10u32 {
        wire.extend(frame(Role::Server, true, 0, OpCode::Ping, &i.to_be_bytes()));
    }
    s.receive(Instant::ZERO, &wire).unwrap();
    drain(&mut s).unwrap();
    let frames = parse_frames(&transmit(&mut s));
    let payloads: Vec<_> = frames.iter().map(|f| f.1.clone()).collect();
    let expected: Vec<_> = (0..10u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(payloads, expected);
}

#[test]
fn idle_connection_holds_no_buffers() {
    let mut s = conn(Role::Server, Config::default());
    let buf = s.recv_buf(4096);
    let wire = frame(Role::Server, true, 0, OpCode::Text, b"hi");
    buf[..wire.len()].copy_from_slice(&wire);
    s.recv_commit(Instant::ZERO, wire.len()).unwrap();
    assert!(s.buffer_capacity() >= 4096);
    assert_eq!(s.poll_event().unwrap(), Some(Event::Text("hi".into())));
    assert_eq!(s.poll_event().unwrap(), None);
    s.send_text("yo").unwrap();
    transmit(&mut s);
    // Idle: a `buffer_linger` after the last use, what was kept for the
    // next message is released.
    s.handle_timeout(Instant::ZERO + Config::default().buffer_linger.unwrap());
    assert_eq!(s.buffer_capacity(), 0);
}

#[test]
fn drained_connection_releases_memory() {
    // One 1000-byte message each way at `t`; the buffer capacity after.
    fn exchange(c: &mut Connection, t: Instant) -> usize {
        c.receive(t, &frame(Role::Client, true, 0, OpCode::Binary, &[1; 1000]))
            .unwrap();
        assert!(matches!(c.poll_event().unwrap(), Some(Event::Binary(_))));
        assert_eq!(c.poll_event().unwrap(), None);
        c.send_binary(vec![0u8; 1000]).unwrap();
        transmit(c);
        c.buffer_capacity()
    }
    let linger = Config::default().buffer_linger.unwrap();
    let mut c = conn(Role::Client, Config::default());
    // One message and quiet: released as soon as drained.
    assert_eq!(
        exchange(&mut c, Instant::ZERO),
        0,
        "one message keeps nothing"
    );
    // A second within the linger: the connection is busy, its buffers are
    // kept for the next message ...
    let t = Instant::ZERO + linger / 2;
    assert!(exchange(&mut c, t) > 0, "kept for the next message");
    // ... and released a linger after their last use.
    c.handle_timeout(t + linger);
    assert_eq!(c.buffer_capacity(), 0);
    // A message more than a linger after the previous one: not busy.
    assert_eq!(exchange(&mut c, t + linger * 3), 0);
    // Without a linger, released as soon as drained.
    let mut c = conn(Role::Client, Config::default().with_buffer_linger(None));
    for i in 0..3 {
        assert_eq!(exchange(&mut c, Instant::ZERO + linger * i / 4), 0);
    }
}

/// The contiguous output small frames are written into (issue 18) is
/// bounded by what is unsent: a backlog larger than what a busy
/// connection keeps is released as soon as it drains, busy or not; a
/// small one is kept for the next messages and released a linger after
/// its last use.
#[test]
fn drained_output_backlog_is_released() {
    // A masked client frame: 2 header bytes, 4 of mask, 100 of payload.
    const FRAME: usize = 106;
    let linger = Config::default().buffer_linger.unwrap();
    let mut c = conn(Role::Client, Config::default());
    // Busy: a message drained a moment ago.
    c.send_binary_slice(&[1; 100]).unwrap();
    assert_eq!(transmit(&mut c).len(), FRAME);
    let t = Instant::ZERO + linger / 4;
    c.mark_time(t);
    // A 2 MB backlog of small frames, drained in pieces as a socket would.
    for _ in 0..20_000 {
        c.send_binary_slice(&[2; 100]).unwrap();
    }
    assert!(
        c.buffer_capacity() >= 20_000 * FRAME,
        "{}",
        c.buffer_capacity()
    );
    let mut sent = 0;
    while c.pending_transmit() > 0 {
        let mut piece = [std::io::IoSlice::new(&[]); 4];
        let n = c.fill_io_slices(&mut piece);
        let len: usize = piece[..n]
            .iter()
            .map(|s| s.len())
            .sum::<usize>()
            .min(64 << 10);
        c.advance_transmit(len);
        sent += len;
    }
    assert_eq!(sent, 20_000 * FRAME);
    assert_eq!(
        c.buffer_capacity(),
        0,
        "a large backlog is released once drained"
    );
    // A small backlog on the busy connection: kept, then released.
    for _ in 0..10 {
        c.send_binary_slice(&[3; 100]).unwrap();
    }
    assert_eq!(transmit(&mut c).len(), 10 * FRAME);
    assert!(c.buffer_capacity() > 0, "kept for the next messages");
    c.handle_timeout(t + linger);
    assert_eq!(c.buffer_capacity(), 0, "released a linger later");
}

#[test]
fn announced_length_is_not_reserved() {
    let mut c = conn(Role::Client, Config::default());
    // A header announcing 16 MiB, and 10 bytes of it.
    let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0];
    wire.extend_from_slice(&[0; 10]);
    c.receive(Instant::ZERO, &wire).unwrap();
    assert_eq!(c.poll_event().unwrap(), None);
    assert!(c.buffer_capacity() < 4096, "{}", c.buffer_capacity());
}

#[test]
fn connection_is_small() {
    assert!(std::mem::size_of::<ws_proto::Connection>() <= 256);
}

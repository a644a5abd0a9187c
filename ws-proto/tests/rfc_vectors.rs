//! RFC 6455 §5.7 examples, byte-exact, in both directions; every input also
//! fed byte by byte and in random splits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ws_proto::{Bytes, Config, Connection, Event, Instant, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const HELLO_MASKED: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
const HELLO_UNMASKED: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HEL_LO: [u8; 9] = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
const PING_HELLO: [u8; 7] = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const PONG_HELLO_MASKED: [u8; 11] = [
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

fn fixed_client(config: Config) -> Connection {
    Connection::client(config, Box::new(FixedKey(KEY)), Instant::ZERO).unwrap()
}

fn text(s: &str) -> Event {
    Event::Text(s.into())
}

#[test]
fn decode_unmasked_hello_at_client() {
    let (evs, err) = events_all_ways(Role::Client, &Config::default(), &HELLO_UNMASKED);
    assert_eq!((evs, err), (vec![text("Hello")], None));
}

#[test]
fn decode_masked_hello_at_server() {
    let (evs, err) = events_all_ways(Role::Server, &Config::default(), &HELLO_MASKED);
    assert_eq!((evs, err), (vec![text("Hello")], None));
}

#[test]
fn decode_fragmented_hel_lo() {
    let (evs, err) = events_all_ways(Role::Client, &Config::default(), &HEL_LO);
    assert_eq!((evs, err), (vec![text("Hello")], None));
}

#[test]
fn decode_ping_and_masked_pong() {
    let (evs, _) = events_all_ways(Role::Client, &Config::default(), &PING_HELLO);
    assert_eq!(evs, vec![Event::Ping(Bytes::from_static(b"Hello"))]);
    let (evs, _) = events_all_ways(Role::Server, &Config::default(), &PONG_HELLO_MASKED);
    assert_eq!(evs, vec![Event::Pong(Bytes::from_static(b"Hello"))]);
}

#[test]
fn decode_256_and_64k_binary() {
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend((0..256).map(|i| i as u8));
    let (evs, _) = events_all_ways(Role::Client, &Config::default(), &wire);
    assert_eq!(
        evs,
        vec![Event::Binary(Bytes::from(
            (0..256).map(|i| i as u8).collect::<Vec<_>>()
        ))]
    );

    let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    wire.extend((0..65536).map(|i| (i * 7) as u8));
    let evs = feed_chunked(
        &mut conn(Role::Client, Config::default()),
        &wire,
        &[1000, 1, 333],
    )
    .0;
    let want: Vec<u8> = (0..65536).map(|i| (i * 7) as u8).collect();
    assert_eq!(evs, vec![Event::Binary(Bytes::from(want))]);
}

#[test]
fn encode_unmasked_hello_from_server() {
    let mut s = conn(Role::Server, Config::default());
    s.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut s), HELLO_UNMASKED);
}

#[test]
fn encode_masked_hello_from_client() {
    let mut c = fixed_client(Config::default());
    c.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut c), HELLO_MASKED);
}

#[test]
fn encode_fragmented_hel_lo() {
    let config = Config::default().with_fragment_size(Some(3));
    let mut s = conn(Role::Server, config);
    s.send_text("Hello").unwrap();
    assert_eq!(transmit(&mut s), HEL_LO);
    // The same in parts.
    let mut s = conn(Role::Server, Config::default());
    s.send_fragment(ws_proto::MessageKind::Text, &b"Hel"[..], false)
        .unwrap();
    s.send_fragment(ws_proto::MessageKind::Text, &b"lo"[..], true)
        .unwrap();
    assert_eq!(transmit(&mut s), HEL_LO);
}

#[test]
fn encode_ping_and_masked_pong() {
    let mut s = conn(Role::Server, Config::default());
    s.send_ping(&b"Hello"[..]).unwrap();
    assert_eq!(transmit(&mut s), PING_HELLO);
    let mut c = fixed_client(Config::default());
    c.send_pong(&b"Hello"[..]).unwrap();
    assert_eq!(transmit(&mut c), PONG_HELLO_MASKED);
}

#[test]
fn encode_256_and_64k_headers() {
    let mut s = conn(Role::Server, Config::default());
    s.send_binary(vec![0u8; 256]).unwrap();
    assert_eq!(&transmit(&mut s)[..4], &[0x82, 0x7E, 0x01, 0x00]);
    s.send_binary(vec![0u8; 65536]).unwrap();
    let wire = transmit(&mut s);
    assert_eq!(&wire[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    assert_eq!(wire.len(), 10 + 65536);
}

/// The wire form of a server's unfragmented binary message (§5.2).
fn server_binary_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x82];
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xFFFF => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A busy server copies messages up to 2 KiB into its output with a 2- or
/// 4-byte header, borrowed or owned, and queues larger ones; with
/// `fragment_size` a message longer than it is split. The wire is the same
/// whichever path a length takes.
#[test]
fn encode_header_sizes_back_to_back() {
    let lens = [
        0, 1, 125, 126, 127, 1000, 1001, 2047, 2048, 2049, 65535, 65536,
    ];
    for borrowed in [false, true] {
        let mut s = conn(Role::Server, Config::default());
        let mut want = Vec::new();
        for (i, &len) in lens.iter().chain(&lens).enumerate() {
            let payload: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
            want.extend(server_binary_frame(&payload));
            if borrowed {
                s.send_binary_slice(&payload).unwrap();
            } else {
                s.send_binary(payload).unwrap();
            }
        }
        assert_eq!(transmit(&mut s), want, "borrowed: {borrowed}");
    }
    // Split at 1,000 bytes: 1,000 is one frame, 1,001 two.
    let mut s = conn(
        Role::Server,
        Config::default().with_fragment_size(Some(1000)),
    );
    s.send_binary_slice(&[1; 200]).unwrap();
    s.send_binary_slice(&[2; 1000]).unwrap();
    s.send_binary_slice(&[3; 1001]).unwrap();
    // Owned and past 2 KiB: split too, not queued whole.
    s.send_binary(vec![4u8; 3000]).unwrap();
    let mut want = server_binary_frame(&[1; 200]);
    want.extend(server_binary_frame(&[2; 1000]));
    want.extend([0x02, 126, 0x03, 0xE8]);
    want.extend([3; 1000]);
    want.extend([0x80, 1, 3]);
    for head in [0x02, 0x00, 0x80] {
        want.extend([head, 126, 0x03, 0xE8]);
        want.extend([4; 1000]);
    }
    assert_eq!(transmit(&mut s), want);
    // Split at 5,000 bytes: two fragments queued zero copy, the last
    // (2,000 bytes) copied, with a small message before and after.
    let mut s = conn(
        Role::Server,
        Config::default().with_fragment_size(Some(5000)),
    );
    let big: Vec<u8> = (0..12_000u32).map(|k| (k % 251) as u8).collect();
    s.send_binary_slice(b"a").unwrap();
    s.send_binary(big.clone()).unwrap();
    s.send_binary_slice(b"b").unwrap();
    let mut want = server_binary_frame(b"a");
    for (head, part) in [(0x02, &big[..5000]), (0x00, &big[5000..10_000])] {
        want.extend([head, 126, 0x13, 0x88]);
        want.extend_from_slice(part);
    }
    want.extend([0x80, 126, 0x07, 0xD0]);
    want.extend_from_slice(&big[10_000..]);
    want.extend(server_binary_frame(b"b"));
    assert_eq!(transmit(&mut s), want);
}

#[test]
fn auto_pong_echoes_ping_payload() {
    let mut c = fixed_client(Config::default());
    c.receive(Instant::ZERO, &PING_HELLO).unwrap();
    assert_eq!(
        c.poll_event().unwrap(),
        Some(Event::Ping(Bytes::from_static(b"Hello")))
    );
    assert_eq!(transmit(&mut c), PONG_HELLO_MASKED);
}

#[test]
fn single_frame_message_is_zero_copy() {
    let mut c = conn(Role::Client, Config::default());
    let buf = c.recv_buf(HELLO_UNMASKED.len());
    buf[..7].copy_from_slice(&HELLO_UNMASKED);
    let addr = buf.as_ptr() as usize;
    c.recv_commit(Instant::ZERO, 7).unwrap();
    let Some(Event::Text(t)) = c.poll_event().unwrap() else {
        panic!("no text")
    };
    // The message points into the very buffer the driver read into.
    assert_eq!(t.as_bytes().as_ptr() as usize, addr + 2);
}

/// `receive` fills space an earlier `recv_buf` lent before growing the
/// buffer, and input split across the two forms decodes as one stream.
#[test]
fn receive_after_partial_recv_buf_keeps_order() {
    let mut wire = HELLO_UNMASKED.to_vec();
    wire.extend_from_slice(&PING_HELLO);
    wire.extend_from_slice(&HELLO_UNMASKED);
    for lent in [1usize, 3, 7, 14, 40] {
        for first in 0..=lent.min(wire.len()) {
            let mut c = conn(Role::Client, Config::default());
            let buf = c.recv_buf(lent);
            buf[..first].copy_from_slice(&wire[..first]);
            c.recv_commit(Instant::ZERO, first).unwrap();
            // Part of the lent space is still unused: `receive` must put
            // the rest right behind the committed bytes.
            c.receive(Instant::ZERO, &wire[first..]).unwrap();
            let mut got = Vec::new();
            while let Some(ev) = c.poll_event().unwrap() {
                got.push(ev);
            }
            assert_eq!(
                got,
                [
                    text("Hello"),
                    Event::Ping(Bytes::from_static(b"Hello")),
                    text("Hello")
                ],
                "lent {lent}, committed {first}"
            );
            assert_eq!(c.buffered_receive(), 0);
        }
    }
}

/// `frame_bytes_expected` tells a driver how much of a large frame is
/// still to come, counting bytes already buffered but not yet parsed.
#[test]
fn frame_bytes_expected_counts_down() {
    let mut c = conn(Role::Client, Config::default());
    assert_eq!(c.frame_bytes_expected(), 0);
    let mut wire = vec![0x82, 126, 0x27, 0x10]; // binary, 10,000 bytes
    wire.extend(std::iter::repeat_n(7u8, 10_000));
    c.receive(Instant::ZERO, &wire[..1004]).unwrap();
    // Not parsed yet: nothing is known.
    assert_eq!(c.frame_bytes_expected(), 0);
    assert_eq!(c.poll_event().unwrap(), None);
    assert_eq!(c.frame_bytes_expected(), 9_000);
    // Buffered but not parsed bytes count as arrived.
    c.receive(Instant::ZERO, &wire[1004..3004]).unwrap();
    assert_eq!(c.frame_bytes_expected(), 7_000);
    let lent = c.recv_buf(7_000);
    lent[..7_000].copy_from_slice(&wire[3004..]);
    c.recv_commit(Instant::ZERO, 7_000).unwrap();
    assert_eq!(c.frame_bytes_expected(), 0);
    let Some(Event::Binary(b)) = c.poll_event().unwrap() else {
        panic!("no message")
    };
    assert_eq!(b.len(), 10_000);
    assert_eq!(c.frame_bytes_expected(), 0);
}

//! Property: any sequence of messages sent by one role is received by the
//! other exactly, for any fragment size, receive mode and chunking of the
//! byte stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use ws_proto::{Bytes, CloseCode, Config, Event, Instant, MessageKind, ReceiveMode, Role};

#[derive(Clone, Debug)]
enum Msg {
    Text(String),
    Binary {
        len: usize,
        seed: u8,
    },
    /// A message sent with `send_fragment` in `parts` parts, a ping between
    /// the first two.
    Parts {
        kind: MessageKind,
        len: usize,
        parts: usize,
    },
    Ping(Vec<u8>),
}

fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn ascii_of(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn msg() -> impl Strategy<Value = Msg> {
    let len = prop_oneof![8 => 0usize..300, 3 => 300usize..70_000, 1 => 70_000usize..=(1 << 20)];
    prop_oneof![
        "\\PC{0,60}".prop_map(Msg::Text),
        (len.clone(), any::<u8>()).prop_map(|(len, seed)| Msg::Binary { len, seed }),
        (any::<bool>(), 0usize..5000, 1usize..6).prop_map(|(t, len, parts)| Msg::Parts {
            kind: if t {
                MessageKind::Text
            } else {
                MessageKind::Binary
            },
            len,
            parts
        }),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
    ]
}

/// Sends `m`, returning the events the receiver should report.
fn send(c: &mut ws_proto::Connection, m: &Msg) -> Vec<Event> {
    match m {
        Msg::Text(s) => {
            c.send_text(s.as_str()).unwrap();
            vec![Event::Text(s.as_str().into())]
        }
        Msg::Binary { len, seed } => {
            let b = bytes_of(*len, *seed);
            c.send_binary(b.clone()).unwrap();
            vec![Event::Binary(Bytes::from(b))]
        }
        Msg::Parts { kind, len, parts } => {
            let data = if *kind == MessageKind::Text {
                ascii_of(*len).into_bytes()
            } else {
                bytes_of(*len, 7)
            };
            let step = (len / parts).max(1);
            let pieces: Vec<&[u8]> = if data.is_empty() {
                vec![&[][..]]
            } else {
                data.chunks(step).collect()
            };
            for (i, p) in pieces.iter().enumerate() {
                c.send_fragment(*kind, Bytes::copy_from_slice(p), i + 1 == pieces.len())
                    .unwrap();
                if i == 0 {
                    c.send_ping(&b"between"[..]).unwrap();
                }
            }
            let single = pieces.len() == 1;
            let whole = Bytes::from(data);
            let ev = match kind {
                MessageKind::Text => Event::Text(whole.try_into().unwrap()),
                MessageKind::Binary => Event::Binary(whole),
            };
            let ping = Event::Ping(Bytes::from_static(b"between"));
            if single {
                vec![ev, ping]
            } else {
                vec![ping, ev]
            }
        }
        Msg::Ping(p) => {
            c.send_ping(p.clone()).unwrap();
            vec![Event::Ping(Bytes::from(p.clone()))]
        }
    }
}

/// Collapses streamed messages into whole ones (emitted at their end).
fn normalize(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>)> = None;
    for e in events {
        match e {
            Event::MessageStart(k) => cur = Some((k, Vec::new())),
            Event::MessageChunk(b) => cur.as_mut().unwrap().1.extend_from_slice(&b),
            Event::MessageEnd => {
                let (k, data) = cur.take().unwrap();
                out.push(match k {
                    MessageKind::Text => Event::Text(Bytes::from(data).try_into().unwrap()),
                    MessageKind::Binary => Event::Binary(Bytes::from(data)),
                });
            }
            other => out.push(other),
        }
    }
    assert!(cur.is_none(), "unfinished streamed message");
    out
}

fn mode() -> impl Strategy<Value = ReceiveMode> {
    prop_oneof![
        Just(ReceiveMode::Whole),
        Just(ReceiveMode::Stream),
        (0usize..2000).prop_map(ReceiveMode::Threshold)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_messages_any_chunking(
        msgs in proptest::collection::vec(msg(), 0..8),
        frag in prop_oneof![Just(None), (1usize..70_000).prop_map(Some)],
        close in any::<bool>(),
        from_client in any::<bool>(),
        mode in mode(),
        chunk_seed in any::<u64>(),
    ) {
        let (tx_role, rx_role) = if from_client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        // Keep the frame count per message bounded so the test stays fast.
        let max_len = msgs.iter().map(|m| match m { Msg::Binary { len, .. } => *len, _ => 5000 }).max().unwrap_or(0);
        let frag = frag.map(|f| f.max(max_len / 2048 + 1));
        let mut tx = conn(tx_role, Config::default().with_fragment_size(frag));
        let mut rx = conn(rx_role, Config::default().with_receive_mode(mode));
        let mut want = Vec::new();
        for m in &msgs {
            want.extend(send(&mut tx, m));
        }
        if close {
            tx.close(Instant::ZERO, CloseCode(4000), "end").unwrap();
            want.push(Event::Close { code: Some(CloseCode(4000)), reason: "end".into() });
        }
        let wire = transmit(&mut tx);
        let mut r = SplitMix::new(chunk_seed);
        let sizes: Vec<usize> = (0..31).map(|_| { let cap = if r.below(2) == 0 { 17 } else { 40_000 }; 1 + r.below(cap) }).collect();
        let (events, err) = feed_chunked(&mut rx, &wire, &sizes);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(normalize(events), want);
    }
}

/// Writes at most `max` bytes of `c`'s pending output to `wire`, the way a
/// transport would (slices, or the owned parts an io_uring transport
/// takes), and marks them written.
fn write_some(c: &mut ws_proto::Connection, wire: &mut Vec<u8>, max: usize, owned: bool) {
    let mut left = max;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    if owned {
        c.for_each_transmit_part(|p| {
            parts.push(p.as_slice().to_vec());
            true
        });
    } else {
        let mut slices: [&[u8]; 4] = [&[]; 4];
        let n = c.transmit_slices(&mut slices);
        parts.extend(slices[..n].iter().map(|s| s.to_vec()));
    }
    let mut written = 0;
    for p in parts {
        let k = p.len().min(left);
        wire.extend_from_slice(&p[..k]);
        written += k;
        left -= k;
        if left == 0 {
            break;
        }
    }
    c.advance_transmit(written);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// The output comes out whole and in order whatever the mix: small
    /// frames (written back to back into the contiguous output), large ones
    /// (queued zero copy behind their header), pings and fragments between
    /// them, sent with the owned or the borrowing API, split by a
    /// `fragment_size` or not, with writes of any size (down to one byte)
    /// between the sends.
    #[test]
    fn output_order_with_partial_writes(
        msgs in proptest::collection::vec(msg(), 0..12),
        from_client in any::<bool>(),
        borrow in any::<u8>(),
        write_seed in any::<u64>(),
        fragment in proptest::option::weighted(0.3, 1usize..6000),
    ) {
        let (tx_role, rx_role) = if from_client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let mut tx = conn(tx_role, Config::default().with_fragment_size(fragment));
        let mut rx = conn(rx_role, Config::default());
        let mut r = SplitMix::new(write_seed);
        let mut want = Vec::new();
        let mut wire = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let borrowed = borrow >> (i % 8) & 1 == 1;
            match m {
                Msg::Text(s) if borrowed => {
                    tx.send_text_slice(s).unwrap();
                    want.push(Event::Text(s.as_str().into()));
                }
                Msg::Binary { len, seed } if borrowed => {
                    let b = bytes_of(*len, *seed);
                    tx.send_binary_slice(&b).unwrap();
                    want.push(Event::Binary(Bytes::from(b)));
                }
                m => want.extend(send(&mut tx, m)),
            }
            let max = match r.below(3) { 0 => 1 + r.below(3), 1 => r.below(200), _ => r.below(100_000) };
            write_some(&mut tx, &mut wire, max, r.below(2) == 0);
        }
        while tx.pending_transmit() > 0 {
            let max = 1 + r.below(5000);
            write_some(&mut tx, &mut wire, max, r.below(2) == 0);
        }
        let (events, err) = feed_chunked(&mut rx, &wire, &[wire.len().max(1)]);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(normalize(events), want);
    }
}

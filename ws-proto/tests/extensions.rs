//! The extension chain end to end, with toy extensions of all three
//! granularities (message: RSV1 position-dependent XOR; frame: RSV2 byte
//! reversal; stream: running-counter XOR below the framing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ws_proto::{
    Bytes, BytesMut, Config, Connection, Encoded, Error, Event, Extension, ExtensionError,
    FrameMeta, Granularity, Instant, MessageKind, OpCode, PeerError, Role, UsageError,
};

/// XORs each byte with its offset in the message: decoding only works if
/// frames are decoded in order and `first` resets the offset.
#[derive(Default)]
struct MsgXor {
    enc_pos: usize,
    dec_pos: usize,
}

fn xor_from(data: &[u8], pos: &mut usize) -> Bytes {
    let out: Vec<u8> = data
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ (*pos + i) as u8)
        .collect();
    *pos += data.len();
    Bytes::from(out)
}

impl Extension for MsgXor {
    fn name(&self) -> &str {
        "x-msg-xor"
    }
    fn rsv_mask(&self) -> u8 {
        0x40
    }
    fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        if meta.first {
            self.enc_pos = 0;
        }
        Ok(Encoded {
            payload: xor_from(&payload, &mut self.enc_pos),
            rsv: if meta.first { 0x40 } else { 0 },
        })
    }
    fn decode(
        &mut self,
        meta: &FrameMeta,
        payload: Bytes,
        _max: usize,
    ) -> Result<Bytes, ExtensionError> {
        assert_eq!(meta.rsv & 0x40, 0x40, "called only for marked messages");
        if meta.first {
            self.dec_pos = 0;
        }
        Ok(xor_from(&payload, &mut self.dec_pos))
    }
}

/// Reverses each frame's payload; marks frames with RSV2.
struct FrameReverse;

impl Extension for FrameReverse {
    fn name(&self) -> &str {
        "x-frame-reverse"
    }
    fn rsv_mask(&self) -> u8 {
        0x20
    }
    fn granularity(&self) -> Granularity {
        Granularity::Frame
    }
    fn encode(&mut self, _meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        Ok(Encoded {
            payload: payload.iter().rev().copied().collect::<Vec<u8>>().into(),
            rsv: 0x20,
        })
    }
    fn decode(
        &mut self,
        _meta: &FrameMeta,
        payload: Bytes,
        _max: usize,
    ) -> Result<Bytes, ExtensionError> {
        Ok(payload.iter().rev().copied().collect::<Vec<u8>>().into())
    }
}

/// XORs the whole byte stream with a running counter.
#[derive(Default)]
struct StreamCounter {
    enc: u8,
    dec: u8,
}

impl Extension for StreamCounter {
    fn name(&self) -> &str {
        "x-stream-counter"
    }
    fn rsv_mask(&self) -> u8 {
        0
    }
    fn granularity(&self) -> Granularity {
        Granularity::Stream
    }
    fn encode_stream(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ExtensionError> {
        for b in input {
            out.extend_from_slice(&[b ^ self.enc]);
            self.enc = self.enc.wrapping_add(1);
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
        for b in input {
            out.extend_from_slice(&[b ^ self.dec]);
            self.dec = self.dec.wrapping_add(1);
        }
        Ok(input.len())
    }
}

/// Doubles every byte on decode: an "inflater" that hits the budget.
struct Doubler;

impl Extension for Doubler {
    fn name(&self) -> &str {
        "x-doubler"
    }
    fn rsv_mask(&self) -> u8 {
        0x40
    }
    fn decode(
        &mut self,
        _meta: &FrameMeta,
        payload: Bytes,
        max: usize,
    ) -> Result<Bytes, ExtensionError> {
        if payload.first() == Some(&0xEE) {
            return Err(ExtensionError::InvalidData("bad block".into()));
        }
        let size = payload.len() * 2;
        if size > max {
            return Err(ExtensionError::TooBig {
                size: size as u64,
                max: max as u64,
            });
        }
        Ok(payload
            .iter()
            .flat_map(|&b| [b, b])
            .collect::<Vec<u8>>()
            .into())
    }
}

type Chain = Vec<Box<dyn Extension>>;

fn pair(chain: fn() -> Chain, config: Config) -> (Connection, Connection) {
    let c = Connection::new(
        Role::Client,
        config.clone(),
        chain().into(),
        Some(rng()),
        Instant::ZERO,
    )
    .unwrap();
    let s = Connection::new(Role::Server, config, chain().into(), None, Instant::ZERO).unwrap();
    (c, s)
}

fn conversation(chain: fn() -> Chain) {
    for frag in [None, Some(3), Some(64)] {
        let (mut c, mut s) = pair(chain, Config::default().with_fragment_size(frag));
        let big: Vec<u8> = (0..5000).map(|i| i as u8).collect();
        c.send_text("hello, extensions").unwrap();
        c.send_binary(big.clone()).unwrap();
        c.send_fragment(MessageKind::Text, &b"par"[..], false)
            .unwrap();
        c.send_ping(&b"p"[..]).unwrap();
        c.send_fragment(MessageKind::Text, &b"ts"[..], true)
            .unwrap();
        let wire = transmit(&mut c);
        let (evs, err) = feed_chunked(&mut s, &wire, &[1, 7, 100]);
        assert_eq!(err, None);
        let want = vec![
            Event::Text("hello, extensions".into()),
            Event::Binary(Bytes::from(big)),
            Event::Ping(Bytes::from_static(b"p")),
            Event::Text("parts".into()),
        ];
        assert_eq!(evs, want, "fragment_size {frag:?}");
        // And back: the server's pong and an echo.
        s.send_text("back").unwrap();
        let (evs, err) = feed_chunked(&mut c, &transmit(&mut s), &[2]);
        assert_eq!(
            (evs.last().cloned(), err),
            (Some(Event::Text("back".into())), None)
        );
    }
}

#[test]
fn message_granularity_chain() {
    conversation(|| vec![Box::new(MsgXor::default())]);
}

#[test]
fn frame_granularity_chain() {
    conversation(|| vec![Box::new(FrameReverse)]);
}

#[test]
fn stream_granularity_chain() {
    conversation(|| vec![Box::new(StreamCounter::default())]);
}

#[test]
fn all_three_chained() {
    conversation(|| {
        vec![
            Box::new(MsgXor::default()),
            Box::new(FrameReverse),
            Box::new(StreamCounter::default()),
        ]
    });
}

#[test]
fn rsv_bits_on_the_wire() {
    let chain = || -> Chain { vec![Box::new(MsgXor::default()), Box::new(FrameReverse)] };
    let (_, mut s) = pair(chain, Config::default().with_fragment_size(Some(2)));
    s.send_binary(&b"abcde"[..]).unwrap();
    s.send_ping(&b"x"[..]).unwrap();
    let frames = parse_frames(&transmit(&mut s));
    let rsv: Vec<u8> = frames.iter().map(|(h, _)| h.rsv).collect();
    // RSV1 (message) on the first frame only, RSV2 (frame) on every data
    // frame, nothing on control frames.
    assert_eq!(rsv, vec![0x60, 0x20, 0x20, 0x00]);
    assert_eq!(frames[0].1, b"\x63\x61"); // "ab" XOR [0, 1] = "ac", reversed
}

#[test]
fn unmarked_messages_bypass_the_extension() {
    let chain = || -> Chain { vec![Box::new(MsgXor::default())] };
    let (mut c, _) = pair(chain, Config::default());
    let wire = frame(Role::Client, true, 0, OpCode::Text, b"plain");
    let (evs, err) = feed_chunked(&mut c, &wire, &[1]);
    assert_eq!((evs, err), (vec![Event::Text("plain".into())], None));
}

#[test]
fn message_rsv_on_continuation_is_refused() {
    let chain = || -> Chain { vec![Box::new(MsgXor::default())] };
    let (mut c, _) = pair(chain, Config::default());
    let mut wire = frame(Role::Client, false, 0x40, OpCode::Binary, b"a");
    wire.extend(frame(Role::Client, true, 0x40, OpCode::Continuation, b"b"));
    let (_, err) = feed_chunked(&mut c, &wire, &[usize::MAX]);
    assert_eq!(err, Some(Error::Peer(PeerError::ReservedBits(0x40))));
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1002)));
}

#[test]
fn decode_errors_map_to_close_codes() {
    let chain = || -> Chain { vec![Box::new(Doubler)] };
    let config = Config::default().with_max_message_size(10);
    let (mut c, _) = pair(chain, config.clone());
    let (_, err) = feed_chunked(
        &mut c,
        &frame(Role::Client, true, 0x40, OpCode::Binary, &[1; 6]),
        &[3],
    );
    assert_eq!(
        err,
        Some(Error::Extension(ExtensionError::TooBig {
            size: 12,
            max: 10
        }))
    );
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1009)));

    let (mut c, _) = pair(chain, config);
    let (_, err) = feed_chunked(
        &mut c,
        &frame(Role::Client, true, 0x40, OpCode::Binary, &[0xEE]),
        &[3],
    );
    assert_eq!(
        err,
        Some(Error::Extension(ExtensionError::InvalidData(
            "bad block".into()
        )))
    );
    assert_eq!(sent_close(&transmit(&mut c)), Some(Some(1007)));
}

#[test]
fn decoded_text_is_validated() {
    let chain = || -> Chain { vec![Box::new(Doubler)] };
    let (mut c, _) = pair(chain, Config::default());
    let (_, err) = feed_chunked(
        &mut c,
        &frame(Role::Client, true, 0x40, OpCode::Text, &[0xC3]),
        &[1],
    );
    assert_eq!(err, Some(Error::Peer(PeerError::InvalidUtf8)));
}

#[test]
fn overlapping_rsv_bits_are_refused() {
    let chain: Chain = vec![Box::new(MsgXor::default()), Box::new(Doubler)];
    let r = Connection::new(
        Role::Server,
        Config::default(),
        chain.into(),
        None,
        Instant::ZERO,
    );
    assert_eq!(r.err(), Some(Error::Usage(UsageError::RsvConflict(0x40))));
}

#[test]
fn names_in_chain_order() {
    let chain = || -> Chain { vec![Box::new(MsgXor::default()), Box::new(FrameReverse)] };
    let (c, _) = pair(chain, Config::default());
    assert_eq!(
        c.extension_names().collect::<Vec<_>>(),
        ["x-msg-xor", "x-frame-reverse"]
    );
}

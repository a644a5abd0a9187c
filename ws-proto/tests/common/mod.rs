//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use ws_proto::{
    Config, Connection, Dialect, Error, Event, FrameHeader, Instant, MaskRng, Negotiated, OpCode,
    Role, apply_mask,
};

/// An RNG that always yields the same mask key.
pub struct FixedKey(pub [u8; 4]);

impl rand_core::TryRng for FixedKey {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_ne_bytes(self.0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(u32::from_ne_bytes(self.0)))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = self.0[i & 3];
        }
        Ok(())
    }
}

pub use http_upgrade::testing::SplitMix;

/// The mask-key RNG of the tests' clients (deterministic).
pub fn rng() -> MaskRng {
    Box::new(SplitMix::new(0x9E37_79B9_7F4A_7C15))
}

/// An RFC 6455 connection.
pub fn conn(role: Role, config: Config) -> Connection {
    conn_in(Dialect::Rfc6455, role, config)
}

/// The `Sec-WebSocket-Key` and `-Nonce` of hybi-04's worked example
/// (-04 §4.2): the tests' hybi-04 connections use the masking key made
/// from them.
pub const HYBI04_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// See [`HYBI04_KEY`].
pub const HYBI04_NONCE: &str = "AQIDBAUGBwgJCgsMDQ4PEC==";

/// What a handshake in dialect `d` would have negotiated (no extension;
/// hybi-04 with the worked example's masking key).
pub fn negotiated(d: Dialect) -> Negotiated {
    let key = ws_proto::legacy::hybi04_masking_key(HYBI04_KEY, HYBI04_NONCE);
    Negotiated::new(d).with_hybi04_key(key)
}

/// A connection in dialect `d` (see [`negotiated`]).
pub fn conn_in(d: Dialect, role: Role, config: Config) -> Connection {
    let rng = (role == Role::Client).then(rng);
    let negotiated = negotiated(d);
    Connection::new(role, config, negotiated, rng, Instant::ZERO).unwrap()
}

/// A frame as the peer of `to` would send it: masked toward a server.
pub fn frame(to: Role, fin: bool, rsv: u8, op: OpCode, payload: &[u8]) -> Vec<u8> {
    let mask = (to == Role::Server).then_some([0x11, 0x22, 0x33, 0x44]);
    raw_frame(fin, rsv, op, mask, payload)
}

pub fn raw_frame(fin: bool, rsv: u8, op: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        fin,
        rsv,
        opcode: op,
        mask,
        payload_len: payload.len() as u64,
    };
    let (head, n) = h.to_bytes();
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
    out
}

/// Parses (and unmasks) every frame in `wire`.
pub fn parse_frames(mut wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (h, n) = FrameHeader::parse(wire)
            .unwrap()
            .complete()
            .expect("complete header");
        let len = h.payload_len as usize;
        let mut p = wire[n..n + len].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut p, k, 0);
        }
        out.push((h, p));
        wire = &wire[n + len..];
    }
    out
}

/// The status code of the close frame in `wire`, if any (`Some(None)` for
/// an empty close).
pub fn sent_close(wire: &[u8]) -> Option<Option<u16>> {
    parse_frames(wire)
        .into_iter()
        .find(|(h, _)| h.opcode == OpCode::Close)
        .map(|(_, p)| (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])))
}

/// Drains every event until `None` or an error.
pub fn drain(c: &mut Connection) -> Result<Vec<Event>, (Vec<Event>, Error)> {
    let mut evs = Vec::new();
    loop {
        match c.poll_event() {
            Ok(Some(e)) => evs.push(e),
            Ok(None) => return Ok(evs),
            Err(e) => return Err((evs, e)),
        }
    }
}

/// Feeds `input` in the given chunk sizes (cycled), polling after each,
/// and returns all events plus the final error if any.
pub fn feed_chunked(
    c: &mut Connection,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<Event>, Option<Error>) {
    let mut evs = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = sizes[i % sizes.len()].max(1).min(input.len() - at);
        i += 1;
        if let Err(e) = c.receive(Instant::ZERO, &input[at..at + n]) {
            return (evs, Some(e));
        }
        at += n;
        match drain(c) {
            Ok(mut e) => evs.append(&mut e),
            Err((mut e, err)) => {
                evs.append(&mut e);
                return (evs, Some(err));
            }
        }
    }
    (evs, None)
}

/// Feeds `input` whole, byte by byte and in pseudo-random splits, and
/// asserts the three give identical events; returns them.
pub fn events_all_ways(role: Role, config: &Config, input: &[u8]) -> (Vec<Event>, Option<Error>) {
    events_all_ways_in(Dialect::Rfc6455, role, config, input)
}

/// [`events_all_ways`] in dialect `d`.
pub fn events_all_ways_in(
    d: Dialect,
    role: Role,
    config: &Config,
    input: &[u8],
) -> (Vec<Event>, Option<Error>) {
    let conn = |role, config| conn_in(d, role, config);
    let whole = feed_chunked(&mut conn(role, config.clone()), input, &[usize::MAX]);
    let bytewise = feed_chunked(&mut conn(role, config.clone()), input, &[1]);
    assert_eq!(whole, bytewise, "byte-at-a-time differs");
    let mut r = SplitMix::new(input.len() as u64);
    for _ in 0..8 {
        let sizes: Vec<usize> = (0..17).map(|_| 1 + r.below(40)).collect();
        let split = feed_chunked(&mut conn(role, config.clone()), input, &sizes);
        assert_eq!(whole, split, "split {sizes:?} differs");
    }
    whole
}

pub fn transmit(c: &mut Connection) -> Vec<u8> {
    let mut v = Vec::new();
    c.poll_transmit(&mut v);
    v
}

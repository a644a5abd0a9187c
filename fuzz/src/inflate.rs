//! `inflate`: the decoders of every compression extension on hostile input,
//! then a compress / inflate round trip through the peer role's encoder.
//!
//! Asserts, hostile half: permessage-deflate, deflate-frame and
//! deflate-stream (through ws-proto's `Extension` interface, as the
//! connection calls them) and the raw `Decompressor` never produce more
//! than the budget they are given, the raw decompressor never even reserves
//! more than `limit + 1` bytes (limits before allocation), every error maps
//! to a close code, and errors are permanent. Round-trip half: the input
//! compressed by the peer role (any window, context takeover, level, split
//! into messages and frames) inflates back byte for byte.

use arbitrary::Arbitrary;
use deflate_ext::{
    Decompressor, DeflateFrame, DeflateFrameAgreed, DeflateFrameName, DeflateFrameParams,
    DeflateStream, IdleState, Level, PerMessageDeflate, PmdAgreed, PmdConfig, Role, WindowBits,
};
use ws_proto::{Bytes, BytesMut, Extension, ExtensionError, FrameMeta, MessageKind};

use crate::util::{ChunkPlan, XorShift, split_input};

/// The fixed-size prefix of an `inflate` input; the rest is the data.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct InflateInput {
    /// 0 permessage-deflate, 1 deflate-frame, 2 deflate-stream, 3 raw.
    pub codec: u8,
    /// We are the client (inflating what a server sent).
    pub client: bool,
    /// Window bits of the sender (8 + n % 8).
    pub window: u8,
    /// The sender's no_context_takeover.
    pub nct: bool,
    /// The receiver's no_context_takeover (the other direction).
    pub peer_nct: bool,
    /// Release idle state after each message.
    pub release: bool,
    /// Compression level of the round trip.
    pub level: u8,
    /// Budget: max message / output size (0: 1 MiB).
    pub budget: u16,
    /// Frame flags seed (first / continuation / RSV1 / FIN).
    pub flags: u16,
    /// How the data is cut into frames or stream chunks.
    pub chunks: ChunkPlan,
}

/// The harness.
pub fn run(data: &[u8]) {
    let (input, rest): (InflateInput, _) = split_input(data);
    let budget = if input.budget == 0 {
        1 << 20
    } else {
        usize::from(input.budget)
    };
    match input.codec % 4 {
        0 => {
            let mut ext = pmd(&input, role(input.client));
            hostile_frames(&mut ext, &input, rest, budget, true);
        }
        1 => {
            let mut ext = deflate_frame(&input, role(input.client));
            hostile_frames(&mut ext, &input, rest, budget, false);
        }
        2 => hostile_stream(&input, rest, budget),
        _ => raw(&input, rest, budget),
    }
    roundtrip(&input, rest);
}

fn role(client: bool) -> Role {
    if client { Role::Client } else { Role::Server }
}

fn window(n: u8) -> WindowBits {
    WindowBits::new(8 + n % 8).unwrap_or(WindowBits::MAX)
}

fn level(n: u8) -> Level {
    Level::new(n % 10).unwrap_or_default()
}

/// Agreed parameters where the side sending to `receiver` uses the input's
/// window and context takeover.
fn agreed(input: &InflateInput, receiver: Role) -> PmdAgreed {
    let w = Some(window(input.window));
    match receiver {
        // The client inflates what the server compresses.
        Role::Client => PmdAgreed {
            server_no_context_takeover: input.nct,
            client_no_context_takeover: input.peer_nct,
            server_max_window_bits: w,
            client_max_window_bits: None,
        },
        Role::Server => PmdAgreed {
            server_no_context_takeover: input.peer_nct,
            client_no_context_takeover: input.nct,
            server_max_window_bits: None,
            client_max_window_bits: w,
        },
    }
}

fn pmd(input: &InflateInput, r: Role) -> PerMessageDeflate {
    let receiver = role(input.client);
    PerMessageDeflate::new(
        r,
        agreed(input, receiver),
        PmdConfig::default()
            .with_level(level(input.level))
            .with_threshold(0)
            .with_idle(if input.release {
                IdleState::Release
            } else {
                IdleState::Reset
            }),
    )
}

fn deflate_frame(input: &InflateInput, r: Role) -> DeflateFrame {
    let receiver = role(input.client);
    let sender_params = DeflateFrameParams {
        max_window_bits: Some(window(input.window)),
        no_context_takeover: input.nct,
    };
    let other = DeflateFrameParams {
        max_window_bits: None,
        no_context_takeover: input.peer_nct,
    };
    // The client's compressor follows the response, the server's the offer.
    let (offer, response) = match receiver {
        Role::Client => (other, sender_params),
        Role::Server => (sender_params, other),
    };
    let agreed = DeflateFrameAgreed {
        name: DeflateFrameName::XWebkit,
        offer,
        response,
    };
    DeflateFrame::new(r, agreed, level(input.level), 0)
}

fn extension_error(e: ExtensionError) -> ExtensionError {
    let code = ws_proto::Error::from(e.clone()).close_code();
    assert!(code.is_some(), "{e:?} has no close code");
    e
}

/// Feeds `data`, cut into frames, to a frame or message extension's
/// `decode` with flags from the seed, tracking the message budget as the
/// connection does.
fn hostile_frames(
    ext: &mut dyn Extension,
    input: &InflateInput,
    data: &[u8],
    budget: usize,
    per_message: bool,
) {
    let mut flags = XorShift(u64::from(input.flags) << 16 | 0xa5);
    let mut in_message = false;
    let mut first_rsv = 0u8;
    let mut so_far = 0usize;
    for frame in input.chunks.split(data) {
        let bits = flags.next_u64();
        let first = !in_message;
        let fin = bits & 3 != 0;
        let rsv = if first || !per_message {
            if bits & 4 == 0 { 0x40 } else { 0 }
        } else {
            first_rsv
        };
        if first {
            first_rsv = rsv;
            so_far = 0;
        }
        let meta = FrameMeta {
            kind: if bits & 8 == 0 {
                MessageKind::Binary
            } else {
                MessageKind::Text
            },
            first,
            fin,
            rsv,
        };
        let max_output = budget - so_far;
        let payload = Bytes::copy_from_slice(frame);
        match ext.decode(&meta, payload, max_output) {
            Ok(out) => {
                // Inflated or passed through, nothing exceeds the budget.
                assert!(
                    out.len() <= max_output,
                    "decoded {} bytes, budget {max_output}",
                    out.len()
                );
                so_far += out.len();
            }
            Err(e) => {
                // The connection fails here for good and never calls the
                // extension again.
                extension_error(e);
                return;
            }
        }
        in_message = !fin;
    }
}

fn hostile_stream(input: &InflateInput, data: &[u8], budget: usize) {
    let mut ext = DeflateStream::new(level(input.level));
    let mut failed = false;
    for chunk in input.chunks.split(data) {
        // As the connection does: decode at most `budget` at a time and
        // call again with the rest (or nothing, to drain) until no
        // progress, so the output never runs ahead of its consumer.
        let mut rest = chunk;
        loop {
            let mut out = BytesMut::new();
            match ext.decode_stream(rest, &mut out, budget) {
                Ok(used) => {
                    assert!(!failed, "decode succeeded after an error");
                    assert!(out.len() <= budget, "{} over {budget}", out.len());
                    assert!(used <= rest.len(), "consumed {used} of {}", rest.len());
                    rest = &rest[used..];
                    if used == 0 && out.len() < budget {
                        break;
                    }
                }
                Err(e) => {
                    extension_error(e);
                    failed = true;
                    break;
                }
            }
        }
    }
}

fn raw(input: &InflateInput, data: &[u8], budget: usize) {
    let mut d = Decompressor::new(window(input.window));
    let mut out = Vec::new();
    for chunk in input.chunks.split(data) {
        let r = d.decompress(chunk, &mut out, budget);
        // On TooBig the output holds the one byte that proved it.
        let max = if r.is_ok() {
            budget
        } else {
            budget.saturating_add(1)
        };
        assert!(out.len() <= max, "{} over {budget}", out.len());
        assert!(
            out.capacity() <= budget.saturating_add(1).max(out.len()),
            "reserved {} for a limit of {budget}",
            out.capacity()
        );
        match r {
            Ok(()) => {}
            Err(e) => {
                let code = ws_proto::Error::from(ws_proto::ExtensionError::from(e)).close_code();
                assert!([1007, 1009, 1002, 1011].contains(&code.map_or(0, |c| c.0)));
                break;
            }
        }
        if input.nct {
            d.reset();
        }
    }
}

/// The peer role compresses `data` (split into messages and parts), we
/// inflate, and the result must be the input.
fn roundtrip(input: &InflateInput, data: &[u8]) {
    let me = role(input.client);
    let peer = role(!input.client);
    let (mut tx, mut rx): (Box<dyn Extension>, Box<dyn Extension>) = match input.codec % 4 {
        0 | 3 => (Box::new(pmd(input, peer)), Box::new(pmd(input, me))),
        1 => (
            Box::new(deflate_frame(input, peer)),
            Box::new(deflate_frame(input, me)),
        ),
        _ => {
            let mut tx = DeflateStream::new(level(input.level));
            let mut rx = DeflateStream::new(level(input.level));
            let mut got = Vec::new();
            for chunk in input.chunks.split(data) {
                let mut z = BytesMut::new();
                tx.encode_stream(chunk, &mut z).expect("compress");
                let mut out = BytesMut::new();
                rx.decode_stream(&z, &mut out, usize::MAX)
                    .expect("inflate our own stream");
                got.extend_from_slice(&out);
            }
            assert_eq!(got, data, "deflate-stream round trip");
            return;
        }
    };
    // Messages end where the flag bits say; parts are the chunks.
    let mut flags = XorShift(u64::from(input.flags) << 16 | 0x3c);
    let mut first = true;
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut first_rsv = 0;
    let parts = input.chunks.split(data);
    let n = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let fin = i + 1 == n || flags.next_u64() & 1 == 0;
        let meta = FrameMeta {
            kind: MessageKind::Binary,
            first,
            fin,
            rsv: 0,
        };
        let enc = tx
            .encode(&meta, Bytes::copy_from_slice(part))
            .expect("compress");
        if first {
            first_rsv = enc.rsv;
        }
        let meta = FrameMeta {
            rsv: if tx.granularity() == ws_proto::Granularity::Message {
                first_rsv
            } else {
                enc.rsv
            },
            ..meta
        };
        let out = rx
            .decode(&meta, enc.payload, usize::MAX / 2)
            .expect("inflate our own output");
        sent.extend_from_slice(part);
        got.extend_from_slice(&out);
        if fin {
            assert_eq!(got, sent, "round trip of a message");
            got.clear();
            sent.clear();
        }
        first = fin;
    }
}

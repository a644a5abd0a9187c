//! UTF-8 validation throughput (RFC 6455 §8.1), and unmasking plus
//! validation of one large text frame against `memcpy`.
//!
//! `utf8/<kind>/<size>`, kind = `ascii`, `mixed` (2-, 3- and 4-byte
//! sequences) or `invalid` (mixed with one `0xFF` three bytes before the
//! end, so every validator scans nearly all of it): ours
//! (`ws_proto::utf8::validate` for whole messages, the incremental
//! `Utf8Validator` fed at once and in 4 KiB chunks as a frame arrives)
//! against `std::str::from_utf8` and `simdutf8` (`basic` and `compat`).
//!
//! `unmask_utf8/<kind>/<size>` (mixed and ASCII text, 256 KiB and 1 MiB):
//! one masked text frame, against `memcpy` of the payload length (the goal:
//! ≥0.9× its throughput). "unmask+validate" is what the receive path does
//! per piece: `apply_mask_ascii` (unmask, noting whether the piece is all
//! ASCII), then the `Utf8Validator` unless the piece was ASCII at a code
//! point boundary.
//! * `unmask+validate`: in place, the whole payload as one piece (the
//!   masked copy is restored outside the timing);
//! * `unmask+validate_64k`: the same per 64 KiB piece, as `Connection` does
//!   when the frame arrives in 64 KiB reads;
//! * `connection`: a server `Connection` decoding the frame from memory in
//!   64 KiB reads (`recv_buf` + copy + `recv_commit` + `poll_event`), so
//!   it includes the read's copy into the receive buffer;
//! * `memcpy+unmask+validate_64k`: that copy plus the 64 KiB-piece work
//!   done by hand, the floor for `connection`.
//!
//! Run: `cargo bench -p ws-benches --bench utf8`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_proto::{Config, Connection, Event, Instant, Utf8Validator};

const SIZES: [usize; 5] = [20, 1024, 16 * 1024, 256 * 1024, 1 << 20];
const LARGE: [usize; 2] = [256 * 1024, 1 << 20];
const CHUNK: usize = 64 * 1024;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ascii,
    Mixed,
    Invalid,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ascii => "ascii",
            Kind::Mixed => "mixed",
            Kind::Invalid => "invalid",
        }
    }
}

/// Exactly `len` bytes of text (padded with ASCII after the last whole
/// character); `Invalid` puts a `0xFF` three bytes before the end.
fn text(len: usize, kind: Kind) -> Vec<u8> {
    let unit = match kind {
        Kind::Ascii => "The quick brown fox jumps. ",
        Kind::Mixed | Kind::Invalid => "Grüße, κόσμε, 日本語, 🎉 ok. ",
    };
    let mut s = String::new();
    while s.len() < len {
        s.push_str(unit);
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    while s.len() < len {
        s.push('.');
    }
    let mut v = s.into_bytes();
    if kind == Kind::Invalid {
        let at = len.saturating_sub(3);
        v[at] = 0xFF;
    }
    v
}

fn ours_validator(data: &[u8]) -> bool {
    let mut v = Utf8Validator::new();
    v.feed(data).is_ok() && v.finish().is_ok()
}

fn ours_validator_chunks(data: &[u8], chunk: usize) -> bool {
    let mut v = Utf8Validator::new();
    data.chunks(chunk).all(|c| v.feed(c).is_ok()) && v.finish().is_ok()
}

fn bench_validate(c: &mut Criterion) {
    for kind in [Kind::Ascii, Kind::Mixed, Kind::Invalid] {
        let mut g = c.benchmark_group(format!("utf8/{}", kind.name()));
        for size in SIZES {
            let data = text(size, kind);
            let valid = kind != Kind::Invalid;
            // Outside the timings: everyone agrees.
            assert_eq!(std::str::from_utf8(&data).is_ok(), valid);
            assert_eq!(ws_proto::utf8::validate(&data).is_ok(), valid);
            assert_eq!(ours_validator(&data), valid);
            assert_eq!(ours_validator_chunks(&data, 4096), valid);
            assert_eq!(simdutf8::basic::from_utf8(&data).is_ok(), valid);
            assert_eq!(simdutf8::compat::from_utf8(&data).is_ok(), valid);

            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(BenchmarkId::new("ours_validate", size), |b| {
                b.iter(|| ws_proto::utf8::validate(black_box(&data)).is_ok())
            });
            g.bench_function(BenchmarkId::new("ours_validator", size), |b| {
                b.iter(|| ours_validator(black_box(&data)))
            });
            g.bench_function(BenchmarkId::new("ours_validator_4k", size), |b| {
                b.iter(|| ours_validator_chunks(black_box(&data), 4096))
            });
            g.bench_function(BenchmarkId::new("std", size), |b| {
                b.iter(|| std::str::from_utf8(black_box(&data)).is_ok())
            });
            g.bench_function(BenchmarkId::new("simdutf8_basic", size), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&data)).is_ok())
            });
            g.bench_function(BenchmarkId::new("simdutf8_compat", size), |b| {
                b.iter(|| simdutf8::compat::from_utf8(black_box(&data)).is_ok())
            });
        }
        g.finish();
    }
}

/// Unmask then validate, in pieces of `piece` bytes; an all-ASCII piece at
/// a code point boundary is not validated.
fn unmask_validate(buf: &mut [u8], piece: usize) -> bool {
    let mut v = Utf8Validator::new();
    let mut phase = 0;
    for p in buf.chunks_mut(piece) {
        let (next, ascii) = ws_proto::mask::apply_mask_ascii(p, KEY, phase);
        phase = next;
        if !(ascii && v.is_boundary()) && v.feed(p).is_err() {
            return false;
        }
    }
    v.finish().is_ok()
}

/// A masked text frame (FIN, opcode 1) carrying `payload`.
fn masked_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81, 0x80 | 127];
    f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    f.extend_from_slice(&KEY);
    let start = f.len();
    f.extend_from_slice(payload);
    ws_proto::apply_mask(&mut f[start..], KEY, 0);
    f
}

/// A server `Connection` reads `frame` in 64 KiB pieces; the text length.
fn connection_decode(frame: &[u8]) -> usize {
    let mut conn = Connection::server(Config::default(), Instant::ZERO).unwrap();
    let mut len = 0;
    for chunk in frame.chunks(CHUNK) {
        conn.recv_buf(chunk.len())[..chunk.len()].copy_from_slice(chunk);
        conn.recv_commit(Instant::ZERO, chunk.len()).unwrap();
        while let Some(ev) = conn.poll_event().unwrap() {
            match ev {
                Event::Text(t) => len += t.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    len
}

fn bench_unmask_utf8(c: &mut Criterion) {
    for kind in [Kind::Mixed, Kind::Ascii] {
        bench_unmask_utf8_kind(c, kind);
    }
}

fn bench_unmask_utf8_kind(c: &mut Criterion, kind: Kind) {
    let mut g = c.benchmark_group(format!("unmask_utf8/{}", kind.name()));
    for size in LARGE {
        let payload = text(size, kind);
        let frame = masked_frame(&payload);
        let masked = frame[14..].to_vec();
        // Outside the timings: every path recovers the text.
        assert_eq!(connection_decode(&frame), size);
        let mut m = masked.clone();
        assert!(unmask_validate(&mut m, size));
        assert_eq!(m, payload);
        let mut m = masked.clone();
        assert!(unmask_validate(&mut m, CHUNK));
        assert_eq!(m, payload);

        g.throughput(Throughput::Bytes(size as u64));
        let mut dst = vec![0u8; size];
        g.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| black_box(&mut dst[..]).copy_from_slice(black_box(&masked)))
        });
        g.bench_function(BenchmarkId::new("unmask+validate", size), |b| {
            b.iter_batched_ref(
                || masked.clone(),
                |buf| assert!(unmask_validate(buf, size)),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("unmask+validate_64k", size), |b| {
            b.iter_batched_ref(
                || masked.clone(),
                |buf| assert!(unmask_validate(buf, CHUNK)),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("memcpy+unmask+validate_64k", size), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&masked));
                assert!(unmask_validate(&mut dst, CHUNK));
            })
        });
        g.bench_function(BenchmarkId::new("connection", size), |b| {
            b.iter(|| assert_eq!(connection_decode(black_box(&frame)), size))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // 110 benchmarks: a short window each (overridable on the command line).
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench_validate, bench_unmask_utf8
}
criterion_main!(benches);

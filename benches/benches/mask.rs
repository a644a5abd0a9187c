//! Masking throughput (RFC 6455 §5.3) at every buffer offset 0..3 (the
//! payload's misalignment; our key phase follows it): `ws_proto::apply_mask`
//! (a `u64` word loop, its AVX2 build from 128 B when the CPU has it)
//! against `fastwebsockets::unmask` (the public masking function of a peer;
//! it is the `u32` word loop tungstenite also uses, privately;
//! tokio-websockets' SIMD masking is private too) and `memcpy` of the same
//! length into the same offset. Also at offset 0: `apply_mask_ascii` (the
//! unmasking pass of text frames, with the ASCII check riding along) and,
//! up to 256 KiB, the naive byte loop; at offsets 0 and 1 a 32-byte-block
//! variant (the alternative the word loop was measured against).
//!
//! One group per length: `mask/<len>`. The 64 MiB group (out of cache,
//! memory-bound) runs 10 samples in a short window.
//!
//! Run: `cargo bench -p ws-benches --bench mask`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_proto::mask::apply_mask_naive;

const LENGTHS: [usize; 10] = [0, 1, 7, 16, 125, 126, 1024, 16 * 1024, 256 * 1024, 64 << 20];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The alternative measured against the word loop: 32-byte blocks against
/// a repeated key pattern (vectorized by the compiler), then bytes.
fn mask_blocks32(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let p = phase & 3;
    let k = [key[p], key[(p + 1) & 3], key[(p + 2) & 3], key[(p + 3) & 3]];
    let mut pattern = [0u8; 32];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = k[i & 3];
    }
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for (b, m) in block.iter_mut().zip(pattern.iter()) {
            *b ^= m;
        }
    }
    for (i, b) in blocks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
    (phase + buf.len()) & 3
}

/// The key as seen from payload byte `phase` (for masks without a phase).
fn rotated(key: [u8; 4], phase: usize) -> [u8; 4] {
    [
        key[phase & 3],
        key[(phase + 1) & 3],
        key[(phase + 2) & 3],
        key[(phase + 3) & 3],
    ]
}

/// Outside the timings: every variant computes the same bytes.
fn check() {
    for len in [0, 1, 7, 16, 125, 126, 1024, 4099] {
        for off in 0..4 {
            let src: Vec<u8> = (0..len + 4).map(|i| (i * 7) as u8).collect();
            let mut want = src.clone();
            apply_mask_naive(&mut want[off..off + len], KEY, off);
            let mut a = src.clone();
            apply_mask(&mut a[off..off + len], off);
            assert_eq!(a, want, "apply_mask len {len} off {off}");
            let mut f = src.clone();
            fastwebsockets::unmask(&mut f[off..off + len], rotated(KEY, off));
            assert_eq!(f, want, "fastwebsockets len {len} off {off}");
            let mut x = src.clone();
            ws_proto::mask::apply_mask_ascii(&mut x[off..off + len], KEY, off);
            assert_eq!(x, want, "apply_mask_ascii len {len} off {off}");
            let mut b = src.clone();
            mask_blocks32(&mut b[off..off + len], KEY, off);
            assert_eq!(b, want, "blocks32 len {len} off {off}");
        }
    }
}

fn apply_mask(buf: &mut [u8], off: usize) -> usize {
    ws_proto::apply_mask(buf, KEY, off)
}

fn bench(c: &mut Criterion) {
    check();
    let max = LENGTHS[LENGTHS.len() - 1];
    let mut buf = vec![0u8; max + 64];
    let src = vec![1u8; max + 64];
    for len in LENGTHS {
        let mut g = c.benchmark_group(format!("mask/{len}"));
        if len > 0 {
            g.throughput(Throughput::Bytes(len as u64));
        }
        if len >= 1 << 20 {
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
        }
        for off in 0..4 {
            let key = rotated(KEY, off);
            g.bench_function(BenchmarkId::new("ours", format!("off{off}")), |b| {
                b.iter(|| apply_mask(black_box(&mut buf[off..off + len]), off))
            });
            g.bench_function(
                BenchmarkId::new("fastwebsockets", format!("off{off}")),
                |b| b.iter(|| fastwebsockets::unmask(black_box(&mut buf[off..off + len]), key)),
            );
            g.bench_function(BenchmarkId::new("memcpy", format!("off{off}")), |b| {
                b.iter(|| {
                    black_box(&mut buf[off..off + len]).copy_from_slice(black_box(&src[..len]))
                })
            });
            if off == 0 {
                g.bench_function(BenchmarkId::new("ours_ascii", "off0"), |b| {
                    b.iter(|| ws_proto::mask::apply_mask_ascii(black_box(&mut buf[..len]), KEY, 0))
                });
            }
            if off < 2 {
                g.bench_function(BenchmarkId::new("blocks32", format!("off{off}")), |b| {
                    b.iter(|| mask_blocks32(black_box(&mut buf[off..off + len]), KEY, off))
                });
            }
        }
        if len <= 256 * 1024 {
            g.bench_function(BenchmarkId::new("naive", "off0"), |b| {
                b.iter(|| apply_mask_naive(black_box(&mut buf[..len]), KEY, 0))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

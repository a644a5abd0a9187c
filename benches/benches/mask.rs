//! Masking throughput (RFC 6455 §5.3): `ws_proto::apply_mask` at every key
//! phase and buffer offset, against a plain `u64` word loop, the naive byte
//! loop and `memcpy` of the same length.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_proto::mask::apply_mask_naive;

const LENGTHS: [usize; 9] = [0, 1, 7, 16, 125, 126, 1024, 16 * 1024, 256 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The "word at a time" baseline: 8 bytes per step with a rotated key.
fn mask_u64(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let p = phase & 3;
    let k = [key[p], key[(p + 1) & 3], key[(p + 2) & 3], key[(p + 3) & 3]];
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
    (phase + buf.len()) & 3
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    let mut buf = vec![0u8; 256 * 1024 + 64];
    let src = vec![1u8; 256 * 1024 + 64];
    for len in LENGTHS {
        g.throughput(Throughput::Bytes(len.max(1) as u64));
        for offset in 0..4 {
            let id = BenchmarkId::new(format!("apply_mask/off{offset}"), len);
            g.bench_function(id, |b| {
                b.iter(|| ws_proto::apply_mask(black_box(&mut buf[offset..offset + len]), KEY, offset))
            });
        }
        g.bench_function(BenchmarkId::new("u64_words/off1", len), |b| {
            b.iter(|| mask_u64(black_box(&mut buf[1..1 + len]), KEY, 1))
        });
        g.bench_function(BenchmarkId::new("naive/off0", len), |b| {
            b.iter(|| apply_mask_naive(black_box(&mut buf[..len]), KEY, 0))
        });
        g.bench_function(BenchmarkId::new("memcpy/off0", len), |b| {
            b.iter(|| black_box(&mut buf[..len]).copy_from_slice(black_box(&src[..len])))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Masking throughput (RFC 6455 §5.3): `ws_proto::apply_mask` (a `u64` word
//! loop) at every key phase and buffer offset, against a 32-byte-block
//! variant, the naive byte loop and `memcpy` of the same length.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_proto::mask::apply_mask_naive;

const LENGTHS: [usize; 9] = [0, 1, 7, 16, 125, 126, 1024, 16 * 1024, 256 * 1024];
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

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    let mut buf = vec![0u8; 256 * 1024 + 64];
    let src = vec![1u8; 256 * 1024 + 64];
    for len in LENGTHS {
        g.throughput(Throughput::Bytes(len.max(1) as u64));
        for offset in 0..4 {
            let id = BenchmarkId::new(format!("apply_mask/off{offset}"), len);
            g.bench_function(id, |b| {
                b.iter(|| {
                    ws_proto::apply_mask(black_box(&mut buf[offset..offset + len]), KEY, offset)
                })
            });
        }
        g.bench_function(BenchmarkId::new("blocks32/off1", len), |b| {
            b.iter(|| mask_blocks32(black_box(&mut buf[1..1 + len]), KEY, 1))
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

//! UTF-8 validation throughput (RFC 6455 §8.1): the incremental
//! `ws_proto::Utf8Validator` (whole input, and in 4 KiB chunks as a frame
//! arrives) against `std::str::from_utf8` and `simdutf8`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_proto::Utf8Validator;

const SIZES: [usize; 5] = [20, 1024, 16 * 1024, 256 * 1024, 1 << 20];

fn text(len: usize, mixed: bool) -> Vec<u8> {
    let unit = if mixed {
        "Grüße, κόσμε, 日本語, 🎉 ok. "
    } else {
        "The quick brown fox jumps. "
    };
    let mut s = String::new();
    while s.len() < len {
        s.push_str(unit);
    }
    // Cut at a char boundary at or below `len`.
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    for mixed in [false, true] {
        let kind = if mixed { "mixed" } else { "ascii" };
        for size in SIZES {
            let data = text(size, mixed);
            g.throughput(Throughput::Bytes(data.len() as u64));
            g.bench_function(BenchmarkId::new(format!("{kind}/validator"), size), |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(&data)).is_ok() && v.finish().is_ok()
                })
            });
            g.bench_function(
                BenchmarkId::new(format!("{kind}/validator_4k_chunks"), size),
                |b| {
                    b.iter(|| {
                        let mut v = Utf8Validator::new();
                        black_box(&data).chunks(4096).all(|c| v.feed(c).is_ok())
                            && v.finish().is_ok()
                    })
                },
            );
            g.bench_function(BenchmarkId::new(format!("{kind}/std"), size), |b| {
                b.iter(|| std::str::from_utf8(black_box(&data)).is_ok())
            });
            g.bench_function(
                BenchmarkId::new(format!("{kind}/simdutf8_basic"), size),
                |b| b.iter(|| simdutf8::basic::from_utf8(black_box(&data)).is_ok()),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

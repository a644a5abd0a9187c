//! DEFLATE backends for permessage-deflate: zlib-rs (through flate2) against
//! miniz_oxide, and deflate-ext's wrapper against calling flate2 directly.
//! JSON-like payloads of 128 B, 1 KiB and 16 KiB; with context takeover (one
//! continuous stream, sync flush per message) and without (reset per message).
//!
//! Run: `cargo bench -p ws-benches --bench deflate -- --warm-up-time 1 --measurement-time 2`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deflate_ext::{Compressor, DEFLATE_TAIL, Decompressor, Flush, Level, WindowBits};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, compress as mz_compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::stream::{InflateState, inflate as mz_inflate};
use miniz_oxide::{DataFormat, MZFlush};
use std::hint::black_box;

const SIZES: [usize; 3] = [128, 1024, 16 * 1024];
/// Distinct messages per benchmark, cycled; a stream restarts at each cycle.
const MESSAGES: usize = 32;
const LEVEL: u32 = 1;

/// Deterministic JSON-ish text of exactly `size` bytes; `seed` varies values.
fn json(size: usize, seed: usize) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = seed.wrapping_mul(7919);
    while s.len() < size {
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12345) % 1_000_003;
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"active\":{},\"score\":{}.{},\"tags\":[\"a{}\",\"b\"]}},",
            i % 977,
            i % 2 == 0,
            i % 100,
            i % 10,
            i % 13
        ));
    }
    s.truncate(size);
    s.into_bytes()
}

fn messages(size: usize) -> Vec<Vec<u8>> {
    (0..MESSAGES).map(|k| json(size, k)).collect()
}

// ---- direct flate2 (zlib-rs) ----

fn flate2_compress(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(input.len() + 64);
    c.compress_vec(input, out, FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
}

fn flate2_inflate(d: &mut Decompress, input: &[u8], out: &mut Vec<u8>, size: usize) {
    out.clear();
    out.reserve(size + 64);
    d.decompress_vec(input, out, FlushDecompress::Sync).unwrap();
    d.decompress_vec(&DEFLATE_TAIL, out, FlushDecompress::Sync)
        .unwrap();
}

// ---- miniz_oxide ----

fn mz_new() -> Box<CompressorOxide> {
    Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
        LEVEL as i32,
        -15,
        0,
    )))
}

fn mz_compress_msg(c: &mut CompressorOxide, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(input.len() + 64, 0);
    let (_, read, written) = mz_compress(c, input, out, TDEFLFlush::Sync);
    assert_eq!(read, input.len());
    out.truncate(written - 4);
}

fn mz_inflate_msg(d: &mut InflateState, input: &[u8], out: &mut Vec<u8>, size: usize) {
    out.clear();
    out.resize(size + 64, 0);
    let a = mz_inflate(d, input, out, MZFlush::Sync);
    let b = mz_inflate(d, &DEFLATE_TAIL, &mut out[a.bytes_written..], MZFlush::Sync);
    out.truncate(a.bytes_written + b.bytes_written);
}

// ---- the wrapper ----

fn wrapper_compress(c: &mut Compressor, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    c.compress(input, out, Flush::End).unwrap();
}

fn wrapper_inflate(d: &mut Decompressor, input: &[u8], out: &mut Vec<u8>, size: usize) {
    out.clear();
    d.decompress(input, out, size).unwrap();
    d.decompress(&DEFLATE_TAIL, out, size).unwrap();
}

/// The compressed stream of all messages, as a zlib-rs compressor with or
/// without context takeover produces it (the same bytes every backend must
/// inflate).
fn compressed(msgs: &[Vec<u8>], takeover: bool) -> Vec<Vec<u8>> {
    let mut c = Compress::new_with_window_bits(Compression::new(LEVEL), false, 15);
    msgs.iter()
        .map(|m| {
            if !takeover {
                c.reset();
            }
            let mut out = Vec::new();
            flate2_compress(&mut c, m, &mut out);
            out
        })
        .collect()
}

fn bench_compress(cr: &mut Criterion) {
    for takeover in [true, false] {
        let mut g = cr.benchmark_group(if takeover {
            "compress/takeover"
        } else {
            "compress/no_takeover"
        });
        for size in SIZES {
            let msgs = messages(size);
            g.throughput(Throughput::Bytes(size as u64));
            let mut out = Vec::with_capacity(size + 64);
            g.bench_with_input(
                BenchmarkId::new("zlib-rs(flate2)", size),
                &msgs,
                |b, msgs| {
                    let mut c = Compress::new_with_window_bits(Compression::new(LEVEL), false, 15);
                    let mut i = 0;
                    b.iter(|| {
                        if !takeover || i % MESSAGES == 0 {
                            c.reset();
                        }
                        flate2_compress(&mut c, black_box(&msgs[i % MESSAGES]), &mut out);
                        i += 1;
                    });
                },
            );
            g.bench_with_input(BenchmarkId::new("miniz_oxide", size), &msgs, |b, msgs| {
                let mut c = mz_new();
                let mut i = 0;
                b.iter(|| {
                    if !takeover || i % MESSAGES == 0 {
                        c.reset();
                    }
                    mz_compress_msg(&mut c, black_box(&msgs[i % MESSAGES]), &mut out);
                    i += 1;
                });
            });
            g.bench_with_input(BenchmarkId::new("deflate-ext", size), &msgs, |b, msgs| {
                let mut c = Compressor::new(WindowBits::MAX, Level::FAST);
                let mut i = 0;
                b.iter(|| {
                    if !takeover || i % MESSAGES == 0 {
                        c.reset();
                    }
                    wrapper_compress(&mut c, black_box(&msgs[i % MESSAGES]), &mut out);
                    i += 1;
                });
            });
        }
        g.finish();
    }
}

fn bench_inflate(cr: &mut Criterion) {
    for takeover in [true, false] {
        let mut g = cr.benchmark_group(if takeover {
            "inflate/takeover"
        } else {
            "inflate/no_takeover"
        });
        for size in SIZES {
            let z = compressed(&messages(size), takeover);
            g.throughput(Throughput::Bytes(size as u64));
            let mut out = Vec::with_capacity(size + 64);
            g.bench_with_input(BenchmarkId::new("zlib-rs(flate2)", size), &z, |b, z| {
                let mut d = Decompress::new_with_window_bits(false, 15);
                let mut i = 0;
                b.iter(|| {
                    if !takeover || i % MESSAGES == 0 {
                        d.reset(false);
                    }
                    flate2_inflate(&mut d, black_box(&z[i % MESSAGES]), &mut out, size);
                    i += 1;
                });
            });
            g.bench_with_input(BenchmarkId::new("miniz_oxide", size), &z, |b, z| {
                let mut d = InflateState::new_boxed(DataFormat::Raw);
                let mut i = 0;
                b.iter(|| {
                    if !takeover || i % MESSAGES == 0 {
                        d.reset(DataFormat::Raw);
                    }
                    mz_inflate_msg(&mut d, black_box(&z[i % MESSAGES]), &mut out, size);
                    i += 1;
                });
            });
            g.bench_with_input(BenchmarkId::new("deflate-ext", size), &z, |b, z| {
                let mut d = Decompressor::new(WindowBits::MAX);
                let mut i = 0;
                b.iter(|| {
                    if !takeover || i % MESSAGES == 0 {
                        d.reset();
                    }
                    wrapper_inflate(&mut d, black_box(&z[i % MESSAGES]), &mut out, size);
                    i += 1;
                });
            });
        }
        g.finish();
    }
}

/// Checks once, outside the timings, that every backend inflates to the
/// original and reports the compression ratio of each compressor.
fn sanity(_: &mut Criterion) {
    for size in SIZES {
        let msgs = messages(size);
        for takeover in [true, false] {
            let z = compressed(&msgs, takeover);
            let mut d = InflateState::new_boxed(DataFormat::Raw);
            let mut w = Decompressor::new(WindowBits::MAX);
            let mut out = Vec::new();
            let mut mz_total = 0;
            let mut c = mz_new();
            for (m, zm) in msgs.iter().zip(&z) {
                if !takeover {
                    d.reset(DataFormat::Raw);
                    w.reset();
                    c.reset();
                }
                mz_inflate_msg(&mut d, zm, &mut out, size);
                assert_eq!(&out, m);
                wrapper_inflate(&mut w, zm, &mut out, size);
                assert_eq!(&out, m);
                mz_compress_msg(&mut c, m, &mut out);
                mz_total += out.len();
            }
            let zl: usize = z.iter().map(Vec::len).sum();
            let raw = size * MESSAGES;
            println!(
                "ratio size={size} takeover={takeover}: zlib-rs {:.3}, miniz_oxide {:.3}",
                zl as f64 / raw as f64,
                mz_total as f64 / raw as f64
            );
        }
    }
}

criterion_group!(benches, sanity, bench_compress, bench_inflate);
criterion_main!(benches);

//! permessage-deflate cost per message.
//!
//! Three ways to do one job, on identical inputs:
//!
//! * `deflate-ext`: [`PerMessageDeflate`] driven through ws-proto's
//!   [`Extension`] interface exactly as the connection drives it (`encode` of
//!   a whole message with `first`/`fin` set, `decode` of a frame with RSV1 and
//!   the default 64 MiB `max_message_size` as budget; `Bytes` in, `Bytes`
//!   out);
//! * `zlib-rs`: the same backend called directly through flate2 with the same
//!   settings (level 1, raw deflate, window bits 15, sync flush with the
//!   `00 00 ff ff` tail stripped on compress and appended on inflate, reset
//!   before each message without context takeover), writing through the
//!   slice API into one initialised buffer reused for every message (no
//!   allocation, no zero-filling): the floor the extension is measured
//!   against;
//! * `miniz_oxide`: the other pure-Rust backend, written the same way.
//!
//! Payloads are JSON-like messages of 128 B, 1 KiB and 16 KiB from a
//! deterministic generator, cycled; a cycle holds at least 64 KiB of distinct
//! messages, so with context takeover no message finds its own copy in the
//! 32 KiB window. "takeover" is one continuous stream (no reset, ever);
//! "no_takeover" resets before each message. The compressed inputs of the
//! inflate benches are what the zlib-rs compressor makes of one cycle; every
//! message's stream starts byte aligned, so the cycle can wrap without a
//! reset.
//!
//! Three modes, each first checking that every variant inflates back to
//! the messages and that deflate-ext's output is zlib-rs's byte for byte:
//!
//! ```text
//! # criterion: each benchmark on its own (times, throughput)
//! cargo bench -p ws-benches --bench deflate -- --warm-up-time 1 --measurement-time 3
//! # same-run ratios: the variants take turns block by block (robust to a
//! # busy machine, where criterion's one-after-another medians drift)
//! DEFLATE_PAIRED=1 cargo bench -p ws-benches --bench deflate
//! # instructions per message under valgrind's callgrind (deterministic)
//! DEFLATE_CALLGRIND=1 cargo bench -p ws-benches --bench deflate
//! ```
//!
//! A value other than `1` runs only the cases whose name contains it
//! (`DEFLATE_PAIRED=/128`, `DEFLATE_CALLGRIND=inflate/takeover`);
//! `DEFLATE_CALLGRIND_OUT=dir` keeps the callgrind files for
//! `callgrind_annotate`.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use deflate_ext::{DEFLATE_TAIL, PerMessageDeflate, PmdAgreed, PmdConfig};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, compress as mz_compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::stream::{InflateState, inflate as mz_inflate};
use miniz_oxide::{DataFormat, MZFlush};
use std::hint::black_box;
use ws_proto::{Extension, FrameMeta, MessageKind, Role};

const SIZES: [usize; 3] = [128, 1024, 16 * 1024];
const LEVEL: u32 = 1;
const WINDOW_BITS: u8 = 15;
/// Distinct message bytes per cycle: twice the largest window.
const CYCLE_BYTES: usize = 64 * 1024;
const MIN_MESSAGES: usize = 32;
/// The budget the connection passes to `decode`: ws-proto's default
/// `max_message_size`, nothing of the message received yet.
const MAX_MESSAGE: usize = 64 << 20;
const RSV1: u8 = 0x40;

// ---- cases and inputs ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Compress,
    Inflate,
}

#[derive(Clone, Copy)]
struct Case {
    op: Op,
    takeover: bool,
    size: usize,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut v = Vec::new();
        for op in [Op::Compress, Op::Inflate] {
            for takeover in [true, false] {
                for size in SIZES {
                    v.push(Case { op, takeover, size });
                }
            }
        }
        v
    }

    fn group(&self) -> String {
        let op = match self.op {
            Op::Compress => "compress",
            Op::Inflate => "inflate",
        };
        let t = if self.takeover {
            "takeover"
        } else {
            "no_takeover"
        };
        format!("{op}/{t}")
    }

    fn name(&self) -> String {
        format!("{}/{}", self.group(), self.size)
    }

    fn messages(&self) -> usize {
        (CYCLE_BYTES / self.size).max(MIN_MESSAGES)
    }
}

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

fn leak(v: Vec<u8>) -> Bytes {
    Bytes::from_static(Vec::leak(v))
}

/// One cycle of distinct messages of `size` bytes.
fn messages(case: &Case) -> Vec<Bytes> {
    (0..case.messages())
        .map(|k| leak(json(case.size, k)))
        .collect()
}

/// The messages as the zlib-rs compressor sends them (tail stripped), with or
/// without context takeover: the input of every inflate variant.
fn compressed(msgs: &[Bytes], takeover: bool) -> Vec<Bytes> {
    let size = msgs.iter().map(Bytes::len).max().unwrap_or(0);
    let mut c = Flate2Compress::new(takeover, size);
    msgs.iter()
        .map(|m| c.run(m, |z| leak(z.to_vec())))
        .collect()
}

/// What a case's codecs are fed: the messages, or their compressed form.
fn inputs(case: &Case) -> (Vec<Bytes>, Vec<Bytes>) {
    let msgs = messages(case);
    let input = match case.op {
        Op::Compress => msgs.clone(),
        Op::Inflate => compressed(&msgs, case.takeover),
    };
    (msgs, input)
}

// ---- the codecs ----

/// One way to process one message; `f` sees the output.
trait Codec {
    fn new(takeover: bool, size: usize) -> Self;
    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R;
}

/// An output buffer for the direct calls: initialised once and reused, so
/// the backend writes into it with nothing zero-filled or allocated per
/// message (flate2's `*_vec` methods would zero-fill a `Vec`'s spare
/// capacity on every call). Room for any of the messages and their
/// compressed form.
fn buffer(size: usize) -> Vec<u8> {
    vec![0; 2 * size + 1024]
}

/// The length of sync flush output less the `00 00 ff ff` tail (RFC 7692
/// §7.2.1), or plus a `00` octet where the tail is missing.
fn strip_tail(out: &mut [u8], end: usize) -> usize {
    if out[..end].ends_with(&DEFLATE_TAIL) {
        end - 4
    } else {
        out[end] = 0;
        end + 1
    }
}

struct Flate2Compress {
    c: Compress,
    out: Vec<u8>,
    takeover: bool,
}

impl Codec for Flate2Compress {
    fn new(takeover: bool, size: usize) -> Self {
        Flate2Compress {
            c: Compress::new_with_window_bits(Compression::new(LEVEL), false, WINDOW_BITS),
            out: buffer(size),
            takeover,
        }
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        if !self.takeover {
            self.c.reset();
        }
        let (in0, out0) = (self.c.total_in(), self.c.total_out());
        self.c
            .compress(input, &mut self.out, FlushCompress::Sync)
            .unwrap();
        debug_assert_eq!(self.c.total_in() - in0, input.len() as u64);
        let end = strip_tail(&mut self.out, (self.c.total_out() - out0) as usize);
        f(&self.out[..end])
    }
}

struct Flate2Inflate {
    d: Decompress,
    out: Vec<u8>,
    takeover: bool,
}

impl Codec for Flate2Inflate {
    fn new(takeover: bool, size: usize) -> Self {
        Flate2Inflate {
            d: Decompress::new_with_window_bits(false, WINDOW_BITS),
            out: buffer(size),
            takeover,
        }
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        if !self.takeover {
            self.d.reset(false);
        }
        let out0 = self.d.total_out();
        self.d
            .decompress(input, &mut self.out, FlushDecompress::Sync)
            .unwrap();
        let a = (self.d.total_out() - out0) as usize;
        self.d
            .decompress(&DEFLATE_TAIL, &mut self.out[a..], FlushDecompress::Sync)
            .unwrap();
        f(&self.out[..(self.d.total_out() - out0) as usize])
    }
}

struct MinizCompress {
    c: Box<CompressorOxide>,
    out: Vec<u8>,
    takeover: bool,
}

impl Codec for MinizCompress {
    fn new(takeover: bool, size: usize) -> Self {
        let flags = create_comp_flags_from_zip_params(LEVEL as i32, -i32::from(WINDOW_BITS), 0);
        MinizCompress {
            c: Box::new(CompressorOxide::new(flags)),
            out: buffer(size),
            takeover,
        }
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        if !self.takeover {
            self.c.reset();
        }
        let (_, read, end) = mz_compress(&mut self.c, input, &mut self.out, TDEFLFlush::Sync);
        debug_assert_eq!(read, input.len());
        let end = strip_tail(&mut self.out, end);
        f(&self.out[..end])
    }
}

struct MinizInflate {
    d: Box<InflateState>,
    out: Vec<u8>,
    takeover: bool,
}

impl Codec for MinizInflate {
    fn new(takeover: bool, size: usize) -> Self {
        MinizInflate {
            d: InflateState::new_boxed(DataFormat::Raw),
            out: buffer(size),
            takeover,
        }
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        if !self.takeover {
            self.d.reset(DataFormat::Raw);
        }
        let a = mz_inflate(&mut self.d, input, &mut self.out, MZFlush::Sync).bytes_written;
        let b = mz_inflate(
            &mut self.d,
            &DEFLATE_TAIL,
            &mut self.out[a..],
            MZFlush::Sync,
        );
        f(&self.out[..a + b.bytes_written])
    }
}

/// Both halves use the same agreed parameters: window 15 (the default) and
/// no context takeover in both directions or in none.
fn ours(takeover: bool) -> PerMessageDeflate {
    let agreed = PmdAgreed {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        ..PmdAgreed::default()
    };
    PerMessageDeflate::new(Role::Server, agreed, PmdConfig::default())
}

/// A whole text message, sent or received in one frame.
const META: FrameMeta = FrameMeta {
    kind: MessageKind::Text,
    first: true,
    fin: true,
    rsv: 0,
};

struct OursCompress(PerMessageDeflate);

impl Codec for OursCompress {
    fn new(takeover: bool, _: usize) -> Self {
        OursCompress(ours(takeover))
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        let e = self.0.encode(&META, input.clone()).unwrap();
        debug_assert_eq!(e.rsv, RSV1);
        f(&e.payload)
    }
}

struct OursInflate(PerMessageDeflate);

impl Codec for OursInflate {
    fn new(takeover: bool, _: usize) -> Self {
        OursInflate(ours(takeover))
    }

    fn run<R>(&mut self, input: &Bytes, f: impl FnOnce(&[u8]) -> R) -> R {
        let meta = FrameMeta { rsv: RSV1, ..META };
        let m = self.0.decode(&meta, input.clone(), MAX_MESSAGE).unwrap();
        f(&m)
    }
}

// ---- variants ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Zlib,
    Ours,
    Miniz,
}

const VARIANTS: [Variant; 3] = [Variant::Zlib, Variant::Ours, Variant::Miniz];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Zlib => "zlib-rs",
            Variant::Ours => "deflate-ext",
            Variant::Miniz => "miniz_oxide",
        }
    }
}

/// Calls `$body` with `$C` bound to the codec type of a case and variant.
macro_rules! with_codec {
    ($case:expr, $variant:expr, $C:ident => $body:expr) => {
        match ($case.op, $variant) {
            (Op::Compress, Variant::Zlib) => {
                type $C = Flate2Compress;
                $body
            }
            (Op::Compress, Variant::Ours) => {
                type $C = OursCompress;
                $body
            }
            (Op::Compress, Variant::Miniz) => {
                type $C = MinizCompress;
                $body
            }
            (Op::Inflate, Variant::Zlib) => {
                type $C = Flate2Inflate;
                $body
            }
            (Op::Inflate, Variant::Ours) => {
                type $C = OursInflate;
                $body
            }
            (Op::Inflate, Variant::Miniz) => {
                type $C = MinizInflate;
                $body
            }
        }
    };
}

/// Runs `n` messages of `inputs`, cycled, through `codec`: the only code
/// callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured<C: Codec>(codec: &mut C, inputs: &[Bytes], n: usize) {
    for input in inputs.iter().cycle().take(n) {
        codec.run(black_box(input), |o| black_box(o.len()));
    }
}

// ---- checks, once per run ----

/// Two cycles of every variant: inflate gives back the messages (across the
/// wrap too), deflate-ext's output is the direct zlib-rs output byte for byte,
/// miniz's output inflates back. Prints the compression ratios.
fn sanity() {
    for case in Case::all() {
        let (msgs, input) = inputs(&case);
        let n = msgs.len();
        let mut outs: Vec<Vec<Vec<u8>>> = Vec::new();
        for v in VARIANTS {
            let o = with_codec!(case, v, C => {
                let mut c = C::new(case.takeover, case.size);
                input.iter().cycle().take(2 * n).map(|i| c.run(i, <[u8]>::to_vec)).collect()
            });
            outs.push(o);
        }
        match case.op {
            Op::Inflate => {
                for (v, o) in VARIANTS.iter().zip(&outs) {
                    for (k, m) in o.iter().enumerate() {
                        assert!(
                            *m == msgs[k % n],
                            "{} {} message {k}",
                            case.name(),
                            v.name()
                        );
                    }
                }
            }
            Op::Compress => {
                assert!(
                    outs[0] == outs[1],
                    "{}: deflate-ext != zlib-rs",
                    case.name()
                );
                let mut d = Flate2Inflate::new(case.takeover, case.size);
                for (k, z) in outs[2].iter().enumerate() {
                    let z = Bytes::copy_from_slice(z);
                    d.run(&z, |m| assert!(*m == msgs[k % n], "{} miniz", case.name()));
                }
                let raw = (case.size * 2 * n) as f64;
                let ratio = |o: &[Vec<u8>]| o.iter().map(Vec::len).sum::<usize>() as f64 / raw;
                println!(
                    "ratio {}: zlib-rs {:.3}, miniz_oxide {:.3}",
                    case.name(),
                    ratio(&outs[0]),
                    ratio(&outs[2])
                );
            }
        }
    }
}

// ---- criterion ----

fn bench(cr: &mut Criterion) {
    for case in Case::all() {
        let (_, input) = inputs(&case);
        let mut g = cr.benchmark_group(case.group());
        g.throughput(Throughput::Bytes(case.size as u64));
        for v in VARIANTS {
            with_codec!(case, v, C => {
                // One codec for all samples: lazy state is created in the
                // warm-up, and takeover streams run on across samples.
                let mut c = C::new(case.takeover, case.size);
                let mut next = input.iter().cycle();
                g.bench_function(BenchmarkId::new(v.name(), case.size), |b| {
                    b.iter(|| {
                        let i = next.next().unwrap_or(&input[0]);
                        c.run(black_box(i), |o| black_box(o.len()))
                    });
                });
            });
        }
        g.finish();
    }
}

// ---- callgrind ----

/// Child: one case and variant, a warm-up cycle, then the measured cycles.
fn callgrind_child(spec: &str) {
    let case = Case::all()
        .into_iter()
        .find(|c| spec.starts_with(&format!("{}/", c.name())))
        .expect("case");
    let v = VARIANTS
        .into_iter()
        .find(|v| spec.ends_with(&format!("/{}", v.name())))
        .expect("variant");
    let (_, input) = inputs(&case);
    with_codec!(case, v, C => {
        let mut c = C::new(case.takeover, case.size);
        warm_up(&mut c, &input);
        measured(&mut c, &input, messages_measured(&case));
    });
}

/// One cycle, not counted.
fn warm_up<C: Codec>(c: &mut C, inputs: &[Bytes]) {
    for i in inputs {
        c.run(i, |o| o.len());
    }
}

/// At least 256 messages and whole cycles.
fn messages_measured(case: &Case) -> usize {
    let n = case.messages();
    n * 256usize.div_ceil(n)
}

/// Parent: runs valgrind on this executable once per case and variant and
/// prints instructions per message.
fn callgrind_parent(filter: &str) {
    let exe = std::env::current_exe().expect("current_exe");
    let keep = std::env::var("DEFLATE_CALLGRIND_OUT").ok();
    println!(
        "| case | zlib-rs Ir/msg | deflate-ext Ir/msg | overhead | miniz_oxide Ir/msg | miniz / zlib-rs |"
    );
    println!("|---|---|---|---|---|---|");
    for case in Case::all() {
        let name = case.name();
        if filter != "1" && !name.contains(filter) {
            continue;
        }
        let mut ir = [0f64; 3];
        for (k, v) in VARIANTS.into_iter().enumerate() {
            let spec = format!("{name}/{}", v.name());
            let out_file = match &keep {
                Some(dir) => format!("{dir}/callgrind.{}", spec.replace('/', "_")),
                None => "/dev/null".to_owned(),
            };
            let o = std::process::Command::new("valgrind")
                .args([
                    "--tool=callgrind",
                    "--toggle-collect=*measured*",
                    &format!("--callgrind-out-file={out_file}"),
                ])
                .arg(&exe)
                .env("DEFLATE_CALLGRIND_CASE", &spec)
                .env_remove("DEFLATE_CALLGRIND")
                .output()
                .expect("valgrind");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{spec}: valgrind failed:\n{err}");
            let collected = err
                .lines()
                .find_map(|l| l.split("Collected : ").nth(1))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{spec}: no count in valgrind output:\n{err}"));
            ir[k] = collected as f64 / messages_measured(&case) as f64;
        }
        println!(
            "| {name} | {:.0} | {:.0} | {:+.1}% | {:.0} | {:.2} |",
            ir[0],
            ir[1],
            (ir[1] / ir[0] - 1.0) * 100.0,
            ir[2],
            ir[2] / ir[0]
        );
    }
}

// ---- paired timing ----

/// Times `n` messages through `codec`.
fn block<C: Codec>(codec: &mut C, inputs: &[Bytes], n: usize) -> std::time::Duration {
    let t = std::time::Instant::now();
    measured(codec, inputs, n);
    t.elapsed()
}

/// The variants of each case take turns, block by block, for `ROUNDS`
/// rounds, in every order; the overhead is the median of the
/// per-round ratios, so drift in the machine's load hits both sides of each
/// ratio alike. Each variant has `INSTANCES` codecs used in rotation: where
/// the backend's arrays happen to lie moves small-message times by up to
/// ±15% between two instances of the same code.
fn paired(filter: &str) {
    const ROUNDS: usize = 120;
    const INSTANCES: usize = 4;
    // Every order of the three variants in turn, so each follows each
    // other one as often (what ran before decides what is still cached).
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    type Run = Box<dyn FnMut(usize) -> std::time::Duration>;
    println!(
        "| case | zlib-rs ns/msg | deflate-ext ns/msg | overhead (median of paired ratios) | miniz_oxide ns/msg | miniz / zlib-rs |"
    );
    println!("|---|---|---|---|---|---|");
    for case in Case::all() {
        let name = case.name();
        if filter != "1" && !name.contains(filter) {
            continue;
        }
        let (_, input) = inputs(&case);
        // runs[instance][variant]
        let mut runs: Vec<Vec<Run>> = (0..INSTANCES)
            .map(|_| {
                VARIANTS
                    .into_iter()
                    .map(|v| {
                        let input = input.clone();
                        with_codec!(case, v, C => {
                            let mut c = C::new(case.takeover, case.size);
                            warm_up(&mut c, &input);
                            Box::new(move |n| block(&mut c, &input, n)) as Run
                        })
                    })
                    .collect()
            })
            .collect();
        // Blocks of whole cycles and at least ~2 ms of zlib-rs.
        let cycle = case.messages();
        let once = runs[0][0](cycle).as_secs_f64();
        let n = cycle * ((2e-3 / once).ceil() as usize).max(1);
        let mut per_msg = vec![Vec::new(); VARIANTS.len()];
        let mut ratio = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            let runs = &mut runs[round % INSTANCES];
            let mut t = [0.0; VARIANTS.len()];
            for k in ORDERS[round % ORDERS.len()] {
                t[k] = runs[k](n).as_secs_f64();
            }
            for (k, x) in t.iter().enumerate() {
                per_msg[k].push(x / n as f64 * 1e9);
            }
            ratio[0].push(t[1] / t[0]);
            ratio[1].push(t[2] / t[0]);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let r0 = med(&mut ratio[0]);
        let r1 = med(&mut ratio[1]);
        println!(
            "| {name} | {:.0} | {:.0} | {:+.1}% | {:.0} | {:.2} |",
            med(&mut per_msg[0]),
            med(&mut per_msg[1]),
            (r0 - 1.0) * 100.0,
            med(&mut per_msg[2]),
            r1
        );
    }
}

fn main() {
    if let Ok(filter) = std::env::var("DEFLATE_PAIRED") {
        sanity();
        paired(&filter);
        return;
    }
    if let Ok(spec) = std::env::var("DEFLATE_CALLGRIND_CASE") {
        callgrind_child(&spec);
        return;
    }
    if let Ok(filter) = std::env::var("DEFLATE_CALLGRIND") {
        sanity();
        callgrind_parent(&filter);
        return;
    }
    sanity();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

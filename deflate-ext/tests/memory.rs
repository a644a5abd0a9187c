//! Memory: a decompression bomb ends with TooBig (close 1009) and the heap
//! grows by little more than the message limit; and the per-connection cost
//! of each setting, measured with a counting global allocator (run with
//! `--nocapture` to print the table used in docs/deflate.md).
//!
//! The allocator wrapper is the only unsafe code of this crate's tests: a
//! `GlobalAlloc` impl cannot be written without it.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::pmd::codec::IdleState;
use deflate_ext::{
    Budget, CodecError, Compressor, Decompressor, Flush, FrameKind, Level, PerMessageDeflate,
    PmdAgreed, PmdConfig, Role, WindowBits,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Tests in this file run one at a time so their counts do not mix.
static SERIAL: Mutex<()> = Mutex::new(());

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, SeqCst) + n;
    PEAK.fetch_max(now, SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), SeqCst);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), SeqCst);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns (its result, peak heap growth during it, heap still
/// held after it).
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = CURRENT.load(SeqCst);
    PEAK.store(base, SeqCst);
    let r = f();
    let peak = PEAK.load(SeqCst).saturating_sub(base);
    let held = CURRENT.load(SeqCst).saturating_sub(base);
    (r, peak, held)
}

#[test]
fn decompression_bomb_ends_with_1009_and_bounded_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 64 MiB of zeros deflate to about 64 KiB.
    let mut bomb = Vec::new();
    Compressor::new(WindowBits::MAX, Level::BEST)
        .compress(&vec![0u8; 64 << 20], &mut bomb, Flush::End)
        .unwrap();
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    const LIMIT: usize = 1 << 20;
    let mut server =
        PerMessageDeflate::new(Role::Server, PmdAgreed::default(), PmdConfig::default());
    let (result, peak, _) = measure(|| {
        // Fed as a fragmented message, as it would arrive.
        let mut chunks = bomb.chunks(16 << 10).peekable();
        let mut kind = FrameKind::First;
        let mut received = 0usize;
        while let Some(chunk) = chunks.next() {
            let fin = chunks.peek().is_none();
            let mut out = Vec::new();
            server.decode_frame(
                kind,
                kind == FrameKind::First,
                fin,
                chunk,
                Budget::Message(LIMIT),
                &mut out,
            )?;
            received += out.len();
            kind = FrameKind::Continuation;
        }
        Ok::<usize, CodecError>(received)
    });
    let err = result.unwrap_err();
    assert!(
        matches!(err, CodecError::TooBig { max: LIMIT, size } if size > LIMIT),
        "{err:?}"
    );
    let code = ws_proto::Error::from(ws_proto::ExtensionError::from(err)).close_code();
    assert_eq!(code.map(|c| c.0), Some(1009));
    // The limit, plus the decompressor state, plus slack: never the 64 MiB.
    println!("bomb: peak heap growth {peak} B for a limit of {LIMIT} B");
    assert!(peak < LIMIT + (256 << 10), "peak heap growth {peak}");
    // The failure is permanent and the state was freed.
    assert!(!server.allocated().1);
    let mut out = Vec::new();
    assert!(
        server
            .decode_frame(
                FrameKind::First,
                false,
                true,
                b"x",
                Budget::Message(LIMIT),
                &mut out
            )
            .is_err()
    );
}

#[test]
fn per_connection_cost_of_each_setting() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let msg: Vec<u8> = (0..4096u32)
        .map(|i| b"{\"k\":1234,\"v\":\"abcdef\"}"[(i % 23) as usize])
        .collect();
    println!("| setting | compressor held | decompressor held |");
    println!("|---|---|---|");
    for bits in [8u8, 9, 10, 12, 15] {
        for level in [Level::FAST, Level::DEFAULT] {
            let w = WindowBits::new(bits).unwrap();
            let ((c, z), _, c_held) = measure(|| {
                let mut c = Compressor::new(w, level);
                let mut z = Vec::with_capacity(8192);
                c.compress(&msg, &mut z, Flush::End).unwrap();
                (c, z)
            });
            let (d, _, d_held) = measure(|| {
                let mut d = Decompressor::new(w);
                let mut out = Vec::new();
                d.decompress(&z, &mut out, 1 << 20).unwrap();
                drop(out);
                d
            });
            println!(
                "| window {bits}, level {} | {} KiB | {} KiB |",
                level.get(),
                (c_held - 8192) >> 10,
                d_held >> 10
            );
            assert!(c_held < 400 << 10 && d_held < 64 << 10);
            drop((c, d, z));
        }
    }
    // Lazy creation: an extension that has not compressed or inflated holds
    // nothing; with no context takeover and IdleState::Release nothing stays
    // between messages.
    let agreed = PmdAgreed {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..PmdAgreed::default()
    };
    let cfg = PmdConfig::default()
        .with_idle(IdleState::Release)
        .with_threshold(0);
    let (mut ext, _, held) = measure(|| PerMessageDeflate::new(Role::Server, agreed, cfg));
    println!("| permessage-deflate instance before first use | {held} B | |");
    assert!(held < 1024);
    let (_, peak, held) = measure(|| {
        let mut z = Vec::new();
        ext.encode_frame(FrameKind::First, true, &msg, &mut z)
            .unwrap();
        let mut out = Vec::new();
        // Our own output is a valid client message too (same windows).
        ext.decode_frame(
            FrameKind::First,
            true,
            true,
            &z,
            Budget::Message(1 << 20),
            &mut out,
        )
        .unwrap();
    });
    println!(
        "| no_context_takeover + Release: peak during a message / held after | {} KiB | {held} B |",
        peak >> 10
    );
    assert_eq!(held, 0);
    assert_eq!(ext.allocated(), (false, false));
}

//! Allocations per echoed message on a busy connection: once a server
//! connection has echoed a few messages, receiving, handing out and
//! sending back small messages allocates nothing (its receive buffer and
//! send queue are kept while it is busy and reused); after
//! `Config::buffer_linger` without traffic it holds no buffer again.
//! Counted with a counting global allocator (allocation calls of the
//! test's thread), so the figure is exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use http_upgrade::testing::SplitMix;
use ws_proto::{Config, Connection, Event, Instant};

struct Counting;

thread_local! {
    /// Allocation calls (alloc and realloc) by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    /// The largest allocation (or reallocation) asked for by this thread.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn count(size: usize) {
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded to `System` with the caller's arguments
// unchanged; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// `n` masked client frames of `size` bytes each, made before counting.
fn client_frames(n: usize, size: usize) -> Vec<Vec<u8>> {
    let now = Instant::ZERO;
    let mut client =
        Connection::client(Config::default(), Box::new(SplitMix::new(7)), now).unwrap();
    (0..n)
        .map(|i| {
            let payload = vec![(i % 251) as u8; size];
            client.send_binary(payload).unwrap();
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            wire
        })
        .collect()
}

/// Writes the connection's output to `sink` as a driver does (vectored,
/// through `fill_io_slices`), then marks it written.
fn write_out(conn: &mut Connection, sink: &mut Vec<u8>) {
    let mut slices = [std::io::IoSlice::new(&[]); 8];
    let n = conn.fill_io_slices(&mut slices);
    let len: usize = slices[..n].iter().map(|s| s.len()).sum();
    for s in &slices[..n] {
        sink.extend_from_slice(s);
    }
    conn.advance_transmit(len);
}

/// Echoes `frames` through a server connection the way a driver does
/// (receive from a read buffer, poll the message, send it back, write the
/// output through `fill_io_slices`); returns the allocations counted from
/// message `warm` on, and the connection.
fn echo(frames: &[Vec<u8>], warm: usize, t: &mut Instant) -> (u64, Connection) {
    echo_with(Config::default(), frames, warm, t)
}

fn echo_with(
    config: Config,
    frames: &[Vec<u8>],
    warm: usize,
    t: &mut Instant,
) -> (u64, Connection) {
    let mut server = Connection::server(config, *t).unwrap();
    let mut sink = Vec::with_capacity(1 << 20);
    let mut counted = 0;
    for (i, wire) in frames.iter().enumerate() {
        *t = *t + Duration::from_micros(50);
        let before = allocs();
        server.receive(*t, wire).unwrap();
        let Some(Event::Binary(b)) = server.poll_event().unwrap() else {
            panic!("no message")
        };
        server.send_binary(b).unwrap();
        assert!(server.poll_event().unwrap().is_none());
        write_out(&mut server, &mut sink);
        sink.clear();
        if i >= warm {
            counted += allocs() - before;
        }
    }
    (counted, server)
}

#[test]
fn a_busy_connection_allocates_nothing_per_small_message() {
    let mut t = Instant::ZERO;
    for size in [14, 20, 125, 1024, 16384] {
        let frames = client_frames(1000, size);
        let (counted, server) = echo(&frames, 10, &mut t);
        // The same echo releasing its buffers whenever they drain.
        let eager = Config::default().with_buffer_linger(None);
        let (released, _) = echo_with(eager, &frames, 10, &mut t);
        eprintln!("{size} B: {counted} allocations in 990 echoes ({released} without the linger)");
        assert_eq!(
            counted, 0,
            "{size} B: allocations per echo on a busy connection"
        );
        assert!(
            released >= 990,
            "{size} B: the counter sees the allocations"
        );
        assert!(server.buffer_capacity() > 0, "kept while busy");
    }
}

#[test]
fn buffers_are_released_after_the_linger() {
    let mut t = Instant::ZERO;
    let frames = client_frames(20, 20);
    let (_, mut server) = echo(&frames, 0, &mut t);
    assert!(server.buffer_capacity() > 0, "kept while busy");
    let linger = Config::default().buffer_linger.expect("a default linger");
    // The deadline was set when keeping started; it moves to a linger
    // after the last use, then releases.
    let mut due = server
        .poll_timeout()
        .expect("a deadline to release the buffers");
    for _ in 0..2 {
        assert!(due <= t + linger, "{due:?}");
        server.handle_timeout(due);
        match server.poll_timeout() {
            Some(next) => due = next,
            None => break,
        }
    }
    assert_eq!(server.buffer_capacity(), 0, "released once idle");
    assert_eq!(server.poll_timeout(), None, "nothing left to release");
}

/// Masked client text messages of `size` bytes, each sent in fragments of
/// `fragment` bytes, made before counting.
fn fragmented_text(n: usize, size: usize, fragment: usize) -> Vec<(String, Vec<u8>)> {
    let config = Config::default().with_fragment_size(Some(fragment));
    let mut client = Connection::client(config, Box::new(SplitMix::new(9)), Instant::ZERO).unwrap();
    (0..n)
        .map(|i| {
            let text: String = (0..size)
                .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
                .collect();
            client.send_text(text.clone()).unwrap();
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            (text, wire)
        })
        .collect()
}

/// A message arriving in fragments is gathered straight from the receive
/// buffer into one allocation the size of the last such message: one
/// allocation per message once the connection has seen one (before: a
/// copy of each fragment, then a buffer grown by doubling). And what the
/// first fragment makes the connection reserve is bounded: after a 3 MiB
/// message, a 1-byte first fragment reserves at most `FRAME_RESERVE`.
#[test]
fn fragmented_messages_are_gathered_in_one_allocation() {
    let mut t = Instant::ZERO;
    let config = Config::default().with_max_message_size(8 << 20);
    let mut server = Connection::server(config, t).unwrap();
    // Each message's wire in one read (the receive buffer is then reused
    // from message to message): one allocation per message, the message.
    for (size, fragment) in [(1024, 256), (16384, 4096), (16384, 100)] {
        let messages = fragmented_text(50, size, fragment);
        let mut counted = 0;
        for (i, (text, wire)) in messages.iter().enumerate() {
            t = t + Duration::from_micros(50);
            let before = allocs();
            server.receive(t, wire).unwrap();
            let Some(Event::Text(got)) = server.poll_event().unwrap() else {
                panic!("{size} B: no message")
            };
            assert_eq!(got.as_str(), text.as_str(), "{size} B: message {i}");
            assert!(server.poll_event().unwrap().is_none());
            drop(got);
            if i >= 5 {
                counted += allocs() - before;
            }
        }
        eprintln!("{size} B in {fragment} B fragments: {counted} allocations for 45 messages");
        assert_eq!(
            counted, 45,
            "{size} B in {fragment} B fragments: allocations for 45 messages"
        );
    }
    // In reads of 4 KiB, each decoded before the next (as a driver does),
    // fragments spanning reads: the same messages.
    for (text, wire) in fragmented_text(5, 100_000, 1000) {
        let mut got = None;
        for chunk in wire.chunks(4096) {
            server.receive(t, chunk).unwrap();
            while let Some(ev) = server.poll_event().unwrap() {
                assert!(got.is_none(), "one message");
                got = Some(ev);
            }
        }
        assert!(matches!(got, Some(Event::Text(s)) if s.as_str() == text));
    }
    // A 3 MiB message, then a new message's 1-byte first fragment.
    let big = fragmented_text(1, 3 << 20, 64 << 10);
    let mut got = None;
    for chunk in big[0].1.chunks(64 << 10) {
        server.receive(t, chunk).unwrap();
        while let Some(ev) = server.poll_event().unwrap() {
            got = Some(ev);
        }
    }
    let Some(Event::Text(got)) = got else {
        panic!("no 3 MiB message")
    };
    assert_eq!(got.len(), 3 << 20);
    drop(got);
    let first = fragmented_text(1, 2, 1);
    // The first frame of two (1 byte, masked: 2 + 4 + 1 bytes).
    let wire = &first[0].1;
    LARGEST.with(|l| l.set(0));
    server.receive(t, &wire[..7]).unwrap();
    assert!(server.poll_event().unwrap().is_none());
    let largest = LARGEST.with(Cell::get);
    assert!(
        largest <= ws_proto::FRAME_RESERVE,
        "a 1-byte fragment reserved {largest} bytes"
    );
    server.receive(t, &wire[7..]).unwrap();
    assert!(matches!(server.poll_event().unwrap(), Some(Event::Text(s)) if s.len() == 2));
}

/// Sends 20 owned 16 KiB messages (each a `Bytes` made from a `Vec`, all
/// bytes `i`) through a server with `config`, writing each out as a
/// driver does and handing its wire to `check(i, wire)`; returns the
/// allocations counted from the third message on.
fn send_owned(config: Config, check: impl Fn(u8, &[u8])) -> u64 {
    let mut server = Connection::server(config, Instant::ZERO).unwrap();
    let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 16384]).collect();
    let mut sink = Vec::with_capacity(1 << 20);
    let mut counted = 0;
    for (i, payload) in (0u8..).zip(payloads) {
        let before = allocs();
        server.send_binary(bytes::Bytes::from(payload)).unwrap();
        write_out(&mut server, &mut sink);
        if i >= 2 {
            counted += allocs() - before;
        }
        check(i, &sink);
        sink.clear();
    }
    counted
}

/// A server's large message handed over as an owned `Bytes` is queued as
/// that `Bytes` itself (RFC 6455 §5.2: the header, then the payload
/// unchanged): no copy and no second reference, so a `Bytes` made from a
/// `Vec` is not promoted to a shared one (an allocation) on the way.
#[test]
fn a_large_owned_message_is_sent_without_an_allocation() {
    let counted = send_owned(Config::default(), |i, wire| {
        assert_eq!(wire[..4], [0x82, 126, 0x40, 0x00], "message {i}: header");
        assert_eq!(wire.len(), 4 + 16384, "message {i}: length");
        assert!(wire[4..].iter().all(|&b| b == i), "message {i}: payload");
    });
    assert_eq!(counted, 0, "allocations sending 18 owned 16 KiB messages");
}

/// The same for a message sent in fragments (§5.4): its fragments view
/// the message held once, so no fragment takes a shared slice of it (the
/// first slice of a `Bytes` made from a `Vec` promotes it, an allocation).
#[test]
fn a_large_owned_message_is_sent_in_fragments_without_an_allocation() {
    let config = Config::default().with_fragment_size(Some(4096));
    let counted = send_owned(config, |i, wire| {
        assert_eq!(wire.len(), 4 * (4 + 4096), "message {i}: four fragments");
        for (k, frame) in wire.chunks(4 + 4096).enumerate() {
            let op = if k == 0 { 0x02 } else { 0x00 };
            let fin = if k == 3 { 0x80 } else { 0 };
            let head = [fin | op, 126, 0x10, 0x00];
            assert_eq!(frame[..4], head, "message {i}: header {k}");
            assert!(
                frame[4..].iter().all(|&b| b == i),
                "message {i}: payload {k}"
            );
        }
    });
    assert_eq!(
        counted, 0,
        "allocations sending 18 owned messages in fragments"
    );
}

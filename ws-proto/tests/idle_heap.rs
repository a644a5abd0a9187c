//! Heap held by an idle connection: after a handshake and traffic in both
//! directions, once every event is polled and every output byte taken, a
//! server `Session` holds no receive buffer, no send queue and nothing left
//! over from the handshake. Measured with a counting global allocator (live
//! bytes of the test's thread), so the figure is exact and does not depend on timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use http_upgrade::testing::SplitMix;
use http_upgrade::{Accept, ClientRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{Event, Instant};

struct Counting;

thread_local! {
    /// Live bytes allocated minus freed by this thread (the test harness's
    /// own threads allocate concurrently; they are not counted).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: during thread teardown the slot may be gone.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: every call is forwarded to `System` with the caller's arguments
// unchanged; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` was allocated by `alloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live heap bytes of this thread now.
fn live() -> isize {
    LIVE.with(Cell::get)
}

#[test]
fn idle_server_session_holds_no_buffers() {
    let now = Instant::ZERO;
    let config = Arc::new(SessionConfig::default());
    let http = Arc::new(ServerConfig::default());

    // Everything the client sends, recorded before the measurement.
    let request = ClientRequest::new("ws://localhost/echo").unwrap();
    let mut client =
        Session::client(request, config.clone(), Box::new(SplitMix::new(1)), now).unwrap();
    let mut handshake = Vec::new();
    let _ = client.poll_transmit(&mut handshake);
    let mut frames = Vec::new();
    let mut singles = Vec::new();
    {
        // A throwaway server answers so the client can produce frames.
        let mut s = Session::server(http.clone(), config.clone(), now);
        s.receive(now, &handshake).unwrap();
        let Some(SessionEvent::Upgrade(req)) = s.poll_event().unwrap() else {
            panic!("no upgrade")
        };
        s.accept(now, Accept::for_request(&req), &mut SplitMix::new(2))
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.poll_transmit(&mut answer);
        client.receive(now, &answer).unwrap();
        while client.poll_event().unwrap().is_some() {}
        let c = client.connection_mut().unwrap();
        c.send_text("hello").unwrap();
        c.send_binary(vec![7u8; 100_000]).unwrap();
        c.send_ping(&b"are you there"[..]).unwrap();
        c.send_text("x".repeat(5000)).unwrap();
        let _ = client.poll_transmit(&mut frames);
        // Then single frames, each to be read on its own (an echo's
        // pattern: the read buffer is exactly one message).
        for text in ["one", "two", &"three".repeat(300)] {
            client.connection_mut().unwrap().send_text(text).unwrap();
            let mut f = Vec::new();
            let _ = client.poll_transmit(&mut f);
            singles.push(f);
        }
    }
    let mut out = Vec::with_capacity(1 << 20);
    let mut events = Vec::with_capacity(64);

    // Keep our own references so dropping the session frees only its own.
    let (http2, config2) = (http.clone(), config.clone());
    let before = live();
    let mut server = Session::server(http, config, now);
    let created = live() - before;
    server.receive(now, &handshake).unwrap();
    let Some(SessionEvent::Upgrade(req)) = server.poll_event().unwrap() else {
        panic!("no upgrade")
    };
    server
        .accept(now, Accept::for_request(&req), &mut SplitMix::new(3))
        .unwrap();
    drop(req);
    while let Some(ev) = server.poll_event().unwrap() {
        assert!(matches!(ev, SessionEvent::Open(_)), "{ev:?}");
    }
    let _ = server.poll_transmit(&mut out);
    // Traffic both ways, in reads of 1000 bytes.
    for chunk in frames.chunks(1000) {
        server.receive(now, chunk).unwrap();
        while let Some(ev) = server.poll_event().unwrap() {
            if let SessionEvent::Ws(Event::Text(t)) = &ev {
                server
                    .connection_mut()
                    .unwrap()
                    .send_text(t.clone())
                    .unwrap();
            }
            events.push(ev);
        }
        out.clear();
        let _ = server.poll_transmit(&mut out);
    }
    for frame in &singles {
        server.receive(now, frame).unwrap();
        while let Some(ev) = server.poll_event().unwrap() {
            events.push(ev);
        }
    }
    assert_eq!(events.len(), 4 + singles.len(), "{events:?}");
    events.clear();
    // Idle: a `buffer_linger` without traffic, after which the receive
    // buffer and send queue kept for the next message are released.
    let linger = ws_proto::Config::default().buffer_linger.unwrap();
    server.handle_timeout(now + linger);
    let held = live() - before;
    // What is left is fixed per-connection state (no extension here),
    // nothing sized by traffic: the boxed settings (248 bytes when this test
    // was written, 320 since the stall, write and pong deadlines, 336 with
    // the buffer linger's two instants) and the
    // negotiated handshake (dialect, subprotocol, extensions, target,
    // origin: 192 bytes here).
    assert!(held <= 544, "idle server session holds {held} heap bytes");
    drop(server);
    assert_eq!(live(), before, "the session freed everything it allocated");
    drop((http2, config2));
    // Printed last: the captured output is itself a heap buffer.
    eprintln!(
        "server Session: {} bytes inline, heap {created} B when created, {held} B idle after traffic",
        size_of::<Session>()
    );
}

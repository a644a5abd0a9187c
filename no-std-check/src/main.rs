//! A `#![no_std]` program (see Cargo.toml): a client and a server
//! `Session` talk in memory (handshake, text both ways, a ping, a 100 KB
//! binary message, the close handshake). Exit status 0 when everything
//! checked out; a message on stderr and status 1 otherwise.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};

use http_upgrade::{Accept, ClientRequest, ServerConfig};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{CloseCode, Event, Instant};

#[link(name = "c")]
unsafe extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn abort() -> !;
}

fn say(msg: &str) {
    // SAFETY: `msg` is a valid buffer of `msg.len()` bytes for the call.
    let _ = unsafe { write(2, msg.as_ptr(), msg.len()) };
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    say("no-std-check: panic\n");
    // SAFETY: libc's abort takes no arguments and does not return.
    unsafe { abort() }
}

/// The precompiled `alloc` refers to the unwinding personality even with
/// `panic = "abort"`; nothing ever unwinds here, so it is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// Likewise for the landing pads of the precompiled `alloc`.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    // SAFETY: libc's abort takes no arguments and does not return.
    unsafe { abort() }
}

/// A bump allocator over a static arena: enough for one conversation.
struct Bump {
    arena: UnsafeCell<[u8; ARENA]>,
    next: AtomicUsize,
}

const ARENA: usize = 32 << 20;

// SAFETY: `next` hands out disjoint ranges of the arena atomically.
unsafe impl Sync for Bump {}

// SAFETY: every block is in bounds, aligned as asked, and never handed out
// twice; freeing is a no-op.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.arena.get() as usize;
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > ARENA {
                return core::ptr::null_mut();
            }
            match self
                .next
                .compare_exchange(cur, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => cur = now,
            }
        }
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static HEAP: Bump = Bump {
    arena: UnsafeCell::new([0; ARENA]),
    next: AtomicUsize::new(0),
};

/// A deterministic mask-key and nonce source (no entropy without std;
/// the test needs none).
struct XorShift(u64);

impl rand_core::TryRng for XorShift {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

/// Moves everything each side has queued to the other.
fn pump(a: &mut Session, b: &mut Session, now: Instant) -> Result<(), &'static str> {
    let mut buf = Vec::new();
    let _ = a.poll_transmit(&mut buf);
    b.receive(now, &buf).map_err(|_| "receive")?;
    buf.clear();
    let _ = b.poll_transmit(&mut buf);
    a.receive(now, &buf).map_err(|_| "receive")
}

fn events(s: &mut Session) -> Result<Vec<SessionEvent>, &'static str> {
    let mut out = Vec::new();
    while let Some(ev) = s.poll_event().map_err(|_| "poll_event")? {
        out.push(ev);
    }
    Ok(out)
}

fn conversation() -> Result<(), &'static str> {
    let now = Instant::ZERO;
    let config = Arc::new(SessionConfig::default());
    let request = ClientRequest::new("ws://localhost/chat")
        .map_err(|_| "request")?
        .protocol("chat");
    let mut client = Session::client(
        request,
        config.clone(),
        alloc::boxed::Box::new(XorShift(7)),
        now,
    )
    .map_err(|_| "client")?;
    let http = ServerConfig::default().with_protocols(["chat"]);
    let mut server = Session::server(Arc::new(http), config, now);
    pump(&mut client, &mut server, now)?;
    let Some(SessionEvent::Upgrade(req)) = events(&mut server)?.into_iter().next() else {
        return Err("no upgrade request");
    };
    server
        .accept(now, Accept::for_request(&req), &mut XorShift(9))
        .map_err(|_| "accept")?;
    pump(&mut server, &mut client, now)?;
    if !matches!(events(&mut client)?.first(), Some(SessionEvent::Open(_))) {
        return Err("client not open");
    }
    let chosen = client.handshake().and_then(|h| h.protocol.as_deref());
    if chosen != Some("chat") {
        return Err("subprotocol not kept");
    }
    let c = client.connection_mut().ok_or("client connection")?;
    c.send_text("hello from no_std").map_err(|_| "send_text")?;
    c.send_binary(alloc::vec![7u8; 100_000])
        .map_err(|_| "send_binary")?;
    c.send_ping(&b"ping"[..]).map_err(|_| "send_ping")?;
    pump(&mut client, &mut server, now)?;
    let got = events(&mut server)?;
    let texts = got
        .iter()
        .filter(
            |e| matches!(e, SessionEvent::Ws(Event::Text(t)) if t.as_str() == "hello from no_std"),
        )
        .count();
    let binaries = got
        .iter()
        .filter(|e| matches!(e, SessionEvent::Ws(Event::Binary(b)) if b.len() == 100_000))
        .count();
    if texts != 1 || binaries != 1 {
        return Err("server did not get the messages");
    }
    let s = server.connection_mut().ok_or("server connection")?;
    s.send_text("hello back").map_err(|_| "send back")?;
    s.close(now, CloseCode::NORMAL, "done")
        .map_err(|_| "close")?;
    pump(&mut server, &mut client, now)?;
    let got = events(&mut client)?;
    let pong = got
        .iter()
        .any(|e| matches!(e, SessionEvent::Ws(Event::Pong(_))));
    let back = got
        .iter()
        .any(|e| matches!(e, SessionEvent::Ws(Event::Text(t)) if t.as_str() == "hello back"));
    let closed = got.iter().any(|e| {
        matches!(
            e,
            SessionEvent::Ws(Event::Close {
                code: Some(CloseCode::NORMAL),
                ..
            })
        )
    });
    if !(pong && back && closed) {
        return Err("client did not get pong, text and close");
    }
    pump(&mut client, &mut server, now)?;
    let _ = events(&mut server)?;
    if !server.wants_close() {
        return Err("server does not close TCP after the close handshake");
    }
    Ok(())
}

#[unsafe(no_mangle)]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    match conversation() {
        Ok(()) => {
            say("no-std-check: a whole conversation ran without std\n");
            0
        }
        Err(what) => {
            say("no-std-check: failed: ");
            say(what);
            say("\n");
            1
        }
    }
}

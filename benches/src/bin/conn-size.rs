//! Memory held per connection by our machines, measured in-process:
//! `size_of` of the connection types, and the heap an idle server
//! connection holds (a counting global allocator: bytes requested and
//! blocks live, so malloc's own overhead is not included).
//!
//! The heap (not counting the `size_of` of the driver itself) is measured
//! on `N` server-side [`Driver`]s
//! (session + connection + policy, what the mio server keeps per
//! connection next to its socket), built by `ServerOptions::driver` with
//! the default negotiators, at three points: fresh (accepted, nothing
//! read), idle after the handshake, and idle after one 20-byte binary
//! echo; once with a client that offers no extension and once with one
//! that offers permessage-deflate (accepted). Plus a bare
//! `Connection::server`.
//!
//! ```text
//! conn-size [-n 1000]
//! ```

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::IoSlice;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use http_upgrade::ClientRequest;
use ws_adapters::{Clock, Driver, Event, ServerOptions, session_config};
use ws_benches::{Args, loopback};
use ws_proto::session::{Session, SessionConfig};
use ws_proto::{Config, Connection};

/// The system allocator, counting live bytes and blocks.
struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments
// unchanged; the counters are plain atomics and never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            BYTES.fetch_add(layout.size() as isize, Relaxed);
            BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            BYTES.fetch_add(layout.size() as isize, Relaxed);
            BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout` (our alloc).
        unsafe { System.dealloc(ptr, layout) };
        BYTES.fetch_sub(layout.size() as isize, Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc` and `alloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> (isize, isize) {
    (BYTES.load(Relaxed), BLOCKS.load(Relaxed))
}

/// Writes everything `d` has queued into `out` (or nowhere).
fn drain(d: &mut Driver, mut out: Option<&mut Vec<u8>>) {
    d.write_to(|slices: &[IoSlice<'_>]| {
        let mut n = 0;
        for s in slices {
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(s);
            }
            n += s.len();
        }
        Ok(n)
    })
    .unwrap();
}

/// Hands `data` to `d` the way the adapters read a socket
/// (`Driver::read_from`: straight into the connection's receive buffer once
/// open, through `scratch` before).
fn read(d: &mut Driver, scratch: &mut [u8], mut data: &[u8]) {
    while !data.is_empty() {
        d.read_from(scratch, |buf| {
            let n = buf.len().min(data.len());
            buf[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            Ok(n)
        })
        .unwrap();
    }
}

/// A client's handshake request and, once answered by a server's `101`,
/// its first (masked, maybe compressed) 20-byte binary message.
struct Client {
    session: Session,
}

impl Client {
    fn new(deflate: bool) -> (Client, Vec<u8>) {
        let mut config = SessionConfig::new(Config::default());
        if deflate {
            config = config.with_negotiator(deflate_ext::PerMessageDeflate::negotiator());
        }
        let request = ClientRequest::new("ws://127.0.0.1:9001/").unwrap();
        let now = Clock::new().now();
        let mut session =
            Session::client(request, Arc::new(config), ws_adapters::mask_rng(), now).unwrap();
        let mut req = Vec::new();
        assert!(session.poll_transmit(&mut req) > 0);
        (Client { session }, req)
    }

    fn frame(mut self, response: &[u8], big: bool) -> (Vec<String>, Vec<u8>) {
        let now = Clock::new().now();
        self.session.receive(now, response).unwrap();
        while self.session.poll_event().unwrap().is_some() {}
        let c = self.session.connection_mut().expect("client open");
        let names = c.extension_names().map(str::to_owned).collect();
        if big {
            // Compressible text over the 64-byte compression threshold.
            let text: String = "{\"id\":1,\"name\":\"load\"} "
                .chars()
                .cycle()
                .take(1024)
                .collect();
            c.send_text(text).unwrap();
        } else {
            c.send_binary(&b"0123456789abcdefghij"[..]).unwrap();
        }
        let mut frame = Vec::new();
        assert!(self.session.poll_transmit(&mut frame) > 0);
        (names, frame)
    }
}

/// Heap per driver at the three stages, for `n` drivers.
fn measure(n: usize, deflate: bool, big: bool) {
    let options = ServerOptions::new(session_config(Config::default(), true));
    let clock = Clock::new();
    let (client, req) = Client::new(deflate);
    // One server answers first, so the client can build its frame.
    let mut first = options.driver(clock, loopback(1)).unwrap();
    first.feed(&req).unwrap();
    assert!(first.poll_message().unwrap().is_none());
    let mut response = Vec::new();
    drain(&mut first, Some(&mut response));
    drop(first);
    let (names, frame) = client.frame(&response, big);
    let mut drivers: Vec<Driver> = Vec::with_capacity(n);
    let mut scratch = vec![0u8; ws_adapters::SCRATCH];
    let base = live();
    for i in 0..n {
        drivers.push(options.driver(clock, loopback(i as u16)).unwrap());
    }
    let fresh = live();
    for d in &mut drivers {
        read(d, &mut scratch, &req);
        assert!(d.poll_message().unwrap().is_none());
        drain(d, None);
        assert!(d.is_open());
    }
    let open = live();
    for d in &mut drivers {
        read(d, &mut scratch, &frame);
        let ev = d.poll_message().unwrap().expect("a message");
        let c = d.session_mut().connection_mut().unwrap();
        match ev {
            Event::Binary(b) => c.send_binary(b).unwrap(),
            Event::Text(t) => c.send_text(t).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
        // As the adapters do: drain events until none is left, then write.
        assert!(d.poll_message().unwrap().is_none());
        drain(d, None);
    }
    let echoed = live();
    let rx_kept = drivers
        .first()
        .and_then(|d| d.session().connection())
        .map_or(0, Connection::buffer_capacity);
    let per = |a: (isize, isize), b: (isize, isize)| {
        format!(
            "{:>8.0} B in {:>5.1} blocks",
            (b.0 - a.0) as f64 / n as f64,
            (b.1 - a.1) as f64 / n as f64
        )
    };
    let what = if big { "1 KiB text" } else { "20 B binary" };
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        },
        per(base, fresh),
        per(base, open),
        per(base, echoed),
        rx_kept,
        what
    );
    drop(drivers);
}

fn main() {
    let mut a = Args::from_env("conn-size [-n N]");
    let n: usize = a.value("-n", 1000);
    a.finish();
    println!("## Sizes (bytes, `size_of`)\n");
    println!("| type | size |\n|---|---|");
    println!("| ws_proto::Connection | {} |", size_of::<Connection>());
    println!("| ws_proto::session::Session | {} |", size_of::<Session>());
    println!("| ws_adapters::Driver | {} |", size_of::<Driver>());
    println!(
        "| ws_adapters::mio::Conn | {} |",
        size_of::<ws_adapters::mio::Conn>()
    );
    println!(
        "| ws_adapters::blocking::WebSocket<TcpStream> | {} |",
        size_of::<ws_adapters::blocking::WebSocket<std::net::TcpStream>>()
    );
    println!(
        "| ws_adapters::tokio::WebSocket (handle; the driver is behind an Arc) | {} |",
        size_of::<ws_adapters::tokio::WebSocket>()
    );

    let now = Clock::new().now();
    let base = live();
    let conns: Vec<Connection> = (0..n)
        .map(|_| Connection::server(Config::default(), now).unwrap())
        .collect();
    let after = live();
    println!(
        "\nA bare `Connection::server(Config::default())` holds {:.0} heap bytes in {:.1} blocks \
         (no extension).\n",
        (after.0 - base.0) as f64 / n as f64,
        (after.1 - base.1) as f64 / n as f64
    );
    drop(conns);

    println!("## Heap per server Driver (mean over {n}; requested bytes, live blocks)\n");
    println!(
        "| extensions | fresh (accepted) | idle after handshake | idle after one echo | receive buffer kept (B) | message |"
    );
    println!("|---|---|---|---|---|---|");
    measure(n, false, false);
    measure(n, true, false);
    measure(n, false, true);
    measure(n, true, true);
}

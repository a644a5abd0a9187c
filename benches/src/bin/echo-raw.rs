//! Raw TCP echo server on mio, the ceiling for the load harness (`ws-load
//! --mode raw`): every byte read is written back, one thread, one `Poll`,
//! no WebSocket at all. Binds 127.0.0.1 and prints
//! `listening on ws://127.0.0.1:PORT/` (the same line as the WebSocket
//! servers, for the scripts).
//!
//! ```text
//! echo-raw [--port 0]
//! ```

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use ws_benches::{Args, announce, loopback};

const LISTENER: Token = Token(usize::MAX);

/// One client: bytes read but not yet written back wait in `pending`
/// (reading stops until they are gone).
struct Client {
    s: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    /// Writes `pending`; false if the socket is full.
    fn drain(&mut self) -> io::Result<bool> {
        while !self.pending.is_empty() {
            match self.s.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Echoes until the socket has nothing more (a short read) or is full;
    /// Ok(false) at end of stream.
    fn serve(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if !self.drain()? {
            return Ok(true);
        }
        loop {
            let n = match self.s.read(buf) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let short = n < buf.len();
            let mut off = 0;
            while off < n {
                match self.s.write(&buf[off..n]) {
                    Ok(w) => off += w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.pending.extend_from_slice(&buf[off..n]);
                        return Ok(true);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // A short read emptied the socket's receive queue: the next
            // arrival raises a new edge, no need to read until WouldBlock.
            if short {
                return Ok(true);
            }
        }
    }
}

fn main() -> io::Result<()> {
    let mut a = Args::from_env("echo-raw [--port P]");
    let addr = loopback(a.value("--port", 0));
    a.finish();
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?);
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    let (mut s, _) = match listener.accept() {
                        Ok(x) => x,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    };
                    s.set_nodelay(true)?;
                    let i = free.pop().unwrap_or(clients.len());
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    poll.registry().register(&mut s, Token(i), interest)?;
                    let c = Some(Client {
                        s,
                        pending: Vec::new(),
                    });
                    match clients.get_mut(i) {
                        Some(slot) => *slot = c,
                        None => clients.push(c),
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(c) = clients.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if !c.serve(&mut buf).unwrap_or(false) {
                let _ = poll.registry().deregister(&mut c.s);
                clients[i] = None;
                free.push(i);
            }
        }
    }
}

//! Every core on io_uring: one ring per thread, each with its own
//! `SO_REUSEPORT` listener on the same address, as the mio loops
//! ([`mio::serve_loops`](crate::mio::serve_loops)) and for the same
//! reasons: the loops share nothing on the hot path; the connection limit,
//! the memory budget and push handles span them all.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use super::{Handler, Server, StopHandle};
use crate::ServerOptions;
use crate::admission::Gate;

/// The loops of [`serve_loops`], running on their threads.
#[derive(Debug)]
pub struct Loops {
    addr: SocketAddr,
    stops: Vec<StopHandle>,
    here: Vec<Arc<AtomicUsize>>,
    gate: Gate,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Loops {
    /// The address the loops listen on (the port chosen, with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many loops run.
    pub fn loops(&self) -> usize {
        self.threads.len()
    }

    /// Connections served now, all loops together.
    pub fn connections(&self) -> usize {
        self.gate.live()
    }

    /// Connections served now by each loop.
    pub fn per_loop(&self) -> Vec<usize> {
        self.here
            .iter()
            .map(|h| h.load(Ordering::Acquire))
            .collect()
    }

    /// Makes every loop return (their connections are dropped).
    pub fn stop(&self) {
        for s in &self.stops {
            s.stop();
        }
    }

    /// Waits for every loop to return; the first error, if any.
    pub fn join(self) -> io::Result<()> {
        let mut first = Ok(());
        for t in self.threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a server loop panicked")));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// Serves `addr` with `loops` io_uring loops (at least 1), each on its own
/// thread with the handler `make(i)` (a [`Protocols`](crate::Protocols)
/// table: `|_| table.clone()`). The connection limit of `options` counts
/// every loop's connections.
pub fn serve_loops<H>(
    addr: SocketAddr,
    options: ServerOptions,
    loops: usize,
    mut make: impl FnMut(usize) -> H,
) -> io::Result<Loops>
where
    H: Handler + Send + 'static,
    H::Data: Send,
{
    let loops = loops.max(1);
    let gate = Gate::default();
    let mut bound = addr;
    let mut servers = Vec::with_capacity(loops);
    for i in 0..loops {
        let listener = crate::admission::listen(bound, true)?;
        // With port 0 the first bind chooses; the others take its port.
        bound = listener.local_addr()?;
        servers.push(Server::with_listener(
            listener,
            options.clone(),
            make(i),
            gate.clone(),
        )?);
    }
    let stops = servers.iter().map(Server::stop_handle).collect();
    let here = servers.iter().map(|s| s.here.clone()).collect();
    let mut started = Loops {
        addr: bound,
        stops,
        here,
        gate,
        threads: Vec::with_capacity(loops),
    };
    for (i, mut server) in servers.into_iter().enumerate() {
        let spawned = std::thread::Builder::new()
            .name(format!("ws uring {i}"))
            .spawn(move || server.run());
        match spawned {
            Ok(t) => started.threads.push(t),
            Err(e) => {
                started.stop();
                let _ = started.join();
                return Err(e);
            }
        }
    }
    log::info!("{loops} io_uring loops on {bound}");
    Ok(started)
}

//! Every core on io_uring: one ring per thread, each with its own
//! `SO_REUSEPORT` listener on the same address, as the mio loops
//! ([`mio::serve_loops`](crate::mio::serve_loops)) and for the same
//! reasons: the loops share nothing on the hot path; the connection limit,
//! the memory budget and push handles span them all.

use std::io;
use std::net::SocketAddr;

use super::{Handler, Server};
use crate::ServerOptions;
use crate::admission::Gate;

pub use crate::loops::Loops;

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
    let starts = servers
        .into_iter()
        .map(|mut server| {
            let stop = server.stop_handle();
            crate::loops::Start {
                stop: Box::new(move || stop.stop()),
                here: server.here.clone(),
                run: Box::new(move || server.run()),
            }
        })
        .collect();
    let started = Loops::spawn(bound, gate, "ws uring", starts)?;
    log::info!("{loops} io_uring loops on {bound}");
    Ok(started)
}

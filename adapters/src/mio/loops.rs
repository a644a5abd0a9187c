//! Every core: several mio loops, one per thread, serving one port.
//!
//! Each loop is a [`Server`] with its own listening socket bound to the
//! same address with `SO_REUSEPORT`; the kernel spreads new connections
//! over the sockets (by a hash of the connection's addresses), so the
//! loops share nothing on the hot path: no lock, no queue between an
//! acceptor and the workers. Connections stay on the loop that accepted
//! them. What the loops do share: the connection limit (one count for
//! the whole port), the memory budget and the options; and push handles
//! ([`MioPush`](super::MioPush)) work across loops, so one
//! [`Group`](crate::Group) broadcast reaches members on every loop.
//!
//! Chosen over one listener shared by all loops: with a shared listener
//! every loop is woken for every connection (epoll without
//! `EPOLLEXCLUSIVE`, which mio does not offer) and all but one find
//! nothing to accept.
//!
//! ```no_run
//! use ws_adapters::{Protocols, ServerOptions, mio};
//! # use ws_adapters::{Ctx, Event, Protocol};
//! # struct Echo;
//! # impl Protocol for Echo {
//! #     type State = ();
//! #     fn established(&self, _: &mut Ctx<'_>) {}
//! #     fn event(&self, _: &mut (), cx: &mut Ctx<'_>, ev: Event) {
//! #         if let Some(m) = ev.into_message() { let _ = cx.send(m); }
//! #     }
//! # }
//!
//! let table = Protocols::new().protocol("echo", Echo).default_protocol("echo");
//! let options = table.options(ServerOptions::default());
//! let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
//! let loops = mio::serve_loops("127.0.0.1:7681".parse()?, options, cores, |_| table.clone())?;
//! println!("{} loops on {}", loops.loops(), loops.local_addr());
//! loops.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::SocketAddr;

use ::mio::net::TcpListener;

use super::{Handler, Server};
use crate::ServerOptions;
use crate::admission::Gate;

pub use crate::loops::Loops;

/// Serves `addr` with `loops` mio loops, each on its own thread with the
/// handler `make(i)` (a [`Protocols`](crate::Protocols) table: `|_|
/// table.clone()`). `loops` is at least 1; on targets without
/// `SO_REUSEPORT` (not unix) it is 1. The connection limit of `options`
/// counts every loop's connections.
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
    let loops = if cfg!(unix) { loops.max(1) } else { 1 };
    let gate = Gate::default();
    let mut bound = addr;
    let mut servers = Vec::with_capacity(loops);
    for i in 0..loops {
        let listener = crate::admission::listen(bound, cfg!(unix))?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener);
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
    let started = Loops::spawn(bound, gate, "ws loop", starts)?;
    log::info!("{loops} mio loops on {bound}");
    Ok(started)
}

//! Loops of our own on several threads serving one port (`mio` and
//! `uring` `serve_loops`): what they share and how they are stopped.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use ws_proto::Instant;

use crate::admission::Gate;

/// Makes one loop's `run` return.
type Stop = Box<dyn Fn() + Send + Sync>;

/// The loops of a `serve_loops` ([`mio`](crate::mio::serve_loops),
/// `uring::serve_loops`), running on their threads.
pub struct Loops {
    addr: SocketAddr,
    stops: Vec<Stop>,
    here: Vec<Arc<AtomicUsize>>,
    gate: Gate,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for Loops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loops")
            .field("addr", &self.addr)
            .field("per_loop", &self.per_loop())
            .finish_non_exhaustive()
    }
}

/// One loop to start: how to stop it, its connection count, and its run.
pub(crate) struct Start {
    pub(crate) stop: Stop,
    pub(crate) here: Arc<AtomicUsize>,
    pub(crate) run: Box<dyn FnOnce() -> io::Result<()> + Send>,
}

impl Loops {
    /// Runs each of `loops` on a thread of its own, named `name i`; if a
    /// thread cannot be made, the ones started are stopped.
    pub(crate) fn spawn(
        addr: SocketAddr,
        gate: Gate,
        name: &str,
        loops: Vec<Start>,
    ) -> io::Result<Loops> {
        let mut started = Loops {
            addr,
            stops: Vec::with_capacity(loops.len()),
            here: Vec::with_capacity(loops.len()),
            gate,
            threads: Vec::with_capacity(loops.len()),
        };
        let mut runs = Vec::with_capacity(loops.len());
        for l in loops {
            started.stops.push(l.stop);
            started.here.push(l.here);
            runs.push(l.run);
        }
        for (i, run) in runs.into_iter().enumerate() {
            match std::thread::Builder::new()
                .name(format!("{name} {i}"))
                .spawn(run)
            {
                Ok(t) => started.threads.push(t),
                Err(e) => {
                    started.stop();
                    let _ = started.join();
                    return Err(e);
                }
            }
        }
        Ok(started)
    }

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
            s();
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

/// Arms connection `i`'s timer in a loop's ordered set for `due`, lazily:
/// a timer already armed no later than `due` stays (when it fires early,
/// the turn finds nothing due and the later deadline is armed then), so a
/// deadline that moves later with each message costs no timer operation
/// per message.
pub(crate) fn rearm(
    timers: &mut BTreeSet<(Instant, usize)>,
    armed: &mut Option<Instant>,
    due: Option<Instant>,
    i: usize,
) {
    let keep = match (*armed, due) {
        (Some(armed), Some(due)) => armed <= due,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if keep {
        return;
    }
    if let Some(t) = armed.take() {
        timers.remove(&(t, i));
    }
    *armed = due;
    if let Some(t) = due {
        timers.insert((t, i));
    }
}

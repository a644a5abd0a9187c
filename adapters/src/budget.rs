//! A server-wide memory budget: the bytes every connection of a server
//! holds (receive and reassembly buffers, undecoded stream input, queued
//! output), added up across connections and threads.
//!
//! Per-connection limits (`ws_proto::Config`) bound what one peer can make
//! a connection hold; they do not bound the sum. Ten thousand peers that
//! each park a message just under `max_message_size` stay within their
//! limits and still exhaust the machine. The budget closes that gap:
//!
//! * past the **soft** limit, connections holding at least
//!   [`PAUSE_MIN`] bytes are not read from until the total falls back
//!   (their peers' partial messages wait in the kernel; a peer that then
//!   goes silent meets the stall timeout);
//! * past the **hard** limit, new upgrades are refused with `503`, and the
//!   connection holding the most is closed with 1013 "try again later"
//!   (RFC 6455 §7.4.1, IANA registry), its buffers released at once.
//!
//! Connections report through a [`Ticket`] whenever what they hold changes
//! by [`GRAIN`] or more, so small-message traffic never touches the shared
//! counters. [`MemoryBudget::report`] gives the current total and the
//! largest holders.
//!
//! ```
//! use std::sync::Arc;
//! use ws_adapters::{MemoryBudget, ServerOptions};
//!
//! // 256 MiB soft, 512 MiB hard, shared by two servers.
//! let budget = Arc::new(MemoryBudget::new(256 << 20, 512 << 20));
//! let ws = ServerOptions::default().with_budget(Some(budget.clone()));
//! let wss = ServerOptions::default().with_budget(Some(budget.clone()));
//! assert_eq!(budget.report().total, 0);
//! # let _ = (ws, wss);
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A connection holding at least this much is paused past the soft limit.
pub const PAUSE_MIN: usize = 64 << 10;
/// Changes smaller than this are not reported (the total may lag by up to
/// this much per connection).
pub const GRAIN: usize = 4 << 10;
/// How many of the largest holders are tracked (for the hard limit and
/// the report).
const TOP: usize = 16;

/// The budget shared by a server's connections. See the
/// [module documentation](self).
pub struct MemoryBudget {
    soft: usize,
    hard: usize,
    total: AtomicUsize,
    next_id: AtomicU64,
    /// The largest holders (at least `PAUSE_MIN` each), largest first.
    top: Mutex<Vec<Holder>>,
    shed: AtomicU64,
    refused: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Holder {
    id: u64,
    peer: Option<SocketAddr>,
    held: usize,
}

/// What [`MemoryBudget::report`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetReport {
    /// Bytes held by all connections now.
    pub total: usize,
    /// The soft limit (reading pauses for large holders above it).
    pub soft: usize,
    /// The hard limit (upgrades refused, largest holder closed above it).
    pub hard: usize,
    /// The largest holders (peer, bytes), largest first, at most 16.
    pub top: Vec<(Option<SocketAddr>, usize)>,
    /// Connections closed with 1013 to get back under the hard limit.
    pub shed: u64,
    /// Upgrades refused with 503 over the hard limit.
    pub refused: u64,
}

/// What a connection should do, from [`Ticket::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Carry on.
    Go,
    /// Do not read from this connection for now (over the soft limit and
    /// among the large holders).
    Pause,
    /// Close this connection with 1013 now (over the hard limit and the
    /// largest holder).
    Shed,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("soft", &self.soft)
            .field("hard", &self.hard)
            .field("total", &self.total.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl MemoryBudget {
    /// A budget with these limits in bytes (`hard` is raised to `soft` if
    /// lower).
    pub fn new(soft: usize, hard: usize) -> MemoryBudget {
        MemoryBudget {
            soft,
            hard: hard.max(soft),
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            top: Mutex::new(Vec::with_capacity(TOP + 1)),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The default: a quarter of the memory this process may use (the
    /// machine's, or its cgroup's limit if lower) as the soft limit, half
    /// of it as the hard limit; 1 GiB and 2 GiB where that is unknown.
    pub fn for_machine() -> MemoryBudget {
        let mem = usable_memory().unwrap_or(4 << 30);
        MemoryBudget::new(mem / 4, mem / 2)
    }

    /// A ticket for one connection, holding nothing yet.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        Ticket {
            budget: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            reported: 0,
            listed: false,
        }
    }

    /// Bytes held by all connections now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// True over the hard limit: refuse new upgrades (503).
    pub fn over_hard(&self) -> bool {
        self.total() > self.hard
    }

    /// Counts an upgrade refused over the hard limit.
    pub(crate) fn note_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The current figures and the largest holders.
    pub fn report(&self) -> BudgetReport {
        let top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        BudgetReport {
            total: self.total(),
            soft: self.soft,
            hard: self.hard,
            top: top.iter().map(|h| (h.peer, h.held)).collect(),
            shed: self.shed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn list(&self, id: u64, peer: Option<SocketAddr>, held: usize) -> bool {
        let mut top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        top.retain(|h| h.id != id);
        if held < PAUSE_MIN {
            return false;
        }
        let at = top.partition_point(|h| h.held >= held);
        if at >= TOP {
            return false;
        }
        top.insert(at, Holder { id, peer, held });
        top.truncate(TOP);
        true
    }

    fn is_largest(&self, id: u64) -> bool {
        let top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        top.first().is_some_and(|h| h.id == id)
    }
}

/// One connection's share of a [`MemoryBudget`]; gives it back on drop.
pub struct Ticket {
    budget: Arc<MemoryBudget>,
    id: u64,
    /// What the total counts for this connection.
    reported: usize,
    /// In the budget's list of large holders.
    listed: bool,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("reported", &self.reported)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// Reports that the connection (with `peer`, named in the report's
    /// largest holders) holds `held` bytes now, and returns what it should
    /// do. The peer is passed rather than kept: the connection has it.
    #[inline]
    pub fn update(&mut self, held: usize, peer: Option<SocketAddr>) -> Verdict {
        // Moves under the grain stay local: small-message traffic never
        // touches the shared counters.
        if held.abs_diff(self.reported) >= GRAIN || (held == 0 && self.reported != 0) {
            self.record(held, peer);
        }
        self.verdict()
    }

    /// Moves this connection's share of the total to `held`.
    fn record(&mut self, held: usize, peer: Option<SocketAddr>) {
        let b = &*self.budget;
        if held > self.reported {
            b.total.fetch_add(held - self.reported, Ordering::Relaxed);
        } else {
            b.total.fetch_sub(self.reported - held, Ordering::Relaxed);
        }
        self.reported = held;
        if held >= PAUSE_MIN || self.listed {
            self.listed = b.list(self.id, peer, held);
        }
    }

    /// What the connection should do, from what it last reported.
    #[inline]
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        if self.reported < PAUSE_MIN {
            return Verdict::Go;
        }
        self.judge()
    }

    fn judge(&self) -> Verdict {
        let b = &*self.budget;
        let total = b.total();
        if total > b.hard && self.listed && b.is_largest(self.id) {
            return Verdict::Shed;
        }
        if total > b.soft {
            return Verdict::Pause;
        }
        Verdict::Go
    }

    /// True if the connection holds at least [`PAUSE_MIN`] (as last
    /// reported): it may be paused or shed.
    #[inline]
    pub fn is_large(&self) -> bool {
        self.reported >= PAUSE_MIN
    }

    /// The budget this ticket counts against.
    pub fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }

    /// Records that this connection was closed to shed load.
    pub(crate) fn note_shed(&self) {
        self.budget.shed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.update(0, None);
    }
}

/// Memory this process may use: the machine's (`MemTotal`), or its
/// cgroup v2 limit if lower.
fn usable_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let machine = kib.saturating_mul(1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    Some(cgroup.map_or(machine, |c| c.min(machine)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn small_changes_stay_local_and_drop_gives_back() {
        let b = Arc::new(MemoryBudget::new(1 << 20, 2 << 20));
        let mut t = b.ticket();
        assert_eq!(t.update(100, None), Verdict::Go);
        assert_eq!(b.total(), 0, "under the grain");
        t.update(10_000, None);
        assert_eq!(b.total(), 10_000);
        t.update(0, None);
        assert_eq!(b.total(), 0);
        t.update(200_000, None);
        drop(t);
        assert_eq!(b.total(), 0);
        assert!(b.report().top.is_empty());
    }

    #[test]
    fn soft_pauses_large_holders_hard_sheds_the_largest() {
        let b = Arc::new(MemoryBudget::new(1 << 20, 2 << 20));
        let mut small = b.ticket();
        let mut big: Vec<Ticket> = (0..3).map(|_| b.ticket()).collect();
        assert_eq!(small.update(30_000, None), Verdict::Go);
        assert_eq!(big[0].update(600 << 10, None), Verdict::Go);
        assert_eq!(big[1].update(500 << 10, None), Verdict::Pause, "over soft");
        assert_eq!(big[0].verdict(), Verdict::Pause);
        assert_eq!(small.verdict(), Verdict::Go, "small holders keep going");
        assert!(!b.over_hard());
        assert_eq!(
            big[2].update(1 << 20, None),
            Verdict::Shed,
            "largest, over hard"
        );
        assert!(b.over_hard());
        assert_eq!(big[0].verdict(), Verdict::Pause, "not the largest");
        let report = b.report();
        assert_eq!(report.top.len(), 3);
        assert_eq!(report.top[0].1, 1 << 20);
        big[2].update(0, None);
        assert!(!b.over_hard());
        assert_eq!(big[0].verdict(), Verdict::Pause, "still over soft");
        big[1].update(0, None);
        assert_eq!(big[0].verdict(), Verdict::Go);
    }

    #[test]
    fn the_machine_default_is_sane() {
        let b = MemoryBudget::for_machine();
        let r = b.report();
        assert!(r.soft >= 64 << 20, "{r:?}");
        assert!(r.hard >= r.soft);
    }
}

//! The bridge from the OS clock to the core's injected time.

use std::sync::OnceLock;
use std::time::Duration;

use ws_proto::Instant;

/// The process's monotonic clock on the core's scale: hands the core
/// [`Instant`]s and turns its deadlines back into waits. Every `Clock` in
/// a process shares one epoch (the first time one was created), so a
/// connection holds no clock of its own (zero bytes) and instants from
/// any two clocks compare.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    _shared: (),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
thread_local! {
    /// Clock reads on this thread (the loops' tests count them per turn).
    pub(crate) static READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The epoch of every [`Clock`] in the process.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

impl Clock {
    /// The process clock (its epoch is set by the first call).
    pub fn new() -> Self {
        epoch();
        Clock { _shared: () }
    }

    /// The current time on the core's scale.
    pub fn now(&self) -> Instant {
        #[cfg(test)]
        READS.with(|r| r.set(r.get() + 1));
        Instant::from_since_epoch(epoch().elapsed())
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }

    /// `deadline` on the OS clock (for a runtime's timer).
    pub fn to_std(&self, deadline: Instant) -> std::time::Instant {
        epoch() + deadline.since_epoch()
    }
}

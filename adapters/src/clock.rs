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

/// The epoch of every [`Clock`] in the process: as a `std` instant (for
/// the runtimes' timers) and, on Linux, as `CLOCK_MONOTONIC` nanoseconds
/// read right after it (what `std::time::Instant` reads on Linux).
struct Epoch {
    std: std::time::Instant,
    #[cfg(target_os = "linux")]
    mono_ns: u64,
}

fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| Epoch {
        std: std::time::Instant::now(),
        #[cfg(target_os = "linux")]
        mono_ns: mono_ns(),
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds (through the vDSO): the same clock as
/// `Instant::now`, without `Instant::elapsed`'s checked `timespec`
/// subtraction and `Duration` on the way (about half the instructions of
/// a read; two reads per message on the async adapters).
#[cfg(target_os = "linux")]
#[inline]
#[allow(unsafe_code)]
fn mono_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable `timespec` for the call's duration;
    // CLOCK_MONOTONIC is always supported on Linux, and on a failure `t`
    // stays zero (time then reads as the epoch, never a fault).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.wrapping_mul(1_000_000_000).wrapping_add(nanos)
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
        let e = epoch();
        #[cfg(target_os = "linux")]
        return Instant::from_nanos(mono_ns().saturating_sub(e.mono_ns));
        #[cfg(not(target_os = "linux"))]
        Instant::from_since_epoch(e.std.elapsed())
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }

    /// `deadline` on the OS clock (for a runtime's timer).
    pub fn to_std(&self, deadline: Instant) -> std::time::Instant {
        epoch().std + deadline.since_epoch()
    }
}

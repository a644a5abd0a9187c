//! Driver-supplied time.
//!
//! The core crates never read a clock. A driver passes the current time in as
//! an [`Instant`] and learns when to call back from `poll_timeout()`.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the driver's monotonic clock, measured from an epoch the driver
/// chooses (for example the moment it started).
///
/// Adapters built on `std` usually keep a `std::time::Instant` taken at start
/// and pass `Instant::from_since_epoch(start.elapsed())`. Tests use a virtual
/// clock that starts at [`Instant::ZERO`].
///
/// Kept as whole nanoseconds in a `u64` (584 years from the epoch, where it
/// saturates): deadlines are compared and moved on every message, and a
/// single integer makes each of those one instruction.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);

    /// The last representable instant (584 years after the epoch).
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `since_epoch` after the driver's epoch (saturating at
    /// [`MAX`](Self::MAX)).
    pub const fn from_since_epoch(since_epoch: Duration) -> Self {
        let n = since_epoch.as_nanos();
        Instant(if n > u64::MAX as u128 {
            u64::MAX
        } else {
            n as u64
        })
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub const fn from_nanos(ns: u64) -> Self {
        Instant(ns)
    }

    /// The instant `ms` milliseconds after the epoch (handy for tests).
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1_000_000))
    }

    /// Time elapsed since the driver's epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Nanoseconds since the driver's epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` past [`MAX`](Self::MAX).
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(d).map(Instant)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instant").field(&self.since_epoch()).finish()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the largest representable instant instead of panicking.
    fn add(self, d: Duration) -> Instant {
        // In u64 arithmetic (`as_nanos` works in u128).
        let d = d
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()));
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero instead of panicking.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanoseconds_round_trip_and_saturate() {
        let t = Instant::from_since_epoch(Duration::new(3, 250));
        assert_eq!(t.as_nanos(), 3_000_000_250);
        assert_eq!(t.since_epoch(), Duration::new(3, 250));
        assert_eq!(Instant::from_nanos(t.as_nanos()), t);
        assert_eq!(Instant::from_since_epoch(Duration::MAX), Instant::MAX);
        assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
        assert!(Instant::from_millis(1) < Instant::from_nanos(1_000_001));
        assert_eq!(format!("{:?}", Instant::from_millis(1500)), "Instant(1.5s)");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t - Instant::from_millis(10), Duration::ZERO);
        assert_eq!(t + Duration::from_millis(5), Instant::from_millis(10));
        assert_eq!(
            Instant::from_since_epoch(Duration::MAX) + Duration::from_secs(1),
            Instant::from_since_epoch(Duration::MAX)
        );
        assert!(
            Instant::from_since_epoch(Duration::MAX)
                .checked_add(Duration::from_secs(1))
                .is_none()
        );
    }
}

//! Driver-supplied time.
//!
//! The core crates never read a clock. A driver passes the current time in as
//! an [`Instant`] and learns when to call back from `poll_timeout()`.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the driver's monotonic clock, measured from an epoch the driver
/// chooses (for example the moment it started).
///
/// Adapters built on `std` usually keep a `std::time::Instant` taken at start
/// and pass `Instant::from_since_epoch(start.elapsed())`. Tests use a virtual
/// clock that starts at [`Instant::ZERO`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `since_epoch` after the driver's epoch.
    pub const fn from_since_epoch(since_epoch: Duration) -> Self {
        Instant(since_epoch)
    }

    /// The instant `ms` milliseconds after the epoch (handy for tests).
    pub const fn from_millis(ms: u64) -> Self {
        Instant(Duration::from_millis(ms))
    }

    /// Time elapsed since the driver's epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the largest representable instant instead of panicking.
    fn add(self, d: Duration) -> Instant {
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

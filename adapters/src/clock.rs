//! The bridge from the OS clock to the core's injected time.

use std::time::Duration;

use ws_proto::Instant;

/// A monotonic clock whose epoch is the moment it was created; hands the
/// core [`Instant`]s and turns its deadlines back into waits.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    /// The current time on the core's scale.
    pub fn now(&self) -> Instant {
        Instant::from_since_epoch(self.start.elapsed())
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }

    /// `deadline` on the OS clock (for a runtime's timer).
    pub fn to_std(&self, deadline: Instant) -> std::time::Instant {
        self.start + deadline.since_epoch()
    }
}

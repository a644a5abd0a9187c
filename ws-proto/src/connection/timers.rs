//! Timers: close handshake timeout (§7.1.1, §7.1.7), keep-alive pings
//! (§5.5.2) and the idle timeout. Time is only ever passed in.

use core::time::Duration;

use super::{Connection, State};
use crate::Instant;
use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::error::TimeoutError;

pub(super) const NEVER: u64 = u64::MAX;

/// Deadlines as nanoseconds since the driver's epoch (`NEVER` = unset).
#[derive(Clone, Copy, Debug)]
pub(super) struct Timers {
    /// The latest `now` the driver passed in.
    now: u64,
    last_rx: u64,
    ping_at: u64,
    close_at: u64,
    /// Output was written (or queued into an empty queue) since the write
    /// deadline was last checked; `now` may be stale when that happens, so
    /// the check restarts the wait rather than trusting `tx_since`.
    tx_progress: bool,
    /// The parser waits for the rest of a frame header, frame or message
    /// (the stall timeout runs).
    pub(super) starved: bool,
}

/// `d` in nanoseconds, saturating (in u64 arithmetic: `as_nanos` works in
/// u128, and this runs on every read).
#[inline]
fn dur_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

#[inline]
fn nanos(t: Instant) -> u64 {
    t.as_nanos().min(NEVER - 1)
}

#[inline]
fn after(t: u64, d: Duration) -> u64 {
    t.saturating_add(dur_nanos(d)).min(NEVER - 1)
}

impl Timers {
    pub(super) fn new(config: &Config, now: Instant) -> Self {
        let now = nanos(now);
        Timers {
            now,
            last_rx: now,
            ping_at: config.keep_alive.map_or(NEVER, |d| after(now, d)),
            close_at: NEVER,
            tx_progress: false,
            starved: false,
        }
    }

    /// Output was written, or queued while none was waiting.
    pub(super) fn tx_progress(&mut self) {
        self.tx_progress = true;
    }

    /// Records `now`; with `received`, also that the peer was heard from.
    #[inline]
    pub(super) fn touch(&mut self, config: &Config, now: Instant, received: bool) {
        self.now = self.now.max(nanos(now));
        if received {
            self.last_rx = self.now;
            if let Some(d) = config.keep_alive {
                self.ping_at = after(self.now, d);
            }
        }
    }

    /// Starts the close timeout from the latest known `now`.
    pub(super) fn arm_close_wait(&mut self, config: &Config) {
        self.close_at = after(self.now, config.close_timeout);
        self.ping_at = NEVER;
    }

    pub(super) fn disarm_close_wait(&mut self) {
        self.close_at = NEVER;
    }
}

impl Connection {
    /// A buffer (`tx`: the send queue, else the receive buffer) drained at
    /// `now`: true if it is to be kept for reuse (see
    /// `Config::buffer_linger`), which is when it also drained less than a
    /// linger ago. The release deadline is set when the keeping starts,
    /// not moved on every message: a busy connection's next deadline
    /// changes once per linger, not per message.
    #[inline]
    pub(super) fn keep_buffers(&mut self, tx: bool) -> bool {
        let now = self.timers.now;
        let s = &mut *self.shared;
        // Kept already (a busy connection, once per message): note the use.
        if s.kept_at != NEVER {
            if tx {
                s.tx_used = now;
            } else {
                s.rx_used = now;
            }
            return true;
        }
        let Some(linger) = s.config.buffer_linger else {
            return false;
        };
        let used = if tx { &mut s.tx_used } else { &mut s.rx_used };
        let busy = *used != NEVER && after(*used, linger) > now;
        *used = now;
        if busy && s.kept_at == NEVER {
            s.kept_at = now;
        }
        busy
    }

    /// Nothing is kept any more (buffers released, or the connection failed).
    pub(super) fn forget_kept(&mut self) {
        self.shared.kept_at = NEVER;
    }

    /// The kept buffers' deadline: release them if they were not used for
    /// a whole linger, else wait a linger from their last use.
    fn linger_due(&mut self, linger: Duration) {
        let s = &*self.shared;
        let used = match (s.rx_used, s.tx_used) {
            (NEVER, t) | (t, NEVER) => t,
            (r, t) => r.max(t),
        };
        if after(used, linger) <= self.timers.now {
            self.release_kept();
        } else {
            self.shared.kept_at = used;
        }
    }

    /// Output was queued while none was waiting: the write deadline starts
    /// from the latest known `now`.
    pub(super) fn tx_started(&mut self) {
        self.timers.tx_progress = true;
        self.shared.tx_since = self.timers.now;
    }

    /// Tells the connection the time without any input or timer (a
    /// driver does at the start of each loop turn): deadlines that the
    /// application's commands start (a close's timeout, the release of
    /// kept buffers) count from it rather than from the last input, which
    /// may be long past. Time never goes back; nothing else happens.
    #[inline]
    pub fn mark_time(&mut self, now: Instant) {
        self.timers.now = self.timers.now.max(nanos(now));
    }

    /// The next instant at which [`handle_timeout`](Connection::handle_timeout)
    /// must be called, if any timer is armed.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = &self.timers;
        let s = &*self.shared;
        let mut next = t.close_at;
        if let (Some(linger), false) = (s.config.buffer_linger, s.kept_at == NEVER) {
            next = next.min(after(s.kept_at, linger));
        }
        if self.tx_len > 0 && !self.timed_out {
            if let Some(wt) = s.config.write_timeout {
                next = next.min(after(s.tx_since, wt));
            }
        }
        if self.state() == State::Open {
            next = next.min(t.ping_at).min(s.pong_at);
            if let Some(idle) = s.config.idle_timeout {
                next = next.min(after(t.last_rx, idle));
            }
            if self.timers.starved {
                if let Some(stall) = s.config.stall_timeout {
                    next = next.min(after(t.last_rx, stall));
                }
            }
        }
        (next != NEVER).then(|| Instant::from_nanos(next))
    }

    /// Fires the timers due at `now`: the close timeout (the connection
    /// becomes `Closed` and [`wants_close`](Connection::wants_close)
    /// ), the write timeout ([`TimeoutError::WriteStalled`], the transport
    /// is to be closed at once), the stall timeout
    /// ([`TimeoutError::Stalled`], close 1008), the pong deadline
    /// ([`TimeoutError::NoPong`], close 1001), the idle timeout (a close
    /// with 1001 "Going Away" is started, §7.4.1) and the keep-alive ping.
    /// A timeout that fails the connection is reported by the next
    /// [`poll_event`](Connection::poll_event).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timers.touch(&self.shared.config, now, false);
        let kept_at = self.shared.kept_at;
        if let (Some(linger), false) = (self.shared.config.buffer_linger, kept_at == NEVER) {
            if after(kept_at, linger) <= self.timers.now {
                self.linger_due(linger);
            }
        }
        let t = self.timers;
        if t.close_at <= t.now {
            self.timers.close_at = NEVER;
            self.timed_out = true;
            self.ending = true;
            return;
        }
        if let (Some(wt), true) = (self.shared.config.write_timeout, self.tx_len > 0) {
            if after(self.shared.tx_since, wt) <= t.now {
                if t.tx_progress {
                    self.shared.tx_since = t.now;
                    self.timers.tx_progress = false;
                } else if !self.timed_out {
                    self.fail(TimeoutError::WriteStalled.into());
                    self.timed_out = true;
                    self.ending = true;
                    return;
                }
            }
        }
        if self.state() != State::Open {
            return;
        }
        if let (Some(stall), true) = (self.shared.config.stall_timeout, self.timers.starved) {
            if after(t.last_rx, stall) <= t.now {
                self.fail(TimeoutError::Stalled.into());
                return;
            }
        }
        if self.shared.pong_at <= t.now {
            self.fail(TimeoutError::NoPong.into());
            return;
        }
        if let Some(idle) = self.shared.config.idle_timeout {
            if after(t.last_rx, idle) <= t.now {
                self.start_close(Some(CloseCode::GOING_AWAY), b"idle timeout");
                return;
            }
        }
        if t.ping_at <= t.now {
            // hixie-76 has no ping (-00 §4.2): keep-alive does nothing there.
            if self.shared.codec.has(crate::frame::OpCode::Ping) {
                self.queue_control(crate::frame::OpCode::Ping, bytes::Bytes::new());
                if let (Some(d), NEVER) = (self.shared.config.pong_timeout, self.shared.pong_at) {
                    self.shared.pong_at = after(t.now, d);
                }
            }
            self.timers.ping_at = self
                .shared
                .config
                .keep_alive
                .map_or(NEVER, |d| after(t.now, d));
        }
    }

    /// Queues our close frame and starts waiting for the echo.
    pub(super) fn start_close(&mut self, code: Option<CloseCode>, reason: &[u8]) {
        self.queue_close(code, reason);
        self.close_sent = true;
        self.ending = true;
        self.timers.arm_close_wait(&self.shared.config);
    }

    /// The close handshake just completed on receipt of the peer's close.
    pub(super) fn on_handshake_complete(&mut self) {
        match self.role {
            // The server closes TCP as soon as its close is flushed.
            Role::Server => self.timers.disarm_close_wait(),
            // The client waits for the server's TCP close, bounded.
            Role::Client => self.timers.arm_close_wait(&self.shared.config),
        }
    }
}

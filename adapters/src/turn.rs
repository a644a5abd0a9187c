//! The one drive loop: [`Driver::turn`], a single non-blocking step that
//! every adapter calls. An adapter keeps only what its runtime decides:
//! how to wait for readiness and how to sleep ([`Wait`]).
//!
//! One turn, in order (the call order of the one I/O contract,
//! `docs/architecture.md`):
//!
//! 1. **Events.** The next WebSocket event, if one is ready, is returned
//!    at once ([`Turn::Event`]); server handshakes are answered by the
//!    [`Policy`](crate::Policy) on the way.
//! 2. **Output.** Queued output is written until done or the transport
//!    would block.
//! 3. **Teardown.** When the session is done and its output flushed,
//!    [`Turn::Closed`].
//! 4. **Timers.** Due timers fire (then back to 1).
//! 5. **Input.** One read (into the connection's buffer for a large frame,
//!    else into `scratch`), then back to 1. A read that returns less than
//!    it asked for drained the transport: with a transport that says so
//!    ([`Transport::short_read_drains`], edge-triggered readiness) the turn
//!    waits for the next readiness instead of reading again for a
//!    `WouldBlock` (one read per message).
//! 6. Otherwise [`Turn::Wait`]: what to wait for, and until when.
//!
//! Reading pauses while the output backlog is over the high-water mark
//! (backpressure: a peer that does not read stops being read) or the
//! memory budget says so, and after [`READ_BUDGET`] reads without a wait
//! the turn yields ([`Wait::again`]) so that one busy connection cannot
//! starve the others of a loop.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;

use ws_proto::session::SessionEvent;
use ws_proto::{Event, Instant};

use crate::{Driver, Error};

/// Reads one connection may make before its turn yields.
pub const READ_BUDGET: u8 = 16;

/// Default high-water mark ([`Driver::with_high_water`]): 1 MiB of queued
/// output.
pub const HIGH_WATER: usize = 1 << 20;

/// Default low-water mark ([`Driver::with_low_water`]): output at or
/// below 16 KiB counts as drained for [`AppEvent::Writable`].
pub const LOW_WATER: usize = 16 << 10;

/// What [`Driver::turn_app`] hands a server application: the WebSocket
/// events, and the two wake-ups libwebsockets gives its callbacks.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppEvent {
    /// A WebSocket event.
    Event(Event),
    /// The application's timer ([`Driver::set_timer`]) is due (it is
    /// disarmed; set it again for the next).
    Timer,
    /// The output has drained to the low-water mark after
    /// [`Driver::request_writable`] (libwebsockets'
    /// `LWS_CALLBACK_SERVER_WRITEABLE`; asked for again each time).
    Writable,
}

/// An optional [`Instant`] in 8 bytes (`Option<Instant>` takes 16):
/// nanoseconds since the clock's epoch, `u64::MAX` for none. A driver's
/// bytes are multiplied by every connection a server holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Moment(u64);

impl Moment {
    pub(crate) const NONE: Moment = Moment(u64::MAX);

    #[inline]
    pub(crate) fn get(self) -> Option<Instant> {
        (self != Moment::NONE).then(|| Instant::from_nanos(self.0))
    }

    /// `t`, saturated just short of the sentinel (584 years on).
    #[inline]
    pub(crate) fn of(t: Option<Instant>) -> Moment {
        t.map_or(Moment::NONE, |t| {
            let ns = t.as_nanos();
            Moment(ns.min(u64::MAX - 1))
        })
    }
}

/// The drive loop's state in a [`Driver`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct TurnState {
    /// Stop reading while more than this many bytes wait to be written.
    pub(crate) high_water: usize,
    /// Reads since the last wait (the read budget).
    reads: u8,
    /// The last read was short on a transport where that drains it.
    drained: bool,
    /// The last read filled all the room it was given: input is streaming
    /// in (see `Driver::direct_read_size`).
    pub(crate) streaming: bool,
    /// The transport is to be closed; nothing more happens.
    pub(crate) closed: bool,
    /// The last turn returned `Wait`: no event is pending until new input
    /// or a timer.
    pub(crate) waited: bool,
    /// The earliest deadline as of the last `Wait` (`None`: none): timers
    /// are only looked at once it has passed. Deadlines armed since are
    /// later than the time they were armed at, and the next `Wait` reports
    /// them.
    due_at: Moment,
    /// The time of the turn in progress (one clock read per turn).
    pub(crate) now: Moment,
    /// The server loop's time, lent while it serves this connection
    /// ([`Driver::lend_loop_time`]): its turns then read no clock.
    pub(crate) loop_now: Moment,
    /// The application's timer ([`Driver::set_timer`]).
    pub(crate) app_timer: Moment,
    /// The application asked to hear when the output drains
    /// ([`Driver::request_writable`]) ...
    pub(crate) writable_wanted: bool,
    /// ... and it has: [`Driver::turn_app`] reports it.
    pub(crate) writable_ready: bool,
    /// Output at or below this is "drained" for `writable`.
    pub(crate) low_water: usize,
}

impl Default for TurnState {
    fn default() -> Self {
        TurnState {
            high_water: HIGH_WATER,
            reads: 0,
            drained: false,
            streaming: false,
            closed: false,
            waited: false,
            due_at: Moment::of(Some(Instant::ZERO)),
            now: Moment::NONE,
            loop_now: Moment::NONE,
            app_timer: Moment::NONE,
            writable_wanted: false,
            writable_ready: false,
            low_water: LOW_WATER,
        }
    }
}

/// What one [`Driver::turn`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Turn<E = Event> {
    /// An event for the application (a WebSocket event from
    /// [`turn`](Driver::turn), a session event from
    /// [`turn_session`](Driver::turn_session)); turn again for the next.
    Event(E),
    /// Nothing to do now: turn again once one of these happens.
    Wait(Wait),
    /// The connection is over and its output flushed: close the
    /// transport. Later turns return `Closed` again.
    Closed,
}

/// What a [`Turn::Wait`] waits for: the first of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wait {
    /// The transport becoming readable.
    pub read: bool,
    /// The transport becoming writable (output is queued).
    pub write: bool,
    /// This instant (timers, a budget retry).
    pub until: Option<Instant>,
    /// Do not wait: the read budget ran out with input possibly left;
    /// turn again after the loop's other work.
    pub again: bool,
}

/// The byte stream under a [`Driver`]: non-blocking reads and writes,
/// where `WouldBlock` means "wait" (a blocking transport says so in
/// [`blocks`](Self::blocks) and simply blocks, up to the deadline it was
/// given in [`set_deadline`](Self::set_deadline)).
pub trait Transport {
    /// Reads into `buf`; 0 is end of stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// True if [`read_uninit`](Self::read_uninit) works: the driver may
    /// then read large messages straight into the connection's buffer,
    /// whose room is not zero-filled first.
    fn reads_uninit(&self) -> bool {
        false
    }
    /// Reads into `buf`, which need not be initialized, and returns the
    /// prefix of it that was filled (empty: end of stream), as
    /// `rustix::io::read` does. Called only if
    /// [`reads_uninit`](Self::reads_uninit).
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let _ = buf;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Writes from `bufs` (vectored).
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// True if a read that returned less than it asked for leaves nothing
    /// to read until the next readiness event (edge-triggered readiness,
    /// as mio's): the turn then waits instead of reading again.
    fn short_read_drains(&self) -> bool {
        false
    }
    /// True if reads block: the turn then tells the transport, before
    /// each read, when to give up ([`set_deadline`](Self::set_deadline)).
    /// Non-blocking transports (the default) are not asked, and the turn
    /// does not work the deadline out for them.
    fn blocks(&self) -> bool {
        false
    }
    /// The next read should give up (`WouldBlock` or `TimedOut`) at
    /// `until`: for blocking transports, which set a read timeout (only
    /// when it changes). Called only if [`blocks`](Self::blocks).
    fn set_deadline(&mut self, until: Option<Instant>) -> io::Result<()> {
        let _ = until;
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Driver {
    /// One non-blocking step of the drive loop (see the module docs of
    /// `turn`): the next WebSocket event (server handshakes answered by
    /// the [`Policy`](crate::Policy)), or what to wait for, or the end.
    ///
    /// On `Err` the connection is over (a protocol failure's close frame
    /// was written if the transport took it): close the transport.
    pub fn turn<T: Transport + ?Sized>(
        &mut self,
        io: &mut T,
        scratch: &mut [u8],
    ) -> Result<Turn, Error> {
        self.turn_with(io, scratch, Driver::poll_message)
    }

    /// [`turn`](Self::turn) handing out every session event, handshake
    /// events included, for an application that answers them itself.
    pub fn turn_session<T: Transport + ?Sized>(
        &mut self,
        io: &mut T,
        scratch: &mut [u8],
    ) -> Result<Turn<SessionEvent>, Error> {
        self.turn_with(io, scratch, Driver::poll_event)
    }

    /// [`turn`](Self::turn) with the handshake still to complete: runs it
    /// (answering by the policy) without taking any WebSocket event, and
    /// returns `Event(())` once the connection is open.
    pub fn turn_handshake<T: Transport + ?Sized>(
        &mut self,
        io: &mut T,
        scratch: &mut [u8],
    ) -> Result<Turn<()>, Error> {
        self.turn_with(io, scratch, |d| Ok(d.poll_handshake()?.then_some(())))
    }

    /// [`turn`](Self::turn) for a server application: WebSocket events,
    /// and the application's timer and writable wake-ups
    /// ([`AppEvent`]).
    pub fn turn_app<T: Transport + ?Sized>(
        &mut self,
        io: &mut T,
        scratch: &mut [u8],
    ) -> Result<Turn<AppEvent>, Error> {
        self.turn_with(io, scratch, |d| {
            if std::mem::take(&mut d.turn.writable_ready) {
                return Ok(Some(AppEvent::Writable));
            }
            let now = d.now();
            if d.turn.app_timer.get().is_some_and(|t| t <= now) {
                d.turn.app_timer = Moment::NONE;
                return Ok(Some(AppEvent::Timer));
            }
            Ok(d.poll_message()?.map(AppEvent::Event))
        })
    }

    /// Arms the application's timer at `at` (`None` disarms it); it
    /// fires once, as [`AppEvent::Timer`] from [`turn_app`](Self::turn_app),
    /// and counts in [`poll_deadline`](Self::poll_deadline).
    pub fn set_timer(&mut self, at: Option<Instant>) {
        self.turn.app_timer = Moment::of(at);
        // Set between turns, after a `Wait` that did not know it: the next
        // turn looks at the timers once it is due (the loop learns the
        // new deadline from that turn's `Wait`).
        if let Some(at) = at {
            self.turn.due_at = Moment::of(Some(self.turn.due_at.get().map_or(at, |d| d.min(at))));
        }
    }

    /// The application's timer, if armed.
    pub fn timer(&self) -> Option<Instant> {
        self.turn.app_timer.get()
    }

    /// The transport reported readiness to read: the next turn reads even
    /// if the last read drained it (see [`Transport::short_read_drains`]).
    pub fn note_readable(&mut self) {
        self.turn.drained = false;
    }

    /// Asks for one [`AppEvent::Writable`] once the queued output is at
    /// or below the low-water mark (at once if it is already).
    pub fn request_writable(&mut self) {
        self.turn.writable_wanted = true;
    }

    /// Output at or below `bytes` counts as drained for
    /// [`AppEvent::Writable`]; default [`LOW_WATER`].
    pub fn with_low_water(mut self, bytes: usize) -> Self {
        self.turn.low_water = bytes;
        self
    }

    /// True while the queued output is over the high-water mark
    /// (libwebsockets' `lws_send_pipe_choked`).
    pub fn is_choked(&self) -> bool {
        self.pending_write() > self.turn.high_water
    }

    pub(crate) fn turn_with<T: Transport + ?Sized, E>(
        &mut self,
        io: &mut T,
        scratch: &mut [u8],
        mut poll: impl FnMut(&mut Driver) -> Result<Option<E>, Error>,
    ) -> Result<Turn<E>, Error> {
        if self.turn.closed {
            return Ok(Turn::Closed);
        }
        let now = self.clock_now();
        self.turn.now = Moment::of(Some(now));
        // The connection learns the turn's time (deadlines the
        // application's commands start count from it); a recording stamps
        // its timeline.
        self.session_mut().mark_time(now);
        #[cfg(feature = "tracing")]
        let span = self.trace.span();
        #[cfg(feature = "tracing")]
        let _entered = span.enter();
        let r = self.turn_at(now, io, scratch, &mut poll);
        self.turn.now = Moment::NONE;
        #[cfg(feature = "tracing")]
        self.trace_turn(&r);
        self.turn.waited = matches!(r, Ok(Turn::Wait(_)));
        if let Ok(Turn::Wait(w)) = &r {
            self.turn.due_at = Moment::of(w.until);
        }
        r
    }

    fn turn_at<T: Transport + ?Sized, E>(
        &mut self,
        now: Instant,
        io: &mut T,
        scratch: &mut [u8],
        poll: &mut impl FnMut(&mut Driver) -> Result<Option<E>, Error>,
    ) -> Result<Turn<E>, Error> {
        // After a wait nothing is pending before new input or a timer.
        let mut events = !self.turn.waited;
        loop {
            if events {
                match poll(self) {
                    Ok(Some(ev)) => return Ok(Turn::Event(ev)),
                    Ok(None) => {}
                    Err(e) => {
                        self.finish(io);
                        return Err(e);
                    }
                }
            }
            events = true;
            let write = match self.write_to(|b| io.write_vectored(b)) {
                Ok(()) => false,
                Err(e) if would_block(&e) => true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_failed(e)),
            };
            if self.wants_close() {
                self.finish(io);
                return Ok(Turn::Closed);
            }
            if self.feed_body()? {
                // A streamed HTTP body's next chunk: write it.
                continue;
            }
            if self.turn.writable_wanted && self.pending_write() <= self.turn.low_water {
                // Reported by `turn_app` on the next poll (another turn
                // function lets it lapse).
                self.turn.writable_wanted = false;
                self.turn.writable_ready = true;
                continue;
            }
            if self.turn.due_at.get().is_some_and(|t| t <= now) {
                // Looked at once per turn at most: handled, they are
                // re-armed in the future.
                self.turn.due_at = Moment::NONE;
                if self.handle_timers() {
                    continue;
                }
            }
            let read =
                !self.is_eof() && self.pending_write() <= self.turn.high_water && self.may_read();
            if read && !self.turn.drained {
                if self.turn.reads >= READ_BUDGET {
                    self.turn.reads = 0;
                    let until = self.poll_deadline();
                    return Ok(Turn::Wait(Wait {
                        read,
                        write,
                        until,
                        again: true,
                    }));
                }
                if io.blocks() {
                    io.set_deadline(self.poll_deadline())
                        .map_err(|e| self.io_failed(e))?;
                }
                let drains = io.short_read_drains();
                let mut short = false;
                let direct = if io.reads_uninit() {
                    self.direct_read_size()
                } else {
                    0
                };
                let r = match direct {
                    0 => None,
                    min => self.read_direct(min, |b| {
                        let filled = io.read_uninit(b)?;
                        short = filled.len() < min;
                        Ok(filled)
                    }),
                };
                let r = r.unwrap_or_else(|| {
                    self.read_from(scratch, |b| {
                        let n = io.read(b)?;
                        short = n < b.len();
                        Ok(n)
                    })
                });
                match r {
                    Ok(_) => {
                        self.turn.reads += 1;
                        self.turn.drained = short && drains;
                        self.turn.streaming = !short;
                        continue;
                    }
                    Err(e) if would_block(&e) => self.turn.streaming = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.io_failed(e)),
                }
            }
            self.turn.reads = 0;
            // An edge-triggered transport stays drained until its next
            // readiness event says otherwise (`Driver::note_readable`): a
            // turn for a push or a timer does not read just to get
            // `WouldBlock`.
            self.turn.drained &= io.short_read_drains();
            return Ok(Turn::Wait(Wait {
                read,
                write,
                until: self.poll_deadline(),
                again: false,
            }));
        }
    }

    /// The end: a TLS `close_notify` and the last output, best effort.
    fn finish<T: Transport + ?Sized>(&mut self, io: &mut T) {
        self.turn.closed = true;
        self.close_notify();
        let _ = self.write_to(|b| io.write_vectored(b));
    }

    fn io_failed(&mut self, e: io::Error) -> Error {
        self.turn.closed = true;
        Error::from(e).with_peer(self.peer())
    }

    /// True once a turn returned [`Turn::Closed`] or an error.
    pub fn is_finished(&self) -> bool {
        self.turn.closed
    }
}

//! The driver core every adapter shares: it moves bytes between a socket
//! and a [`Session`], through the optional proxy-`CONNECT` and TLS layers,
//! answers the server handshake by the endpoint's [`Policy`], and turns the
//! session's timers into deadlines. It never blocks and never touches a
//! socket itself: each adapter passes its non-blocking (or blocking) read and
//! write as closures, so std, mio, smol and tokio reuse one loop body.
//!
//! A driver calls, in a loop (see the crate docs for the order):
//! [`read_from`](Driver::read_from) or [`feed`](Driver::feed),
//! [`poll_message`](Driver::poll_message) / [`poll_event`](Driver::poll_event),
//! [`write_to`](Driver::write_to), [`handle_timers`](Driver::handle_timers) /
//! [`poll_deadline`](Driver::poll_deadline),
//! and closes the socket when [`wants_close`](Driver::wants_close).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_upgrade::{Handshake, ProxyConnect, Response};
use ws_proto::session::{Session, SessionEvent};
use ws_proto::{CloseCode, Event, Instant, Utf8Bytes};

use crate::budget::{Ticket, Verdict};
use crate::layers::Layers;
use crate::policy::{self, Policy};
use crate::{Clock, Error, ErrorKind};

/// Frame bytes still expected from which a read goes straight into the
/// connection's buffer (see [`Driver::read_from`]).
const ZERO_COPY_MIN: u64 = 4096;
/// Most room lent to one read into a connection's buffer (see
/// [`in_place_read_size`]).
pub const MAX_LEND: usize = 64 * 1024;
/// Size of the scratch buffers adapters read handshake and TLS bytes into.
pub const SCRATCH: usize = 16 * 1024;

/// Room kept in a busy connection's receive buffer from its last messages
/// that the next read goes straight into (no copy out of the scratch
/// buffer): a small message's room, 1 KiB to 4 KiB, is enough.
const KEPT_ROOM_MIN: usize = 1024;

/// The most a streamed HTTP body reads at once ([`BodySource`]).
pub const BODY_CHUNK: usize = 64 * 1024;

/// The body of a plain HTTP response, streamed as the connection takes
/// it (a file larger than memory never sits in a buffer): the drive loop
/// asks for the next chunk whenever the output has drained to the
/// low-water mark.
pub trait BodySource: Send {
    /// The next chunk, at most `max` bytes; empty at the end. Must give
    /// exactly the `Content-Length` announced in all.
    fn next_chunk(&mut self, max: usize) -> io::Result<Bytes>;
}

/// How soon a connection paused by the memory budget asks again.
pub const PAUSE_RETRY: std::time::Duration = std::time::Duration::from_millis(50);
/// How often an idle connection holding at least
/// [`PAUSE_MIN`](crate::budget::PAUSE_MIN) looks at the memory budget.
pub const BUDGET_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs `f` with this thread's scratch buffer of [`SCRATCH`] bytes,
/// allocated once per thread (not zero-filled per read, not held per
/// connection). A nested call gets a fresh buffer.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static BUF: core::cell::RefCell<Box<[u8]>> =
            core::cell::RefCell::new(vec![0; SCRATCH].into_boxed_slice());
    }
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0; SCRATCH]),
    })
}

/// A [`Session`] plus what it takes to put it on a socket: clock, peer
/// address, proxy and TLS layers, the server's handshake policy.
pub struct Driver {
    session: Session,
    clock: Clock,
    /// Virtual time set by [`Driver::set_virtual_time`], read instead of
    /// the clock.
    virtual_now: crate::turn::Moment,
    layers: Option<Box<Layers>>,
    policy: Option<Arc<Policy>>,
    peer: Option<SocketAddr>,
    eof: bool,
    failed: bool,
    /// This connection's share of the server's memory budget.
    budget: Option<Ticket>,
    /// Input arrived since the budget was last told what this holds.
    dirty: bool,
    /// The drive loop's own state (see [`Driver::turn`]).
    pub(crate) turn: crate::turn::TurnState,
    /// What few connections have: [`Extra`].
    extra: Option<Box<Extra>>,
    /// The connection's span (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(crate) trace: crate::trace::Trace,
}

/// What few connections have, behind one box: an idle connection pays 8
/// bytes for all of it.
#[derive(Default)]
struct Extra {
    /// A connection from a trusted proxy: how to find its requests'
    /// clients ([`crate::forwarded`]).
    forwarded: Option<crate::forwarded::Forwarded>,
    /// The body of a plain HTTP response being streamed.
    body: Option<Box<dyn BodySource>>,
    /// Where this connection's transcript goes, and its number there.
    recording: Option<(crate::Recording, u64)>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("session", &self.session)
            .field("peer", &self.peer)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl Drop for Driver {
    /// A recorded connection's transcript goes to its sink when the
    /// connection ends, whichever adapter ends it.
    fn drop(&mut self) {
        self.stop_recording();
    }
}

impl Driver {
    /// Drives `session` on `clock`'s time; `peer` labels errors and logs.
    pub fn new(session: Session, clock: Clock, peer: Option<SocketAddr>) -> Self {
        Driver {
            clock,
            virtual_now: crate::turn::Moment::NONE,
            layers: None,
            policy: None,
            peer,
            eof: false,
            failed: false,
            budget: None,
            dirty: false,
            turn: crate::turn::TurnState::default(),
            extra: None,
            #[cfg(feature = "tracing")]
            trace: crate::trace::Trace::new(role_name(&session), peer),
            session,
        }
    }

    /// Hands the session's transcript to `recording` (as number `id`)
    /// when the connection ends; the session must be recording.
    pub(crate) fn with_recording(mut self, recording: crate::Recording, id: u64) -> Self {
        self.extra().recording = Some((recording, id));
        self
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Takes `forwarded` into account for this connection's requests.
    pub(crate) fn set_forwarded(&mut self, forwarded: crate::forwarded::Forwarded) {
        self.extra().forwarded = Some(forwarded);
    }

    /// Ends this connection's recording now and hands the transcript to
    /// its [`Recording`](crate::Recording)'s sink (the connection goes on
    /// unrecorded). Does nothing if it is not recorded.
    pub fn stop_recording(&mut self) {
        if let Some(rec) = self.extra.as_mut().and_then(|x| x.recording.take()) {
            if let Some(t) = self.session.take_transcript() {
                rec.0.deliver(rec.1, self.peer, t);
            }
        }
    }

    /// Records the opening and the end of the connection on its span.
    #[cfg(feature = "tracing")]
    pub(crate) fn trace_turn<E>(&mut self, r: &Result<crate::Turn<E>, Error>) {
        if !self.trace.is_open() {
            if let Some(h) = self.session.handshake() {
                self.trace.opened(h);
            }
        }
        match r {
            Ok(crate::Turn::Closed) => self.trace.ended(None),
            Err(e) => self.trace.ended(Some(e)),
            _ => {}
        }
    }

    /// Feeds the streamed body of a plain HTTP response while the output
    /// is at or below the low-water mark: one chunk of at most
    /// [`BODY_CHUNK`] per call. True if it queued something. A source that
    /// fails or ends before the announced length fails the connection
    /// (the response cannot be completed).
    #[inline]
    pub(crate) fn feed_body(&mut self) -> Result<bool, Error> {
        if self.extra.as_ref().is_none_or(|x| x.body.is_none()) {
            return Ok(false);
        }
        self.feed_more_body()
    }

    fn feed_more_body(&mut self) -> Result<bool, Error> {
        let Some(source) = self.extra.as_mut().and_then(|x| x.body.as_mut()) else {
            return Ok(false);
        };
        if self.session.pending_transmit() > self.turn.low_water {
            return Ok(false);
        }
        let chunk = match source.next_chunk(BODY_CHUNK) {
            Ok(c) => c,
            Err(e) => {
                self.end_body();
                self.failed = true;
                return Err(self.err(e));
            }
        };
        if chunk.is_empty() {
            self.end_body();
            return Ok(false);
        }
        let now = self.now();
        if let Err(e) = self.session.send_body(now, chunk) {
            self.end_body();
            self.failed = true;
            return Err(self.err(e));
        }
        Ok(true)
    }

    /// The streamed body is over (sent, or failed).
    fn end_body(&mut self) {
        if let Some(x) = self.extra.as_mut() {
            x.body = None;
        }
    }

    /// The address of the socket's other end: the peer, or on a
    /// connection from a trusted proxy the proxy (the peer is then the
    /// client its requests name, see [`crate::forwarded`]).
    pub fn socket_peer(&self) -> Option<SocketAddr> {
        match self.extra.as_ref().and_then(|x| x.forwarded.as_ref()) {
            Some(f) => Some(f.proxy),
            None => self.peer,
        }
    }

    /// [`socket_peer`](Self::socket_peer) for a server loop's accepted
    /// socket, which always has one (`0.0.0.0:0` if not).
    pub(crate) fn accepted_peer(&self) -> SocketAddr {
        self.socket_peer()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The remote address, once known (a client learns it after the
    /// driver is made: it labels errors, logs and the tracing span).
    pub fn set_peer(&mut self, peer: SocketAddr) {
        self.peer = Some(peer);
        #[cfg(feature = "tracing")]
        self.trace.peer(peer);
    }

    /// Reading pauses while more than `bytes` of output wait to be written
    /// (backpressure: a peer that does not read is not read either);
    /// default [`HIGH_WATER`](crate::turn::HIGH_WATER).
    pub fn with_high_water(mut self, bytes: usize) -> Self {
        self.turn.high_water = bytes;
        self
    }

    /// The time: read once per [`turn`](Self::turn) (one clock read per
    /// loop turn, not one per call), from the clock outside a turn.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.turn.now.get().unwrap_or_else(|| self.clock_now())
    }

    /// The clock's time, or the virtual time if one is set, or the time a
    /// server loop lent for the connection's service.
    #[inline]
    pub(crate) fn clock_now(&self) -> Instant {
        match self.virtual_now.get() {
            Some(t) => t,
            None => self.turn.loop_now.get().unwrap_or_else(|| self.clock.now()),
        }
    }

    /// Lends the loop turn's time (read from this driver's clock) to the
    /// connection's turns until it is taken back ([`Moment::NONE`]): a
    /// server loop reads the clock once per loop turn and serves every
    /// connection of the turn with it, rather than one read per turn of
    /// each connection (two per echoed message). A deadline that passes
    /// while the loop serves is seen on the next loop turn, whose wait is
    /// then zero.
    #[inline]
    pub(crate) fn lend_loop_time(&mut self, now: crate::turn::Moment) {
        self.turn.loop_now = now;
    }

    /// Runs the driver on virtual time: from now on every turn (and every
    /// call that takes the time) reads `now` instead of the clock, until
    /// the next call moves it. For a loop that keeps its own time: a test,
    /// a simulation, a fuzz target driving a [`Protocols`](crate::Protocols)
    /// handler in memory (see `fuzz/src/template_protocols.rs`), a replay.
    /// Time must not go backwards (an earlier `now` is ignored).
    pub fn set_virtual_time(&mut self, now: Instant) {
        let t = self.virtual_now.get().map_or(now, |t| t.max(now));
        self.virtual_now = crate::turn::Moment::of(Some(t));
    }

    /// The stream has ended (a read returned 0).
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Counts what this connection holds against a server-wide
    /// [`MemoryBudget`](crate::MemoryBudget): reading pauses
    /// ([`may_read`](Self::may_read)) over its soft limit, and over its
    /// hard limit upgrades are refused (`503`) and the connection holding
    /// the most is closed with 1013.
    pub fn with_budget(mut self, ticket: Ticket) -> Self {
        self.budget = Some(ticket);
        self
    }

    /// Bytes this connection holds: its buffers and queued output.
    #[inline]
    pub fn held(&self) -> usize {
        let buffers = self
            .session
            .connection()
            .map_or(0, ws_proto::Connection::buffer_capacity);
        buffers + self.pending_write()
    }

    /// False while the memory budget wants this connection left unread
    /// (over the soft limit and a large holder): do not read, wake at
    /// [`poll_deadline`](Self::poll_deadline) and ask again.
    #[must_use]
    pub fn may_read(&self) -> bool {
        self.budget
            .as_ref()
            .is_none_or(|t| t.verdict() != Verdict::Pause)
    }

    /// Reports what the connection holds to the budget; over the hard limit
    /// the largest holder is closed with 1013 "try again later" and its
    /// buffers dropped at once.
    fn account(&mut self) {
        let held = self.held();
        let Some(ticket) = self.budget.as_mut() else {
            return;
        };
        if ticket.update(held, self.peer) != Verdict::Shed {
            return;
        }
        let Some(conn) = self.session.connection_mut() else {
            return;
        };
        ticket.note_shed();
        log::warn!(
            "{:?}: closed with 1013, it held {held} bytes with the server over its memory budget ({:?})",
            self.peer,
            ticket.budget()
        );
        conn.abort(CloseCode::TRY_AGAIN_LATER, "server memory budget");
        let held = self.held();
        if let Some(t) = self.budget.as_mut() {
            t.update(held, self.peer);
        }
    }

    /// Answers server handshake events by `policy` in
    /// [`poll_message`](Self::poll_message).
    pub fn with_policy(mut self, policy: Arc<Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Tunnels through an HTTP proxy first (`CONNECT`, RFC 7231 §4.3.6).
    pub fn with_proxy(mut self, proxy: ProxyConnect) -> Self {
        self.layers.get_or_insert_default().set_proxy(proxy);
        self
    }

    /// Runs the session inside TLS (after the proxy tunnel, if any).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: rustls::Connection) -> Self {
        self.layers.get_or_insert_default().set_tls(tls);
        self
    }

    /// What the opening handshake settled, once the connection is open:
    /// the subprotocol the server chose, the extensions with their
    /// parameters, the dialect, and the request target (server) or the
    /// response's header fields (client).
    pub fn negotiated(&self) -> Option<&Handshake> {
        self.session.handshake()
    }

    /// The sans-IO machine.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The sans-IO machine, for calls without a shortcut here.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The clock the session runs on.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The remote address, if known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn err(&self, e: impl Into<Error>) -> Error {
        e.into().with_peer(self.peer)
    }

    /// One read from the socket with `read`, fed through the layers into
    /// the session. Returns the count read, 0 at end of stream;
    /// `WouldBlock` and other errors of `read` are returned as they are.
    ///
    /// In the middle of a large frame of an open plain connection the read
    /// goes straight into the connection's receive buffer, where the payload
    /// is unmasked and handed out from (zero copy; the room lent is what the
    /// frame still needs, at most 64 KiB). Otherwise — between frames,
    /// during the handshake, under TLS or a proxy — it goes into `scratch`,
    /// one buffer shared by every connection of a loop, and what arrived is
    /// copied: an idle connection holds no buffer, and lending a fresh one
    /// per read would cost a zero-fill of the whole room (16 KiB of `memset`
    /// per 20-byte message, 86% of a small-message echo's instructions when
    /// it was measured).
    pub fn read_from(
        &mut self,
        scratch: &mut [u8],
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let closed = self
            .session
            .connection()
            .is_some_and(|c| c.state() == ws_proto::State::Closed);
        // A peer may abort TCP (RST) right after the closing handshake, as
        // Autobahn's fuzzing server does: that is the end of the stream,
        // not a failure.
        let mut read = |buf: &mut [u8]| match read(buf) {
            Err(e) if closed && is_reset(&e) => Ok(0),
            r => r,
        };
        self.dirty = true;
        let expected = self
            .session
            .connection()
            .map_or(0, ws_proto::Connection::frame_bytes_expected);
        if self.layers.is_none() && expected >= ZERO_COPY_MIN {
            let lend = usize::try_from(expected).map_or(MAX_LEND, |e| e.min(MAX_LEND));
            let n = read(self.session.recv_buf(lend))?;
            // A protocol error is stored and reported by poll_event.
            let _ = self.session.recv_commit(self.now(), n);
            if n == 0 {
                self.on_eof();
            }
            return Ok(n);
        }
        let n = read(scratch)?;
        match scratch.get(..n) {
            Some(data) if n > 0 => self.feed(data).map_err(io::Error::other)?,
            _ => self.on_eof(),
        }
        Ok(n)
    }

    /// How much to read straight into the open connection's receive
    /// buffer with [`read_direct`](Self::read_direct), 0 to read into the
    /// loop's scratch buffer instead ([`in_place_read_size`]): in the
    /// middle of a large frame, what it still needs (as
    /// [`read_from`](Self::read_from)); between frames, the room a busy
    /// connection kept from its last messages when it is at least 1 KiB
    /// (a connection receiving large messages then reads each whole, in
    /// place, in one read; one receiving small ones reads them into the
    /// room kept from the last, without a copy); and up to [`MAX_LEND`] in all
    /// while input streams in (the last read filled all it was given),
    /// ending where a frame ends if frames keep one size. Frames back to
    /// back rarely end where a read does:
    /// through the scratch buffer each read was copied, the buffer grown by
    /// copying, and the frame it held copied out again for being small
    /// beside the grown buffer (about four copies of every byte of a stream
    /// of 16 KiB frames); read in place, only the part of a frame a read
    /// leaves at its end moves once, to the front of the next buffer (and
    /// with reads sized to whole frames, none does). The
    /// buffer is the connection's while it streams and released once it is
    /// idle. Never under TLS or a proxy, whose layers take the wire bytes.
    pub(crate) fn direct_read_size(&mut self) -> usize {
        if self.layers.is_some() {
            return 0;
        }
        let streaming = self.turn.streaming;
        self.session
            .connection_mut()
            .map_or(0, |c| in_place_read_size(c, streaming))
    }

    /// Reads up to `min` bytes into uninitialized room of the connection's
    /// receive buffer (see [`direct_read_size`](Self::direct_read_size)):
    /// `read` returns the prefix it filled. `None`, without reading, when
    /// the session cannot take such a read (handshake, recording).
    pub(crate) fn read_direct(
        &mut self,
        min: usize,
        mut read: impl for<'a> FnMut(&'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]>,
    ) -> Option<io::Result<usize>> {
        let closed = self
            .session
            .connection()
            .is_some_and(|c| c.state() == ws_proto::State::Closed);
        let now = self.now();
        let r = self.session.recv_into(now, min, |b| match read(b) {
            // As in `read_from`: a reset after the closing handshake ends
            // the stream.
            Err(e) if closed && is_reset(&e) => Ok(Default::default()),
            r => r,
        })?;
        self.dirty = true;
        if let Ok(0) = r {
            self.on_eof();
        }
        Some(r)
    }

    /// For completion-based I/O (io_uring), where a read holds its buffer
    /// until it completes: the connection's own receive space as an owned
    /// loan when the next read should go straight into it (the middle of a
    /// large frame of an open plain connection, as in
    /// [`read_from`](Self::read_from); at most 64 KiB), else `None` — read
    /// into a buffer of the loop's and hand the bytes to
    /// [`complete_read`](Self::complete_read). Give the loan back with
    /// [`complete_loan`](Self::complete_loan) before any other input.
    pub fn lend(&mut self) -> Option<ws_proto::RecvLoan> {
        if self.layers.is_some() {
            return None;
        }
        let expected = self
            .session
            .connection()
            .map_or(0, ws_proto::Connection::frame_bytes_expected);
        if expected < ZERO_COPY_MIN {
            return None;
        }
        let lend = usize::try_from(expected).map_or(MAX_LEND, |e| e.min(MAX_LEND));
        Some(self.session.lend_recv(lend))
    }

    /// A completed read into a [`lend`](Self::lend) loan: `Ok(n)` bytes
    /// filled (0: end of stream) or the read's error. Returns the count;
    /// an error of the read fails the connection (a reset after the
    /// closing handshake is the end of the stream, as in `read_from`).
    pub fn complete_loan(
        &mut self,
        loan: ws_proto::RecvLoan,
        read: io::Result<usize>,
    ) -> Result<usize, Error> {
        let n = self.completed(read)?;
        // A protocol error is stored and reported by poll_event.
        let _ = self.session.commit_loan(self.now(), loan, n);
        if n == 0 {
            self.on_eof();
        }
        Ok(n)
    }

    /// A completed read into a buffer of the loop's: the bytes it filled
    /// (empty: end of stream) or its error, as
    /// [`complete_loan`](Self::complete_loan).
    pub fn complete_read(&mut self, read: io::Result<&[u8]>) -> Result<usize, Error> {
        let data = match read {
            Ok(data) => data,
            Err(e) => {
                self.completed(Err(e))?;
                &[]
            }
        };
        self.completed(Ok(data.len()))?;
        self.feed(data)?;
        Ok(data.len())
    }

    fn completed(&mut self, read: io::Result<usize>) -> Result<usize, Error> {
        // New input: the next turn looks for events before waiting.
        self.turn.waited = false;
        self.dirty = true;
        let closed = self
            .session
            .connection()
            .is_some_and(|c| c.state() == ws_proto::State::Closed);
        match read {
            Ok(n) => Ok(n),
            Err(e) if closed && is_reset(&e) => Ok(0),
            Err(e) => {
                self.turn.closed = true;
                Err(self.err(e))
            }
        }
    }

    /// Feeds bytes read from the socket (the copying form of
    /// [`read_from`](Self::read_from), for split readers); `&[]` is end of
    /// stream.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        self.dirty = true;
        if data.is_empty() {
            self.on_eof();
            return Ok(());
        }
        let now = self.now();
        let Some(layers) = self.layers.as_deref_mut() else {
            // Errors are stored in the session and reported by poll_event.
            let _ = self.session.receive(now, data);
            return Ok(());
        };
        layers.receive(&mut self.session, now, data).map_err(|e| {
            self.failed = true;
            e.with_peer(self.peer)
        })
    }

    fn on_eof(&mut self) {
        self.eof = true;
        self.session.receive_eof(self.now());
    }

    /// Writes queued output with `write` until all is written (`Ok`) or
    /// `write` fails (`WouldBlock` included). Before the proxy tunnel is
    /// open only the `CONNECT` is written; with TLS, the session's output is
    /// encrypted first.
    ///
    /// Every driver writes after each turn (reads, events, sends), so this
    /// is also where what the connection holds is reported to the memory
    /// budget: once per turn, not per read.
    pub fn write_to(
        &mut self,
        write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        // Nothing queued (every layer counts in `pending_write`): no call.
        let queued = self.pending_write() > 0;
        let r = if queued {
            self.write_layers(write)
        } else {
            Ok(())
        };
        // Only a turn that read something, or left output queued, can
        // have changed what the connection holds (sends queue output).
        if self.budget.is_some() && (self.dirty || queued && self.pending_write() > 0) {
            self.dirty = false;
            self.account();
        }
        r
    }

    fn write_layers(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        match self.layers.as_deref_mut() {
            None => write_session(&mut self.session, &mut write),
            Some(layers) => layers.transmit(&mut self.session, &mut write),
        }
    }

    /// For completion-based I/O (io_uring), where the kernel reads a send's
    /// buffers after the call that submitted it: calls `f` with each part of
    /// the queued output in order while it returns true, without consuming
    /// any ([`Session::for_each_transmit_part`]: copy the
    /// [`Inline`](ws_proto::TransmitPart::Inline) parts, clone the `Bytes`
    /// of the [`Shared`](ws_proto::TransmitPart::Shared) and
    /// [`Slice`](ws_proto::TransmitPart::Slice) payloads). Once the kernel
    /// reports `n` bytes sent, consume them with [`write_to`](Self::write_to)
    /// returning `n`.
    ///
    /// Returns false, calling `f` for nothing, when the output goes through
    /// a layer (TLS, the proxy `CONNECT`): then take a copy of what
    /// [`write_to`](Self::write_to) offers instead (answering `WouldBlock`
    /// consumes nothing).
    pub fn for_each_output_part<'a>(
        &'a self,
        f: impl FnMut(ws_proto::TransmitPart<'a>) -> bool,
    ) -> bool {
        if self.layers.is_some() {
            return false;
        }
        self.session.for_each_transmit_part(f);
        true
    }

    /// Bytes (and TLS records) waiting to be written.
    #[inline]
    pub fn pending_write(&self) -> usize {
        self.session.pending_transmit() + self.layers.as_ref().map_or(0, |l| l.pending())
    }

    /// The next session event; server handshake events are still reported
    /// (see [`poll_message`](Self::poll_message) for the automatic form).
    pub fn poll_event(&mut self) -> Result<Option<SessionEvent>, Error> {
        self.session
            .poll_event()
            .map_err(|e| self.session_failed(e))
    }

    /// The session's event poll failed: so has the connection.
    fn session_failed(&mut self, e: ws_proto::session::SessionError) -> Error {
        self.failed = true;
        self.err(e)
    }

    /// The next WebSocket event for the application. Server handshake events
    /// are answered by the [`Policy`] (accept, or a 404 for plain HTTP);
    /// a client's redirect or rejection becomes an error.
    pub fn poll_message(&mut self) -> Result<Option<Event>, Error> {
        // The open connection's events straight from it (the session
        // would only wrap and unwrap them).
        if let Some(c) = self.session.connection_direct() {
            return c.poll_event().map_err(|e| self.session_failed(e.into()));
        }
        while let Some(ev) = self.poll_event()? {
            if let Some(ev) = self.answer(ev)? {
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// Runs the opening handshake as far as the input received allows,
    /// answering as [`poll_message`](Self::poll_message) does but taking no
    /// WebSocket event: those stay for `poll_message`. True once the
    /// connection is open.
    pub fn poll_handshake(&mut self) -> Result<bool, Error> {
        while !self.is_open() {
            let Some(ev) = self.poll_event()? else {
                return Ok(false);
            };
            self.answer(ev)?;
        }
        Ok(true)
    }

    /// Answers a handshake event; a WebSocket event is handed back.
    fn answer(&mut self, ev: SessionEvent) -> Result<Option<Event>, Error> {
        if let SessionEvent::Ws(ev) = ev {
            return Ok(Some(ev));
        }
        let now = self.now();
        if let Some(refusal) = self.forwarded_client(&ev) {
            log::info!("{:?}: refused: {refusal:?}", self.peer);
            let r = match ev {
                SessionEvent::Upgrade(_) => self.session.reject(refusal.response()),
                _ => self.session.respond(now, refusal.response()),
            };
            return r.map(|_| None).map_err(|e| self.err(e));
        }
        let over_budget = matches!(ev, SessionEvent::Upgrade(_)) && self.over_budget();
        let policy = self.policy.as_deref().unwrap_or(&policy::DEFAULT);
        let r = match ev {
            SessionEvent::Upgrade(_) if over_budget => {
                let refuse = Response::new(503).header("Retry-After", "5");
                self.session.reject(refuse)
            }
            SessionEvent::Upgrade(req) => match policy.upgrade(&req, self.peer) {
                Ok(accept) => {
                    if let Some(c) = policy.connection_config(&req, &accept) {
                        self.session
                            .set_connection_config(c)
                            .map_err(|e| self.err(e))?;
                    }
                    let mut rng = rand::rng();
                    self.session.accept(now, accept, &mut rng).map(|_| ())
                }
                Err(response) => self.session.reject(response),
            },
            SessionEvent::Request(req) => {
                let (response, body) = policy.request_streamed(&req);
                let r = self.session.respond(now, response);
                if let (true, Some(body)) = (r.is_ok(), body) {
                    self.extra().body = Some(body);
                }
                r
            }
            SessionEvent::Redirect { status, location } => {
                let e = ErrorKind::Redirect { status, location };
                return Err(Error::from(e).with_peer(self.peer));
            }
            SessionEvent::Rejected(res) => {
                let e = ErrorKind::Rejected(res.status);
                return Err(Error::from(e).with_peer(self.peer));
            }
            _ => Ok(()),
        };
        r.map_err(|e| self.err(e))?;
        Ok(None)
    }

    /// On a connection from a trusted proxy: makes the client a request
    /// names the peer, or says why it is refused.
    fn forwarded_client(&mut self, ev: &SessionEvent) -> Option<crate::forwarded::Refusal> {
        let fwd = self.extra.as_deref()?.forwarded.as_ref()?;
        let headers = match ev {
            SessionEvent::Upgrade(req) => &req.headers,
            SessionEvent::Request(req) => &req.headers,
            _ => return None,
        };
        match fwd.client(headers) {
            Ok(client) => {
                if self.peer != Some(client) {
                    log::debug!("{}: forwarded for {client}", fwd.proxy);
                    self.set_peer(client);
                }
                None
            }
            Err(refusal) => Some(refusal),
        }
    }

    /// Over the memory budget's hard limit: count and refuse an upgrade.
    fn over_budget(&self) -> bool {
        let Some(b) = self.budget.as_ref().map(Ticket::budget) else {
            return false;
        };
        if !b.over_hard() {
            return false;
        }
        b.note_refused();
        log::warn!(
            "{:?}: upgrade refused (503), over the memory budget",
            self.peer
        );
        true
    }

    /// True once the handshake is done and the connection is open.
    pub fn is_open(&self) -> bool {
        self.session.connection().is_some()
    }

    /// Handles the timers due now; true if one fired (then poll events
    /// and write again before waiting).
    pub fn handle_timers(&mut self) -> bool {
        let now = self.now();
        let due = self.fire_session_timers(now);
        // The application's timer is reported by the turn's poll.
        let app = self.turn.app_timer.get().is_some_and(|t| t <= now);
        // An idle large holder looks at the budget on its check deadline.
        if self.budget.as_ref().is_some_and(Ticket::is_large) {
            self.account();
        }
        due || app
    }

    /// Fires the session's timers if one is due at `now`; true if so.
    fn fire_session_timers(&mut self, now: Instant) -> bool {
        let due = self.session.poll_timeout().is_some_and(|t| t <= now);
        if due {
            self.session.handle_timeout(now);
        }
        due
    }

    /// For a task waiting for its output to go out (the stream is full)
    /// while perhaps no task turns the connection: one task that receives
    /// and then sends, as an echo does, sits in its send. Serves the
    /// session's timers due now, so the write timeout (RFC 6455 §7.1.1's
    /// "close at once" for a peer that stopped reading) ends the wait
    /// instead of holding the task for good; the application's own timer
    /// and the budget are left to the turn.
    ///
    /// `Err` once the connection failed (the error it failed with) or gave
    /// up on flushing its output; else whether a timer fired (then the
    /// receiving task has something to do) and the session's next
    /// deadline.
    #[cfg(any(
        feature = "smol",
        feature = "tokio",
        all(feature = "uring", target_os = "linux")
    ))]
    pub(crate) fn serve_blocked_write(&mut self) -> Result<(bool, Option<Instant>), Error> {
        let fired = self.fire_session_timers(self.now());
        if let Some(e) = self.session.connection().and_then(|c| c.error()) {
            return Err(self.err(e.clone()));
        }
        if self.wants_close() {
            return Err(self.err(ErrorKind::Closed));
        }
        Ok((fired, self.session.poll_timeout()))
    }

    /// The next deadline, if any: wake then and call
    /// [`handle_timers`](Self::handle_timers).
    ///
    /// While [`may_read`](Self::may_read) is false this is at most
    /// [`PAUSE_RETRY`] away, so a paused connection asks again.
    #[must_use]
    pub fn poll_deadline(&self) -> Option<Instant> {
        let t = match (self.session.poll_timeout(), self.turn.app_timer.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let check = match &self.budget {
            // A large holder looks at the budget now and then even when
            // idle: it may have become the one to shed, or be paused.
            Some(_) if !self.may_read() => PAUSE_RETRY,
            Some(ticket) if ticket.is_large() => BUDGET_CHECK,
            _ => return t,
        };
        let at = self.now() + check;
        Some(t.map_or(at, |t| t.min(at)))
    }

    /// True when the socket should be closed now: the session is done (and
    /// its output flushed), the stream ended, or a layer failed. A session
    /// that asks to close with its own output still queued gave up on
    /// flushing (the write or close timeout: the peer stopped reading), so
    /// the socket is closed with that output unsent.
    #[must_use]
    #[inline]
    pub fn wants_close(&self) -> bool {
        if self.failed && self.session.pending_transmit() == 0 {
            return true;
        }
        self.session.wants_close()
            && (self.pending_write() == 0 || self.session.pending_transmit() > 0)
    }

    /// Queues a TLS `close_notify` (if TLS is on); call before the last
    /// [`write_to`](Self::write_to).
    pub fn close_notify(&mut self) {
        if let Some(l) = self.layers.as_deref_mut() {
            l.close_notify();
        }
    }

    fn conn(&mut self) -> Result<&mut ws_proto::Connection, Error> {
        let peer = self.peer;
        self.session
            .connection_mut()
            .ok_or_else(|| Error::from(ErrorKind::Closed).with_peer(peer))
    }

    /// Queues `msg` (see [`Connection::send`](ws_proto::Connection::send)).
    pub fn send(&mut self, msg: ws_proto::Message) -> Result<(), Error> {
        let (peer, now) = (self.peer, self.now());
        self.conn()?
            .send(now, msg)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_text(text)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_binary(data)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a text message from a borrowed string, copied (see
    /// [`Connection::send_text_slice`](ws_proto::Connection::send_text_slice):
    /// a small message allocates nothing).
    pub fn send_text_slice(&mut self, text: &str) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_text_slice(text)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a binary message from a borrowed slice, copied.
    pub fn send_binary_slice(&mut self, data: &[u8]) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_binary_slice(data)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues one part of a message sent in parts (RFC 6455 §5.4): the first
    /// call starts a message of `kind`, `fin` ends it.
    pub fn send_fragment(
        &mut self,
        kind: ws_proto::MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_fragment(kind, data, fin)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_ping(payload)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues an unsolicited pong (a heartbeat, or the answer when
    /// `auto_pong` is off; payload at most 125 bytes).
    pub fn send_pong(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_pong(payload)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a message prepared for many connections (a broadcast: the
    /// extensions' encoding is shared where it can be, see
    /// [`Connection::send_prepared`](ws_proto::Connection::send_prepared)).
    pub fn send_prepared(&mut self, msg: &mut ws_proto::Prepared) -> Result<(), Error> {
        let peer = self.peer;
        self.conn()?
            .send_prepared(msg)
            .map_err(|e| Error::from(e).with_peer(peer))
    }

    /// Queues a close frame (the closing handshake starts).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let (peer, now) = (self.peer, self.clock_now());
        self.conn()?
            .close(now, code, reason)
            .map_err(|e| Error::from(e).with_peer(peer))
    }
}

#[cfg(feature = "tracing")]
fn role_name(s: &Session) -> &'static str {
    match s.role() {
        http_upgrade::Role::Client => "client",
        http_upgrade::Role::Server => "server",
    }
}

/// Errors by which a peer abruptly ends the stream.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// How much the adapters' driver reads straight into `conn`'s receive
/// buffer with [`Connection::recv_into`](ws_proto::Connection::recv_into),
/// 0 to read into a scratch buffer and
/// [`receive`](ws_proto::Connection::receive) instead; `streaming`: the
/// last read filled all it was given. For a loop of your own over a
/// transport that reads into uninitialized memory.
///
/// In the middle of a large frame, what it still needs (up to
/// [`MAX_LEND`]); between frames, the room a busy connection kept from its
/// last messages when it is at least 1 KiB; and up to
/// `MAX_LEND` in all while input streams in. Reads end where frames do
/// when frames keep one size: a read that ends inside a frame leaves its
/// start to be moved to the front of the next buffer.
pub fn in_place_read_size(conn: &mut ws_proto::Connection, streaming: bool) -> usize {
    let expected =
        usize::try_from(conn.frame_bytes_expected()).map_or(MAX_LEND, |e| e.min(MAX_LEND));
    // The common case of small messages first: no large frame in
    // progress, input not streaming, and no large room kept.
    let room = conn.recv_room().min(MAX_LEND);
    let n = if expected as u64 >= ZERO_COPY_MIN {
        expected.max(room)
    } else if room >= KEPT_ROOM_MIN {
        room
    } else if streaming {
        // The buffer stays at `MAX_LEND` in all: a 16 KiB message is a
        // quarter of it and handed out without a copy (see
        // `Connection::take_rx`).
        MAX_LEND
            .saturating_sub(conn.buffered_receive())
            .max(SCRATCH)
    } else {
        return 0;
    };
    frame_aligned(n, expected, conn.buffered_receive(), conn.last_frame_len())
}

/// A read of up to `n` bytes into the connection's buffer, shortened to end
/// where a frame ends if frames keep the size of the last one (`frame`
/// wire bytes, large: from [`ZERO_COPY_MIN`] to half of [`MAX_LEND`]): the
/// frame in progress (`expected` bytes still to come), or between frames
/// the next one (`held` bytes of it here), then as many whole frames as
/// fit. A read that ends inside a frame leaves its start at the end of
/// the buffer, to be moved to the front of the next one: for a stream of
/// 16 KiB frames read 64 KiB at a time, nearly a whole frame every three.
/// When frames vary, a read is at most one frame shorter than it could be.
fn frame_aligned(n: usize, expected: usize, held: usize, frame: usize) -> usize {
    if !(ZERO_COPY_MIN as usize..=MAX_LEND / 2).contains(&frame) {
        return n;
    }
    let first = if expected > 0 {
        expected
    } else {
        match frame.checked_sub(held) {
            Some(f) if f > 0 => f,
            _ => return n,
        }
    };
    if first > n {
        return n;
    }
    first + (n - first) / frame * frame
}

/// Calls `write` once, turning `Ok(0)` into `WriteZero` and retrying
/// interruptions.
pub(crate) fn write_some(
    write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    slices: &[IoSlice<'_>],
) -> io::Result<usize> {
    loop {
        match write(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// The session's output, vectored and without copies.
pub(crate) fn write_session(
    session: &mut Session,
    write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<()> {
    // Once the session adds nothing to its connection (the usual case),
    // the connection's queue directly: no dispatch on the session's stage
    // for each of the calls below.
    match session.connection_direct() {
        Some(c) => drain_output(c, write),
        None => drain_output(session, write),
    }
}

/// Queued output as [`write_session`] drains it: a session's, or its open
/// connection's.
trait Output {
    fn pending(&self) -> usize;
    fn contiguous(&self) -> Option<&[u8]>;
    fn fill<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize;
    fn advance(&mut self, n: usize);
}

/// Both have the same four calls under these names.
macro_rules! output_of {
    ($($t:ty),*) => {$(
        impl Output for $t {
            fn pending(&self) -> usize {
                self.pending_transmit()
            }
            fn contiguous(&self) -> Option<&[u8]> {
                self.contiguous_transmit()
            }
            fn fill<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
                self.fill_io_slices(out)
            }
            fn advance(&mut self, n: usize) {
                self.advance_transmit(n);
            }
        }
    )*};
}
output_of!(Session, ws_proto::Connection);

fn drain_output(
    out: &mut impl Output,
    write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<()> {
    while out.pending() > 0 {
        // Small frames only (a busy connection's usual output): one slice.
        let n = match out.contiguous() {
            Some(one) => write_some(write, &[IoSlice::new(one)])?,
            None => {
                let mut slices = [IoSlice::new(&[]); 16];
                let k = out.fill(&mut slices);
                write_some(write, slices.get(..k).unwrap_or_default())?
            }
        };
        out.advance(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_upgrade::{Accept, ClientRequest, ServerConfig};
    use ws_proto::session::{Session, SessionConfig, SessionEvent};
    use ws_proto::{CloseCode, State};

    use super::*;

    /// Reads end where frames of the last frame's size would: after the
    /// frame in progress, or between frames after the next one, plus
    /// whole frames; unchanged when the frame size is out of range or the
    /// frame in progress does not fit.
    #[test]
    fn frame_aligned_reads_end_on_frame_boundaries() {
        let f = 16 * 1024 + 8;
        // Between frames, nothing held: three whole frames in 64 KiB.
        assert_eq!(frame_aligned(MAX_LEND, 0, 0, f), 3 * f);
        // 10 bytes of the next frame's header held.
        assert_eq!(frame_aligned(MAX_LEND - 10, 0, 10, f), 3 * f - 10);
        // In a frame, 100 bytes to come: those, then whole frames.
        assert_eq!(frame_aligned(MAX_LEND, 100, 0, f), 100 + 3 * f);
        // The frame in progress needs more than the read: the read.
        assert_eq!(frame_aligned(1000, 5000, 0, f), 1000);
        // Small or very large frames: the read as it was.
        assert_eq!(frame_aligned(MAX_LEND, 0, 0, 1000), MAX_LEND);
        assert_eq!(frame_aligned(MAX_LEND, 0, 0, 40_000), MAX_LEND);
        assert_eq!(frame_aligned(MAX_LEND, 0, 0, 0), MAX_LEND);
        // Held bytes of a whole frame (not polled yet): the read as it was.
        assert_eq!(frame_aligned(MAX_LEND - f, 0, f, f), MAX_LEND - f);
    }

    /// A transport that hands out queued chunks (a chunk at most per read,
    /// `WouldBlock` when none is queued) and logs every read: into the
    /// connection's buffer or not, and the room it was given.
    #[derive(Default)]
    struct Chunks {
        queued: std::collections::VecDeque<Vec<u8>>,
        reads: Vec<(bool, usize)>,
    }

    impl Chunks {
        fn take(&mut self, room: usize) -> io::Result<Vec<u8>> {
            let Some(mut c) = self.queued.pop_front() else {
                return Err(io::ErrorKind::WouldBlock.into());
            };
            if c.len() > room {
                self.queued.push_front(c.split_off(room));
            }
            Ok(c)
        }
    }

    impl crate::Transport for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads.push((false, buf.len()));
            let c = self.take(buf.len())?;
            buf[..c.len()].copy_from_slice(&c);
            Ok(c.len())
        }
        fn reads_uninit(&self) -> bool {
            true
        }
        fn read_uninit<'a>(
            &mut self,
            buf: &'a mut [std::mem::MaybeUninit<u8>],
        ) -> io::Result<&'a mut [u8]> {
            self.reads.push((true, buf.len()));
            let c = self.take(buf.len())?;
            let filled = &mut buf[..c.len()];
            for (d, s) in filled.iter_mut().zip(&c) {
                d.write(*s);
            }
            // SAFETY: every byte of `filled` was written just above.
            #[allow(unsafe_code)]
            Ok(unsafe { &mut *(std::ptr::from_mut(filled) as *mut [u8]) })
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            Ok(bufs.iter().map(|b| b.len()).sum())
        }
        fn short_read_drains(&self) -> bool {
            true
        }
    }

    /// A busy connection's small messages are read straight into the room
    /// its receive buffer kept (no copy out of the scratch buffer), and a
    /// burst larger than that room still arrives whole and in order.
    #[test]
    fn small_messages_are_read_into_the_kept_room() {
        let (mut client, server, clock) = open_pair();
        let mut d = Driver::new(server, clock, None);
        let mut io = Chunks::default();
        let mut scratch = vec![0u8; SCRATCH];
        let frame = |client: &mut Session, payload: Vec<u8>| {
            let conn = client.connection_mut().unwrap();
            conn.send_binary(payload).unwrap();
            let mut wire = Vec::new();
            assert!(client.poll_transmit(&mut wire) > 0);
            wire
        };
        let mut received = Vec::new();
        let mut turn_until_wait = |d: &mut Driver, io: &mut Chunks, received: &mut Vec<Bytes>| loop {
            d.note_readable();
            match d.turn(io, &mut scratch).unwrap() {
                crate::Turn::Event(Event::Binary(b)) => received.push(b),
                crate::Turn::Event(e) => panic!("unexpected {e:?}"),
                crate::Turn::Wait(_) => return,
                crate::Turn::Closed => panic!("closed"),
            }
        };
        // One message at a time, as an echo client sends them.
        for i in 0..20u8 {
            io.queued.push_back(frame(&mut client, vec![i; 20]));
            turn_until_wait(&mut d, &mut io, &mut received);
        }
        let direct: Vec<usize> = io.reads.iter().filter(|r| r.0).map(|r| r.1).collect();
        assert!(
            direct.len() >= 15,
            "most small reads should go into the kept room: {:?}",
            io.reads
        );
        assert!(
            direct
                .iter()
                .all(|&n| (KEPT_ROOM_MIN..SCRATCH).contains(&n)),
            "{direct:?}"
        );
        // A burst of 100 messages, 10 KiB in all, larger than the room.
        let burst: Vec<u8> = (0..100u8)
            .flat_map(|i| frame(&mut client, vec![i; 100]))
            .collect();
        io.queued.push_back(burst);
        turn_until_wait(&mut d, &mut io, &mut received);
        assert_eq!(received.len(), 120);
        for (i, m) in received.iter().enumerate() {
            let (byte, len) = if i < 20 { (i, 20) } else { (i - 20, 100) };
            assert_eq!(&m[..], &vec![byte as u8; len][..], "message {i}");
        }
    }

    /// A server session opened in memory, then closed by its client.
    fn closed_server() -> Session {
        let (mut client, mut server, clock) = open_pair();
        let conn = client.connection_mut().unwrap();
        conn.close(clock.now(), CloseCode::NORMAL, "").unwrap();
        let mut wire = Vec::new();
        assert!(client.poll_transmit(&mut wire) > 0);
        server.receive(clock.now(), &wire).unwrap();
        while server.poll_event().unwrap().is_some() {}
        server
    }

    /// A client and a server session opened in memory.
    fn open_pair() -> (Session, Session, Clock) {
        let clock = Clock::new();
        let config = Arc::new(SessionConfig::default());
        let req = ClientRequest::new("ws://localhost/").unwrap();
        let mut client =
            Session::client(req, config.clone(), crate::mask_rng(), clock.now()).unwrap();
        let mut server = Session::server(Arc::new(ServerConfig::default()), config, clock.now());
        let mut wire = Vec::new();
        assert!(client.poll_transmit(&mut wire) > 0);
        server.receive(clock.now(), &wire).unwrap();
        let Some(SessionEvent::Upgrade(up)) = server.poll_event().unwrap() else {
            panic!()
        };
        server
            .accept(clock.now(), Accept::for_request(&up), &mut rand::rng())
            .unwrap();
        wire.clear();
        assert!(server.poll_transmit(&mut wire) > 0);
        client.receive(clock.now(), &wire).unwrap();
        while client.poll_event().unwrap().is_some() {}
        while server.poll_event().unwrap().is_some() {}
        (client, server, clock)
    }

    /// A peer that stops reading: once the write timeout gives up on the
    /// output (RFC 6455 §7.1.1 close at once), the driver closes the socket
    /// with the output unsent, instead of waiting for a flush that never
    /// comes (found by `ws_proto::sim`).
    #[test]
    fn a_write_stalled_session_is_closed_with_its_output_unsent() {
        let (_client, mut server, clock) = open_pair();
        let conn = server.connection_mut().unwrap();
        conn.send_binary(vec![0u8; 4000]).unwrap();
        let write_timeout = conn.config().write_timeout.unwrap();
        let mut d = Driver::new(server, clock, None);
        assert!(!d.wants_close());
        let mut t = clock.now();
        for _ in 0..3 {
            t = t + write_timeout;
            d.session_mut().handle_timeout(t);
        }
        assert!(d.session().pending_transmit() > 0);
        assert!(d.wants_close());
    }

    /// A reset after the closing handshake (Autobahn's fuzzing server aborts
    /// TCP that way) is the end of the stream; before it, an error.
    #[test]
    fn reset_after_close_is_end_of_stream() {
        let reset = |_: &mut [u8]| Err::<usize, _>(io::Error::from(io::ErrorKind::ConnectionReset));
        let mut scratch = [0u8; 64];

        let mut d = Driver::new(closed_server(), Clock::new(), None);
        assert_eq!(d.session.connection().unwrap().state(), State::Closed);
        assert_eq!(d.read_from(&mut scratch, reset).unwrap(), 0);
        assert!(d.eof);

        // A session not yet closed (here: a client mid-handshake): an error.
        let clock = Clock::new();
        let req = ClientRequest::new("ws://localhost/").unwrap();
        let config = Arc::new(SessionConfig::default());
        let open = Session::client(req, config, crate::mask_rng(), clock.now()).unwrap();
        let mut d = Driver::new(open, Clock::new(), None);
        let e = d.read_from(&mut scratch, reset).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }
}

//! The async driver shared by the smol and tokio adapters: one poll loop
//! over a [`Driver`] ([`Driver::turn`]) on any byte stream a runtime can
//! poll ([`AsyncStream`]): a TCP socket, a TLS stream, hyper's `Upgraded`,
//! a Unix socket, an in-memory pipe. A runtime module only wraps its
//! stream traits and its timer, accepts and connects.
//!
//! [`AsyncWebSocket`] is a `futures` [`Stream`] of events and a [`Sink`] of
//! [`Message`]s; [`split`](AsyncWebSocket::split) gives owned halves for
//! two tasks.
//!
//! # Waking two tasks on one stream
//!
//! A stream keeps one waker per direction, so when two tasks both wait for
//! it to become writable (the reading task flushing a pong or a close
//! echo, the writing task its messages), the second registration would
//! replace the first and leave that task asleep for good (the bug of
//! tokio-websockets #92/#106). Writes and flushes are therefore polled with
//! a waker of the connection's own that wakes every task waiting to write.
//!
//! # Cancel safety
//!
//! Every future here may be dropped at any await point (in `select!`, a
//! timeout) without losing or duplicating a byte: an event is taken out of
//! the session only in the poll that returns it; a send queues its message
//! in full when first polled, and what is queued is written by the next
//! flush, send or turn of either half whether or not the future that
//! queued it is still there. `adapters/tests/async_streams.rs` checks both.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker, ready};

use futures_core::Stream;
use futures_sink::Sink;
use http_upgrade::Handshake;
use ws_proto::{Bytes, CloseCode, Event, Instant, Message, Utf8Bytes};

use crate::admission::Slot;
use crate::driver::with_scratch;
use crate::{Driver, Error, ErrorKind, Transport, Turn};

/// A byte stream as a runtime polls it, plus the runtime's timer: what
/// [`AsyncWebSocket`] runs over. The `tokio` and `smol` modules implement
/// it for any stream of their runtime's I/O traits (`tokio::io` /
/// `futures_io`); implement it for another runtime.
pub trait AsyncStream: Unpin + Send + 'static {
    /// The runtime's timer future.
    type Sleep: Future + Send;
    /// Reads into `buf`; `Ready(Ok(0))` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// True if [`poll_read_uninit`](Self::poll_read_uninit) works: the
    /// driver may then read large messages straight into the connection's
    /// receive buffer (see [`Transport::read_uninit`]). Default: false.
    fn reads_uninit(&self) -> bool {
        false
    }
    /// Reads into `buf`, which need not be initialized, and returns the
    /// filled prefix (empty: end of stream). Called only if
    /// [`reads_uninit`](Self::reads_uninit).
    fn poll_read_uninit<'a>(
        &mut self,
        cx: &mut Context<'_>,
        buf: &'a mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<&'a mut [u8]>> {
        let _ = (cx, buf);
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
    /// Writes from `bufs`.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Pushes out what the stream buffers (a TLS stream's records).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ends the stream for writing (TCP `FIN`, TLS `close_notify`).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// A timer firing at `at`.
    fn sleep_until(at: std::time::Instant) -> Self::Sleep;
    /// Polls the timer. A `Pending` answer must mean the timer will wake
    /// `cx`'s waker when it fires (a runtime's cooperative budget must not
    /// make it return `Pending` without registering): see
    /// [`sleep_waits`](Self::sleep_waits). Default: polls it.
    fn poll_sleep(sleep: Pin<&mut Self::Sleep>, cx: &mut Context<'_>) -> Poll<()>
    where
        Self: Sized,
    {
        sleep.poll(cx).map(drop)
    }
    /// True if `sleep`, polled `Pending` before, has not fired since: it
    /// will wake the waker it was polled with, so a connection whose wait
    /// ends on the same timer with the same waker need not poll it again.
    /// Default: false (always poll again).
    fn sleep_waits(sleep: &Self::Sleep) -> bool
    where
        Self: Sized,
    {
        let _ = sleep;
        false
    }
    /// Runs `write` (a push's write, made outside the connection's own
    /// task, perhaps for many connections in a row) free of the runtime's
    /// cooperative budget, if it has one: tokio's would otherwise make
    /// every write after the 128th of a task's poll return `Pending`, and
    /// each of those connections' tasks be woken to do it. Default: calls
    /// it.
    fn write_unbudgeted(
        write: &mut dyn FnMut() -> Poll<Result<(), Error>>,
    ) -> Poll<Result<(), Error>>
    where
        Self: Sized,
    {
        write()
    }
}

/// The tasks waiting for the stream to take output; the stream is given a
/// waker that wakes them all.
#[derive(Default)]
struct Writers(Mutex<Vec<Waker>>);

impl Writers {
    fn register(&self, w: &Waker) {
        let mut tasks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !tasks.iter().any(|t| t.will_wake(w)) {
            tasks.push(w.clone());
        }
    }
}

impl Wake for Writers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let tasks = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            t.wake();
        }
    }
}

/// One connection: the driver and the stream under one lock (never held
/// across a wait).
struct State<S: AsyncStream> {
    driver: Driver,
    /// The stream; dropped (closing it) as soon as the connection ends,
    /// whatever handles to it remain.
    io: Option<S>,
    /// Output was written since the stream was last flushed.
    unflushed: bool,
    /// The stream is shut down or failed: nothing more is read or written.
    done: bool,
    /// The timer of tasks waiting for their output to go out
    /// ([`Shared::poll_write_out`]): the session's next deadline.
    write_timer: Option<(Instant, Pin<Box<S::Sleep>>)>,
    _slot: Option<Slot>,
}

impl<S: AsyncStream> State<S> {
    /// The connection is over: nothing more is read or written, and the
    /// stream is dropped now (not when the last handle goes).
    fn end(&mut self) {
        self.done = true;
        self.io = None;
    }
}

/// A push that found the connection busy (its own callback pushing to
/// itself, or another thread inside it), for its task to send.
enum Pushed {
    Message(Message),
    Prepared(crate::push::SharedPrepared),
}

struct Shared<S: AsyncStream> {
    state: Mutex<State<S>>,
    writers: Arc<Writers>,
    /// Wakes every task in `writers` (built once).
    write_waker: Waker,
    /// The task that turns the connection (its last poll), woken to send
    /// and write what a push could not.
    task: atomic_waker::AtomicWaker,
    /// Pushes waiting for the task, in order; `pushed` says there are.
    inbox: Mutex<Vec<Pushed>>,
    pushed: AtomicBool,
    /// What push handles read without the lock, as of the last turn or
    /// push: bytes queued, and whether data can still be sent.
    queued: AtomicUsize,
    closed: AtomicBool,
    high_water: usize,
}

impl<S: AsyncStream> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Polls a write-side operation of the stream for the task of `cx`: with
/// the connection's waker that wakes every writing task, registering this
/// one; after registering, the operation is tried once more, so readiness
/// that came in between is not missed.
fn poll_writer<T>(
    writers: &Writers,
    write_waker: &Waker,
    cx: &Context<'_>,
    mut op: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    let mut wcx = Context::from_waker(write_waker);
    if let Poll::Ready(r) = op(&mut wcx) {
        return Poll::Ready(r);
    }
    writers.register(cx.waker());
    op(&mut wcx)
}

/// The stream as the drive loop's [`Transport`] within one poll:
/// `Pending` is `WouldBlock` (the waker is registered by then).
struct PollIo<'a, 'b, S> {
    io: &'a mut S,
    cx: &'a mut Context<'b>,
    writers: &'a Writers,
    write_waker: &'a Waker,
    wrote: bool,
}

fn pending<T>(p: Poll<io::Result<T>>) -> io::Result<T> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl<S: AsyncStream> Transport for PollIo<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        pending(self.io.poll_read(self.cx, buf))
    }
    fn reads_uninit(&self) -> bool {
        self.io.reads_uninit()
    }
    fn read_uninit<'a>(
        &mut self,
        buf: &'a mut [std::mem::MaybeUninit<u8>],
    ) -> io::Result<&'a mut [u8]> {
        pending(self.io.poll_read_uninit(self.cx, buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let io = &mut *self.io;
        let n = pending(poll_writer(self.writers, self.write_waker, self.cx, |cx| {
            io.poll_write_vectored(cx, bufs)
        }))?;
        self.wrote = true;
        Ok(n)
    }
}

impl<S: AsyncStream> Shared<S> {
    /// Writes what is queued and flushes the stream; `Pending` while it is
    /// full.
    ///
    /// While it is full the task also serves the session's timers: it may
    /// be the only one (a task that receives and then sends, as an echo
    /// does, is here and not receiving), and a peer that stopped reading
    /// must not hold it past the write timeout. The send then fails with
    /// the connection's error ([`TimeoutError::WriteStalled`]), and the
    /// receiving task, woken, ends the connection.
    ///
    /// [`TimeoutError::WriteStalled`]: ws_proto::TimeoutError::WriteStalled
    fn poll_write_out(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_out_locked(&mut self.lock(), cx)
    }

    /// A send's poll: on the first (`queue` still there) the message is
    /// queued and the write tried under the same lock, one lock per
    /// message where queueing and writing separately take two; later
    /// polls only write ([`poll_write_out`](Self::poll_write_out)).
    fn poll_send(
        &self,
        queue: &mut Option<impl FnOnce(&mut Driver) -> Result<(), Error>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let mut st = self.lock();
        if let Some(f) = queue.take() {
            let r = f(&mut st.driver);
            self.mirror(&st);
            r?;
        }
        self.poll_write_out_locked(&mut st, cx)
    }

    /// [`poll_write_out`](Self::poll_write_out) with the lock held.
    fn poll_write_out_locked(
        &self,
        st: &mut State<S>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        loop {
            if let Poll::Ready(r) = self.write_out(st, cx) {
                // Nothing waits any more: the timer goes with the wait.
                st.write_timer = None;
                return Poll::Ready(r);
            }
            let (fired, next) = match st.driver.serve_blocked_write() {
                Ok(served) => served,
                Err(e) => {
                    self.wake_task();
                    return Poll::Ready(Err(e));
                }
            };
            if fired {
                // A ping queued, a close started: the turn's to handle.
                self.wake_task();
            }
            let Some(at) = next else {
                st.write_timer = None;
                return Poll::Pending;
            };
            // One timer for every waiting task, polled with the waker
            // that wakes them all (each registered by its write).
            if st
                .write_timer
                .as_ref()
                .is_none_or(|(armed, _)| *armed != at)
            {
                let when = st.driver.clock().to_std(at);
                st.write_timer = Some((at, Box::pin(S::sleep_until(when))));
            }
            self.writers.register(cx.waker());
            let mut wcx = Context::from_waker(&self.write_waker);
            let fired = st
                .write_timer
                .as_mut()
                .is_some_and(|(_, t)| t.as_mut().poll(&mut wcx).is_ready());
            if !fired {
                return Poll::Pending;
            }
            st.write_timer = None;
        }
    }

    /// [`poll_write_out`](Self::poll_write_out) under the lock.
    fn write_out(&self, st: &mut State<S>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if st.done {
            return if st.driver.pending_write() == 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err(
                    Error::from(ErrorKind::Closed).with_peer(st.driver.peer())
                ))
            };
        }
        let Some(stream) = st.io.as_mut() else {
            return Poll::Ready(Err(ErrorKind::Closed.into()));
        };
        let mut io = PollIo {
            io: stream,
            cx,
            writers: &self.writers,
            write_waker: &self.write_waker,
            wrote: false,
        };
        let r = st.driver.write_to(|b| io.write_vectored(b));
        st.unflushed |= io.wrote;
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(Self::failed(st, e))),
        }
        match Self::poll_stream_flush(&self.writers, &self.write_waker, st, cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(Self::failed(st, e))),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_stream_flush(
        writers: &Writers,
        write_waker: &Waker,
        st: &mut State<S>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !st.unflushed {
            return Poll::Ready(Ok(()));
        }
        let Some(io) = st.io.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        ready!(poll_writer(writers, write_waker, cx, |cx| io.poll_flush(cx)))?;
        st.unflushed = false;
        Poll::Ready(Ok(()))
    }

    fn failed(st: &mut State<S>, e: io::Error) -> Error {
        st.end();
        Error::from(e).with_peer(st.driver.peer())
    }

    fn queue(&self, f: impl FnOnce(&mut Driver) -> Result<(), Error>) -> Result<(), Error> {
        let mut st = self.lock();
        let r = f(&mut st.driver);
        self.mirror(&st);
        r
    }

    /// Queues from outside the connection's task, without waiting: what
    /// the stream takes now is written now; the rest is written by the
    /// connection's task, registered to be woken when the stream can take
    /// more.
    ///
    /// A push never blocks on the connection's lock: when it is held (the
    /// connection's own callback pushing to itself, a broadcast from
    /// inside it, another thread sending), the message goes to the inbox
    /// the task sends from before its next turn; once anything waits there
    /// every push goes there, so one pusher's messages keep their order.
    fn push(&self, msg: Pushed) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ErrorKind::Closed.into());
        }
        let mut st = match self.pushed.load(Ordering::Acquire) {
            true => None,
            false => self.state.try_lock().ok(),
        };
        let Some(st) = st.as_deref_mut() else {
            self.inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(msg);
            self.pushed.store(true, Ordering::Release);
            self.wake_task();
            return Ok(());
        };
        if st.done {
            return Err(Error::from(ErrorKind::Closed).with_peer(st.driver.peer()));
        }
        match msg {
            Pushed::Message(m) => st.driver.send(m)?,
            Pushed::Prepared(p) => crate::push::send_shared(&mut st.driver, &p)?,
        }
        // What the stream takes now goes now; for the rest the task turns
        // (and waits for the stream itself).
        let mut write = || self.write_out(st, &mut Context::from_waker(Waker::noop()));
        let r = match S::write_unbudgeted(&mut write) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                self.wake_task();
                Ok(())
            }
        };
        self.mirror(st);
        r
    }

    fn wake_task(&self) {
        self.task.wake();
    }

    /// Sends what waits in the inbox (under the lock, in the task).
    fn drain_inbox(&self, st: &mut State<S>) {
        if !self.pushed.load(Ordering::Acquire) {
            return;
        }
        let pushed = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        self.pushed.store(false, Ordering::Release);
        for msg in pushed {
            let r = match msg {
                Pushed::Message(m) => st.driver.send(m),
                Pushed::Prepared(p) => crate::push::send_shared(&mut st.driver, &p),
            };
            if let Err(e) = r {
                log::debug!("{:?}: pushed message refused: {e}", st.driver.peer());
            }
        }
    }

    /// Updates what push handles read without the lock.
    fn mirror(&self, st: &State<S>) {
        let d = &st.driver;
        self.queued.store(d.pending_write(), Ordering::Release);
        let closing = d
            .session()
            .connection()
            .is_some_and(|c| c.state() != ws_proto::State::Open);
        if st.done || closing {
            self.closed.store(true, Ordering::Release);
        }
    }

    /// Sink readiness: output under the high-water mark (else flushes).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        {
            let st = self.lock();
            if st.driver.pending_write() <= st.driver.turn.high_water {
                return Poll::Ready(Ok(()));
            }
        }
        self.poll_write_out(cx)
    }

    /// Sink close: a close frame with 1000 if the closing handshake has
    /// not started, then everything flushed.
    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        {
            let mut st = self.lock();
            let open = st
                .driver
                .session()
                .connection()
                .is_some_and(|c| c.state() == ws_proto::State::Open);
            if open && !st.done {
                st.driver.close(CloseCode::NORMAL, "")?;
            }
        }
        self.poll_write_out(cx)
    }
}

/// The send methods of the whole socket and the write half, on their
/// shared state.
macro_rules! send_methods {
    () => {
        async fn send_with(
            &self,
            f: impl FnOnce(&mut Driver) -> Result<(), Error>,
        ) -> Result<(), Error> {
            let mut queue = Some(f);
            poll_fn(|cx| self.shared.poll_send(&mut queue, cx)).await
        }

        /// Sends `msg` and writes it out.
        pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
            let msg = msg.into();
            self.send_with(|d| d.send(msg)).await
        }

        /// Sends a text message.
        pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
            self.send_with(|d| d.send_text(text)).await
        }

        /// Sends a binary message.
        pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), Error> {
            self.send_with(|d| d.send_binary(data)).await
        }

        /// Sends a ping.
        pub async fn send_ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
            self.send_with(|d| d.send_ping(payload)).await
        }

        /// Sends an unsolicited pong.
        pub async fn send_pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
            self.send_with(|d| d.send_pong(payload)).await
        }

        /// Sends one part of a message sent in parts (RFC 6455
        /// §5.4): the first call starts a message of `kind`, `fin` ends it.
        pub async fn send_fragment(
            &self,
            kind: ws_proto::MessageKind,
            data: impl Into<Bytes>,
            fin: bool,
        ) -> Result<(), Error> {
            self.send_with(|d| d.send_fragment(kind, data, fin)).await
        }

        /// Starts the closing handshake; keep receiving (the whole socket or
        /// the [`ReadHalf`]) until the end.
        pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
            self.send_with(|d| d.close(code, reason)).await
        }

        /// Writes what is queued.
        pub async fn flush(&self) -> Result<(), Error> {
            poll_fn(|cx| self.shared.poll_write_out(cx)).await
        }
    };
}

/// A WebSocket over an async runtime's stream (see the `smol` and `tokio`
/// modules for the concrete types and constructors).
///
/// Receive with [`recv`](Self::recv) or as a [`Stream`] of
/// `Result<Event, Error>` (it ends after the close); send with the `send_*`
/// methods or as a [`Sink`] of [`Message`]s. Receiving drives the
/// connection (pongs, close echoes, timers): keep a task receiving.
pub struct AsyncWebSocket<S: AsyncStream> {
    shared: Arc<Shared<S>>,
    sleep: Option<Armed<S>>,
}

/// The timer of a connection's waits: its deadline, and the waker its last
/// `Pending` poll registered (`None`: not polled since it was armed).
struct Armed<S: AsyncStream> {
    at: Instant,
    sleep: Pin<Box<S::Sleep>>,
    waker: Option<Waker>,
}

impl<S: AsyncStream> std::fmt::Debug for AsyncWebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWebSocket")
            .field("driver", &self.shared.lock().driver)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncStream> AsyncWebSocket<S> {
    /// Runs `driver` over `io`: a driver from
    /// [`ServerOptions::driver`](crate::ServerOptions::driver) (a server
    /// connection, handshake first), [`ClientOptions::plan`](crate::ClientOptions::plan)
    /// (a client whose request is queued), or an open session (a hosted
    /// upgrade). The `tokio` and `smol` modules have the usual
    /// constructors (`accept`, `client`, `connect`).
    pub fn from_driver(io: S, driver: Driver) -> Self {
        Self::new(io, driver, None)
    }

    pub(crate) fn new(io: S, driver: Driver, slot: Option<Slot>) -> Self {
        let writers = Arc::new(Writers::default());
        let high_water = driver.turn.high_water;
        AsyncWebSocket {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    driver,
                    io: Some(io),
                    unflushed: false,
                    done: false,
                    write_timer: None,
                    _slot: slot,
                }),
                write_waker: Waker::from(writers.clone()),
                writers,
                task: atomic_waker::AtomicWaker::new(),
                inbox: Mutex::new(Vec::new()),
                pushed: AtomicBool::new(false),
                queued: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                high_water,
            }),
            sleep: None,
        }
    }

    /// Turns the driver ([`Driver::turn`]) until it yields an event, the
    /// connection closes (`None`, after the stream is shut down) or fails;
    /// on [`Turn::Wait`] the reads and writes that would block have
    /// registered the task, a timer is armed for the deadline, and the
    /// result is `Pending`.
    fn poll_turn<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(&mut Driver, &mut PollIo<'_, '_, S>, &mut [u8]) -> Result<Turn<T>, Error>,
    ) -> Poll<Result<Option<T>, Error>> {
        let AsyncWebSocket { shared, sleep } = self;
        let shared = &**shared;
        loop {
            let mut guard = shared.lock();
            let st = &mut *guard;
            if st.done {
                return Poll::Ready(Ok(None));
            }
            shared.drain_inbox(st);
            let Some(stream) = st.io.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            let mut io = PollIo {
                io: stream,
                cx,
                writers: &shared.writers,
                write_waker: &shared.write_waker,
                wrote: false,
            };
            let turn = with_scratch(|s| step(&mut st.driver, &mut io, s));
            st.unflushed |= io.wrote;
            let wait = match turn {
                Ok(Turn::Event(ev)) => return Poll::Ready(Ok(Some(ev))),
                Ok(Turn::Wait(w)) => w,
                Ok(_) => {
                    // Closed: the last output is written; end the stream.
                    let _ = ready!(Shared::poll_stream_flush(
                        &shared.writers,
                        &shared.write_waker,
                        st,
                        cx
                    ));
                    if let Some(io) = st.io.as_mut() {
                        let _ = ready!(poll_writer(
                            &shared.writers,
                            &shared.write_waker,
                            cx,
                            |cx| io.poll_shutdown(cx)
                        ));
                    }
                    st.end();
                    shared.mirror(st);
                    return Poll::Ready(Ok(None));
                }
                Err(e) => {
                    if let Some(io) = st.io.as_mut() {
                        let _ = io.poll_shutdown(cx);
                    }
                    st.end();
                    shared.mirror(st);
                    return Poll::Ready(Err(e));
                }
            };
            if let Poll::Ready(Err(e)) =
                Shared::poll_stream_flush(&shared.writers, &shared.write_waker, st, cx)
            {
                return Poll::Ready(Err(Shared::failed(st, e)));
            }
            shared.mirror(st);
            shared.task.register(cx.waker());
            // A push that came after the inbox was drained, while no waker
            // was registered (a wake had taken it), woke nobody: look
            // again now that one is. Registering first and then looking
            // is what makes the pair race-free.
            if shared.pushed.load(Ordering::Acquire) {
                continue;
            }
            let clock = st.driver.clock();
            drop(guard);
            if let Some(t) = wait.until {
                if poll_sleep::<S>(sleep, clock, cx, t) {
                    continue;
                }
            }
            if wait.again {
                // The read budget ran out: let the executor run others.
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
    }

    /// Polls for the next [`AppEvent`](crate::AppEvent): WebSocket
    /// events and the application's timer and writable wake-ups
    /// ([`Driver::set_timer`], [`Driver::request_writable`]).
    pub fn poll_app(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<crate::AppEvent>, Error>> {
        self.poll_turn(cx, |d, io, s| d.turn_app(io, s))
    }

    /// The next [`AppEvent`](crate::AppEvent); `Ok(None)` once closed.
    pub async fn recv_app(&mut self) -> Result<Option<crate::AppEvent>, Error> {
        poll_fn(|cx| self.poll_app(cx)).await
    }

    /// A write handle (a [`WriteHalf`]: `Sink`, [`Push`](crate::Push)) to
    /// this socket, keeping the socket whole.
    pub fn handle(&self) -> WriteHalf<S> {
        WriteHalf {
            shared: self.shared.clone(),
        }
    }

    /// Polls for the next WebSocket event (the [`Stream`] and
    /// [`recv`](Self::recv) in poll form); `Ready(Ok(None))` once closed.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Event>, Error>> {
        self.poll_turn(cx, |d, io, s| d.turn(io, s))
    }

    /// Completes the opening handshake (client: after connect; server:
    /// answering by the policy, the `101` written before it returns). A
    /// redirect or rejection is an error.
    pub async fn handshake(&mut self) -> Result<(), Error> {
        let open = poll_fn(|cx| {
            // The peer's first messages stay for `recv`.
            self.poll_turn(cx, |d, io, s| d.turn_handshake(io, s))
        });
        open.await?.ok_or(ErrorKind::Closed)?;
        // A server's `101` goes out now, not with the first message.
        poll_fn(|cx| self.shared.poll_write_out(cx)).await
    }

    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    /// Server handshakes are answered by the [`Policy`](crate::Policy).
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// What the opening handshake settled (subprotocol, extensions,
    /// dialect; see [`Session::handshake`](ws_proto::session::Session::handshake)),
    /// once it is done.
    pub fn negotiated(&self) -> Option<Handshake> {
        self.with_driver(|d| d.negotiated().cloned())
    }

    /// Runs `f` on the driver core (e.g. the session, the peer address).
    pub fn with_driver<T>(&self, f: impl FnOnce(&mut Driver) -> T) -> T {
        f(&mut self.shared.lock().driver)
    }

    send_methods!();

    /// Splits into owned halves for two tasks: the read half drives the
    /// connection (pongs, close echoes, timers), the write half sends.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let shared = self.shared.clone();
        (ReadHalf(self), WriteHalf { shared })
    }
}

impl<S: AsyncStream> Stream for AsyncWebSocket<S> {
    type Item = Result<Event, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl<S: AsyncStream> futures_core::FusedStream for AsyncWebSocket<S> {
    fn is_terminated(&self) -> bool {
        self.shared.lock().done
    }
}

/// The sink methods on the shared state (the whole socket and the write
/// half alike).
macro_rules! sink_impl {
    ($t:ty) => {
        impl<S: AsyncStream> Sink<Message> for $t {
            type Error = Error;
            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_ready(cx)
            }
            fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
                self.shared.queue(|d| d.send(msg))
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_write_out(cx)
            }
            /// Sends a close (1000) unless the closing handshake has begun,
            /// and flushes; the peer's answer is for the receiving side.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_close(cx)
            }
        }
    };
}

sink_impl!(AsyncWebSocket<S>);
sink_impl!(WriteHalf<S>);

/// Polls a timer for `at`, armed lazily: one already armed no later than
/// `at` is kept (when it fires early the next turn finds nothing due and
/// asks for `at` again), so a deadline that moves later with every message
/// (keep-alive, idle) does not re-arm a timer per message. True when it
/// fired.
fn poll_sleep<S: AsyncStream>(
    slot: &mut Option<Armed<S>>,
    clock: crate::Clock,
    cx: &mut Context<'_>,
    at: Instant,
) -> bool {
    if slot.as_ref().is_none_or(|a| a.at > at) {
        *slot = Some(Armed {
            at,
            sleep: Box::pin(S::sleep_until(clock.to_std(at))),
            waker: None,
        });
    }
    let Some(a) = slot.as_mut() else {
        return false;
    };
    // Polled `Pending` with this task's waker and not fired since: it will
    // wake the task, and a poll would only register the same waker again
    // (on tokio about 170 instructions, once per message, as every
    // message's wait ends here while the deadline moves later).
    if a.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) && S::sleep_waits(&a.sleep) {
        return false;
    }
    if S::poll_sleep(a.sleep.as_mut(), cx).is_ready() {
        *slot = None;
        return true;
    }
    match &mut a.waker {
        Some(w) => w.clone_from(cx.waker()),
        None => a.waker = Some(cx.waker().clone()),
    }
    false
}

/// The receiving half of a split [`AsyncWebSocket`] (a [`Stream`] too).
#[derive(Debug)]
pub struct ReadHalf<S: AsyncStream>(AsyncWebSocket<S>);

impl<S: AsyncStream> ReadHalf<S> {
    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        self.0.recv().await
    }

    /// Joins the halves again (`None` if they are not of one socket).
    pub fn unsplit(self, write: WriteHalf<S>) -> Option<AsyncWebSocket<S>> {
        Arc::ptr_eq(&self.0.shared, &write.shared).then_some(self.0)
    }
}

impl<S: AsyncStream> Stream for ReadHalf<S> {
    type Item = Result<Event, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().0).poll_next(cx)
    }
}

/// The sending half of a split [`AsyncWebSocket`] (a [`Sink`] too; clone
/// it for more senders).
pub struct WriteHalf<S: AsyncStream> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncStream> Clone for WriteHalf<S> {
    fn clone(&self) -> Self {
        WriteHalf {
            shared: self.shared.clone(),
        }
    }
}

impl<S: AsyncStream> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncStream> WriteHalf<S> {
    send_methods!();
}

/// The write half as a [`Push`](crate::push::Push) handle: any thread or
/// task queues without waiting; the connection's receiving task writes
/// what the stream could not take at once.
impl<S: AsyncStream> crate::push::Push for WriteHalf<S> {
    fn push(&self, msg: Message) -> Result<(), Error> {
        self.shared.push(Pushed::Message(msg))
    }
    fn push_prepared(&self, msg: &mut ws_proto::Prepared) -> Result<(), Error> {
        // The payload is shared (`Bytes`); an encoding made for this
        // connection is not kept in `msg` (it may have been sent later,
        // from the inbox).
        let shared = std::sync::Arc::new(Mutex::new(msg.clone()));
        self.shared.push(Pushed::Prepared(shared))
    }
    fn push_shared(&self, msg: &crate::push::SharedPrepared) -> Result<(), Error> {
        self.shared.push(Pushed::Prepared(msg.clone()))
    }
    fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }
    fn is_choked(&self) -> bool {
        self.queued() > self.shared.high_water
    }
    fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// `f`, or a `Timeout(what)` error after `after` on the runtime's timer.
pub(crate) async fn timeout<S: AsyncStream, T>(
    after: std::time::Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let mut f = std::pin::pin!(f);
    let mut sleep = std::pin::pin!(S::sleep_until(std::time::Instant::now() + after));
    poll_fn(|cx| {
        if let Poll::Ready(r) = f.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(Err(ErrorKind::Timeout(what).into())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// The runtimes' `accept`: the server handshake on a stream of the
/// caller's.
pub(crate) async fn accept<S: AsyncStream>(
    io: S,
    options: &crate::ServerOptions,
) -> Result<AsyncWebSocket<S>, Error> {
    let driver = options.driver_for(crate::Clock::new(), None)?;
    let mut ws = AsyncWebSocket::new(io, driver, None);
    ws.handshake().await?;
    Ok(ws)
}

/// The runtimes' `client`: the client handshake on a stream of the
/// caller's.
pub(crate) async fn client<S: AsyncStream>(
    io: S,
    request: impl crate::IntoClientRequest,
    options: &crate::ClientOptions,
) -> Result<(AsyncWebSocket<S>, Handshake), Error> {
    let driver = options.driver_on_stream(request.into_client_request()?)?;
    open(io, driver, options).await
}

/// Runs a client driver's handshake over `io` within `options.timeout`;
/// the socket and the server's answer.
pub(crate) async fn open<S: AsyncStream>(
    io: S,
    driver: Driver,
    options: &crate::ClientOptions,
) -> Result<(AsyncWebSocket<S>, Handshake), Error> {
    let mut ws = AsyncWebSocket::new(io, driver, None);
    timeout::<S, _>(options.timeout, "handshake", ws.handshake()).await?;
    let response = ws.negotiated().ok_or(ErrorKind::Closed)?;
    Ok((ws, response))
}

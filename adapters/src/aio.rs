//! The async driver shared by the smol and tokio adapters: one poll loop
//! over a [`Driver`], generic over the runtime's socket and timer
//! ([`AsyncSocket`]). A runtime module only implements that trait, accepts
//! and connects.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use http_upgrade::Handshake;
use ws_proto::{Bytes, CloseCode, Event, Instant, Utf8Bytes};

use crate::driver::with_scratch;
use crate::options::Slot;
use crate::{Driver, Error, ErrorKind, Transport, Turn};

/// What a runtime provides: readiness and non-blocking I/O on a shared
/// socket reference, a shutdown, and a timer.
pub trait AsyncSocket: Send + Sync + 'static {
    /// The runtime's timer future.
    type Sleep: Future + Send;
    /// Ready when the socket may be readable (registers the waker).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready when the socket may be writable (registers the waker).
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// A non-blocking read (`WouldBlock` when nothing is there).
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// A non-blocking vectored write.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Closes both directions.
    fn shutdown(&self);
    /// A timer firing at `at`.
    fn sleep_until(at: std::time::Instant) -> Self::Sleep;
}

/// A runtime socket as the drive loop's [`Transport`]: its non-blocking
/// calls (`WouldBlock` when not ready; readiness is registered by
/// [`AsyncWebSocket::poll_turn`]).
struct AsyncIo<'a, S>(&'a S);

impl<S: AsyncSocket> Transport for AsyncIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
}

struct Inner<S> {
    driver: Mutex<Driver>,
    io: S,
    closed: AtomicBool,
    _slot: Option<Slot>,
}

impl<S: AsyncSocket> Inner<S> {
    fn driver(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn shutdown(&self, d: &mut Driver) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            d.close_notify();
            let _ = d.write_to(|s| self.io.try_write_vectored(s));
            self.io.shutdown();
        }
    }

    /// Closes the socket once the driver is done (its last output was
    /// written by the turn).
    fn close_io(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.io.shutdown();
        }
    }

    /// Writes what is queued; `Pending` while the socket is full.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let mut d = self.driver();
            match d.write_to(|s| self.io.try_write_vectored(s)) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(d);
                    if let Err(e) = ready!(self.io.poll_writable(cx)) {
                        return Poll::Ready(Err(e.into()));
                    }
                }
                Err(e) => {
                    self.shutdown(&mut d);
                    return Poll::Ready(Err(Error::from(e).with_peer(d.peer())));
                }
            }
        }
    }

    fn queue(&self, f: impl FnOnce(&mut Driver) -> Result<(), Error>) -> Result<(), Error> {
        f(&mut self.driver())
    }
}

/// A WebSocket over an async runtime's socket (see the `smol` and `tokio`
/// modules for the concrete types).
pub struct AsyncWebSocket<S: AsyncSocket> {
    inner: Arc<Inner<S>>,
    sleep: Option<(Instant, Pin<Box<S::Sleep>>)>,
}

impl<S: AsyncSocket> std::fmt::Debug for AsyncWebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWebSocket")
            .field("driver", &*self.inner.driver())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncSocket> AsyncWebSocket<S> {
    pub(crate) fn new(io: S, driver: Driver, slot: Option<Slot>) -> Self {
        AsyncWebSocket {
            inner: Arc::new(Inner {
                driver: Mutex::new(driver),
                io,
                closed: AtomicBool::new(false),
                _slot: slot,
            }),
            sleep: None,
        }
    }

    /// Turns the driver ([`Driver::turn`]) until it yields an event, the
    /// connection closes (`None`) or fails; on [`Turn::Wait`] registers
    /// for what it waits on (readability, writability, a timer) and
    /// returns `Pending`. The lock is never held across a wait.
    fn poll_turn<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(&mut Driver, &mut AsyncIo<'_, S>, &mut [u8]) -> Result<Turn<T>, Error>,
    ) -> Poll<Result<Option<T>, Error>> {
        let AsyncWebSocket { inner, sleep } = self;
        let inner = &**inner;
        loop {
            let mut d = inner.driver();
            let mut io = AsyncIo(&inner.io);
            let turn = with_scratch(|s| step(&mut d, &mut io, s));
            drop(d);
            let wait = match turn {
                Ok(Turn::Event(ev)) => return Poll::Ready(Ok(Some(ev))),
                Ok(Turn::Wait(w)) => w,
                Ok(_) => {
                    inner.close_io();
                    return Poll::Ready(Ok(None));
                }
                Err(e) => {
                    inner.close_io();
                    return Poll::Ready(Err(e));
                }
            };
            if inner.closed.load(Ordering::Acquire) {
                // The write half failed and closed the socket.
                return Poll::Ready(Ok(None));
            }
            let mut ready = false;
            if wait.write {
                ready |= inner.io.poll_writable(cx).is_ready();
            }
            if wait.read {
                ready |= inner.io.poll_readable(cx).is_ready();
            }
            if let Some(t) = wait.until {
                ready |= poll_sleep::<S>(sleep, inner, cx, t);
            }
            if ready {
                continue;
            }
            if wait.again {
                // The read budget ran out: let the executor run others.
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
    }

    /// Completes the opening handshake (client: after connect; server:
    /// answering by the policy). A redirect or rejection is an error.
    pub async fn handshake(&mut self) -> Result<(), Error> {
        let open = poll_fn(|cx| {
            // The peer's first messages stay for `recv`.
            self.poll_turn(cx, |d, io, s| d.turn_handshake(io, s))
        });
        open.await?.ok_or_else(|| ErrorKind::Closed.into())
    }

    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    /// Server handshakes are answered by the [`Policy`](crate::Policy).
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        poll_fn(|cx| self.poll_turn(cx, |d, io, s| d.turn(io, s))).await
    }

    /// What the opening handshake settled (subprotocol, extensions,
    /// dialect; see [`Session::handshake`](ws_proto::session::Session::handshake)),
    /// once it is done.
    pub fn negotiated(&self) -> Option<Handshake> {
        self.with_driver(|d| d.negotiated().cloned())
    }

    /// Runs `f` on the driver core (e.g. the session, the peer address).
    pub fn with_driver<T>(&self, f: impl FnOnce(&mut Driver) -> T) -> T {
        f(&mut self.inner.driver())
    }

    /// Writes what is queued (after sends made through
    /// [`with_driver`](Self::with_driver)).
    pub async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.inner.queue(|d| d.send_text(text))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.inner.queue(|d| d.send_binary(data))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends a ping.
    pub async fn send_ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.inner.queue(|d| d.send_ping(payload))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends an unsolicited pong.
    pub async fn send_pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.inner.queue(|d| d.send_pong(payload))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends one part of a message sent in parts (RFC 6455 §5.4): the
    /// first call starts a message of `kind`, `fin` ends it.
    pub async fn send_fragment(
        &self,
        kind: ws_proto::MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        self.inner.queue(|d| d.send_fragment(kind, data, fin))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Starts the closing handshake; keep calling [`recv`](Self::recv)
    /// until it returns `Ok(None)`.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.queue(|d| d.close(code, reason))?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Splits into halves for two tasks: the read half drives the
    /// connection (pongs, close echoes, timers), the write half sends.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let inner = self.inner.clone();
        (ReadHalf(self), WriteHalf { inner })
    }
}

/// Polls a timer for `at`, armed lazily: one already armed no later than
/// `at` is kept (when it fires early the next turn finds nothing due and
/// asks for `at` again), so a deadline that moves later with every message
/// (keep-alive, idle) does not re-arm a timer per message. True when it
/// fired.
fn poll_sleep<S: AsyncSocket>(
    slot: &mut Option<(Instant, Pin<Box<S::Sleep>>)>,
    inner: &Inner<S>,
    cx: &mut Context<'_>,
    at: Instant,
) -> bool {
    if slot.as_ref().is_none_or(|(armed, _)| *armed > at) {
        let when = inner.driver().clock().to_std(at);
        *slot = Some((at, Box::pin(S::sleep_until(when))));
    }
    let fired = slot
        .as_mut()
        .is_some_and(|(_, sleep)| sleep.as_mut().poll(cx).is_ready());
    if fired {
        *slot = None;
    }
    fired
}

/// The receiving half of a split [`AsyncWebSocket`].
#[derive(Debug)]
pub struct ReadHalf<S: AsyncSocket>(AsyncWebSocket<S>);

impl<S: AsyncSocket> ReadHalf<S> {
    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        self.0.recv().await
    }
}

/// The sending half of a split [`AsyncWebSocket`] (clone it for more
/// senders).
pub struct WriteHalf<S: AsyncSocket> {
    inner: Arc<Inner<S>>,
}

impl<S: AsyncSocket> Clone for WriteHalf<S> {
    fn clone(&self) -> Self {
        WriteHalf {
            inner: self.inner.clone(),
        }
    }
}

impl<S: AsyncSocket> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncSocket> WriteHalf<S> {
    async fn send(&self, f: impl FnOnce(&mut Driver) -> Result<(), Error>) -> Result<(), Error> {
        self.inner.queue(f)?;
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_text(text)).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_binary(data)).await
    }

    /// Sends a ping.
    pub async fn send_ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_ping(payload)).await
    }

    /// Sends an unsolicited pong.
    pub async fn send_pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(|d| d.send_pong(payload)).await
    }

    /// Sends one part of a message sent in parts (see
    /// [`AsyncWebSocket::send_fragment`]).
    pub async fn send_fragment(
        &self,
        kind: ws_proto::MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        self.send(|d| d.send_fragment(kind, data, fin)).await
    }

    /// Starts the closing handshake; the [`ReadHalf`] sees it through.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send(|d| d.close(code, reason)).await
    }
}

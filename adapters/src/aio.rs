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
use ws_proto::{Bytes, CloseCode, Event, Instant};

use crate::driver::with_scratch;
use crate::options::Slot;
use crate::{Driver, Error, ErrorKind};

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

    /// Runs the driver until `f` yields, the connection closes (`None`) or
    /// an error: reads, writes and timers, never holding the lock across a
    /// wait.
    fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Driver) -> Result<Option<T>, Error>,
    ) -> Poll<Result<Option<T>, Error>> {
        let inner = &*self.inner;
        loop {
            let mut d = inner.driver();
            match f(&mut d) {
                Ok(Some(v)) => {
                    let _ = d.write_to(|s| inner.io.try_write_vectored(s));
                    return Poll::Ready(Ok(Some(v)));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = d.write_to(|s| inner.io.try_write_vectored(s));
                    inner.shutdown(&mut d);
                    return Poll::Ready(Err(e));
                }
            }
            match d.write_to(|s| inner.io.try_write_vectored(s)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if inner.io.poll_writable(cx).is_ready() {
                        continue;
                    }
                }
                Err(e) => {
                    inner.shutdown(&mut d);
                    return Poll::Ready(Err(Error::from(e).with_peer(d.peer())));
                }
            }
            if inner.closed.load(Ordering::Acquire) || d.wants_close() {
                inner.shutdown(&mut d);
                return Poll::Ready(Ok(None));
            }
            if d.handle_timers() {
                continue;
            }
            if let Some(t) = d.poll_deadline() {
                if self.sleep.as_ref().is_none_or(|(at, _)| *at != t) {
                    let at = d.clock().to_std(t);
                    self.sleep = Some((t, Box::pin(S::sleep_until(at))));
                }
                if let Some((_, sleep)) = &mut self.sleep {
                    if sleep.as_mut().poll(cx).is_ready() {
                        self.sleep = None;
                        continue;
                    }
                }
            }
            if !d.may_read() {
                // Over the memory budget: the deadline above (the driver's
                // retry) wakes this task to ask again.
                return Poll::Pending;
            }
            match with_scratch(|s| d.read_from(s, |b| inner.io.try_read(b))) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(d);
                    match inner.io.poll_readable(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    inner.shutdown(&mut d);
                    return Poll::Ready(Err(Error::from(e).with_peer(d.peer())));
                }
            }
        }
    }

    /// Completes the opening handshake (client: after connect; server:
    /// answering by the policy). A redirect or rejection is an error.
    pub async fn handshake(&mut self) -> Result<(), Error> {
        let open = poll_fn(|cx| {
            self.poll_until(cx, |d| {
                // The peer's first messages stay for `recv`.
                d.poll_handshake().map(|open| open.then_some(()))
            })
        });
        open.await?.ok_or_else(|| ErrorKind::Closed.into())
    }

    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    /// Server handshakes are answered by the [`Policy`](crate::Policy).
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        poll_fn(|cx| self.poll_until(cx, Driver::poll_message)).await
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
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
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
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
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

    /// Starts the closing handshake; the [`ReadHalf`] sees it through.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send(|d| d.close(code, reason)).await
    }
}

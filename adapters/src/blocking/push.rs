//! Push on the blocking adapter (unix): a connection's thread waits in
//! `poll(2)` on its socket and on a wake-up socket pair, so another thread
//! can queue a message and wake it.
//!
//! A thread blocked in `read` cannot be woken by anyone else; so once a
//! connection hands out a push handle, its socket turns non-blocking and
//! its thread waits in `poll` for what the turn asked ([`crate::Wait`]:
//! readable, writable, a deadline) or the wake-up, whichever comes first.
//! A connection that never hands out a handle keeps its blocking reads
//! and costs no extra descriptor.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::event::{Nsecs, PollFd, PollFlags, Secs, Timespec};
use ws_proto::{Instant, Message, Prepared, State};

use crate::push::{SharedPrepared, payload_len, send_shared};
use crate::{Clock, Driver, Error, ErrorKind};

/// A push waiting for the connection's thread.
enum Pushed {
    Message(Message),
    Prepared(SharedPrepared),
}

/// One connection as its handles see it.
pub(super) struct Link {
    inbox: Mutex<Vec<Pushed>>,
    /// The inbox is not empty (read without its lock).
    pushed: AtomicBool,
    /// Bytes queued, as of the thread's last turn plus pushes since.
    queued: AtomicUsize,
    /// No more data messages are taken (closing, closed, failed).
    closed: AtomicBool,
    high_water: usize,
    /// Read end (polled by the connection's thread), write end (written by
    /// pushers); made when the connection starts waiting in `poll`.
    wake: OnceLock<(UnixStream, UnixStream)>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("queued", &self.queued)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Link {
    pub(super) fn new(high_water: usize) -> Self {
        Link {
            inbox: Mutex::new(Vec::new()),
            pushed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            high_water,
            wake: OnceLock::new(),
        }
    }

    /// Makes the wake-up pair (once); false if the system refused.
    pub(super) fn arm(&self) -> bool {
        if self.wake.get().is_some() {
            return true;
        }
        let pair = UnixStream::pair().and_then(|(r, w)| {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            Ok((r, w))
        });
        match pair {
            Ok(pair) => {
                let _ = self.wake.set(pair);
                true
            }
            Err(e) => {
                log::warn!("no wake-up socket pair for push: {e}");
                false
            }
        }
    }

    fn send(&self, msg: Pushed, len: usize) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ErrorKind::Closed.into());
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let first = inbox.is_empty();
        inbox.push(msg);
        self.pushed.store(true, Ordering::Release);
        drop(inbox);
        if first {
            if let Some((_, w)) = self.wake.get() {
                // Full means a wake-up is already pending.
                match (&*w).write(&[1]) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Queues what handles pushed into `driver` (on the connection's
    /// thread, before its turn).
    pub(super) fn drain(&self, driver: &mut Driver) {
        if !self.pushed.swap(false, Ordering::AcqRel) {
            return;
        }
        let pushed = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
        for msg in pushed {
            let r = match msg {
                Pushed::Message(m) => driver.send(m),
                Pushed::Prepared(p) => send_shared(driver, &p),
            };
            if let Err(e) = r {
                log::debug!("{:?}: pushed message refused: {e}", driver.peer());
            }
        }
    }

    /// Tells the handles what the connection holds, after a turn.
    pub(super) fn mirror(&self, driver: &Driver, finished: bool) {
        let waiting = if self.pushed.load(Ordering::Acquire) {
            let inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
            inbox.iter().map(pushed_len).sum()
        } else {
            0
        };
        self.queued
            .store(driver.pending_write() + waiting, Ordering::Release);
        let open = driver
            .session()
            .connection()
            .is_some_and(|c| c.state() == State::Open);
        if finished || !open {
            self.closed.store(true, Ordering::Release);
        }
    }

    /// Marks the connection closed for its handles.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Waits until `fd` is ready for what `read` / `write` ask, a push
    /// wakes the thread, or `until`. Interrupted and timed-out waits
    /// return `Ok` like the others: the caller turns again.
    pub(super) fn wait(
        &self,
        fd: BorrowedFd<'_>,
        read: bool,
        write: bool,
        until: Option<Instant>,
        clock: &Clock,
    ) -> io::Result<()> {
        let mut flags = PollFlags::empty();
        if read {
            flags |= PollFlags::IN;
        }
        if write {
            flags |= PollFlags::OUT;
        }
        // `Nsecs` is 32 bits on some targets.
        #[allow(clippy::unnecessary_fallible_conversions)]
        let timeout = until.map(|u| {
            let d = clock.until(u);
            Timespec {
                tv_sec: Secs::try_from(d.as_secs()).unwrap_or(Secs::MAX),
                tv_nsec: Nsecs::try_from(d.subsec_nanos()).unwrap_or(0),
            }
        });
        let wake = self.wake.get().map(|(r, _)| r);
        let mut fds = [
            PollFd::new(&fd, flags),
            PollFd::from_borrowed_fd(
                match wake {
                    Some(r) => r.as_fd(),
                    None => fd,
                },
                if wake.is_some() {
                    PollFlags::IN
                } else {
                    PollFlags::empty()
                },
            ),
        ];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(mut r) = wake.filter(|_| !fds[1].revents().is_empty()) {
            let mut sink = [0u8; 64];
            while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
        }
        Ok(())
    }
}

fn pushed_len(p: &Pushed) -> usize {
    match p {
        Pushed::Message(m) => payload_len(m),
        Pushed::Prepared(p) => p.lock().map_or(0, |m| m.payload().len()),
    }
}

/// A [`Push`](crate::Push) handle to a blocking connection, for any
/// thread (from [`WebSocket::push_handle`](super::WebSocket::push_handle)
/// or, under a [`Protocols`](crate::Protocols) table,
/// [`Ctx::push_handle`](crate::Ctx::push_handle)): a push is queued for
/// the connection's thread and wakes it from its wait. `queued` and
/// `is_choked` are as of the thread's last turn plus the pushes since. A
/// message the connection refuses when its thread takes it (a ping
/// payload over 125 bytes, a send after the close) is logged and dropped;
/// a handle of a closed connection returns `Err` and never panics.
#[derive(Clone, Debug)]
pub struct BlockingPush(pub(super) Arc<Link>);

impl crate::Push for BlockingPush {
    fn push(&self, msg: Message) -> Result<(), Error> {
        let len = payload_len(&msg);
        self.0.send(Pushed::Message(msg), len)
    }
    fn push_prepared(&self, msg: &mut Prepared) -> Result<(), Error> {
        // The payload is shared (`Bytes`); the thread encodes it for its
        // connection.
        let len = msg.payload().len();
        self.0
            .send(Pushed::Prepared(Arc::new(Mutex::new(msg.clone()))), len)
    }
    fn push_shared(&self, msg: &SharedPrepared) -> Result<(), Error> {
        let len = msg.lock().map_or(0, |m| m.payload().len());
        self.0.send(Pushed::Prepared(msg.clone()), len)
    }
    fn queued(&self) -> usize {
        self.0.queued.load(Ordering::Acquire)
    }
    fn is_choked(&self) -> bool {
        self.queued() > self.0.high_water
    }
    fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }
}

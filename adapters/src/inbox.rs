//! Pushes into a loop of our own (the mio and io_uring servers): a
//! [`LoopPush`] handle, for any thread, queues a message in its server's
//! inbox and wakes the loop, which sends it on the connection and writes.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Driver, Error, ErrorKind};

/// What a wake-up costs the loop: a mio `Waker`, an eventfd write.
type Wake = Box<dyn Fn() -> io::Result<()> + Send + Sync>;

/// A connection's push state.
#[derive(Debug, Default)]
pub(crate) enum PushSlot {
    /// Not in a server: no loop drains an inbox.
    #[default]
    None,
    /// In a server; no handle made yet.
    Available(Arc<Inbox>, usize),
    /// Handles exist.
    Linked(Arc<Link>),
}

impl PushSlot {
    /// A handle (made on first request); `None` outside a server.
    pub(crate) fn handle(&mut self, high_water: usize) -> Option<LoopPush> {
        let link = match self {
            PushSlot::None => return None,
            PushSlot::Linked(link) => link.clone(),
            PushSlot::Available(inbox, index) => {
                let link = Arc::new(Link {
                    index: *index,
                    inbox: inbox.clone(),
                    queued: AtomicUsize::new(0),
                    high_water,
                    closed: AtomicBool::new(false),
                });
                *self = PushSlot::Linked(link.clone());
                link
            }
        };
        Some(LoopPush(link))
    }

    /// Tells the handles what the connection holds, after a service.
    pub(crate) fn update(&self, driver: &Driver, closed: bool) {
        if let PushSlot::Linked(link) = self {
            link.queued.store(driver.pending_write(), Ordering::Release);
            let closing = driver
                .session()
                .connection()
                .is_some_and(|c| c.state() != ws_proto::State::Open);
            if closed || closing {
                link.closed.store(true, Ordering::Release);
            }
        }
    }

    /// True if `link` is this connection's (its slot may have been
    /// reused by a newer connection since the push).
    pub(crate) fn is(&self, link: &Arc<Link>) -> bool {
        matches!(self, PushSlot::Linked(l) if Arc::ptr_eq(l, link))
    }
}

/// What a [`LoopPush`] asks of the loop.
pub(crate) enum Command {
    Send(ws_proto::Message),
    Prepared(crate::push::SharedPrepared),
}

impl Command {
    /// Queues the push on its connection (a refusal is logged).
    pub(crate) fn apply(self, driver: &mut Driver, peer: SocketAddr) {
        let r = match self {
            Command::Send(msg) => driver.send(msg),
            Command::Prepared(msg) => crate::push::send_shared(driver, &msg),
        };
        if let Err(err) = r {
            log::debug!("{peer}: pushed message refused: {err}");
        }
    }
}

/// Pushes waiting for a server's loop, and how to wake it.
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<(Arc<Link>, Command)>>,
    wake: Wake,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    pub(crate) fn new(wake: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Self {
        Inbox {
            queue: Mutex::default(),
            wake: Box::new(wake),
        }
    }

    /// Up to `max` pushes, and whether more are left.
    pub(crate) fn take(&self, max: usize) -> (Vec<(Arc<Link>, Command)>, bool) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = q.len().min(max);
        let batch = q.drain(..n).collect();
        (batch, !q.is_empty())
    }
}

/// One connection as its handles see it: the loop updates it after each
/// service.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) index: usize,
    inbox: Arc<Inbox>,
    queued: AtomicUsize,
    high_water: usize,
    closed: AtomicBool,
}

/// A [`Push`](crate::Push) handle to a connection of a server that runs
/// its own loop (`mio::Server`, `uring::Server`), for any thread: a push
/// is queued in the server's inbox and wakes its loop, which sends it and
/// writes. `queued` and `is_choked` are as of the connection's last
/// service. A message the connection refuses there (a ping payload over
/// 125 bytes, a send after the close) is logged and dropped; a handle of a
/// closed connection returns `Err` and never panics.
#[derive(Clone, Debug)]
pub struct LoopPush(Arc<Link>);

impl LoopPush {
    fn send(&self, cmd: Command, len: usize) -> Result<(), Error> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(ErrorKind::Closed.into());
        }
        // Counted at once, so a pusher faster than the loop sees the
        // backlog grow (the loop sets the true figure after its service).
        self.0.queued.fetch_add(len, Ordering::AcqRel);
        let inbox = &self.0.inbox;
        let mut q = inbox.queue.lock().unwrap_or_else(|p| p.into_inner());
        let first = q.is_empty();
        q.push_back((self.0.clone(), cmd));
        drop(q);
        if first {
            (inbox.wake)()?;
        }
        Ok(())
    }
}

impl crate::Push for LoopPush {
    fn push(&self, msg: ws_proto::Message) -> Result<(), Error> {
        let len = crate::push::payload_len(&msg);
        self.send(Command::Send(msg), len)
    }
    fn push_prepared(&self, msg: &mut ws_proto::Prepared) -> Result<(), Error> {
        // The payload is shared (`Bytes`); the loop encodes for the
        // connection.
        let len = msg.payload().len();
        let shared = Arc::new(Mutex::new(msg.clone()));
        self.send(Command::Prepared(shared), len)
    }
    fn push_shared(&self, msg: &crate::push::SharedPrepared) -> Result<(), Error> {
        let len = msg.lock().map_or(0, |m| m.payload().len());
        self.send(Command::Prepared(msg.clone()), len)
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

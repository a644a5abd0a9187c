//! A completion-based driver on io_uring (Linux 6.1+, feature `uring`):
//! a server loop of our own and a client with blocking-style calls, on
//! the [`io-uring`](https://docs.rs/io-uring) crate.
//!
//! The readiness adapters (std, mio, tokio, smol) read into a buffer when
//! the socket is ready. Here the kernel owns a buffer while a read is in
//! flight, so the driver's buffer contract is the owned form of the same
//! one ([`Driver::lend`], [`Driver::complete_read`],
//! [`Driver::complete_loan`]):
//!
//! * **Between frames, during the handshake, under TLS**: a receive names
//!   a *provided-buffer ring*, one pool of 32 KiB buffers per loop (a
//!   16 KiB message and its header arrive in one receive); the kernel
//!   picks a buffer only when data arrives, so an idle connection with its
//!   receive armed holds no buffer (as on mio, where it reads into the
//!   loop's scratch buffer). The bytes are fed to the session and the
//!   buffer goes straight back to the ring.
//! * **In the middle of a large frame**: the session lends its own receive
//!   space as an owned buffer ([`ws_proto::RecvLoan`]), split off its
//!   receive buffer without a copy; the payload lands in place and the
//!   loan rejoins the buffer on completion.
//! * **Output**: after a turn, the front of the session's output is
//!   staged for one send without being consumed
//!   ([`Driver::for_each_output_part`]): frame headers and small frames are
//!   copied into a staging buffer (from a per-loop free list), payloads of
//!   2 KiB and more are held as clones of their `Bytes` and sent from where
//!   they are (`sendmsg`, an iovec each: an echoed payload goes from the
//!   receive buffer it arrived in back to the socket). Only what the kernel
//!   reports sent is consumed; a partial send is resubmitted from there.
//! * **Accept** is one multishot accept; the push inbox is woken through an
//!   `eventfd` read; one `io_uring_enter` per loop turn submits every
//!   operation the turn queued and waits for the next completion or timer.
//!
//! Why a loop of our own on `io-uring` rather than monoio, compio or
//! tokio-uring: the server model ([`Protocols`](crate::Protocols), push,
//! broadcast, timers) is already a loop of our own on mio; the same loop
//! over completions needs nothing of an executor, and owning the ring is
//! what gives provided-buffer rings, multishot accept and the
//! single-issuer, deferred-task-run setup. `io-uring` is the crate
//! tokio-uring and monoio build on, kept by the tokio project, with no
//! dependency but `libc`. tokio-uring has had no release since 2023;
//! compio and monoio bring an executor, their own buffer traits and
//! timers, for nothing this loop needs.
//!
//! ```no_run
//! use ws_adapters::{Ctx, Event, Protocol, Protocols, ServerOptions, uring};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     type State = ();
//!     fn established(&self, _: &mut Ctx<'_>) {}
//!     fn event(&self, _: &mut (), cx: &mut Ctx<'_>, ev: Event) {
//!         if let Some(m) = ev.into_message() {
//!             let _ = cx.send(m);
//!         }
//!     }
//! }
//!
//! let table = Protocols::new().protocol("echo", Echo).default_protocol("echo");
//! let options = table.options(ServerOptions::default());
//! let mut server = uring::Server::bind("127.0.0.1:7681".parse()?, options, table)?;
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![allow(unsafe_code)]

mod bufring;
mod loops;
mod output;

use std::collections::BTreeSet;
use std::io::{self, IoSlice, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http_upgrade::{ClientRequest, Handshake};
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use ws_proto::{CloseCode, Event, Instant, RecvLoan, Utf8Bytes};

use crate::admission::{Gate, Slot};
use crate::inbox::{Inbox, PushSlot};
use crate::options::resolve;
use crate::turn::{AppEvent, Moment};
use crate::{
    ClientOptions, Clock, Driver, Error, ErrorKind, SCRATCH, ServerOptions, Transport, Turn, Wait,
};
use bufring::BufRing;
pub use loops::{Loops, serve_loops};
use output::Output;

/// A [`Push`](crate::Push) handle to one of a [`Server`]'s connections.
pub use crate::inbox::LoopPush as UringPush;

/// Submission queue entries per server ring (the completion queue has
/// four times as many).
const RING_ENTRIES: u32 = 1024;
/// Buffers in a server loop's provided-buffer ring, and their size.
const POOL_BUFS: u16 = 256;
const POOL_BUF: usize = 32 * 1024;
/// The buffer group of the pool.
const POOL_GROUP: u16 = 0;
/// Staging buffers kept on a loop's free list, and the largest kept.
const SPARE_STAGES: usize = 1024;
const SPARE_STAGE_CAP: usize = 64 * 1024;
/// How long an ended connection's last send may take before the socket
/// is shut down under it (a peer that stopped reading).
const LINGER: Duration = Duration::from_secs(2);
/// How long dropping a ring waits for its cancelled operations.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
const ENOBUFS: i32 = 105;
const ECANCELED: i32 = 125;
const ETIME: i32 = 62;
const EINTR: i32 = 4;
const EBUSY: i32 = 16;

/// What a completion is for: the kind in the top byte of `user_data`,
/// the connection's index in the low 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Accept,
    Wake,
    Recv(usize),
    Send(usize),
    Cancel,
}

impl Op {
    fn encode(self) -> u64 {
        let (kind, index) = match self {
            Op::Accept => (1, 0),
            Op::Wake => (2, 0),
            Op::Recv(i) => (3, i),
            Op::Send(i) => (4, i),
            Op::Cancel => (5, 0),
        };
        (kind << 56) | (index as u64 & 0xffff_ffff)
    }

    fn decode(data: u64) -> Option<Op> {
        let index = usize::try_from(data & 0xffff_ffff).ok()?;
        Some(match data >> 56 {
            1 => Op::Accept,
            2 => Op::Wake,
            3 => Op::Recv(index),
            4 => Op::Send(index),
            5 => Op::Cancel,
            _ => return None,
        })
    }
}

/// An io_uring with a count of the operations in flight, so that dropping
/// it can wait until the kernel no longer uses any buffer of ours.
struct Ring {
    ring: IoUring,
    inflight: usize,
}

impl Ring {
    /// A ring for the calling thread: single issuer with deferred task
    /// work where the kernel has them (6.1), else a plain one.
    fn new(entries: u32) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))?;
        Ok(Ring { ring, inflight: 0 })
    }

    /// A ring any thread may use (a client may move between threads).
    fn shared(entries: u32) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_cqsize(entries * 4)
            .build(entries)?;
        Ok(Ring { ring, inflight: 0 })
    }

    /// Queues `sqe` (submitting what is queued if the queue is full).
    ///
    /// # Safety
    ///
    /// Every buffer `sqe` names must stay valid, and not be moved or
    /// otherwise used, until its completion arrives.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller's contract.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                self.inflight += 1;
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Submits what is queued and waits for one completion, at most
    /// `wait` (`None`: no limit; zero: only reap what is there).
    fn submit_wait(&mut self, wait: Option<Duration>) -> io::Result<()> {
        let r = match wait {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(ETIME | EINTR | EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The completions ready: `(user_data, result, flags)`. A multishot
    /// operation stays in flight while its completions say "more".
    fn reap(&mut self, into: &mut Vec<(u64, i32, u32)>) {
        into.clear();
        for cqe in self.ring.completion() {
            if !cqueue::more(cqe.flags()) {
                self.inflight = self.inflight.saturating_sub(1);
            }
            into.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
    }

    /// Cancels everything in flight and waits (bounded) for the kernel to
    /// let go; true once nothing is.
    fn cancel_all(&mut self) -> bool {
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(Op::Cancel.encode());
        // SAFETY: a cancellation names no buffer.
        if self.inflight == 0 || unsafe { self.push(&cancel) }.is_err() {
            return self.inflight == 0;
        }
        let start = std::time::Instant::now();
        let mut cqes = Vec::new();
        while self.inflight > 0 && start.elapsed() < DRAIN_WAIT {
            if self.submit_wait(Some(Duration::from_millis(50))).is_err() {
                break;
            }
            self.reap(&mut cqes);
        }
        self.inflight == 0
    }
}

/// A connection's receive in flight.
#[derive(Debug, Default)]
enum Recv {
    #[default]
    Idle,
    /// Into the loop's buffer (the pool, or a client's own buffer).
    Pool,
    /// Into the connection's own receive space, held here meanwhile.
    Loan(RecvLoan),
    /// A multishot receive on the loop's pool (a server's between large
    /// frames): it stays armed, one completion per arrival, until a
    /// completion without `IORING_CQE_F_MORE` ends it; `cancelled` once the
    /// loop asked it to stop (the connection stopped reading, or a large
    /// frame goes to a loan).
    Multi { cancelled: bool },
}

/// The drive loop's transport over completions: reads come in through
/// [`Driver::complete_read`] and output goes out through [`Output::fill`]
/// after the turn, so a turn's read finds nothing and its write reports
/// `WouldBlock` (nothing is consumed before the kernel has sent it).
struct Completions;

impl Transport for Completions {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn write_vectored(&mut self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn short_read_drains(&self) -> bool {
        true
    }
}

/// A connection of a [`Server`] as its [`Handler`] sees it.
#[derive(Debug)]
pub struct Conn<'a> {
    driver: &'a mut Driver,
    push: &'a mut PushSlot,
}

impl Conn<'_> {
    /// The connection's driver (session, sends, timers).
    pub fn driver(&self) -> &Driver {
        self.driver
    }

    /// The connection's driver, to send with (the loop writes after the
    /// handler returns).
    pub fn driver_mut(&mut self) -> &mut Driver {
        self.driver
    }

    /// What the handshake negotiated (subprotocol, extensions, dialect).
    pub fn negotiated(&self) -> Option<&Handshake> {
        self.driver.negotiated()
    }

    /// A [`Push`](crate::Push) handle for other threads and tasks: pushes
    /// go through the server's inbox and wake its loop.
    pub fn push_handle(&mut self) -> Option<UringPush> {
        self.push.handle(self.driver.turn.high_water)
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.driver.send_text(text)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<ws_proto::Bytes>) -> Result<(), Error> {
        self.driver.send_binary(data)
    }

    /// Starts the closing handshake.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.driver.close(code, reason)
    }
}

/// What a [`Server`] calls; `Data` is the per-connection user data. The
/// same calls as [`mio::Handler`](crate::mio::Handler), on a [`Conn`].
pub trait Handler {
    /// The application's state for one connection.
    type Data;
    /// A connection was accepted (it passed the filter and the limit).
    fn accepted(&mut self, peer: SocketAddr) -> Self::Data;
    /// The opening handshake completed; sends are allowed from now on.
    fn opened(&mut self, _conn: &mut Conn<'_>, _data: &mut Self::Data) {}
    /// A WebSocket event arrived; answer through `conn`.
    fn event(&mut self, conn: &mut Conn<'_>, data: &mut Self::Data, event: Event);
    /// The connection's timer ([`Driver::set_timer`]) is due.
    fn timer(&mut self, _conn: &mut Conn<'_>, _data: &mut Self::Data) {}
    /// The output drained after [`Driver::request_writable`].
    fn writable(&mut self, _conn: &mut Conn<'_>, _data: &mut Self::Data) {}
    /// The connection is gone (`error` if it failed).
    fn closed(&mut self, _peer: SocketAddr, _data: Self::Data, _error: Option<Error>) {}
}

struct Entry<D> {
    stream: TcpStream,
    driver: Driver,
    data: D,
    armed: Option<Instant>,
    opened: bool,
    push: PushSlot,
    recv: Recv,
    out: Output,
    /// The drive loop ended (`Some(error)` if it failed): the last output
    /// goes out, then the socket is shut down and the entry removed once
    /// no operation holds its buffers.
    ended: Option<Option<Error>>,
    /// When an ended connection's last send is given up.
    linger: Option<Instant>,
    shut: bool,
    _slot: Slot,
}

impl<D> Entry<D> {
    /// The accepted socket's peer (the driver has it: not kept twice).
    fn socket_peer(&self) -> SocketAddr {
        self.driver.accepted_peer()
    }
}

/// Stops a running [`Server`] from another thread.
#[derive(Clone, Debug)]
pub struct StopHandle {
    wake: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
}

impl StopHandle {
    /// Makes [`Server::run`] return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = wake(&self.wake);
    }
}

fn wake(fd: &OwnedFd) -> io::Result<()> {
    match rustix::io::write(fd, &1u64.to_ne_bytes()) {
        // The counter is full: a wake-up is pending anyway.
        Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Pushes applied per loop turn at most (as on mio).
pub const INBOX_PER_TURN: usize = crate::mio::INBOX_PER_TURN;

/// A server serving many connections from one io_uring, on the thread
/// that calls [`run`](Self::run) (the ring is made there: single issuer).
pub struct Server<H: Handler> {
    /// Dropped before `pool` (the pool is registered with it).
    ring: Option<Ring>,
    pool: Option<BufRing>,
    listener: TcpListener,
    accepting: bool,
    options: ServerOptions,
    handler: H,
    conns: Vec<Option<Entry<H::Data>>>,
    free: Vec<usize>,
    gate: Gate,
    here: Arc<AtomicUsize>,
    timers: BTreeSet<(Instant, usize)>,
    again: Vec<usize>,
    /// Connections whose receive found the pool empty: armed again after
    /// the turn's completions gave buffers back.
    starved: Vec<usize>,
    stages: Vec<Vec<u8>>,
    cqes: Vec<(u64, i32, u32)>,
    clock: Clock,
    stop: StopHandle,
    inbox: Arc<Inbox>,
    inbox_more: bool,
    /// The loop turn's time (one clock read per turn), lent to each
    /// connection it serves; `NONE` between turns.
    now: Moment,
    /// The eventfd read's buffer (the kernel writes it).
    wake_buf: Box<[u8; 8]>,
}

impl<H: Handler> Server<H> {
    /// Listens on `addr` (interface and port).
    pub fn bind(addr: SocketAddr, options: ServerOptions, handler: H) -> io::Result<Self> {
        let listener = crate::admission::listen(addr, false)?;
        Self::with_listener(listener, options, handler, Gate::default())
    }

    /// A server on a bound (blocking) `listener`, counting its connections
    /// in `gate` (shared by the loops of [`serve_loops`]).
    fn with_listener(
        listener: TcpListener,
        options: ServerOptions,
        handler: H,
        gate: Gate,
    ) -> io::Result<Self> {
        use rustix::event::{EventfdFlags, eventfd};
        let efd = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
        let inbox = Arc::new(Inbox::new({
            let efd = efd.clone();
            move || wake(&efd)
        }));
        Ok(Server {
            ring: None,
            pool: None,
            listener,
            accepting: false,
            options,
            handler,
            conns: Vec::new(),
            free: Vec::new(),
            gate,
            here: Arc::default(),
            timers: BTreeSet::new(),
            again: Vec::new(),
            starved: Vec::new(),
            stages: Vec::new(),
            cqes: Vec::new(),
            clock: Clock::new(),
            stop: StopHandle {
                wake: efd,
                stop: Arc::default(),
            },
            inbox,
            inbox_more: false,
            now: Moment::NONE,
            wake_buf: Box::new([0; 8]),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Connections being served (every loop's, under [`serve_loops`]).
    pub fn connections(&self) -> usize {
        self.gate.live()
    }

    /// The handler (application state).
    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until [`StopHandle::stop`].
    pub fn run(&mut self) -> io::Result<()> {
        while !self.stop.stop.load(Ordering::Acquire) {
            self.turn(None)?;
        }
        Ok(())
    }

    /// Makes the ring and the pool on first use (on the loop's thread),
    /// and arms the accept and the wake-up read.
    fn start(&mut self) -> io::Result<()> {
        if self.ring.is_some() {
            return Ok(());
        }
        let mut ring = Ring::new(RING_ENTRIES)?;
        let pool = BufRing::new(&ring.ring.submitter(), POOL_BUFS, POOL_BUF, POOL_GROUP)?;
        let read = opcode::Read::new(
            types::Fd(self.stop.wake.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(Op::Wake.encode());
        // SAFETY: `wake_buf` is boxed (its address is stable) and dropped
        // only after the ring has let go of every operation (`Drop`).
        unsafe { ring.push(&read) }?;
        self.ring = Some(ring);
        self.pool = Some(pool);
        self.arm_accept()
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let Some(ring) = self.ring.as_mut() else {
            return Ok(());
        };
        let accept = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .build()
            .user_data(Op::Accept.encode());
        // SAFETY: an accept names no buffer.
        unsafe { ring.push(&accept) }?;
        self.accepting = true;
        Ok(())
    }

    /// One turn of the loop: submits what the last turn queued, waits at
    /// most `timeout` (and until the next timer) for completions, serves
    /// them, fires due timers.
    pub fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // A turn that failed part-way lent nothing beyond it.
        self.now = Moment::NONE;
        self.start()?;
        let timer = self.timers.first().map(|(t, _)| self.clock.until(*t));
        let mut wait = match (timer, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if !self.again.is_empty() || self.inbox_more || !self.starved.is_empty() {
            wait = Some(Duration::ZERO);
        }
        let mut cqes = std::mem::take(&mut self.cqes);
        if let Some(ring) = self.ring.as_mut() {
            ring.submit_wait(wait)?;
            ring.reap(&mut cqes);
        }
        let now = self.clock.now();
        self.now = Moment::of(Some(now));
        for &(data, res, flags) in &cqes {
            match Op::decode(data) {
                Some(Op::Accept) => self.accepted(res, flags),
                Some(Op::Wake) => self.woken(),
                Some(Op::Recv(i)) => self.received(i, res, flags),
                Some(Op::Send(i)) => self.sent(i, res),
                Some(Op::Cancel) | None => {}
            }
        }
        self.cqes = cqes;
        if let Some(pool) = &self.pool {
            pool.publish();
        }
        if !self.accepting {
            self.arm_accept()?;
        }
        if self.inbox_more {
            self.drain_inbox();
        }
        for i in std::mem::take(&mut self.starved) {
            if let Some(Some(e)) = self.conns.get(i) {
                if matches!(e.recv, Recv::Idle) && e.ended.is_none() {
                    self.service(i);
                }
            }
        }
        for i in std::mem::take(&mut self.again) {
            self.service(i);
        }
        while let Some(&(t, i)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(Some(e)) = self.conns.get_mut(i) {
                e.armed = None;
            }
            self.service(i);
        }
        self.now = Moment::NONE;
        Ok(())
    }

    fn accepted(&mut self, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            // Re-armed after this turn's completions.
            self.accepting = false;
        }
        if res < 0 {
            if res != -ECANCELED {
                log::warn!("accept: {}", io::Error::from_raw_os_error(-res));
            }
            return;
        }
        // SAFETY: a successful accept's result is a new descriptor that
        // nothing else owns.
        let stream = unsafe { TcpStream::from_raw_fd(res) };
        let peer = match stream.peer_addr() {
            Ok(p) => p,
            Err(e) => {
                log::debug!("accept: {e}");
                return;
            }
        };
        let Some(slot) = self.gate.admit(&self.options, peer, |busy| {
            let _ = (&stream).write(busy);
        }) else {
            return;
        };
        if let Err(e) = self.add(stream, peer, slot) {
            log::warn!("{peer}: {e}");
        }
    }

    fn add(&mut self, stream: TcpStream, peer: SocketAddr, slot: Slot) -> Result<(), Error> {
        stream.set_nodelay(true)?;
        let driver = self.options.driver(self.clock, peer)?;
        let i = self.free.pop().unwrap_or(self.conns.len());
        let data = self.handler.accepted(peer);
        let entry = Entry {
            stream,
            driver,
            data,
            armed: None,
            opened: false,
            push: PushSlot::Available(self.inbox.clone(), i),
            recv: Recv::Idle,
            out: Output::default(),
            ended: None,
            linger: None,
            shut: false,
            _slot: slot,
        };
        match self.conns.get_mut(i) {
            Some(slot) => *slot = Some(entry),
            None => self.conns.push(Some(entry)),
        }
        self.here.fetch_add(1, Ordering::AcqRel);
        log::debug!("{peer}: accepted ({} live)", self.gate.live());
        self.service(i);
        Ok(())
    }

    fn woken(&mut self) {
        let mut counter = [0u8; 8];
        // Reset the counter (it may have been written again since).
        let _ = rustix::io::read(&*self.stop.wake, &mut counter);
        if let Some(ring) = self.ring.as_mut() {
            let read = opcode::Read::new(
                types::Fd(self.stop.wake.as_raw_fd()),
                self.wake_buf.as_mut_ptr(),
                8,
            )
            .build()
            .user_data(Op::Wake.encode());
            // SAFETY: as in `start`.
            if let Err(e) = unsafe { ring.push(&read) } {
                log::warn!("wake-up read: {e}");
            }
        }
        self.drain_inbox();
    }

    fn received(&mut self, i: usize, res: i32, flags: u32) {
        let pool = self.pool.as_mut();
        let bid = cqueue::buffer_select(flags);
        let Some(Some(e)) = self.conns.get_mut(i) else {
            if let (Some(pool), Some(bid)) = (pool, bid) {
                pool.add(bid);
            }
            return;
        };
        let recv = match e.recv {
            // Still armed: this arrival came from the pool.
            Recv::Multi { .. } if cqueue::more(flags) => Recv::Pool,
            Recv::Multi { .. } => {
                e.recv = Recv::Idle;
                Recv::Pool
            }
            _ => std::mem::take(&mut e.recv),
        };
        if e.ended.is_some() || res == -ECANCELED {
            if let (Some(pool), Some(bid)) = (pool, bid) {
                pool.add(bid);
            }
            self.service(i);
            return;
        }
        let read = if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(usize::try_from(res).unwrap_or(0))
        };
        let r = match recv {
            Recv::Loan(loan) => e.driver.complete_loan(loan, read),
            Recv::Pool if res == -ENOBUFS => {
                // The pool ran dry this turn: armed again after it.
                self.starved.push(i);
                return;
            }
            Recv::Pool => match (read, pool) {
                (Ok(n), Some(pool)) => {
                    let data = bid.and_then(|b| pool.get(b, n)).unwrap_or_default();
                    let r = e.driver.complete_read(Ok(data));
                    if let Some(b) = bid {
                        pool.add(b);
                    }
                    r
                }
                (Ok(_), None) => Ok(0),
                (Err(err), _) => e.driver.complete_read(Err(err)),
            },
            Recv::Idle | Recv::Multi { .. } => Ok(0),
        };
        if let Err(err) = r {
            e.ended = Some(Some(err));
        }
        self.service(i);
    }

    fn sent(&mut self, i: usize, res: i32) {
        let Some(Some(e)) = self.conns.get_mut(i) else {
            return;
        };
        match e.out.completed(&mut e.driver, res) {
            Ok(true) => {}
            Ok(false) if !e.shut => {
                // A partial send: the rest, before anything newer.
                submit_send(self.ring.as_mut(), e, i);
                return;
            }
            Ok(false) => {}
            Err(err) => {
                let err = Error::from(err).with_peer(Some(e.socket_peer()));
                e.ended.get_or_insert(Some(err));
            }
        }
        self.service(i);
    }

    /// Moves bytes for connection `i`: runs its turns (handing events to
    /// the handler), stages and sends its output, arms its receive and
    /// timer; and finishes it once its drive loop has ended.
    fn service(&mut self, i: usize) {
        let Some(Some(e)) = self.conns.get_mut(i) else {
            return;
        };
        let was_ended = e.ended.is_some();
        if !was_ended {
            if e.out.buf.capacity() == 0 {
                e.out.buf = self.stages.pop().unwrap_or_default();
            }
            e.driver.lend_loop_time(self.now);
            let pumped = pump(e, &mut self.handler);
            e.driver.lend_loop_time(Moment::NONE);
            match pumped {
                Ok(Some(w)) => {
                    if w.again {
                        self.again.push(i);
                    }
                    if let (Some(ring), Some(pool)) = (self.ring.as_mut(), self.pool.as_ref()) {
                        if let Err(err) = steer_recv(ring, pool, e, i, w.read) {
                            e.ended = Some(Some(err.into()));
                        }
                    }
                }
                Ok(None) => e.ended = Some(None),
                Err(err) => e.ended = Some(Some(err)),
            }
            e.push.update(&e.driver, e.ended.is_some());
        }
        // Output is staged while the drive loop runs, and once more in the
        // turn that ends it (its close frame); never after, when a send
        // has failed or the socket is shut down.
        if !was_ended {
            if let Err(err) = e.out.fill(&mut e.driver) {
                e.ended.get_or_insert(Some(err.into()));
            }
        }
        if e.out.unsent() > 0 && !e.out.sending {
            submit_send(self.ring.as_mut(), e, i);
        } else if e.out.unsent() == 0 && !e.out.sending && e.out.buf.capacity() > 0 {
            let buf = std::mem::take(&mut e.out.buf);
            if self.stages.len() < SPARE_STAGES && buf.capacity() <= SPARE_STAGE_CAP {
                self.stages.push(buf);
            }
        }
        if e.ended.is_some() {
            self.finish(i);
            return;
        }
        // Armed lazily, as on mio: a timer no later than the deadline stays.
        crate::loops::rearm(&mut self.timers, &mut e.armed, e.driver.poll_deadline(), i);
    }

    /// An ended connection: once its output is sent, shut the socket down
    /// (which completes a receive in flight), and once nothing is in
    /// flight, remove it.
    fn finish(&mut self, i: usize) {
        let Some(Some(e)) = self.conns.get_mut(i) else {
            return;
        };
        // A peer that stopped reading (the write timeout) takes nothing
        // more: no linger for a send that cannot finish.
        let stalled = matches!(&e.ended, Some(Some(err)) if err.is_write_stalled());
        if e.out.sending && !e.shut && !stalled {
            // The last output (a close frame) is on its way; a peer that
            // does not take it gets `LINGER`, then the shutdown fails the
            // send.
            let now = self.clock.now();
            let until = *e.linger.get_or_insert(now + LINGER);
            if now < until {
                if e.armed != Some(until) {
                    if let Some(t) = e.armed.take() {
                        self.timers.remove(&(t, i));
                    }
                    e.armed = Some(until);
                    self.timers.insert((until, i));
                }
                return;
            }
        }
        if !e.shut {
            e.shut = true;
            let _ = e.stream.shutdown(std::net::Shutdown::Both);
        }
        if e.out.sending || !matches!(e.recv, Recv::Idle) {
            return;
        }
        if let Some(t) = e.armed.take() {
            self.timers.remove(&(t, i));
        }
        self.remove(i);
    }

    /// Applies what handles pushed since the last wake ([`INBOX_PER_TURN`]
    /// at most; the rest next turn), then serves the connections concerned.
    fn drain_inbox(&mut self) {
        let (pushed, more) = self.inbox.take(INBOX_PER_TURN);
        self.inbox_more = more;
        let mut touched = Vec::new();
        for (link, cmd) in pushed {
            let Some(Some(e)) = self.conns.get_mut(link.index) else {
                continue;
            };
            if !e.push.is(&link) || e.ended.is_some() {
                continue;
            }
            let peer = e.socket_peer();
            cmd.apply(&mut e.driver, peer);
            touched.push(link.index);
        }
        touched.sort_unstable();
        touched.dedup();
        for i in touched {
            self.service(i);
        }
    }

    fn remove(&mut self, i: usize) {
        let Some(e) = self.conns.get_mut(i).and_then(Option::take) else {
            return;
        };
        e.push.update(&e.driver, true);
        self.free.push(i);
        self.here.fetch_sub(1, Ordering::AcqRel);
        let peer = e.socket_peer();
        let Entry {
            data, ended, _slot, ..
        } = e;
        drop(_slot);
        log::debug!("{peer}: closed ({} live)", self.gate.live());
        self.handler.closed(peer, data, ended.flatten());
    }
}

impl<H: Handler> Drop for Server<H> {
    fn drop(&mut self) {
        let Some(mut ring) = self.ring.take() else {
            return;
        };
        if !ring.cancel_all() {
            // The kernel may still write into buffers of ours: keep them
            // (leaked) rather than free them under it.
            log::error!("io_uring: operations still in flight at drop; leaking their buffers");
            std::mem::forget(std::mem::take(&mut self.conns));
            std::mem::forget(self.pool.take());
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new([0; 8])));
        }
        drop(ring);
    }
}

/// Submits the send of connection `e`'s staged output (the rest of it
/// after a partial send); a full submission queue ends the connection.
fn submit_send<D>(ring: Option<&mut Ring>, e: &mut Entry<D>, i: usize) {
    let Some(ring) = ring else {
        return;
    };
    // SAFETY: the output is not touched while `sending` (but by the send's
    // completion), and the entry, which owns it, is removed only once no
    // operation of its is in flight.
    let sqe = unsafe { e.out.send_sqe(e.stream.as_raw_fd(), Op::Send(i).encode()) };
    // SAFETY: as above.
    if let Err(err) = unsafe { ring.push(&sqe) } {
        e.out.sending = false;
        e.ended.get_or_insert(Some(err.into()));
    }
}

/// Frames from this size on (the rest of one still to come) are read
/// into the connection's own receive space (a loan) rather than through
/// the pool: one copy less for every byte of them.
const LOAN_MIN: u64 = 2 * POOL_BUF as u64;

/// Keeps connection `e`'s receive as its turn wants it (`read`): a
/// multishot receive on the pool while it reads between frames, a loan
/// of its own receive space for the rest of a large frame, nothing while
/// it does not read (a multishot armed meanwhile is cancelled; what it
/// delivers until it ends is still fed, at most what the socket holds).
fn steer_recv<D>(
    ring: &mut Ring,
    pool: &BufRing,
    e: &mut Entry<D>,
    i: usize,
    read: bool,
) -> io::Result<()> {
    let large = e
        .driver
        .session()
        .connection()
        .is_some_and(|c| c.frame_bytes_expected() >= LOAN_MIN);
    match e.recv {
        Recv::Idle if read => arm_recv(ring, pool, e, i, large),
        Recv::Multi { cancelled: false } if !read || large => {
            e.recv = Recv::Multi { cancelled: true };
            let cancel = opcode::AsyncCancel::new(Op::Recv(i).encode())
                .build()
                .user_data(Op::Cancel.encode());
            // SAFETY: a cancellation names no buffer.
            unsafe { ring.push(&cancel) }
        }
        _ => Ok(()),
    }
}

/// Arms connection `e`'s receive: into its own receive space for the rest
/// of a `large` frame, else a multishot receive on the pool.
fn arm_recv<D>(
    ring: &mut Ring,
    pool: &BufRing,
    e: &mut Entry<D>,
    i: usize,
    large: bool,
) -> io::Result<()> {
    let fd = types::Fd(e.stream.as_raw_fd());
    let loan = if large { e.driver.lend() } else { None };
    let sqe = match loan {
        Some(mut loan) => {
            let space = loan.space();
            let sqe = opcode::Recv::new(fd, space.as_mut_ptr(), space.len() as u32).build();
            e.recv = Recv::Loan(loan);
            sqe
        }
        None => {
            e.recv = Recv::Multi { cancelled: false };
            opcode::RecvMulti::new(fd, pool.group()).build()
        }
    };
    let sqe = sqe.user_data(Op::Recv(i).encode());
    // SAFETY: a loan's space is heap memory owned by `e.recv` until the
    // completion takes it back (the entry is removed only once no
    // operation of its is in flight); pool buffers belong to the ring.
    let r = unsafe { ring.push(&sqe) };
    if r.is_err() {
        e.recv = Recv::Idle;
    }
    r
}

/// Turns connection `e` until it waits (`Some`) or ends (`None`), handing
/// its events to the handler.
fn pump<H: Handler>(e: &mut Entry<H::Data>, h: &mut H) -> Result<Option<Wait>, Error> {
    loop {
        let turn = e.driver.turn_app(&mut Completions, &mut [])?;
        let mut conn = Conn {
            driver: &mut e.driver,
            push: &mut e.push,
        };
        if !e.opened && conn.driver.is_open() {
            e.opened = true;
            h.opened(&mut conn, &mut e.data);
            if matches!(turn, Turn::Wait(_)) {
                continue;
            }
        }
        match turn {
            Turn::Event(AppEvent::Event(ev)) => h.event(&mut conn, &mut e.data, ev),
            Turn::Event(AppEvent::Timer) => h.timer(&mut conn, &mut e.data),
            Turn::Event(AppEvent::Writable) => h.writable(&mut conn, &mut e.data),
            Turn::Wait(w) => return Ok(Some(w)),
            Turn::Closed => return Ok(None),
        }
    }
}

/// The libwebsockets server model on the io_uring loop, as on mio: each
/// connection runs the protocol its handshake chose, with a push handle
/// ([`UringPush`]) and the connection's timer and writable wake-ups.
impl Handler for crate::Protocols {
    type Data = Option<crate::Running>;

    fn accepted(&mut self, _peer: SocketAddr) -> Self::Data {
        None
    }

    fn opened(&mut self, conn: &mut Conn<'_>, data: &mut Self::Data) {
        let push = conn
            .push_handle()
            .map(|p| Arc::new(p) as Arc<dyn crate::Push>);
        *data = self.attach(conn.driver_mut(), push);
        if data.is_none() {
            let _ = conn
                .driver_mut()
                .close(CloseCode::INTERNAL_ERROR, "no protocol");
        }
    }

    fn event(&mut self, conn: &mut Conn<'_>, data: &mut Self::Data, event: Event) {
        if let Some(run) = data {
            self.dispatch(run, conn.driver_mut(), AppEvent::Event(event));
        }
    }

    fn timer(&mut self, conn: &mut Conn<'_>, data: &mut Self::Data) {
        if let Some(run) = data {
            self.dispatch(run, conn.driver_mut(), AppEvent::Timer);
        }
    }

    fn writable(&mut self, conn: &mut Conn<'_>, data: &mut Self::Data) {
        if let Some(run) = data {
            self.dispatch(run, conn.driver_mut(), AppEvent::Writable);
        }
    }

    fn closed(&mut self, _peer: SocketAddr, data: Self::Data, error: Option<Error>) {
        if let Some(run) = data {
            self.finish(run, error);
        }
    }
}

/// A client on its own io_uring, with blocking-style calls (as
/// [`mio::Client`](crate::mio::Client)): [`recv`](Self::recv) waits for
/// the next event; sends are queued and written by the next call (or
/// [`flush`](Self::flush)).
pub struct Client {
    /// Dropped (after cancelling) before the buffers below.
    ring: Ring,
    stream: TcpStream,
    driver: Driver,
    recv: Recv,
    out: Output,
    /// The buffer receives go into between frames (the handshake, TLS).
    buf: Box<[u8]>,
    cqes: Vec<(u64, i32, u32)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `url` and completes the handshake (within
    /// `options.timeout`).
    pub fn connect(url: &str, options: &ClientOptions) -> Result<Self, Error> {
        Client::connect_request(ClientRequest::new(url)?, options)
    }

    /// Like [`connect`](Self::connect) with a prepared request
    /// (subprotocols, dialect, origin, headers); what the server chose is
    /// in [`negotiated`](Self::negotiated).
    pub fn connect_request(request: ClientRequest, options: &ClientOptions) -> Result<Self, Error> {
        let (host, port, mut driver) = options.plan(request)?;
        let addr = resolve(&host, port)?;
        driver.set_peer(addr);
        let stream = TcpStream::connect_timeout(&addr, options.timeout)
            .map_err(|e| Error::from(e).with_peer(Some(addr)))?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            ring: Ring::shared(8)?,
            stream,
            driver,
            recv: Recv::Idle,
            out: Output::default(),
            buf: vec![0; SCRATCH].into_boxed_slice(),
            cqes: Vec::new(),
        };
        let deadline = c.driver.clock().now() + options.timeout;
        loop {
            let turn = c.driver.turn_handshake(&mut Completions, &mut [])?;
            match turn {
                Turn::Event(()) => {
                    c.submit()?;
                    return Ok(c);
                }
                Turn::Wait(w) if c.driver.clock().now() < deadline => {
                    let until = w.until.map_or(deadline, |t| t.min(deadline));
                    c.wait(w, Some(until))?;
                }
                Turn::Wait(_) => return Err(ErrorKind::Timeout("handshake").into()),
                Turn::Closed => return Err(ErrorKind::Closed.into()),
            }
        }
    }

    /// The connection's driver (session, sends, timers).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The connection's driver, to send with (written by the next call).
    pub fn driver_mut(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// What the handshake negotiated (subprotocol, extensions, dialect).
    pub fn negotiated(&self) -> Option<&Handshake> {
        self.driver.negotiated()
    }

    /// Submits the staged output's send and, if `w` asks to read and no
    /// receive is in flight, a receive; then waits for a completion (or
    /// `until`) and applies it.
    fn wait(&mut self, w: Wait, until: Option<Instant>) -> Result<(), Error> {
        if w.read && matches!(self.recv, Recv::Idle) {
            self.arm_recv()?;
        }
        self.submit()?;
        if w.again {
            return Ok(());
        }
        let clock = self.driver.clock();
        self.ring
            .submit_wait(until.map(|t| clock.until(t)))
            .map_err(|e| self.fail(e))?;
        self.complete()
    }

    fn fail(&mut self, e: io::Error) -> Error {
        Error::from(e).with_peer(self.driver.peer())
    }

    fn arm_recv(&mut self) -> Result<(), Error> {
        let fd = types::Fd(self.stream.as_raw_fd());
        let sqe = match self.driver.lend() {
            Some(mut loan) => {
                let space = loan.space();
                let sqe = opcode::Recv::new(fd, space.as_mut_ptr(), space.len() as u32).build();
                self.recv = Recv::Loan(loan);
                sqe
            }
            None => {
                self.recv = Recv::Pool;
                opcode::Recv::new(fd, self.buf.as_mut_ptr(), self.buf.len() as u32).build()
            }
        };
        let sqe = sqe.user_data(Op::Recv(0).encode());
        // SAFETY: the loan (held in `self.recv`) or `self.buf` (boxed) is
        // not touched until the completion; `Drop` cancels and waits for
        // every operation before the buffers go.
        unsafe { self.ring.push(&sqe) }.map_err(|e| self.fail(e))
    }

    /// Submits a send for the staged output, if any and none in flight.
    fn submit(&mut self) -> Result<(), Error> {
        if let Err(e) = self.out.fill(&mut self.driver) {
            return Err(self.fail(e));
        }
        if self.out.unsent() == 0 || self.out.sending {
            return Ok(());
        }
        // SAFETY: the output is not touched while `sending`; `Drop`
        // cancels and waits before it goes.
        let sqe = unsafe {
            self.out
                .send_sqe(self.stream.as_raw_fd(), Op::Send(0).encode())
        };
        // SAFETY: as above.
        unsafe { self.ring.push(&sqe) }.map_err(|e| self.fail(e))
    }

    /// Applies the completions that arrived.
    fn complete(&mut self) -> Result<(), Error> {
        let mut cqes = std::mem::take(&mut self.cqes);
        self.ring.reap(&mut cqes);
        let mut result = Ok(());
        for &(data, res, _) in &cqes {
            let r = match Op::decode(data) {
                Some(Op::Recv(_)) => self.received(res),
                Some(Op::Send(_)) => match self.out.completed(&mut self.driver, res) {
                    Ok(_) => self.submit(),
                    Err(e) => Err(self.fail(e)),
                },
                _ => Ok(()),
            };
            if result.is_ok() {
                result = r;
            }
        }
        self.cqes = cqes;
        result
    }

    fn received(&mut self, res: i32) -> Result<(), Error> {
        let read = if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(usize::try_from(res).unwrap_or(0))
        };
        match std::mem::take(&mut self.recv) {
            Recv::Loan(loan) => self.driver.complete_loan(loan, read).map(drop),
            Recv::Pool => {
                let read = read.map(|n| self.buf.get(..n).unwrap_or_default());
                self.driver.complete_read(read).map(drop)
            }
            Recv::Idle | Recv::Multi { .. } => Ok(()),
        }
    }

    /// The next WebSocket event; `Ok(None)` once the connection is closed.
    pub fn recv(&mut self) -> Result<Option<Event>, Error> {
        loop {
            match self.driver.turn(&mut Completions, &mut [])? {
                Turn::Event(ev) => {
                    self.submit()?;
                    return Ok(Some(ev));
                }
                Turn::Wait(w) => self.wait(w, w.until)?,
                Turn::Closed => {
                    self.drain_output()?;
                    return Ok(None);
                }
            }
        }
    }

    /// Writes what is queued and waits until it is sent (events that
    /// arrive meanwhile stay for [`recv`](Self::recv)). A peer that stopped
    /// reading fails it at the connection's write timeout
    /// ([`TimeoutError::WriteStalled`](ws_proto::TimeoutError::WriteStalled)):
    /// the timers are served while it waits.
    pub fn flush(&mut self) -> Result<(), Error> {
        loop {
            self.submit()?;
            if !self.out.sending && self.driver.pending_write() == 0 {
                return Ok(());
            }
            let (_, next) = self.driver.serve_blocked_write()?;
            let clock = self.driver.clock();
            self.ring
                .submit_wait(next.map(|t| clock.until(t)))
                .map_err(|e| self.fail(e))?;
            self.complete()?;
        }
    }

    /// Waits for the staged output's last send (the close frame), for
    /// [`LINGER`] at most: a peer that does not take it is not waited for.
    fn drain_output(&mut self) -> Result<(), Error> {
        self.submit()?;
        let clock = self.driver.clock();
        let until = clock.now() + LINGER;
        while self.out.sending && clock.now() < until {
            self.ring
                .submit_wait(Some(clock.until(until)))
                .map_err(|e| self.fail(e))?;
            self.complete()?;
        }
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.driver.send_text(text)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<ws_proto::Bytes>) -> Result<(), Error> {
        self.driver.send_binary(data)
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, payload: impl Into<ws_proto::Bytes>) -> Result<(), Error> {
        self.driver.send_ping(payload)
    }

    /// Queues one fragment of a message (`fin` on the last).
    pub fn send_fragment(
        &mut self,
        kind: ws_proto::MessageKind,
        data: impl Into<ws_proto::Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        self.driver.send_fragment(kind, data, fin)
    }

    /// Starts the closing handshake.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.driver.close(code, reason)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if !self.ring.cancel_all() {
            log::error!("io_uring: operations still in flight at drop; leaking their buffers");
            std::mem::forget(std::mem::take(&mut self.buf));
            std::mem::forget(std::mem::take(&mut self.out));
            std::mem::forget(std::mem::take(&mut self.recv));
        }
    }
}

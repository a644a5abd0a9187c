//! A virtual-time network of client and server [`Session`]s for your own
//! tests: whole conversations, deterministic, in memory, under the faults
//! real networks and event loops produce.
//!
//! A [`Sim`] holds any number of *links*, each a client [`Session`] wired
//! to a server [`Session`] (RFC 6455 §4 handshake first, then §5–§7). It
//! plays every role an adapter plays (it reads, drains events, writes,
//! arms timers, closes the transport when the session
//! [`wants_close`](Session::wants_close)) and hands every event to your
//! [`Handler`], the code under test, which answers through a [`Cx`]. Time
//! is virtual: [`run_for`](Sim::run_for) jumps from timer to timer, so a
//! test of a 30-second keep-alive takes microseconds.
//!
//! The faults, chosen by [`Faults`] and a seed (the same seed, the same
//! run):
//!
//! - **adversarial chunking**: bytes arrive in pieces of 1 to
//!   [`max_chunk`](Faults::max_chunk) bytes, splitting headers, masks,
//!   UTF-8 code points and the handshake anywhere;
//! - **late and reordered timers**: a timer fires up to
//!   [`timer_late`](Faults::timer_late) after its deadline, timers due
//!   together fire in random order, and with
//!   [`spurious_wakeups`](Faults::spurious_wakeups) sessions are woken
//!   before their deadline (they must do nothing);
//! - **a lost TCP FIN** ([`Sim::lose_fin`]): the endpoint's close of its
//!   transport never reaches the peer;
//! - **a peer that stops reading** ([`Sim::stop_reading`]): bytes toward it
//!   fill a bounded in-flight [`window`](Faults::window), then stay queued
//!   in the sender's session, as a full socket buffer leaves them;
//! - **a cut link** ([`Sim::cut`]): both directions go silent, no FIN;
//! - **an abrupt close** ([`Sim::close_transport`]) and **a driver that
//!   ignores `wants_close`** ([`Sim::ignore_close`]).
//!
//! # Example: testing a chat protocol
//!
//! The code under test is a chat server: it relays every text message to
//! the other members, prefixed with the sender's link number.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ws_proto::sim::{Cx, Endpoint, Faults, Handler, Sim};
//! use ws_proto::session::{SessionConfig, SessionEvent};
//! use ws_proto::{CloseCode, Event, Message};
//! use http_upgrade::{ClientRequest, ServerConfig};
//!
//! #[derive(Default)]
//! struct Chat {
//!     members: Vec<Endpoint>,
//! }
//!
//! impl Handler for Chat {
//!     fn on_event(&mut self, cx: &mut Cx<'_>, event: &SessionEvent) {
//!         let me = cx.endpoint();
//!         if !me.is_server() {
//!             return; // the clients only record what they receive
//!         }
//!         match event {
//!             SessionEvent::Open(_) => self.members.push(me),
//!             SessionEvent::Ws(Event::Text(text)) => {
//!                 let line = format!("{}: {text}", me.link);
//!                 for &m in self.members.iter().filter(|&&m| m != me) {
//!                     cx.send(m, Message::text(line.clone()));
//!                 }
//!             }
//!             SessionEvent::Ws(Event::Close { .. }) => self.members.retain(|&m| m != me),
//!             _ => {}
//!         }
//!     }
//! }
//!
//! // Bytes in 1-to-3-byte pieces, late and reordered timers, seed 7.
//! let mut faults = Faults::adversarial(7);
//! faults.max_chunk = 3;
//! let mut sim = Sim::new(faults, Chat::default());
//! let config = Arc::new(SessionConfig::default());
//! let http = Arc::new(ServerConfig::default());
//! let mut join = || -> Result<usize, Box<dyn std::error::Error>> {
//!     let request = ClientRequest::new("ws://chat.test/room")?;
//!     Ok(sim.connect(request, config.clone(), http.clone(), config.clone())?)
//! };
//! let (alice, bob, carol) = (join()?, join()?, join()?);
//! sim.settle()?;
//! assert_eq!(sim.handler().members.len(), 3);
//!
//! sim.send(Endpoint::client(alice), Message::text("hi all"))?;
//! sim.run_for(Duration::from_secs(1))?;
//! for who in [bob, carol] {
//!     let got: Vec<_> = sim.take_events(Endpoint::client(who));
//!     assert!(got.contains(&SessionEvent::Ws(Event::Text(format!("{alice}: hi all").into()))));
//! }
//!
//! // Bob leaves with a clean close; alice's next line reaches carol only.
//! sim.close(Endpoint::client(bob), CloseCode::NORMAL, "bye")?;
//! sim.run_for(Duration::from_secs(1))?;
//! assert!(sim.is_transport_closed(Endpoint::server(bob)));
//! sim.send(Endpoint::client(alice), Message::text("where did bob go?"))?;
//! sim.run_for(Duration::from_secs(1))?;
//! assert_eq!(sim.handler().members.len(), 2);
//! assert!(sim.take_events(Endpoint::client(carol)).iter().any(|e| matches!(
//!     e, SessionEvent::Ws(Event::Text(t)) if t.as_str().ends_with("where did bob go?")
//! )));
//! assert!(sim.take_events(Endpoint::client(bob)).iter().all(|e| !matches!(
//!     e, SessionEvent::Ws(Event::Text(_))
//! )));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use http_upgrade::{Accept, ClientRequest, Response, ServerConfig};

use crate::session::{Session, SessionConfig, SessionError, SessionEvent};
use crate::{CloseCode, Instant, Message, Role, Utf8Bytes};

/// Rounds [`Sim::settle`] allows before it reports [`SimError::Livelock`].
pub const MAX_ROUNDS: usize = 100_000;

/// Timers [`Sim::run_until`] fires before it reports
/// [`SimError::TimerStorm`] (a session re-arming a timer it keeps missing).
pub const MAX_TIMER_FIRES: usize = 100_000;

/// The faults a [`Sim`] injects. `Faults::default()` is a well-behaved
/// network (whole writes, punctual timers); [`Faults::adversarial`] turns
/// everything on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Faults {
    /// Seeds every random choice: the same seed, the same run.
    pub seed: u64,
    /// Bytes reach a session in pieces of 1 to `max_chunk` bytes; 0 means
    /// as written (every pending byte in one [`Session::receive`]).
    pub max_chunk: usize,
    /// A timer fires up to this long after its deadline (uniformly, from
    /// the seed); timers due at once fire in random order.
    pub timer_late: Duration,
    /// When a timer fires, wake another session whose deadline has not
    /// come (a sans-IO machine must ignore an early `handle_timeout`).
    pub spurious_wakeups: bool,
    /// Bytes in flight toward an endpoint, at most (a socket buffer): a
    /// sender's output beyond it stays queued in its session until the
    /// receiver reads. At least 1.
    pub window: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: 1,
            max_chunk: 0,
            timer_late: Duration::ZERO,
            spurious_wakeups: false,
            window: 256 * 1024,
        }
    }
}

impl Faults {
    /// Every fault on, from `seed`: 1-to-7-byte pieces, timers up to
    /// 250 ms late and reordered, spurious wakeups, a 4 KiB window.
    pub fn adversarial(seed: u64) -> Self {
        Faults {
            seed,
            max_chunk: 7,
            timer_late: Duration::from_millis(250),
            spurious_wakeups: true,
            window: 4096,
        }
    }
}

/// One side of one link: `link` is what [`Sim::connect`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The link number.
    pub link: usize,
    /// Which side.
    pub role: Role,
}

impl Endpoint {
    /// The client side of `link`.
    pub const fn client(link: usize) -> Self {
        Endpoint {
            link,
            role: Role::Client,
        }
    }

    /// The server side of `link`.
    pub const fn server(link: usize) -> Self {
        Endpoint {
            link,
            role: Role::Server,
        }
    }

    /// The other side of the same link.
    pub const fn peer(self) -> Self {
        Endpoint {
            link: self.link,
            role: match self.role {
                Role::Client => Role::Server,
                Role::Server => Role::Client,
            },
        }
    }

    /// True for a server side.
    pub const fn is_server(self) -> bool {
        matches!(self.role, Role::Server)
    }

    const fn side(self) -> usize {
        match self.role {
            Role::Client => 0,
            Role::Server => 1,
        }
    }
}

/// Why a [`Sim`] call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No such link or endpoint.
    #[error("no endpoint {0:?}")]
    NoEndpoint(Endpoint),
    /// The endpoint's connection is not open (handshake pending, or over).
    #[error("{0:?} has no open connection")]
    NotOpen(Endpoint),
    /// The sessions kept exchanging bytes for [`MAX_ROUNDS`] rounds
    /// without a quiet moment.
    #[error("no quiet moment after {0} rounds")]
    Livelock(usize),
    /// More than [`MAX_TIMER_FIRES`] timers fired in one run.
    #[error("more than {0} timer fires in one run")]
    TimerStorm(usize),
    /// The session refused the call.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The code under test: gets every event of every endpoint, in the order
/// the sessions produce them. The event is also recorded for
/// [`Sim::events`] after the call.
pub trait Handler {
    /// One event of `cx.endpoint()`.
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &SessionEvent);
}

/// Records only.
impl Handler for () {
    fn on_event(&mut self, _: &mut Cx<'_>, _: &SessionEvent) {}
}

impl<F: FnMut(&mut Cx<'_>, &SessionEvent)> Handler for F {
    fn on_event(&mut self, cx: &mut Cx<'_>, event: &SessionEvent) {
        self(cx, event)
    }
}

/// What a [`Handler`] can do while it handles an event.
pub struct Cx<'a> {
    endpoint: Endpoint,
    now: Instant,
    session: &'a mut Session,
    outbox: &'a mut Vec<(Endpoint, Message)>,
    rng: &'a mut SplitMix,
    answered: bool,
    dropped: usize,
}

impl Cx<'_> {
    /// Whose event this is.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The endpoint's own session, for anything the calls below do not
    /// cover (streamed sends, `set_connection_config` before accepting).
    pub fn session(&mut self) -> &mut Session {
        self.session
    }

    /// Sends `msg` on `to`'s connection: at once on this endpoint's own
    /// (in order with what the session queues itself, such as automatic
    /// pongs, as an adapter's callback would), on any other once this
    /// event is handled. A send the connection refuses (it is closing, or
    /// gone) is counted in [`Sim::dropped_sends`], as a broadcast to a
    /// departing member would be.
    pub fn send(&mut self, to: Endpoint, msg: Message) {
        if to != self.endpoint {
            return self.outbox.push((to, msg));
        }
        let now = self.now;
        let sent = self
            .session
            .connection_mut()
            .map(|c| c.send(now, msg).is_ok());
        if sent != Some(true) {
            self.dropped += 1;
        }
    }

    /// Server, on [`SessionEvent::Upgrade`]: accepts with `accept`. An
    /// upgrade the handler leaves unanswered is accepted with
    /// [`Accept::for_request`].
    pub fn accept(&mut self, accept: Accept) -> Result<(), SessionError> {
        self.answered = true;
        self.session.accept(self.now, accept, self.rng).map(|_| ())
    }

    /// Server, on [`SessionEvent::Upgrade`]: refuses it with `response`
    /// (RFC 6455 §4.2.2: any status but 101).
    pub fn reject(&mut self, response: Response) -> Result<(), SessionError> {
        self.answered = true;
        self.session.reject(response)
    }

    /// Server, on [`SessionEvent::Request`]: answers the plain HTTP
    /// request (one left unanswered gets a 404).
    pub fn respond(&mut self, response: Response) -> Result<(), SessionError> {
        self.answered = true;
        self.session.respond(self.now, response)
    }
}

/// The simulated network. See the [module docs](self).
pub struct Sim<H = ()> {
    handler: H,
    faults: Faults,
    rng: SplitMix,
    now: Instant,
    links: Vec<Link>,
    outbox: Vec<(Endpoint, Message)>,
    closes: Vec<Endpoint>,
}

struct Link {
    ends: [End; 2],
    cut: bool,
}

struct End {
    session: Session,
    events: Vec<SessionEvent>,
    error: Option<SessionError>,
    /// Bytes in flight toward this end.
    inbox: VecDeque<u8>,
    /// The peer closed its transport: EOF once the inbox is read.
    eof_pending: bool,
    transport_closed: bool,
    reading: bool,
    fin_lost: bool,
    obeys_close: bool,
    dropped_sends: usize,
}

impl End {
    fn new(session: Session) -> Self {
        End {
            session,
            events: Vec::new(),
            error: None,
            inbox: VecDeque::new(),
            eof_pending: false,
            transport_closed: false,
            reading: true,
            fin_lost: false,
            obeys_close: true,
            dropped_sends: 0,
        }
    }
}

impl<H: Handler> Sim<H> {
    /// An empty network at virtual time zero.
    pub fn new(faults: Faults, handler: H) -> Self {
        Sim {
            handler,
            rng: SplitMix(faults.seed),
            faults: Faults {
                window: faults.window.max(1),
                ..faults
            },
            now: Instant::ZERO,
            links: Vec::new(),
            outbox: Vec::new(),
            closes: Vec::new(),
        }
    }

    /// Adds a link: a client session sending `request` (its mask keys
    /// drawn from the seed) and a server session with `http` and `server`.
    /// Returns the link number. Nothing moves until the next
    /// [`settle`](Self::settle) or `run_*`.
    pub fn connect(
        &mut self,
        request: ClientRequest,
        client: Arc<SessionConfig>,
        http: Arc<ServerConfig>,
        server: Arc<SessionConfig>,
    ) -> Result<usize, SimError> {
        let rng = SplitMix(self.rng.next());
        let c = Session::client(request, client, alloc::boxed::Box::new(rng), self.now)?;
        let s = Session::server(http, server, self.now);
        self.links.push(Link {
            ends: [End::new(c), End::new(s)],
            cut: false,
        });
        Ok(self.links.len() - 1)
    }

    /// [`connect`](Self::connect) in short: a client asking for
    /// `ws://sim.test/`, no extensions, the default server policy, and
    /// these connection settings on each side.
    pub fn link(
        &mut self,
        client: crate::Config,
        server: crate::Config,
    ) -> Result<usize, SimError> {
        let request = ClientRequest::new("ws://sim.test/")
            .map_err(|e| SimError::Session(SessionError::Handshake(e)))?;
        self.connect(
            request,
            Arc::new(SessionConfig::new(client)),
            Arc::new(ServerConfig::default()),
            Arc::new(SessionConfig::new(server)),
        )
    }

    /// The code under test.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The code under test, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The number of links.
    pub fn links(&self) -> usize {
        self.links.len()
    }

    fn end(&self, ep: Endpoint) -> Option<&End> {
        self.links.get(ep.link).map(|l| &l.ends[ep.side()])
    }

    fn end_mut(&mut self, ep: Endpoint) -> Result<&mut End, SimError> {
        self.links
            .get_mut(ep.link)
            .map(|l| &mut l.ends[ep.side()])
            .ok_or(SimError::NoEndpoint(ep))
    }

    /// The endpoint's session.
    pub fn session(&self, ep: Endpoint) -> Option<&Session> {
        self.end(ep).map(|e| &e.session)
    }

    /// The endpoint's session, mutably (sends through it go out at the
    /// next `settle` or `run_*`).
    pub fn session_mut(&mut self, ep: Endpoint) -> Option<&mut Session> {
        self.end_mut(ep).ok().map(|e| &mut e.session)
    }

    /// Every event the endpoint produced so far (empty for an unknown one).
    pub fn events(&self, ep: Endpoint) -> &[SessionEvent] {
        self.end(ep).map_or(&[], |e| &e.events)
    }

    /// The endpoint's events so far, removed.
    pub fn take_events(&mut self, ep: Endpoint) -> Vec<SessionEvent> {
        self.end_mut(ep)
            .map(|e| core::mem::take(&mut e.events))
            .unwrap_or_default()
    }

    /// The error that ended the endpoint's session, if one did (the
    /// close code it sent is `error.close_code()`).
    pub fn error(&self, ep: Endpoint) -> Option<&SessionError> {
        self.end(ep).and_then(|e| e.error.as_ref())
    }

    /// True once the endpoint closed its transport.
    pub fn is_transport_closed(&self, ep: Endpoint) -> bool {
        self.end(ep).is_some_and(|e| e.transport_closed)
    }

    /// Every endpoint that closed its transport, in the order they did
    /// (RFC 6455 §7.1.1: the server first, normally).
    pub fn transport_closes(&self) -> &[Endpoint] {
        &self.closes
    }

    /// The endpoint's open connection, for calls the `Sim` does not wrap
    /// (fragments, pings, prepared messages); what it queues goes out at
    /// the next `settle` or `run_*`.
    pub fn connection_mut(&mut self, ep: Endpoint) -> Option<&mut crate::Connection> {
        self.session_mut(ep).and_then(|s| s.connection_mut())
    }

    /// Puts `bytes` in flight toward the endpoint as if its peer had
    /// written them (a hostile or broken peer), bypassing the window.
    pub fn inject(&mut self, ep: Endpoint, bytes: &[u8]) -> Result<(), SimError> {
        self.end_mut(ep)?.inbox.extend(bytes);
        Ok(())
    }

    /// Bytes in flight toward the endpoint (written, not yet read).
    pub fn in_flight(&self, ep: Endpoint) -> usize {
        self.end(ep).map_or(0, |e| e.inbox.len())
    }

    /// Sends [`Cx::send`] refused on the endpoint.
    pub fn dropped_sends(&self, ep: Endpoint) -> usize {
        self.end(ep).map_or(0, |e| e.dropped_sends)
    }

    /// Sends `msg` on the endpoint's open connection now.
    pub fn send(&mut self, ep: Endpoint, msg: Message) -> Result<(), SimError> {
        let now = self.now;
        let conn = self
            .end_mut(ep)?
            .session
            .connection_mut()
            .ok_or(SimError::NotOpen(ep))?;
        conn.send(now, msg).map_err(|e| SimError::Session(e.into()))
    }

    /// Starts the closing handshake on the endpoint (RFC 6455 §7.1.2).
    pub fn close(
        &mut self,
        ep: Endpoint,
        code: CloseCode,
        reason: impl Into<Utf8Bytes>,
    ) -> Result<(), SimError> {
        let reason = reason.into();
        self.send(ep, Message::Close { code, reason })
    }

    /// The endpoint stops reading: bytes toward it fill the window, then
    /// back up into the peer's session.
    pub fn stop_reading(&mut self, ep: Endpoint) -> Result<(), SimError> {
        self.end_mut(ep)?.reading = false;
        Ok(())
    }

    /// The endpoint reads again.
    pub fn resume_reading(&mut self, ep: Endpoint) -> Result<(), SimError> {
        self.end_mut(ep)?.reading = true;
        Ok(())
    }

    /// When the endpoint closes its transport, the peer never learns it
    /// (the FIN is lost and nothing follows).
    pub fn lose_fin(&mut self, ep: Endpoint) -> Result<(), SimError> {
        self.end_mut(ep)?.fin_lost = true;
        Ok(())
    }

    /// The endpoint's driver ignores [`Session::wants_close`] and keeps
    /// its transport open (a buggy or hostile peer).
    pub fn ignore_close(&mut self, ep: Endpoint) -> Result<(), SimError> {
        self.end_mut(ep)?.obeys_close = false;
        Ok(())
    }

    /// The endpoint closes its transport now, whatever its session says:
    /// the peer reads what is in flight, then EOF (unless the FIN is lost).
    pub fn close_transport(&mut self, ep: Endpoint) -> Result<(), SimError> {
        let end = self.end_mut(ep)?;
        if end.transport_closed {
            return Ok(());
        }
        end.transport_closed = true;
        let lost = end.fin_lost;
        self.closes.push(ep);
        if let Some(link) = self.links.get_mut(ep.link) {
            let peer = &mut link.ends[ep.peer().side()];
            peer.eof_pending |= !lost && !link.cut;
        }
        Ok(())
    }

    /// The link goes silent both ways: what is in flight and everything
    /// written later is lost, and no FIN ever arrives.
    pub fn cut(&mut self, link: usize) -> Result<(), SimError> {
        let l = self
            .links
            .get_mut(link)
            .ok_or(SimError::NoEndpoint(Endpoint::client(link)))?;
        l.cut = true;
        for e in &mut l.ends {
            e.inbox.clear();
            e.eof_pending = false;
        }
        Ok(())
    }

    /// Runs every endpoint until nothing moves, without advancing time.
    pub fn settle(&mut self) -> Result<(), SimError> {
        for _ in 0..MAX_ROUNDS {
            let mut progress = false;
            let n = self.links.len() * 2;
            let start = if n == 0 { 0 } else { self.rng.below(n) };
            for i in 0..n {
                let k = (start + i) % n;
                let ep = Endpoint {
                    link: k / 2,
                    role: if k % 2 == 0 {
                        Role::Client
                    } else {
                        Role::Server
                    },
                };
                progress |= self.turn(ep)?;
            }
            if !progress {
                return Ok(());
            }
        }
        Err(SimError::Livelock(MAX_ROUNDS))
    }

    /// Settles, then advances virtual time by `d`, firing every timer that
    /// comes due on the way (late and reordered as [`Faults`] says).
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        let limit = self.now + d;
        self.run_until(limit)
    }

    /// Settles, then advances virtual time to `limit` (see
    /// [`run_for`](Self::run_for)).
    pub fn run_until(&mut self, limit: Instant) -> Result<(), SimError> {
        self.settle()?;
        let mut fires = 0usize;
        while let Some(deadline) = self.next_deadline().filter(|&t| t <= limit) {
            let late = self.late();
            self.now = self
                .now
                .max(deadline.checked_add(late).unwrap_or(limit).min(limit));
            let mut due: Vec<Endpoint> = Vec::new();
            let mut early: Vec<Endpoint> = Vec::new();
            for ep in self.live() {
                match self.end(ep).and_then(|e| e.session.poll_timeout()) {
                    Some(t) if t <= self.now => due.push(ep),
                    Some(_) => early.push(ep),
                    None => {}
                }
            }
            self.shuffle(&mut due);
            if self.faults.spurious_wakeups && !early.is_empty() {
                let k = self.rng.below(early.len());
                let at = self.rng.below(due.len() + 1);
                due.insert(at, early[k]);
            }
            for ep in due {
                fires += 1;
                if fires > MAX_TIMER_FIRES {
                    return Err(SimError::TimerStorm(MAX_TIMER_FIRES));
                }
                let now = self.now;
                self.end_mut(ep)?.session.handle_timeout(now);
            }
            self.settle()?;
        }
        self.now = self.now.max(limit);
        Ok(())
    }

    /// The endpoints whose transport is open.
    fn live(&self) -> Vec<Endpoint> {
        (0..self.links.len())
            .flat_map(|l| [Endpoint::client(l), Endpoint::server(l)])
            .filter(|&ep| !self.is_transport_closed(ep))
            .collect()
    }

    /// The earliest deadline armed on a live endpoint.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.live()
            .into_iter()
            .filter_map(|ep| self.end(ep).and_then(|e| e.session.poll_timeout()))
            .min()
    }

    fn late(&mut self) -> Duration {
        let max = u64::try_from(self.faults.timer_late.as_micros()).unwrap_or(u64::MAX);
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.rng.next() % (max + 1))
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.rng.below(i + 1);
            v.swap(i, j);
        }
    }

    /// One round for `ep`: read, drain events through the handler, write,
    /// maybe close the transport. True if anything happened.
    fn turn(&mut self, ep: Endpoint) -> Result<bool, SimError> {
        let now = self.now;
        let faults = self.faults;
        let Some(link) = self.links.get_mut(ep.link) else {
            return Err(SimError::NoEndpoint(ep));
        };
        let [client, server] = &mut link.ends;
        let (me, other) = match ep.role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        };
        if me.transport_closed {
            return Ok(false);
        }
        let mut progress = false;

        // Input, in adversarial pieces.
        if me.reading && !me.inbox.is_empty() {
            progress = true;
            let input: Vec<u8> = me.inbox.drain(..).collect();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = match faults.max_chunk {
                    0 => rest.len(),
                    max => 1 + self.rng.below(max.min(rest.len())),
                };
                let (piece, tail) = rest.split_at(n);
                rest = tail;
                if let Err(e) = me.session.receive(now, piece) {
                    // A failed session reads no further (its close is queued).
                    me.error.get_or_insert(e);
                    break;
                }
            }
        } else if me.reading && me.eof_pending {
            progress = true;
            me.eof_pending = false;
            me.session.receive_eof(now);
        }

        // Events, each through the handler.
        loop {
            match me.session.poll_event() {
                Ok(Some(ev)) => {
                    progress = true;
                    let mut cx = Cx {
                        endpoint: ep,
                        now,
                        session: &mut me.session,
                        outbox: &mut self.outbox,
                        rng: &mut self.rng,
                        answered: false,
                        dropped: 0,
                    };
                    self.handler.on_event(&mut cx, &ev);
                    let answered = cx.answered;
                    me.dropped_sends += cx.dropped;
                    let answer = match &ev {
                        SessionEvent::Upgrade(req) if !answered => me
                            .session
                            .accept(now, Accept::for_request(req), &mut self.rng)
                            .map(|_| ()),
                        SessionEvent::Request(_) if !answered => {
                            me.session.respond(now, Response::new(404))
                        }
                        _ => Ok(()),
                    };
                    if let Err(e) = answer
                        && !e.is_misuse()
                    {
                        me.error.get_or_insert(e);
                    }
                    me.events.push(ev);
                }
                Ok(None) => break,
                Err(e) => {
                    if me.error.is_none() {
                        me.error = Some(e);
                        progress = true;
                    }
                    break;
                }
            }
        }

        // Output, up to the window (all of it is lost on a cut link).
        let mut room = if link.cut {
            usize::MAX
        } else {
            faults.window.saturating_sub(other.inbox.len())
        };
        while room > 0 && me.session.pending_transmit() > 0 {
            let mut slices: [&[u8]; 16] = [&[]; 16];
            let k = me.session.transmit_slices(&mut slices);
            let mut n = 0;
            for s in &slices[..k] {
                let take = s.len().min(room - n);
                if !link.cut && !other.transport_closed {
                    other.inbox.extend(&s[..take]);
                }
                n += take;
                if n == room {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            me.session.advance_transmit(n);
            room -= n;
            progress = true;
        }

        // Teardown once the session says so: it says so with output
        // pending only when it gave up on flushing (a timeout), and then
        // what did not fit is lost with the socket.
        if me.obeys_close && me.session.wants_close() {
            me.transport_closed = true;
            self.closes.push(ep);
            other.eof_pending |= !me.fin_lost && !link.cut;
            progress = true;
        }
        if (link.cut || other.transport_closed) && me.session.pending_transmit() > 0 {
            // Nobody will read it: writes fail, as on a reset socket.
            let n = me.session.pending_transmit();
            me.session.advance_transmit(n);
        }

        // The handler's sends, now that no session is borrowed.
        for (to, msg) in core::mem::take(&mut self.outbox) {
            let Some(end) = self.links.get_mut(to.link).map(|l| &mut l.ends[to.side()]) else {
                continue;
            };
            let sent = end
                .session
                .connection_mut()
                .map(|c| c.send(now, msg).is_ok());
            if sent != Some(true) {
                end.dropped_sends += 1;
            } else {
                progress = true;
            }
        }
        Ok(progress)
    }
}

impl<H: Handler + core::fmt::Debug> core::fmt::Debug for Sim<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sim")
            .field("handler", &self.handler)
            .field("faults", &self.faults)
            .field("now", &self.now)
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}

/// SplitMix64: the sim's seeded choices and the clients' mask keys (test
/// use only: predictable by design).
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

impl rand_core::TryRng for SplitMix {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

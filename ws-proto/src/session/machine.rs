//! The [`Session`] machine: handshake, negotiation, connection.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use http_upgrade::{
    Accept, ClientEvent, ClientHandshake, ClientRequest, ConnectClient, ConnectUpgrade,
    ExtensionOffer, Handshake, HostedUpgrade, HttpRequest, HttpResponse, Response, ServerConfig,
    ServerEvent, ServerHandshake, UpgradeRequest,
};
use rand_core::Rng;

use super::negotiate::{Negotiator, negotiate_server};
use crate::UsageError;
use crate::connection::Settings;
use crate::record::{RecordOptions, Recorder, Transcript};
use crate::{
    Bytes, Config, Connection, Dialect, Error, Event, Extension, ExtensionError, Instant, MaskRng,
    Negotiated, Role, TransmitPart,
};

/// Settings shared by every session of an endpoint.
#[derive(Default)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Settings of the [`Connection`] that follows the handshake; its
    /// `dialect` is overwritten by the negotiated one.
    pub connection: Config,
    /// Extension negotiators, in preference order (the server answers in
    /// this order, which is also the chain order, RFC 6455 §9.1).
    pub negotiators: Vec<Box<dyn Negotiator>>,
}

impl SessionConfig {
    /// A config with `connection` settings and no extensions.
    pub fn new(connection: Config) -> Self {
        SessionConfig {
            connection,
            negotiators: Vec::new(),
        }
    }

    /// Adds a negotiator after the ones already there.
    pub fn with_negotiator(mut self, n: impl Negotiator + 'static) -> Self {
        self.negotiators.push(Box::new(n));
        self
    }
}

impl core::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names: Vec<&str> = self.negotiators.iter().map(|n| n.name()).collect();
        f.debug_struct("SessionConfig")
            .field("connection", &self.connection)
            .field("negotiators", &names)
            .finish()
    }
}

/// What a [`Session`] reports to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Server: a plain HTTP request; answer it with [`Session::respond`].
    /// (The handshake variants are boxed: the event is moved on every
    /// poll, and `Ws` is the one a connection spends its life on.)
    Request(Box<HttpRequest>),
    /// Server: a valid upgrade request; [`Session::accept`] or [`Session::reject`] it.
    Upgrade(Box<UpgradeRequest>),
    /// The WebSocket connection is open (both roles); sends are allowed now.
    Open(Box<Handshake>),
    /// Client: the server redirected (RFC 7231 §6.4); the session is over.
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Where to.
        location: String,
    },
    /// Client: the server refused the upgrade; the session is over.
    Rejected(Box<HttpResponse>),
    /// A WebSocket event from the [`Connection`].
    Ws(Event),
}

/// Why a [`Session`] failed or refused a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The opening handshake failed (its HTTP status is `.status()`); an
    /// error response may be queued for transmit.
    #[error("handshake: {0}")]
    Handshake(http_upgrade::Error),
    /// The connection failed (or a call was misused); see [`Error`].
    #[error(transparent)]
    Connection(#[from] Error),
    /// The server answered with an extension we cannot accept.
    #[error("extension negotiation: {0}")]
    Negotiation(ExtensionError),
}

/// Handshake failures stay `Handshake` (they have an HTTP status); a call
/// the handshake machine refused is misuse, reported as
/// [`UsageError::Handshake`] like every other misuse.
impl From<http_upgrade::Error> for SessionError {
    fn from(e: http_upgrade::Error) -> SessionError {
        match e {
            http_upgrade::Error::Misuse(m) => {
                SessionError::Connection(Error::Usage(UsageError::Handshake(m)))
            }
            e => SessionError::Handshake(e),
        }
    }
}

impl SessionError {
    /// A call in the wrong stage: the misuse [`UsageError::WrongState`].
    pub(crate) fn wrong_state(call: &'static str) -> SessionError {
        SessionError::Connection(Error::Usage(UsageError::WrongState(call)))
    }

    /// True for the caller's mistakes (the session is unaffected).
    pub fn is_misuse(&self) -> bool {
        matches!(self, SessionError::Connection(Error::Usage(_)))
    }
}

// The open stage is where a session spends its life: keep it inline rather
// than pay an allocation per connection for the short handshake stages.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Server(Box<ServerHandshake>),
    Client(Box<ClientHandshake>, MaskRng),
    Open(Connection),
    /// Redirected, rejected or failed in the handshake: flush and close.
    Done,
}

/// One WebSocket endpoint from its first byte to its close, either role.
///
/// See the [module docs](super) for the call order and an example.
pub struct Session {
    stage: Stage,
    role: Role,
    config: Arc<SessionConfig>,
    /// What only the opening handshake needs ([`Pre`]); `None` once the
    /// connection is open and all of it is spent.
    pre: Option<Box<Pre>>,
    err: Option<Box<SessionError>>,
    /// What the opening handshake settled, kept for the connection's life.
    handshake: Option<Box<Handshake>>,
    /// The time of the latest input or timer: a client's connection opens
    /// in `poll_event`, which takes none.
    now: Instant,
    /// The peer ended its stream before the handshake was over.
    eof: bool,
    /// No input, timer or command has reached the session yet.
    fresh: bool,
    /// A recorder is attached (here or in the connection): the one flag
    /// the hot path tests.
    recording: bool,
}

/// What only the opening handshake needs, in one box that is freed once
/// the connection is open and all of it is spent (the `101` sent, the
/// `Open` event polled): an open connection pays 8 bytes for the lot.
#[derive(Default)]
struct Pre {
    /// What the handshake machine had left to send when its stage ended
    /// (the `101`, an error response), sent before the connection's output.
    prelude: Bytes,
    /// Room lent by [`recv_buf`](Session::recv_buf) during the handshake.
    rx: Vec<u8>,
    /// The `Open` event of an accepted upgrade, until it is polled.
    opened: Option<Box<Handshake>>,
    /// The dialect and offers of the upgrade request the application holds.
    pending: Option<(Dialect, Vec<ExtensionOffer>)>,
    /// The connection settings to open with instead of the session
    /// config's ([`set_connection_config`](Session::set_connection_config)).
    connection: Option<Box<Config>>,
    /// The recorder until the connection opens (then the connection
    /// holds it): [`crate::record`].
    rec: Option<Box<Recorder>>,
}

impl Pre {
    fn is_spent(&self) -> bool {
        self.prelude.is_empty()
            && self.rx.capacity() == 0
            && self.opened.is_none()
            && self.pending.is_none()
            && self.connection.is_none()
            && self.rec.is_none()
    }
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let stage = match &self.stage {
            Stage::Server(_) => "server handshake",
            Stage::Client(..) => "client handshake",
            Stage::Open(_) => "open",
            Stage::Done => "done",
        };
        f.debug_struct("Session")
            .field("stage", &stage)
            .field("err", &self.err)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A server session waiting for the first request; the handshake
    /// deadline runs from `now`.
    #[must_use]
    pub fn server(http: Arc<ServerConfig>, config: Arc<SessionConfig>, now: Instant) -> Self {
        let hs = Box::new(ServerHandshake::new(http, now));
        Self::with_stage(Stage::Server(hs), Role::Server, config, now)
    }

    /// A client session: adds every negotiator's offers to `request`, builds
    /// the request with keys from `rng` (which then supplies mask keys) and
    /// queues it.
    #[must_use = "the session holds the request to send"]
    pub fn client(
        mut request: ClientRequest,
        config: Arc<SessionConfig>,
        mut rng: MaskRng,
        now: Instant,
    ) -> Result<Self, SessionError> {
        for n in &config.negotiators {
            request.extensions.extend(n.offers(request.dialect));
        }
        let hs = Box::new(ClientHandshake::new(request, &mut *rng, now)?);
        Ok(Self::with_stage(
            Stage::Client(hs, rng),
            Role::Client,
            config,
            now,
        ))
    }

    /// A server session for an upgrade a host HTTP server (hyper, axum,
    /// ...) parsed and checked with [`HostedUpgrade::new`]: negotiates the
    /// extensions as [`accept`](Self::accept) does (the negotiators'
    /// responses follow any in `accept`), accepts with `rng` supplying the
    /// hybi-04/05 nonce, and returns the session, open, with the `101`
    /// (RFC 6455 §4.2.2) for the host to send: nothing is queued in the
    /// session's own output.
    ///
    /// As after `accept`, [`handshake`](Self::handshake) is set and the
    /// first [`poll_event`](Self::poll_event) is [`SessionEvent::Open`]
    /// with the whole [`Handshake`] (key and nonce included). Bytes the
    /// host read past the request belong to the connection: feed them
    /// with [`receive`](Self::receive) before the upgraded stream's.
    /// `now` starts the connection's timers.
    ///
    /// A subprotocol or extension in `accept` that the client did not
    /// offer is misuse ([`SessionError::is_misuse`]); the upgrade is
    /// consumed (clone it first to retry).
    pub fn server_hosted<R: Rng + ?Sized>(
        config: Arc<SessionConfig>,
        upgrade: HostedUpgrade,
        mut accept: Accept,
        rng: &mut R,
        now: Instant,
    ) -> Result<(Session, Response), SessionError> {
        let req = upgrade.request();
        let exts = negotiate_server(
            &config.negotiators,
            req.dialect,
            &req.extensions,
            &mut accept,
        );
        let (h, response) = upgrade.accept(accept, rng)?;
        let mut session = Self::with_stage(Stage::Done, Role::Server, config, now);
        session.open(now, h, exts, None, Bytes::new())?;
        Ok((session, response))
    }

    /// A server session for a WebSocket over an HTTP/2 or HTTP/3 stream
    /// (extended CONNECT, RFC 8441 §5, RFC 9220 §3) whose request
    /// [`ConnectUpgrade::new`] checked: negotiates the extensions as
    /// [`server_hosted`](Self::server_hosted) does and returns the session,
    /// open, with the `200` for the host to send on the stream. The stream
    /// then carries the connection's bytes both ways; its end (END_STREAM,
    /// a QUIC FIN) is the [`receive_eof`](Self::receive_eof) of a TCP
    /// close, and the host ends its side once
    /// [`wants_close`](Self::wants_close) says so. `connection` replaces
    /// the session config's connection settings for this one (per
    /// subprotocol limits, as
    /// [`set_connection_config`](Self::set_connection_config) does
    /// before an `accept`).
    pub fn server_connect(
        config: Arc<SessionConfig>,
        upgrade: ConnectUpgrade,
        mut accept: Accept,
        connection: Option<Config>,
        now: Instant,
    ) -> Result<(Session, Response), SessionError> {
        let req = upgrade.request();
        let exts = negotiate_server(
            &config.negotiators,
            req.dialect,
            &req.extensions,
            &mut accept,
        );
        let (h, response) = upgrade.accept(accept)?;
        let mut session = Self::with_stage(Stage::Done, Role::Server, config, now);
        session.pre().connection = connection.map(Box::new);
        session.open(now, h, exts, None, Bytes::new())?;
        Ok((session, response))
    }

    /// The client side of an extended CONNECT, first step: adds every
    /// negotiator's offers to `request` and returns the [`ConnectClient`]
    /// whose [`fields`](ConnectClient::fields) the host sends on a new
    /// HTTP/2 or HTTP/3 stream (after the server's
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3).
    pub fn connect_request(
        mut request: ClientRequest,
        config: &SessionConfig,
    ) -> Result<ConnectClient, SessionError> {
        for n in &config.negotiators {
            request.extensions.extend(n.offers(request.dialect));
        }
        Ok(ConnectClient::new(request)?)
    }

    /// The client side of an extended CONNECT, second step: checks the
    /// server's answer ([`ConnectClient::response`]) and the extensions
    /// it accepted, and returns the session, open, masking with keys from
    /// `rng` (RFC 8441 §5: the client still masks, RFC 6455 §5.3). A
    /// refusal is an error; its status is in
    /// [`HttpPeerError::Rejected`](http_upgrade::HttpPeerError::Rejected).
    pub fn client_connect(
        client: ConnectClient,
        status: u16,
        fields: &http_upgrade::Headers,
        config: Arc<SessionConfig>,
        rng: MaskRng,
        now: Instant,
    ) -> Result<Session, SessionError> {
        let h = client.response(status, fields)?;
        let mut session = Self::with_stage(Stage::Done, Role::Client, config, now);
        let exts = session
            .confirm_extensions(&h)
            .map_err(|e| session.fail(e))?;
        session.open(now, h, exts, Some(rng), Bytes::new())?;
        Ok(session)
    }

    fn with_stage(stage: Stage, role: Role, config: Arc<SessionConfig>, now: Instant) -> Self {
        Session {
            stage,
            role,
            config,
            pre: Some(Box::default()),
            err: None,
            handshake: None,
            now,
            eof: false,
            fresh: true,
            recording: false,
        }
    }

    /// Starts recording this server session ([`crate::record`]): before
    /// its first input only (otherwise the wrong-state misuse), since a
    /// transcript replays from the first byte. A client records from its
    /// construction: [`client_recorded`](Self::client_recorded).
    pub fn record(&mut self, options: RecordOptions) -> Result<(), SessionError> {
        if !self.fresh
            || self.role != Role::Server
            || self.pre.as_ref().is_some_and(|p| p.rec.is_some())
        {
            return Err(SessionError::wrong_state("record"));
        }
        self.recording = true;
        self.pre().rec = Some(Box::new(Recorder::new(
            Role::Server,
            self.now,
            None,
            &options,
        )));
        Ok(())
    }

    /// A recorded client session: as [`client`](Self::client), except
    /// that the handshake key and the mask keys come from a ChaCha20
    /// generator seeded with 32 bytes from `rng`, and the seed is stored
    /// in the transcript so that a replay draws the same keys
    /// ([`Header::rng`](crate::record::Header::rng)).
    pub fn client_recorded(
        request: ClientRequest,
        config: Arc<SessionConfig>,
        mut rng: MaskRng,
        now: Instant,
        options: RecordOptions,
    ) -> Result<Self, SessionError> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let keyed: MaskRng =
            Box::new(<chacha20::ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed));
        let mut session = Self::client(request, config, keyed, now)?;
        session.recording = true;
        session.pre().rec = Some(Box::new(Recorder::new(
            Role::Client,
            now,
            Some(&seed),
            &options,
        )));
        Ok(session)
    }

    /// Stamps a recording's timeline with the driver's time (once per
    /// loop turn): the application's commands take no time of their own,
    /// so a timeline shows them at the last stamp. The open connection
    /// learns the time too (see [`Connection::mark_time`]); no event,
    /// nothing else changes.
    #[inline]
    pub fn mark_time(&mut self, now: Instant) {
        if let Stage::Open(c) = &mut self.stage {
            c.mark_time(now);
        }
        if self.recording {
            self.log_rec(|r| r.mark(now));
        }
    }

    /// True while the session records.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Ends the recording and returns the transcript (`None` if the
    /// session was not recording). The session goes on unrecorded.
    pub fn take_transcript(&mut self) -> Option<Transcript> {
        let rec = match &mut self.stage {
            Stage::Open(c) => c.take_recorder(),
            _ => self.pre.as_mut().and_then(|p| p.rec.take()),
        };
        self.recording = false;
        rec.map(|r| r.finish())
    }

    /// Records with `f` (out of line: the hot path tests the flag only).
    #[cold]
    #[inline(never)]
    fn log_rec(&mut self, f: impl FnOnce(&mut Recorder)) {
        if let Some(r) = self.rec() {
            f(r);
        }
    }

    /// The recorder, wherever it is (the session's until the connection
    /// opens, the connection's after).
    #[cold]
    fn rec(&mut self) -> Option<&mut Recorder> {
        match &mut self.stage {
            Stage::Open(c) => c.recorder(),
            _ => self.pre.as_mut().and_then(|p| p.rec.as_deref_mut()),
        }
    }

    /// The handshake's state (made again if it was spent).
    fn pre(&mut self) -> &mut Pre {
        self.pre.get_or_insert_with(Box::default)
    }

    /// What is left of the handshake's output.
    #[inline]
    fn prelude(&self) -> &Bytes {
        static EMPTY: Bytes = Bytes::new();
        self.pre.as_ref().map_or(&EMPTY, |p| &p.prelude)
    }

    /// The `Open` event's handshake until it is polled.
    fn opened(&self) -> Option<&Handshake> {
        self.pre.as_ref().and_then(|p| p.opened.as_deref())
    }

    /// Frees the handshake's state once the connection is open and all of
    /// it is spent.
    fn trim_pre(&mut self) {
        if matches!(self.stage, Stage::Open(_)) && self.pre.as_ref().is_some_and(|p| p.is_spent()) {
            self.pre = None;
        }
    }

    /// Opens the connection with `config` instead of the session config's
    /// limits and timers (a server's per-subprotocol limits, chosen while
    /// answering the upgrade). Before the connection opens only: after,
    /// [`SessionError`] with the wrong-state misuse.
    pub fn set_connection_config(&mut self, config: Config) -> Result<(), SessionError> {
        if self.recording {
            self.log_rec(|r| r.set_config(&config));
        }
        if self.connection().is_some() {
            return Err(SessionError::wrong_state("set_connection_config"));
        }
        self.pre().connection = Some(Box::new(config));
        Ok(())
    }

    /// What the opening handshake settled, from the moment the connection
    /// opens (`SessionEvent::Open`) to the end: the dialect, the
    /// subprotocol the server chose, the extensions with their parameters
    /// (RFC 6455 §4.2.2, §9.1), and the request target and origin
    /// (server) or the response's header fields (client). `key` and
    /// `nonce` are `None` here (the `Open` event carries them).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_deref()
    }

    /// The session's settings (the connection's limits and timers, the
    /// extension negotiators). The open connection's own settings, which
    /// [`set_connection_config`](Self::set_connection_config) may have
    /// replaced, are [`Connection::config`].
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The open connection, if the handshake is done.
    #[inline]
    pub fn connection(&self) -> Option<&Connection> {
        match &self.stage {
            Stage::Open(c) => Some(c),
            _ => None,
        }
    }

    /// The connection, once open: send with it (input goes through
    /// [`receive`](Self::receive) or [`recv_buf`](Self::recv_buf), output
    /// through [`poll_transmit`](Self::poll_transmit), never around the
    /// session).
    pub fn connection_mut(&mut self) -> Option<&mut Connection> {
        match &mut self.stage {
            Stage::Open(c) => Some(c),
            _ => None,
        }
    }

    /// The open connection while the session adds nothing to it: the
    /// handshake is over and handed out (its `Open` event polled, its
    /// bytes written), nothing failed and nothing is recorded. Its events,
    /// output and deadlines are then exactly the session's, so a driver may
    /// poll the connection directly on its per-message path and skip the
    /// session's dispatch; `None` otherwise (use the session's calls).
    #[inline]
    pub fn connection_direct(&mut self) -> Option<&mut Connection> {
        match (&mut self.stage, &self.pre, &self.err, self.recording) {
            (Stage::Open(c), None, None, false) => Some(c),
            _ => None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The stored handshake or negotiation error, if the session failed
    /// before the connection opened.
    pub fn error(&self) -> Option<&SessionError> {
        self.err.as_deref()
    }

    #[inline]
    fn check(&self) -> Result<(), SessionError> {
        match &self.err {
            None => Ok(()),
            Some(e) => Err((**e).clone()),
        }
    }

    fn fail(&mut self, e: SessionError) -> SessionError {
        if !matches!(self.stage, Stage::Open(_)) {
            self.end_handshake();
        }
        self.err = Some(Box::new(e.clone()));
        e
    }

    /// Ends the handshake stage (the session is `Done` until `open`): what
    /// the handshake machine still has to send moves into the prelude.
    /// Returns the stage it ended.
    fn end_handshake(&mut self) -> Stage {
        let mut stage = core::mem::replace(&mut self.stage, Stage::Done);
        let pre = self.pre();
        let mut out = Vec::from(core::mem::take(&mut pre.prelude));
        let _queued = match &mut stage {
            Stage::Server(hs) => hs.poll_transmit(&mut out),
            Stage::Client(hs, _) => hs.poll_transmit(&mut out),
            _ => 0,
        };
        pre.prelude = out.into();
        pre.rx = Vec::new();
        stage
    }

    /// Feeds bytes received from the peer (copied; see
    /// [`recv_buf`](Self::recv_buf) for reading in place). Only buffers:
    /// [`poll_event`](Self::poll_event) parses. Refuses with the stored
    /// error, or when the handshake machine refuses the input (its limits).
    #[inline]
    pub fn receive(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        if let Some(c) = self.connection_direct() {
            return Ok(c.receive(now, data)?);
        }
        self.receive_staged(now, data)
    }

    fn receive_staged(&mut self, now: Instant, data: &[u8]) -> Result<(), SessionError> {
        self.fresh = false;
        if self.recording {
            self.log_rec(|r| r.receive(now, data));
        }
        self.check()?;
        self.now = now;
        let r = match &mut self.stage {
            Stage::Open(c) => return Ok(c.receive(now, data)?),
            Stage::Server(hs) => hs.receive(now, data),
            Stage::Client(hs, _) => hs.receive(now, data),
            Stage::Done => return Ok(()),
        };
        r.map_err(|e| self.fail(e.into()))
    }

    /// Lends at least `min` bytes of writable space for the driver to read
    /// the transport into; follow with [`recv_commit`](Self::recv_commit)
    /// before any other call. Once the connection is open this is
    /// [`Connection::recv_buf`] (zero copy: the connection's own receive
    /// buffer); during the handshake it is a buffer of the session's own,
    /// released when the handshake ends, whose bytes the commit copies
    /// into the handshake machine.
    pub fn recv_buf(&mut self, min: usize) -> &mut [u8] {
        if let Stage::Open(c) = &mut self.stage {
            return c.recv_buf(min);
        }
        let rx = &mut self.pre.get_or_insert_with(Box::default).rx;
        if rx.len() < min {
            rx.resize(min, 0);
        }
        rx
    }

    /// [`Connection::recv_room`] of the open connection; 0 during the
    /// handshake and while recording (reads then go through
    /// [`receive`](Self::receive) or [`recv_buf`](Self::recv_buf)).
    #[inline]
    pub fn recv_room(&mut self) -> usize {
        match &mut self.stage {
            Stage::Open(c) if !self.recording => c.recv_room(),
            _ => 0,
        }
    }

    /// [`Connection::recv_into`] on the open connection: `read` fills a
    /// prefix of `min` bytes of uninitialized room in its receive buffer.
    /// `None`, without calling `read`, during the handshake and while
    /// recording: read into an initialized buffer then.
    pub fn recv_into<E>(
        &mut self,
        now: Instant,
        min: usize,
        read: impl for<'a> FnOnce(&'a mut [core::mem::MaybeUninit<u8>]) -> Result<&'a mut [u8], E>,
    ) -> Option<Result<usize, E>> {
        match &mut self.stage {
            Stage::Open(c) if !self.recording => {
                self.fresh = false;
                Some(c.recv_into(now, min, read))
            }
            _ => None,
        }
    }

    /// [`recv_buf`](Self::recv_buf) as an owned buffer, for readers that
    /// complete later (io_uring): see [`Connection::lend_recv`]. During the
    /// handshake it is a buffer of its own, whose bytes the commit copies
    /// into the handshake machine. Give it back with
    /// [`commit_loan`](Self::commit_loan) before any other input.
    pub fn lend_recv(&mut self, min: usize) -> crate::RecvLoan {
        match &mut self.stage {
            Stage::Open(c) => c.lend_recv(min),
            _ => crate::RecvLoan::detached(min),
        }
    }

    /// Takes back a [`lend_recv`](Self::lend_recv) loan whose first `n`
    /// bytes were filled; then as [`recv_commit`](Self::recv_commit).
    pub fn commit_loan(
        &mut self,
        now: Instant,
        loan: crate::RecvLoan,
        n: usize,
    ) -> Result<(), SessionError> {
        if n > loan.len() {
            let (size, max) = (n, loan.len());
            return Err(Error::Usage(UsageError::CommitTooLarge { size, max }).into());
        }
        match &mut self.stage {
            Stage::Open(c) if loan.connection => {
                c.return_loan(loan);
                self.recv_commit(now, n)
            }
            _ => self.receive(now, loan.filled(n).unwrap_or_default()),
        }
    }

    /// Declares that the driver wrote `n` bytes at the start of the space
    /// [`recv_buf`](Self::recv_buf) lent; then as [`receive`](Self::receive).
    pub fn recv_commit(&mut self, now: Instant, n: usize) -> Result<(), SessionError> {
        if let Stage::Open(c) = &mut self.stage {
            if self.recording {
                if let Some(data) = c.lent(n).map(<[u8]>::to_vec) {
                    if let Some(r) = c.recorder() {
                        r.receive(now, &data);
                    }
                }
            }
            self.fresh = false;
            return Ok(c.recv_commit(now, n)?);
        }
        let rx = core::mem::take(&mut self.pre().rx);
        let r = match rx.get(..n) {
            Some(data) => self.receive(now, data),
            None => {
                let (size, max) = (n, rx.len());
                Err(Error::Usage(UsageError::CommitTooLarge { size, max }).into())
            }
        };
        if matches!(self.stage, Stage::Server(_) | Stage::Client(..)) {
            self.pre().rx = rx;
        }
        r
    }

    /// The peer closed its sending side. During the handshake what was
    /// received before is still parsed by [`poll_event`](Self::poll_event);
    /// then the session ends (or, if the handshake completes, the
    /// connection starts with the end of stream).
    pub fn receive_eof(&mut self, now: Instant) {
        self.fresh = false;
        if self.recording {
            self.log_rec(|r| r.eof(now));
        }
        self.now = now;
        match &mut self.stage {
            Stage::Open(c) => c.receive_eof(now),
            _ => self.eof = true,
        }
    }

    /// The next event, `None` when more input is needed: the handshake
    /// machine's events, translated, then the connection's.
    #[must_use = "events must be handled"]
    pub fn poll_event(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        if self.recording {
            return self.poll_event_recorded();
        }
        self.next_event()
    }

    #[cold]
    #[inline(never)]
    fn poll_event_recorded(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        let r = self.next_event();
        self.log_rec(|rec| rec.poll(&r));
        r
    }

    #[inline(always)]
    fn next_event(&mut self) -> Result<Option<SessionEvent>, SessionError> {
        if let Some(h) = self.pre.as_mut().and_then(|p| p.opened.take()) {
            self.trim_pre();
            return Ok(Some(SessionEvent::Open(h)));
        }
        self.check()?;
        match &mut self.stage {
            Stage::Open(c) => Ok(c.poll_event()?.map(SessionEvent::Ws)),
            Stage::Server(hs) => match hs.poll_event() {
                Ok(ev) => Ok(self.on_server_event(ev)),
                Err(e) => Err(self.fail(e.into())),
            },
            Stage::Client(hs, _) => match hs.poll_event() {
                Ok(ev) => self.on_client_event(ev),
                Err(e) => Err(self.fail(e.into())),
            },
            Stage::Done => Ok(None),
        }
    }

    fn on_server_event(&mut self, ev: Option<ServerEvent>) -> Option<SessionEvent> {
        match ev {
            Some(ServerEvent::Upgrade(req)) => {
                self.pre().pending = Some((req.dialect, req.extensions.clone()));
                Some(SessionEvent::Upgrade(Box::new(req)))
            }
            Some(ServerEvent::Request(req)) => Some(SessionEvent::Request(Box::new(req))),
            Some(ServerEvent::Close) => {
                self.end_handshake();
                None
            }
            None if self.eof => {
                self.end_handshake();
                None
            }
            _ => None,
        }
    }

    fn on_client_event(
        &mut self,
        ev: Option<ClientEvent>,
    ) -> Result<Option<SessionEvent>, SessionError> {
        let ev = match ev {
            Some(ClientEvent::Connected(h)) => {
                let exts = self.confirm_extensions(&h).map_err(|e| self.fail(e))?;
                let Stage::Client(mut hs, rng) = self.end_handshake() else {
                    return Err(self.fail(SessionError::wrong_state("connect")));
                };
                let leftover = hs.take_leftover();
                self.open(self.now, h, exts, Some(rng), leftover)?;
                let opened = self.pre.as_mut().and_then(|p| p.opened.take());
                self.trim_pre();
                return Ok(opened.map(SessionEvent::Open));
            }
            Some(ClientEvent::Redirect { status, location }) => {
                Some(SessionEvent::Redirect { status, location })
            }
            Some(ClientEvent::Rejected(res)) => Some(SessionEvent::Rejected(Box::new(res))),
            None if self.eof => None,
            _ => return Ok(None),
        };
        self.end_handshake();
        Ok(ev)
    }

    /// Client side of RFC 6455 §9.1: every accepted element must be claimed
    /// by a negotiator and valid for what it offered, and no two may own the
    /// same RSV bit (RFC 7692 §5: two accepted RSV1 extensions fail).
    fn confirm_extensions(&self, h: &Handshake) -> Result<Vec<Box<dyn Extension>>, SessionError> {
        let mut exts: Vec<Box<dyn Extension>> = Vec::new();
        let mut rsv_used = 0u8;
        for resp in &h.extensions {
            let mut claimed = None;
            for n in &self.config.negotiators {
                if let Some(ext) = n
                    .confirm(h.dialect, resp)
                    .map_err(SessionError::Negotiation)?
                {
                    claimed = Some(ext);
                    break;
                }
            }
            let ext = claimed.ok_or_else(|| {
                SessionError::Negotiation(ExtensionError::Negotiation(
                    alloc::format!("no negotiator accepts {resp}").into(),
                ))
            })?;
            if exts.iter().any(|e| e.name() == ext.name()) {
                return Err(SessionError::Negotiation(ExtensionError::Negotiation(
                    alloc::format!("{resp} accepted twice").into(),
                )));
            }
            if ext.rsv_mask() & rsv_used != 0 {
                return Err(SessionError::Negotiation(ExtensionError::Negotiation(
                    alloc::format!("{resp} uses an RSV bit already taken").into(),
                )));
            }
            rsv_used |= ext.rsv_mask();
            exts.push(ext);
        }
        Ok(exts)
    }

    /// Server: accepts the upgrade the application holds. The negotiators
    /// add their responses after any the application put in `accept`;
    /// `rng` supplies the hybi-04/05 nonce. Queues the `101` and opens the
    /// connection (bytes the client pipelined are fed to it); the next
    /// [`poll_event`](Self::poll_event) is [`SessionEvent::Open`].
    pub fn accept<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        accept: Accept,
        rng: &mut R,
    ) -> Result<&Handshake, SessionError> {
        if !self.recording {
            self.accept_with(now, accept, rng)?;
            return self
                .opened()
                .ok_or_else(|| SessionError::wrong_state("accept"));
        }
        let mut tee = crate::record::Tee {
            inner: rng,
            drawn: Vec::new(),
        };
        let logged = accept.clone();
        let r = self.accept_with(now, accept, &mut tee);
        let drawn = tee.drawn;
        // The connection holds the recorder if the accept opened it.
        let rec = match &mut self.stage {
            Stage::Open(c) => c.recorder(),
            _ => self.pre.as_mut().and_then(|p| p.rec.as_deref_mut()),
        };
        if let Some(rec) = rec {
            rec.accept(now, &logged, &drawn);
        }
        match r {
            Ok(()) => self
                .opened()
                .ok_or_else(|| SessionError::wrong_state("accept")),
            Err(e) => Err(e),
        }
    }

    fn accept_with<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        mut accept: Accept,
        rng: &mut R,
    ) -> Result<(), SessionError> {
        self.check()?;
        let Stage::Server(hs) = &mut self.stage else {
            return Err(SessionError::wrong_state("accept"));
        };
        let Some((dialect, offers)) = self.pre.as_ref().and_then(|p| p.pending.as_ref()) else {
            return Err(SessionError::wrong_state("accept"));
        };
        let exts = negotiate_server(&self.config.negotiators, *dialect, offers, &mut accept);
        let h = hs.accept(accept, rng).map_err(SessionError::from)?;
        let leftover = hs.take_leftover();
        self.end_handshake();
        self.open(now, h, exts, None, leftover)
    }

    fn open(
        &mut self,
        now: Instant,
        h: Handshake,
        exts: Vec<Box<dyn Extension>>,
        rng: Option<MaskRng>,
        leftover: Bytes,
    ) -> Result<(), SessionError> {
        let role = h.role;
        let config = match self.pre().connection.take() {
            Some(own) => Settings::own(*own),
            None => Settings::shared(&self.config),
        };
        let mut negotiated = Negotiated::new(h.dialect).with_extensions(exts);
        // draft-04 §4.2: the per-connection key for hybi-04 masking.
        negotiated.hybi04_key = h.hybi04_masking_key();
        let mut conn = Connection::with_settings(role, config, negotiated, rng, now)
            .map_err(|e| self.fail(e.into()))?;
        let pre = self.pre();
        pre.pending = None;
        // Kept without the key and nonce: they served to derive the
        // hybi-04 masking key above and are not needed again.
        let mut kept = h.clone();
        kept.key = None;
        kept.nonce = None;
        pre.opened = Some(Box::new(h));
        conn.set_recorder(pre.rec.take());
        self.handshake = Some(Box::new(kept));
        let fed = conn.receive(now, &leftover);
        if self.eof {
            conn.receive_eof(now);
        }
        self.stage = Stage::Open(conn);
        fed.map_err(SessionError::from)
    }

    /// Server: refuses the upgrade with `response` (the connection closes
    /// after it is sent).
    pub fn reject(&mut self, response: Response) -> Result<(), SessionError> {
        if self.recording {
            self.log_rec(|r| r.reject(&response));
        }
        self.check()?;
        let Stage::Server(hs) = &mut self.stage else {
            return Err(SessionError::wrong_state("reject"));
        };
        Ok(hs.reject(response)?)
    }

    /// Server: answers a plain HTTP request; a request pipelined behind it
    /// is the next [`poll_event`](Self::poll_event).
    pub fn respond(&mut self, now: Instant, response: Response) -> Result<(), SessionError> {
        if self.recording {
            self.log_rec(|r| r.respond(now, &response));
        }
        self.check()?;
        let Stage::Server(hs) = &mut self.stage else {
            return Err(SessionError::wrong_state("respond"));
        };
        Ok(hs.respond(now, response)?)
    }

    /// Server: queues a chunk of a body announced with [`Response::streamed`].
    pub fn send_body(&mut self, now: Instant, chunk: Bytes) -> Result<(), SessionError> {
        if self.recording {
            self.log_rec(|r| r.send_body(now, &chunk));
        }
        self.check()?;
        let Stage::Server(hs) = &mut self.stage else {
            return Err(SessionError::wrong_state("send_body"));
        };
        Ok(hs.send_body(now, chunk)?)
    }

    /// Bytes waiting to be written.
    #[inline]
    pub fn pending_transmit(&self) -> usize {
        if let (Stage::Open(c), None) = (&self.stage, &self.pre) {
            return c.pending_transmit();
        }
        self.prelude().len()
            + match &self.stage {
                Stage::Open(c) => c.pending_transmit(),
                Stage::Server(hs) => hs.pending_transmit(),
                Stage::Client(hs, _) => hs.pending_transmit(),
                Stage::Done => 0,
            }
    }

    /// Appends everything queued for the peer to `out`; returns the count.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let n = self.prelude().len();
        if let Some(p) = self.pre.as_mut() {
            out.extend_from_slice(&core::mem::take(&mut p.prelude));
        }
        let n = n + match &mut self.stage {
            Stage::Open(c) => c.poll_transmit(out),
            Stage::Server(hs) => hs.poll_transmit(out),
            Stage::Client(hs, _) => hs.poll_transmit(out),
            Stage::Done => 0,
        };
        if self.recording {
            self.log_rec(|r| r.transmit(n, [out.get(start..).unwrap_or_default()]));
        }
        n
    }

    /// Fills `out` with the queued chunks, in order, without copying;
    /// returns how many were filled. Follow with [`advance_transmit`](Self::advance_transmit).
    pub fn transmit_slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        let prelude = self.prelude();
        if !prelude.is_empty() {
            let Some(slot) = out.first_mut() else {
                return 0;
            };
            *slot = prelude;
            n = 1;
        }
        let Some(rest) = out.get_mut(n..) else {
            return n;
        };
        n + match &self.stage {
            Stage::Open(c) => c.transmit_slices(rest),
            Stage::Server(hs) => hs.transmit_slices(rest),
            Stage::Client(hs, _) => hs.transmit_slices(rest),
            Stage::Done => 0,
        }
    }

    /// Calls `f` with each part of the queued output in order while it
    /// returns true, payloads as [`TransmitPart::Shared`] or, for the
    /// fragments of a message held once, [`TransmitPart::Slice`] (clone
    /// the `Bytes` to hold them without a copy) and everything else (the
    /// handshake, frame headers) as [`TransmitPart::Inline`]. Nothing is consumed:
    /// follow the write with [`advance_transmit`](Self::advance_transmit).
    /// See [`Connection::for_each_transmit_part`](crate::Connection::for_each_transmit_part).
    pub fn for_each_transmit_part<'a>(&'a self, mut f: impl FnMut(TransmitPart<'a>) -> bool) {
        let prelude = self.prelude();
        if !prelude.is_empty() && !f(TransmitPart::Inline(prelude)) {
            return;
        }
        // During the handshake: its queued chunks (the first 8 of them; the
        // rest come once these are written).
        let mut tmp: [&[u8]; 8] = [&[]; 8];
        let n = match &self.stage {
            Stage::Open(c) => return c.for_each_transmit_part(f),
            Stage::Server(hs) => hs.transmit_slices(&mut tmp),
            Stage::Client(hs, _) => hs.transmit_slices(&mut tmp),
            Stage::Done => 0,
        };
        for s in &tmp[..n] {
            if !f(TransmitPart::Inline(s)) {
                return;
            }
        }
    }

    /// The queued output when it is one contiguous slice of an open
    /// connection's frames (see
    /// [`Connection::contiguous_transmit`](crate::Connection::contiguous_transmit)),
    /// else `None` (nothing queued, several parts, or the handshake still
    /// going out): then use [`fill_io_slices`](Self::fill_io_slices) or
    /// [`transmit_slices`](Self::transmit_slices).
    #[inline]
    pub fn contiguous_transmit(&self) -> Option<&[u8]> {
        match (&self.stage, &self.pre) {
            (Stage::Open(c), None) => c.contiguous_transmit(),
            _ => None,
        }
    }

    /// Like [`transmit_slices`](Self::transmit_slices) for `writev`.
    #[cfg(feature = "std")]
    #[inline]
    pub fn fill_io_slices<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        // Once the handshake bytes are out (the session's life), the
        // connection fills `out` itself.
        if let (Stage::Open(c), None) = (&self.stage, &self.pre) {
            return c.fill_io_slices(out);
        }
        self.fill_io_slices_staged(out)
    }

    #[cfg(feature = "std")]
    fn fill_io_slices_staged<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        if let (Stage::Open(c), true) = (&self.stage, self.prelude().is_empty()) {
            return c.fill_io_slices(out);
        }
        let mut tmp: [&[u8]; 16] = [&[]; 16];
        let k = out.len().min(tmp.len());
        let n = self.transmit_slices(&mut tmp[..k]);
        for (o, s) in out.iter_mut().zip(&tmp[..n]) {
            *o = std::io::IoSlice::new(s);
        }
        n
    }

    /// Marks `n` bytes of the queued output as written.
    #[inline]
    pub fn advance_transmit(&mut self, n: usize) {
        if let (Stage::Open(c), None, false) = (&mut self.stage, &self.pre, self.recording) {
            c.advance_transmit(n);
            return;
        }
        self.advance_transmit_staged(n);
    }

    fn advance_transmit_staged(&mut self, n: usize) {
        if self.recording {
            self.record_transmit(n);
        }
        let mut rest = n;
        if let Some(p) = self.pre.as_mut().filter(|p| !p.prelude.is_empty()) {
            let k = n.min(p.prelude.len());
            bytes::Buf::advance(&mut p.prelude, k);
            if p.prelude.is_empty() {
                // Release the handshake's bytes once they are out.
                p.prelude = Bytes::new();
                self.trim_pre();
            }
            rest -= k;
        }
        match &mut self.stage {
            Stage::Open(c) => c.advance_transmit(rest),
            Stage::Server(hs) => hs.advance_transmit(rest),
            Stage::Client(hs, _) => hs.advance_transmit(rest),
            Stage::Done => {}
        }
    }

    /// Records the `n` bytes an `advance_transmit(n)` is about to take.
    fn record_transmit(&mut self, n: usize) {
        let mut slices: Vec<&[u8]> = alloc::vec![&[]; 1024];
        let k = self.transmit_slices(&mut slices);
        let taken: Vec<u8> = slices
            .iter()
            .take(k)
            .flat_map(|s| s.iter().copied())
            .take(n)
            .collect();
        if self.recording {
            self.log_rec(|r| r.transmit(n, [taken.as_slice()]));
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Server(hs) => hs.poll_timeout(),
            Stage::Client(hs, _) => hs.poll_timeout(),
            Stage::Open(c) => c.poll_timeout(),
            Stage::Done => None,
        }
    }

    /// Tells the session the time: handshake deadlines, close timeouts,
    /// keep-alive pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fresh = false;
        if self.recording {
            self.log_rec(|r| r.timeout(now));
        }
        self.now = now;
        let r = match &mut self.stage {
            Stage::Server(hs) => hs.handle_timeout(now),
            Stage::Client(hs, _) => hs.handle_timeout(now),
            Stage::Open(c) => {
                c.handle_timeout(now);
                Ok(())
            }
            Stage::Done => Ok(()),
        };
        if let Err(e) = r {
            self.fail(e.into());
        }
    }

    /// True when the driver should close the socket now (after flushing).
    #[must_use]
    #[inline]
    pub fn wants_close(&self) -> bool {
        // Asked on every turn of a driver: the open connection's answer
        // inline (no handshake bytes left when `pre` is gone).
        if let (Stage::Open(c), None) = (&self.stage, &self.pre) {
            return c.wants_close();
        }
        self.wants_close_staged()
    }

    fn wants_close_staged(&self) -> bool {
        if !self.prelude().is_empty() {
            return false;
        }
        match &self.stage {
            Stage::Open(c) => c.wants_close(),
            Stage::Server(hs) => hs.wants_close() && hs.pending_transmit() == 0,
            Stage::Client(hs, _) => hs.wants_close(),
            Stage::Done => true,
        }
    }
}

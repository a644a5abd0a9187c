//! The libwebsockets server model: a table of protocols.
//!
//! A server is a [`Protocols`] table: each entry a subprotocol name, a
//! [`Protocol`] (libwebsockets' callback, with its per-session data as
//! [`Protocol::State`]) and optionally its own connection limits and
//! receive mode (libwebsockets' per-protocol `rx_buffer_size`); one
//! entry may serve clients that offer no subprotocol; plain HTTP requests
//! on the same port go to the table's HTTP handler. The handshake picks
//! the entry; the protocol then hears
//!
//! | libwebsockets callback reason | here |
//! |---|---|
//! | `LWS_CALLBACK_ESTABLISHED` | [`Protocol::established`] (returns the per-session state) |
//! | `LWS_CALLBACK_RECEIVE` | [`Protocol::event`] (whole messages, or `MessageStart`/`MessageChunk`/`MessageEnd` with streamed receive) |
//! | `LWS_CALLBACK_SERVER_WRITEABLE` after `lws_callback_on_writable` | [`Protocol::writable`] after [`Ctx::request_writable`] |
//! | a timer (`lws_set_timeout`, the test server's tick) | [`Protocol::timer`] after [`Ctx::set_timer`] |
//! | `LWS_CALLBACK_CLOSED` | [`Protocol::closed`] (with the close code and reason) |
//! | `LWS_CALLBACK_HTTP` | [`Protocols::http`] |
//! | `lws_write` from another connection or thread | [`Ctx::push_handle`] ([`Push`]) |
//! | `lws_send_pipe_choked` | [`Ctx::is_choked`], [`Push::is_choked`] |
//! | broadcast to a protocol's connections | [`Group`] |
//!
//! ```no_run
//! use std::time::Duration;
//! use ws_adapters::{Ctx, Event, Protocol, Protocols, ServerOptions, mio};
//!
//! /// dumb-increment: a number every 50 ms, "reset\n" starts again.
//! struct DumbIncrement;
//!
//! impl Protocol for DumbIncrement {
//!     type State = u64;
//!     fn established(&self, cx: &mut Ctx<'_>) -> u64 {
//!         cx.set_timer(Duration::from_millis(50));
//!         0
//!     }
//!     fn event(&self, n: &mut u64, _: &mut Ctx<'_>, event: Event) {
//!         if matches!(&event, Event::Text(t) if t.as_str() == "reset\n") {
//!             *n = 0;
//!         }
//!     }
//!     fn timer(&self, n: &mut u64, cx: &mut Ctx<'_>) {
//!         let _ = cx.send_text(n.to_string());
//!         *n += 1;
//!         cx.set_timer(Duration::from_millis(50));
//!     }
//! }
//!
//! let table = Protocols::new()
//!     .protocol("dumb-increment-protocol", DumbIncrement)
//!     .default_protocol("dumb-increment-protocol");
//! let options = table.options(ServerOptions::default());
//! // One mio loop; on tokio: `tokio::spawn(table.run(ws))` per accepted
//! // socket; on std: `server.run(move |mut ws| table.run_blocking(&mut ws))`.
//! let mut server = mio::Server::bind("127.0.0.1:7681".parse()?, options, table)?;
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The table runs on every adapter: the mio [`Server`](crate::mio::Server)
//! takes it as its handler (`Protocols` is a `mio::Handler`), the async
//! adapters run each connection with [`Protocols::run`], and the blocking
//! server with [`Protocols::run_blocking`]. All of them turn the same
//! drive loop ([`Driver::turn_app`]), so timers and writable wake-ups
//! behave the same everywhere.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http_upgrade::{Accept, Handshake, HttpRequest, Response};
use ws_proto::{CloseCode, Config, Event, Message, Prepared};

use crate::{AppEvent, Driver, Error, Group, MemberId, Policy, Push, ServerOptions};

/// The reason sent with 1001 by [`Protocols::going_away`].
const GOING_AWAY: &str = "server going away";

/// The answer to an upgrade while the server goes away.
fn going_away_response() -> Response {
    Response::new(503)
        .header("Retry-After", "1")
        .body("server going away\n")
}

/// One protocol of a [`Protocols`] table.
pub trait Protocol: Send + Sync + 'static {
    /// The state of one connection (libwebsockets' per-session data).
    type State: Send + 'static;
    /// A connection chose this protocol and is open; its state.
    fn established(&self, cx: &mut Ctx<'_>) -> Self::State;
    /// A WebSocket event (messages, pings, pongs, the peer's close).
    fn event(&self, state: &mut Self::State, cx: &mut Ctx<'_>, event: Event);
    /// The output drained after [`Ctx::request_writable`].
    fn writable(&self, state: &mut Self::State, cx: &mut Ctx<'_>) {
        let _ = (state, cx);
    }
    /// The timer set with [`Ctx::set_timer`] is due.
    fn timer(&self, state: &mut Self::State, cx: &mut Ctx<'_>) {
        let _ = (state, cx);
    }
    /// The connection is over.
    fn closed(&self, state: Self::State, end: &End) {
        let _ = (state, end);
    }
}

/// How a connection ended, for [`Protocol::closed`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct End {
    /// The peer's close code, if its close frame came (`None` for an empty
    /// close body or no close frame at all).
    pub code: Option<CloseCode>,
    /// The peer's close reason.
    pub reason: String,
    /// The failure, if the connection did not close cleanly.
    pub error: Option<Error>,
}

/// What a protocol can do with its connection inside a callback.
pub struct Ctx<'a> {
    driver: &'a mut Driver,
    push: Option<&'a Arc<dyn Push>>,
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("peer", &self.driver.peer())
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    /// A context over `driver` (for a loop of your own), with the
    /// connection's push handle if it has one.
    pub fn new(driver: &'a mut Driver, push: Option<&'a Arc<dyn Push>>) -> Self {
        Ctx { driver, push }
    }

    /// Queues `msg` (written when the callback returns).
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.driver.send(msg.into())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<ws_proto::Utf8Bytes>) -> Result<(), Error> {
        self.driver.send_text(text)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<ws_proto::Bytes>) -> Result<(), Error> {
        self.driver.send_binary(data)
    }

    /// Queues a message prepared for many connections.
    pub fn send_prepared(&mut self, msg: &mut Prepared) -> Result<(), Error> {
        self.driver.send_prepared(msg)
    }

    /// Starts the closing handshake.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.driver.close(code, reason)
    }

    /// Calls [`Protocol::timer`] once, `after` from now (on the
    /// connection's clock); replaces a timer already set.
    pub fn set_timer(&mut self, after: Duration) {
        let at = self.driver.now() + after;
        self.driver.set_timer(Some(at));
    }

    /// Cancels the timer.
    pub fn cancel_timer(&mut self) {
        self.driver.set_timer(None);
    }

    /// Calls [`Protocol::writable`] once the output has drained to the
    /// low-water mark (at once if it has).
    pub fn request_writable(&mut self) {
        self.driver.request_writable();
    }

    /// True while the output is over the high-water mark (the peer is not
    /// keeping up).
    pub fn is_choked(&self) -> bool {
        self.driver.is_choked()
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.driver.pending_write()
    }

    /// The peer's address, if known.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.driver.peer()
    }

    /// What the handshake settled (subprotocol, extensions, request target).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.driver.negotiated()
    }

    /// A handle to push to this connection from anywhere (another
    /// connection's callback, a thread, a task), where the adapter has one.
    pub fn push_handle(&self) -> Option<Arc<dyn Push>> {
        self.push.cloned()
    }

    /// The driver, for what this context has no shortcut for.
    pub fn driver(&mut self) -> &mut Driver {
        self.driver
    }
}

/// A [`Protocol`] behind a vtable: the state is `Box<dyn Any>`.
trait Erased: Send + Sync {
    fn established(&self, cx: &mut Ctx<'_>) -> Box<dyn Any + Send>;
    fn event(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>, event: Event);
    fn writable(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>);
    fn timer(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>);
    fn closed(&self, state: Box<dyn Any + Send>, end: &End);
}

impl<P: Protocol> Erased for P {
    fn established(&self, cx: &mut Ctx<'_>) -> Box<dyn Any + Send> {
        Box::new(Protocol::established(self, cx))
    }
    fn event(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>, event: Event) {
        if let Some(s) = state.downcast_mut::<P::State>() {
            Protocol::event(self, s, cx, event);
        }
    }
    fn writable(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>) {
        if let Some(s) = state.downcast_mut::<P::State>() {
            Protocol::writable(self, s, cx);
        }
    }
    fn timer(&self, state: &mut (dyn Any + Send), cx: &mut Ctx<'_>) {
        if let Some(s) = state.downcast_mut::<P::State>() {
            Protocol::timer(self, s, cx);
        }
    }
    fn closed(&self, state: Box<dyn Any + Send>, end: &End) {
        if let Ok(s) = state.downcast::<P::State>() {
            Protocol::closed(self, *s, end);
        }
    }
}

struct Entry {
    name: String,
    handler: Arc<dyn Erased>,
    config: Option<Config>,
}

type HttpFn = dyn Fn(&HttpRequest) -> Response + Send + Sync;

/// A server's protocols (see the [module docs](self)). Cheap to clone;
/// clones share their connections (one [`going_away`](Self::going_away)
/// reaches every connection any clone runs).
#[derive(Clone, Default)]
pub struct Protocols {
    entries: Arc<Vec<Entry>>,
    default: Option<usize>,
    http: Option<Arc<HttpFn>>,
    files: Option<crate::files::Files>,
    live: Arc<Live>,
}

/// The connections a table runs, for a shutdown to reach them.
#[derive(Default)]
struct Live {
    /// Every running connection with a push handle.
    all: Group<Arc<dyn Push>>,
    /// Connections running without a push handle (out of reach).
    unreachable: AtomicUsize,
    /// Set by [`Protocols::going_away`]: new upgrades get `503`.
    leaving: AtomicBool,
}

impl fmt::Debug for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("Protocols")
            .field("protocols", &names)
            .field("default", &self.default.map(|i| names[i]))
            .finish_non_exhaustive()
    }
}

/// A connection running one protocol of a table.
pub struct Running {
    index: usize,
    state: Option<Box<dyn Any + Send>>,
    push: Option<Arc<dyn Push>>,
    /// Its place among the table's live connections (`None`: no handle).
    member: Option<MemberId>,
    end: End,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("protocol", &self.index)
            .finish_non_exhaustive()
    }
}

impl Protocols {
    /// An empty table (every upgrade refused until a protocol is added).
    pub fn new() -> Self {
        Self::default()
    }

    fn push_entry(mut self, name: &str, handler: Arc<dyn Erased>, config: Option<Config>) -> Self {
        let mut entries: Vec<Entry> = match Arc::try_unwrap(self.entries) {
            Ok(v) => v,
            Err(shared) => shared
                .iter()
                .map(|e| Entry {
                    name: e.name.clone(),
                    handler: e.handler.clone(),
                    config: e.config.clone(),
                })
                .collect(),
        };
        entries.push(Entry {
            name: name.to_owned(),
            handler,
            config,
        });
        self.entries = Arc::new(entries);
        self
    }

    /// Adds `protocol` under the subprotocol `name`, with the server's
    /// connection settings.
    pub fn protocol<P: Protocol>(self, name: &str, protocol: P) -> Self {
        self.push_entry(name, Arc::new(protocol), None)
    }

    /// Adds `protocol` under `name` with its own connection settings
    /// (message and frame limits, receive mode, timers).
    pub fn protocol_with<P: Protocol>(self, name: &str, protocol: P, config: Config) -> Self {
        self.push_entry(name, Arc::new(protocol), Some(config))
    }

    /// The protocol `name` also serves clients that offer no subprotocol
    /// (or none of the table's). Without a default those are refused
    /// with `400`.
    pub fn default_protocol(mut self, name: &str) -> Self {
        self.default = self.entries.iter().position(|e| e.name == name);
        self
    }

    /// Answers plain HTTP requests on the same port (default: `404`).
    pub fn http(mut self, f: impl Fn(&HttpRequest) -> Response + Send + Sync + 'static) -> Self {
        self.http = Some(Arc::new(f));
        self
    }

    /// Serves the files of a directory to plain `GET` and `HEAD`
    /// requests (streamed, see [`Files`](crate::files::Files)); what it
    /// does not have (`404`) goes to the [`http`](Self::http) handler, if
    /// any.
    pub fn files(mut self, files: crate::files::Files) -> Self {
        self.files = Some(files);
        self
    }

    /// The subprotocol names, in table order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The entry a client offering `offered` gets: the first offered name
    /// in the table, else the default.
    fn select(&self, offered: &[String]) -> Option<(usize, bool)> {
        offered
            .iter()
            .find_map(|o| self.entries.iter().position(|e| &e.name == o))
            .map(|i| (i, true))
            .or(self.default.map(|i| (i, false)))
    }

    /// The policy that answers handshakes by this table: the protocol
    /// chosen (and echoed in `Sec-WebSocket-Protocol`), its connection
    /// settings, plain requests to the HTTP handler.
    pub fn policy(&self) -> Policy {
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        Policy::default()
            .on_upgrade(move |req, _| match a.select(&req.protocols) {
                _ if a.is_going_away() => Err(going_away_response()),
                Some((i, true)) => Ok(Accept::for_request(req).protocol(a.entries[i].name.clone())),
                Some((_, false)) => {
                    let mut accept = Accept::for_request(req);
                    accept.protocol = None;
                    Ok(accept)
                }
                None => Err(Response::new(400).body("no supported subprotocol\n")),
            })
            .on_connection_config(move |req, _| {
                let (i, _) = b.select(&req.protocols)?;
                b.entries[i].config.clone()
            })
            .on_request_streamed(move |req| {
                if let Some(files) = &c.files {
                    let (r, body) = files.respond(req);
                    if r.status() != 404 || c.http.is_none() {
                        return (r, body);
                    }
                }
                let r = match &c.http {
                    Some(f) => f(req),
                    None => Response::new(404).body("Not Found\n"),
                };
                (r, None)
            })
    }

    /// `options` answering by this table ([`policy`](Self::policy)).
    pub fn options(&self, options: ServerOptions) -> ServerOptions {
        options.with_policy(self.policy())
    }

    /// Starts the protocol of an open connection (by the subprotocol it
    /// negotiated): calls [`Protocol::established`]. `None` if the table
    /// has no protocol for it.
    pub fn attach(&self, driver: &mut Driver, push: Option<Arc<dyn Push>>) -> Option<Running> {
        let chosen = driver.negotiated().and_then(|h| h.protocol.clone());
        let index = match chosen {
            Some(name) => self.entries.iter().position(|e| e.name == name)?,
            None => self.default?,
        };
        let handler = self.entries.get(index)?.handler.clone();
        let state = handler.established(&mut Ctx::new(driver, push.as_ref()));
        let member = match &push {
            Some(p) => Some(self.live.all.join(p.clone())),
            None => {
                self.live.unreachable.fetch_add(1, Ordering::AcqRel);
                None
            }
        };
        // Opened while the server was going away (the handshake was
        // answered before): it leaves at once, like the others.
        if self.is_going_away() {
            let _ = driver.close(CloseCode::GOING_AWAY, GOING_AWAY);
        }
        Some(Running {
            index,
            state: Some(state),
            push,
            member,
            end: End::default(),
        })
    }

    /// Starts a graceful shutdown: every connection running a protocol
    /// of this table (on any adapter, any thread) is sent a close with
    /// 1001 "going away" (RFC 6455 §7.4.1) and finishes its closing
    /// handshake, and new upgrades are refused with `503` and
    /// `Retry-After` (a load balancer tries another server). Returns the
    /// connections the close was sent to. Plain HTTP requests are still
    /// answered; stop accepting (or stop the process) once
    /// [`live`](Self::live) is 0 or a grace period is over:
    ///
    /// ```no_run
    /// # fn f(table: ws_adapters::Protocols) {
    /// use std::time::{Duration, Instant};
    /// table.going_away();
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// while table.live() > 0 && Instant::now() < deadline {
    ///     std::thread::sleep(Duration::from_millis(20));
    /// }
    /// std::process::exit(0);
    /// # }
    /// ```
    ///
    /// A connection without a push handle (the std adapter off unix) is
    /// out of reach and only counted.
    pub fn going_away(&self) -> usize {
        self.live.leaving.store(true, Ordering::Release);
        self.live.all.close_all(CloseCode::GOING_AWAY, GOING_AWAY)
    }

    /// True once [`going_away`](Self::going_away) was called.
    pub fn is_going_away(&self) -> bool {
        self.live.leaving.load(Ordering::Acquire)
    }

    /// Connections running a protocol of this table now (every clone's).
    pub fn live(&self) -> usize {
        self.live.all.len() + self.live.unreachable.load(Ordering::Acquire)
    }

    /// Hands one [`AppEvent`] to the connection's protocol.
    pub fn dispatch(&self, run: &mut Running, driver: &mut Driver, event: AppEvent) {
        let Some(entry) = self.entries.get(run.index) else {
            return;
        };
        let Some(state) = run.state.as_deref_mut() else {
            return;
        };
        let mut cx = Ctx::new(driver, run.push.as_ref());
        match event {
            AppEvent::Event(ev) => {
                if let Event::Close { code, reason } = &ev {
                    run.end.code = *code;
                    run.end.reason = reason.as_str().to_owned();
                }
                entry.handler.event(state, &mut cx, ev);
            }
            AppEvent::Timer => entry.handler.timer(state, &mut cx),
            AppEvent::Writable => entry.handler.writable(state, &mut cx),
        }
    }

    /// The connection is over: [`Protocol::closed`], once.
    pub fn finish(&self, mut run: Running, error: Option<Error>) {
        match run.member.take() {
            Some(id) => {
                self.live.all.leave(id);
            }
            None if run.state.is_some() => {
                self.live.unreachable.fetch_sub(1, Ordering::AcqRel);
            }
            None => {}
        }
        let (Some(entry), Some(state)) = (self.entries.get(run.index), run.state.take()) else {
            return;
        };
        run.end.error = error;
        entry.handler.closed(state, &run.end);
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
impl Protocols {
    /// Runs one connection of an async adapter by this table, to its end:
    /// the handshake (answered by the table's policy: give the server
    /// [`options`](Self::options)), the protocol's callbacks, its
    /// timer and writable wake-ups; [`Ctx::push_handle`] is the socket's
    /// [`WriteHalf`](crate::WriteHalf). Spawn one per accepted
    /// connection (`tokio::spawn`, smol's executor). `Err` if the
    /// handshake failed; once the protocol runs, how the connection ended
    /// goes to [`Protocol::closed`] ([`End::error`]) and this returns
    /// `Ok`.
    pub async fn run<S: crate::AsyncStream>(
        &self,
        mut ws: crate::AsyncWebSocket<S>,
    ) -> Result<(), Error> {
        ws.handshake().await?;
        let push: Arc<dyn Push> = Arc::new(ws.handle());
        let Some(mut run) = ws.with_driver(|d| self.attach(d, Some(push))) else {
            ws.close(CloseCode::INTERNAL_ERROR, "no protocol").await?;
            while ws.recv().await?.is_some() {}
            return Ok(());
        };
        loop {
            match ws.recv_app().await {
                Ok(Some(ev)) => ws.with_driver(|d| self.dispatch(&mut run, d, ev)),
                Ok(None) => {
                    self.finish(run, None);
                    return Ok(());
                }
                Err(e) => {
                    self.finish(run, Some(e));
                    return Ok(());
                }
            }
        }
    }
}

impl Protocols {
    /// Runs one connection of the blocking adapter by this table, to its
    /// end, on the calling thread (give it to
    /// [`blocking::Server::run`](crate::blocking::Server::run) and the
    /// server [`options`](Self::options)). On unix, with a stream that has
    /// a descriptor ([`Transport::poll_fd`](crate::blocking::Transport::poll_fd)),
    /// [`Ctx::push_handle`] is a [`BlockingPush`](crate::blocking::BlockingPush):
    /// once a protocol takes it, the thread waits in `poll(2)` so that
    /// pushes from other threads wake it. Elsewhere it is `None`.
    pub fn run_blocking<S: crate::blocking::Transport>(
        &self,
        ws: &mut crate::blocking::WebSocket<S>,
    ) {
        match ws.handshake() {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return log::debug!("handshake: {e}"),
        }
        #[cfg(unix)]
        let push = ws.push_link().map(|p| Arc::new(p) as Arc<dyn Push>);
        #[cfg(not(unix))]
        let push = None;
        let Some(mut run) = self.attach(ws.driver_mut(), push) else {
            let _ = ws.close(CloseCode::INTERNAL_ERROR, "no protocol");
            while let Ok(Some(_)) = ws.recv() {}
            return;
        };
        loop {
            // A handle handed out (only a callback, on this thread, can
            // do that): from now on wait where pushes can wake us.
            #[cfg(unix)]
            if run.push.as_ref().is_some_and(|p| Arc::strong_count(p) > 1) {
                ws.start_polling();
            }
            match ws.recv_app(None) {
                Ok(Some(ev)) => self.dispatch(&mut run, ws.driver_mut(), ev),
                Ok(None) if ws.is_finished() => return self.finish(run, None),
                Ok(None) => {}
                Err(e) => return self.finish(run, Some(e)),
            }
        }
    }
}

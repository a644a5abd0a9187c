//! The server side of the opening handshake (RFC 6455 §4.2; drafts -04 to
//! -08 §5.2; draft-00 §5), with a stub web server for plain requests.

pub(crate) mod config;
mod hosted;
pub(crate) mod respond;
pub(crate) mod validate;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem;

use bytes::{Bytes, BytesMut};
use rand_core::Rng;

pub use config::{Accept, OriginCheck, OriginPolicy, ProtocolPolicy, ServerConfig};
pub use hosted::HostedUpgrade;
pub use respond::error_response;
pub use validate::UpgradeRequest;

use crate::error::{Error, HttpLimitError, HttpPeerError, Limit, MisuseError};
use crate::grammar::list_contains;
use crate::handshake::Handshake;
use crate::http::{self, HttpRequest};
use crate::limits::HeadScanner;
use crate::response::{Body, Response};
use crate::transmit::Outbox;
use crate::{Dialect, Instant};
use validate::Pending;

/// What the server machine found in the bytes received so far, from
/// [`ServerHandshake::poll_event`]. An incomplete request is no event:
/// `poll_event` returns `Ok(None)` for every prefix of a valid request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A valid WebSocket upgrade: answer with
    /// [`accept`](ServerHandshake::accept) or [`reject`](ServerHandshake::reject).
    Upgrade(UpgradeRequest),
    /// A plain HTTP request: answer with [`respond`](ServerHandshake::respond).
    Request(HttpRequest),
    /// The last response closed the connection (reported once; from then
    /// on [`wants_close`](ServerHandshake::wants_close) is true): flush
    /// [`poll_transmit`](ServerHandshake::poll_transmit), then close.
    Close,
}

#[derive(Debug)]
enum State {
    Head(HeadScanner),
    Body {
        req: HttpRequest,
        len: usize,
        exchange: Exchange,
    },
    Key3(Box<(Pending, UpgradeRequest)>),
    AwaitRequest(Exchange),
    AwaitUpgrade(Box<Pending>),
    Streaming {
        remaining: u64,
        close: bool,
    },
    Upgraded,
    /// A response closed the connection; `reported` once `Close` was polled.
    Closed {
        reported: bool,
    },
    Failed(Error),
}

/// How a plain request wants its response framed.
#[derive(Clone, Copy, Debug)]
struct Exchange {
    close: bool,
    head_only: bool,
    http10_keep_alive: bool,
}

/// The server side of one connection's opening handshake.
///
/// # Call order
///
/// The contract every machine of the family follows (`ws_proto::Connection`
/// and `ws_proto::session::Session` too):
///
/// 1. [`new`](Self::new) with the shared config and the current time.
/// 2. Input: [`receive`](Self::receive) every chunk read from the socket.
///    It only buffers (refusing input past the configured limits).
/// 3. Events: call [`poll_event`](Self::poll_event) until it returns
///    `Ok(None)` (need more input). Every request, plain or upgrade, must
///    carry one valid `Host` (HTTP/1.0 may omit it; RFC 7230 §5.4), else
///    [`HttpPeerError::MissingHeader`], [`HttpPeerError::DuplicateHeader`] or
///    [`HttpPeerError::BadHeaderValue`] for `"Host"` is returned (status 400).
///    On an error, an automatic response (400,
///    403, 405, 408, 413, 414, 426, 431, 501) has been queued.
/// 4. Commands: on [`ServerEvent::Upgrade`], call [`accept`](Self::accept)
///    (queues the `101`) or [`reject`](Self::reject). After `accept`, take
///    [`take_leftover`](Self::take_leftover): bytes the client sent behind
///    its request belong to the WebSocket connection. On
///    [`ServerEvent::Request`], call [`respond`](Self::respond) (and
///    [`send_body`](Self::send_body) for a streamed body); a request the
///    client pipelined behind it (HTTP/1.1 persistent connections, RFC
///    7230 §6.3) is the next `poll_event`.
/// 5. Output: drain [`poll_transmit`](Self::poll_transmit) (or
///    [`transmit_slices`](Self::transmit_slices) +
///    [`advance_transmit`](Self::advance_transmit)) and write the bytes.
/// 6. Timers: keep one at [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires.
/// 7. Teardown: close the socket once [`wants_close`](Self::wants_close)
///    is true and the output is flushed.
///
/// # Errors and failure
///
/// Peer, capacity and timeout errors are permanent: the error response is
/// queued (`Connection: close`) and every later call returns the same
/// error. [`MisuseError`]s (calling a method in the wrong state, answering
/// with something the client did not offer) change nothing, so the
/// application can correct itself.
///
/// # Timeouts
///
/// Each request must arrive (head, body, hixie-76 key3) within
/// [`ServerConfig::handshake_timeout`], counted from `new` or from the end
/// of the previous response. When it passes, [`Error::Timeout`] is reported
/// and a `408 Request Timeout` is queued if part of a request had arrived;
/// on an idle connection nothing is queued and the driver just closes.
#[derive(Debug)]
pub struct ServerHandshake {
    config: Arc<ServerConfig>,
    state: State,
    buf: BytesMut,
    transmit: Outbox,
    deadline: Instant,
    handshake: Option<Handshake>,
}

impl ServerHandshake {
    /// A machine waiting for the first request; its deadline runs from `now`.
    #[must_use]
    pub fn new(config: Arc<ServerConfig>, now: Instant) -> Self {
        let deadline = now + config.handshake_timeout;
        ServerHandshake {
            config,
            state: State::Head(HeadScanner::default()),
            buf: BytesMut::new(),
            transmit: Outbox::default(),
            deadline,
            handshake: None,
        }
    }

    /// Buffers bytes received from the client; [`poll_event`](Self::poll_event)
    /// parses them. `now` is the time they arrived (the request deadline
    /// runs from the end of the previous response, not from input).
    ///
    /// Refuses with the stored error after a failure, and fails with
    /// [`Limit::HeadTotal`] (431) when the buffered input would exceed the
    /// largest head and body the limits allow, before buffering anything.
    /// The limits of a request head (line lengths, header count, size) are
    /// checked here too, as the head arrives.
    /// After `accept` this returns a [`MisuseError::WrongState`] and does
    /// not take the bytes: they belong to the WebSocket connection. After a
    /// response that closed the connection, input is dropped.
    pub fn receive(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let _ = now;
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Upgraded => return Err(MisuseError::WrongState("receive").into()),
            State::Closed { .. } => return Ok(()),
            _ => {}
        }
        let limits = &self.config.limits;
        let max = limits
            .max_head
            .saturating_add(limits.max_body)
            .saturating_add(8);
        let size = self.buf.len().saturating_add(data.len());
        if size > max {
            let limit = Limit::HeadTotal;
            return Err(self.fail(HttpLimitError { limit, size, max }.into()));
        }
        self.buf.extend_from_slice(data);
        // The head's own limits (request line 414, header lines, count and
        // size 431) are checked as it arrives, however rarely the driver
        // polls; parsing waits for `poll_event`.
        if let State::Head(scanner) = &mut self.state {
            if let Err(e) = scanner.scan(&self.buf, &self.config.limits) {
                return Err(self.fail(e.into()));
            }
        }
        Ok(())
    }

    /// Parses what is buffered and returns the next event: `Ok(None)` when
    /// more input is needed, while the application holds a request or an
    /// upgrade, and after `accept`. A request pipelined behind one that was
    /// answered is parsed here too. A peer, capacity or protocol error is
    /// permanent (its automatic response is queued) and returned again by
    /// every later call.
    #[must_use = "events must be handled"]
    pub fn poll_event(&mut self) -> Result<Option<ServerEvent>, Error> {
        self.advance().map_err(|e| self.fail(e))
    }

    fn advance(&mut self) -> Result<Option<ServerEvent>, Error> {
        match &mut self.state {
            State::Head(scanner) => match scanner.scan(&self.buf, &self.config.limits)? {
                None => Ok(None),
                Some(n) => self.on_head(n),
            },
            State::Body { len, .. } if self.buf.len() >= *len => Ok(self.deliver_body()),
            State::Key3(_) if self.buf.len() >= 8 => Ok(self.deliver_hixie()),
            State::Closed { reported } => {
                let first = !mem::replace(reported, true);
                Ok(first.then_some(ServerEvent::Close))
            }
            State::Failed(e) => Err(e.clone()),
            _ => Ok(None),
        }
    }

    fn on_head(&mut self, n: usize) -> Result<Option<ServerEvent>, Error> {
        let head = self.buf.split_to(n);
        let req = http::parse_request(&head, &self.config.limits)?;
        // Plain requests and upgrades alike (RFC 7230 §5.4): 400 for a
        // missing (HTTP/1.1), repeated or invalid `Host`.
        http::check_host(&req)?;
        if !validate::is_upgrade_attempt(&req.headers) {
            return self.on_plain(req);
        }
        let (pending, upgrade) = validate::validate(req, &self.config, self.config.dialects)?;
        if pending.dialect == Dialect::Hixie76 {
            self.state = State::Key3(Box::new((pending, upgrade)));
            return self.advance();
        }
        self.state = State::AwaitUpgrade(Box::new(pending));
        Ok(Some(ServerEvent::Upgrade(upgrade)))
    }

    fn on_plain(&mut self, req: HttpRequest) -> Result<Option<ServerEvent>, Error> {
        if req.headers.get("transfer-encoding").is_some() {
            return Err(HttpPeerError::TransferEncoding.into());
        }
        let len = http::content_length(&req.headers)?.unwrap_or(0);
        let max = self.config.limits.max_body;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= max)
            .ok_or(HttpLimitError {
                limit: Limit::Body,
                size: usize::try_from(len).unwrap_or(usize::MAX),
                max,
            })?;
        let conn = || req.headers.get_all("connection");
        let keep_alive_10 = req.minor_version == 0 && list_contains(conn(), "keep-alive");
        let close = list_contains(conn(), "close") || (req.minor_version == 0 && !keep_alive_10);
        let exchange = Exchange {
            close,
            head_only: req.method == "HEAD",
            http10_keep_alive: keep_alive_10 && !close,
        };
        self.state = State::Body { req, len, exchange };
        self.advance()
    }

    fn deliver_body(&mut self) -> Option<ServerEvent> {
        match mem::replace(&mut self.state, State::Upgraded) {
            State::Body {
                mut req,
                len,
                exchange,
            } => {
                req.body = self.buf.split_to(len).freeze();
                self.state = State::AwaitRequest(exchange);
                Some(ServerEvent::Request(req))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    fn deliver_hixie(&mut self) -> Option<ServerEvent> {
        match mem::replace(&mut self.state, State::Upgraded) {
            State::Key3(boxed) => {
                let (mut pending, upgrade) = *boxed;
                let key3 = self.buf.split_to(8);
                pending.key3.copy_from_slice(&key3);
                self.state = State::AwaitUpgrade(Box::new(pending));
                Some(ServerEvent::Upgrade(upgrade))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Accepts the upgrade: queues the dialect's `101` response (with a
    /// fresh `Sec-WebSocket-Nonce` from `rng` for hybi-04/05) and returns
    /// the completed [`Handshake`].
    pub fn accept<R: Rng + ?Sized>(
        &mut self,
        accept: Accept,
        rng: &mut R,
    ) -> Result<Handshake, Error> {
        let State::AwaitUpgrade(p) = &self.state else {
            return Err(MisuseError::WrongState("accept").into());
        };
        let (hs, response) = respond::answer(p, accept, rng, self.config.secure)?;
        let mut bytes = response.encode(false, false)?;
        if p.dialect == Dialect::Hixie76 {
            bytes.extend_from_slice(&respond::hixie_answer(p));
        }
        self.transmit.push(bytes.into());
        self.state = State::Upgraded;
        self.handshake = Some(hs.clone());
        Ok(hs)
    }

    /// Refuses the upgrade with `response` (sent with `Connection: close`).
    pub fn reject(&mut self, response: Response) -> Result<(), Error> {
        let State::AwaitUpgrade(_) = &self.state else {
            return Err(MisuseError::WrongState("reject").into());
        };
        let bytes = response.encode(true, false)?;
        self.transmit.push(bytes.into());
        self.state = State::Closed { reported: false };
        Ok(())
    }

    /// Answers a plain request. `Content-Length` is added from the body;
    /// the connection stays open for the next request unless the request
    /// or `response` asked to close (RFC 7230 §6.3). `now` starts the
    /// deadline for the next request once the body is complete.
    pub fn respond(&mut self, now: Instant, response: Response) -> Result<(), Error> {
        let State::AwaitRequest(ex) = self.state else {
            return Err(MisuseError::WrongState("respond").into());
        };
        let close = ex.close || asks_close(&response);
        let response = if ex.http10_keep_alive && !close {
            response.header("Connection", "keep-alive")
        } else {
            response
        };
        let bytes = response.encode(close, ex.head_only)?;
        self.transmit.push(bytes.into());
        let remaining = match response.body_ref() {
            Body::Streamed(_) if !ex.head_only => response.body_len(),
            _ => 0,
        };
        self.state = State::Streaming { remaining, close };
        self.finish_if_done(now);
        Ok(())
    }

    /// Queues a chunk of a streamed body announced with
    /// [`Response::streamed`].
    pub fn send_body(&mut self, now: Instant, chunk: Bytes) -> Result<(), Error> {
        let State::Streaming { remaining, .. } = &mut self.state else {
            return Err(MisuseError::WrongState("send_body").into());
        };
        let len = chunk.len() as u64;
        if len > *remaining {
            return Err(MisuseError::BodyOverrun(len - *remaining).into());
        }
        *remaining -= len;
        self.transmit.push(chunk);
        self.finish_if_done(now);
        Ok(())
    }

    fn finish_if_done(&mut self, now: Instant) {
        if let State::Streaming {
            remaining: 0,
            close,
        } = self.state
        {
            self.state = if close {
                State::Closed { reported: false }
            } else {
                self.deadline = now + self.config.handshake_timeout;
                State::Head(HeadScanner::default())
            };
        }
    }

    crate::transmit::transmit_methods!(
        "the client",
        "responses, body chunks, the automatic error response"
    );

    /// When [`handle_timeout`](Self::handle_timeout) must be called: the
    /// deadline of the request being read, `None` while the application
    /// holds a request or after the handshake.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Head(_) | State::Body { .. } | State::Key3(_) => Some(self.deadline),
            _ => None,
        }
    }

    /// Tells the machine the time; past the deadline it fails with
    /// [`Error::Timeout`] (see the type's docs for what is queued).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.poll_timeout() {
            Some(d) if now >= d => Err(self.fail(Error::Timeout)),
            _ => Ok(()),
        }
    }

    /// The completed handshake, once accepted.
    #[must_use]
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The stored error, if the machine failed.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// True after `accept`.
    #[must_use]
    pub fn is_upgraded(&self) -> bool {
        matches!(self.state, State::Upgraded)
    }

    /// True if the driver should close the connection once the transmit
    /// queue is flushed (a `Connection: close` response, a rejection or a
    /// failure).
    #[must_use]
    pub fn wants_close(&self) -> bool {
        matches!(self.state, State::Closed { .. } | State::Failed(_))
    }

    /// Takes the bytes received after the upgrade request (frames the client
    /// pipelined; never the hixie-76 key3). Empty before `accept`.
    #[must_use = "the leftover bytes belong to the WebSocket connection"]
    pub fn take_leftover(&mut self) -> Bytes {
        match self.state {
            State::Upgraded => self.buf.split().freeze(),
            _ => Bytes::new(),
        }
    }

    /// Queues the automatic error response and makes the failure permanent.
    /// Misuse errors pass through unchanged.
    fn fail(&mut self, e: Error) -> Error {
        if matches!(e, Error::Misuse(_)) || matches!(self.state, State::Failed(_)) {
            return e;
        }
        let idle = matches!(self.state, State::Head(_)) && self.buf.is_empty();
        if !(e == Error::Timeout && idle) {
            let response = respond::error_response(&e, &self.config);
            if let Ok(bytes) = response.encode(true, false) {
                self.transmit.push(Bytes::from(bytes));
            }
        }
        self.state = State::Failed(e.clone());
        e
    }
}

fn asks_close(r: &Response) -> bool {
    let values: Vec<&[u8]> = r
        .headers()
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.as_bytes())
        .collect();
    list_contains(values, "close")
}

//! The client side of the opening handshake (RFC 6455 §4.1; drafts -04 to
//! -08 §5.1; draft-00 §4.1).

mod request;
pub(crate) mod validate;

use alloc::boxed::Box;
use alloc::string::String;
use core::mem;

use bytes::{Bytes, BytesMut};
use rand_core::Rng;

pub use request::ClientRequest;

use crate::error::{Error, HttpPeerError, MisuseError};
use crate::handshake::{Handshake, Role};
use crate::http::{self, HttpResponse};
use crate::limits::HeadScanner;
use crate::transmit::Outbox;
use crate::{Dialect, Instant};
use request::Expect;

/// What the client machine found in the bytes received so far, from
/// [`ClientHandshake::poll_event`]. An incomplete response is no event:
/// `poll_event` returns `Ok(None)` for every prefix of a valid response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted: the WebSocket connection starts; bytes behind
    /// the response are in [`ClientHandshake::take_leftover`].
    Connected(Handshake),
    /// A 3xx with a `Location` (RFC 7231 §6.4): the caller may retry there.
    Redirect {
        /// The status code.
        status: u16,
        /// The `Location` header value.
        location: String,
    },
    /// The server refused: any other status, with headers and a bounded body.
    Rejected(HttpResponse),
}

#[derive(Debug)]
enum State {
    Head(HeadScanner),
    /// hixie-76: the 16-byte answer after the head (draft-00 §4.1 step 44).
    HixieAnswer(Box<Handshake>),
    /// A refusal waiting for `len` body bytes.
    Body {
        res: Box<HttpResponse>,
        len: usize,
    },
    Connected,
    Failed(Error),
}

/// The client side of one connection's opening handshake.
///
/// # Call order
///
/// The contract of [`ServerHandshake`](crate::ServerHandshake) (and of
/// every machine of the family):
///
/// 1. [`new`](Self::new) builds the request (keys from the injected RNG)
///    and queues it.
/// 2. Output: write out [`poll_transmit`](Self::poll_transmit) (or
///    [`transmit_slices`](Self::transmit_slices) +
///    [`advance_transmit`](Self::advance_transmit)); for hixie-76 this
///    includes the 8 key3 bytes behind the head.
/// 3. Input: [`receive`](Self::receive) every chunk read from the socket.
/// 4. Events: call [`poll_event`](Self::poll_event) until it returns
///    `Ok(None)` (need more input) or an event. After
///    [`ClientEvent::Connected`], hand [`take_leftover`](Self::take_leftover)
///    (frames the server sent right behind its response) to the WebSocket
///    connection.
/// 5. Timers: keep one at [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires.
/// 6. Teardown: close the socket when [`wants_close`](Self::wants_close).
///
/// Failure is permanent: after an error, a redirect or a rejection, every
/// later call returns the stored error ([`HttpPeerError::Rejected`] for the
/// latter two). Nothing is queued on failure: the driver closes.
#[derive(Debug)]
pub struct ClientHandshake {
    request: ClientRequest,
    expect: Expect,
    state: State,
    buf: BytesMut,
    transmit: Outbox,
    deadline: Instant,
    handshake: Option<Handshake>,
}

impl ClientHandshake {
    /// Builds and queues the request; `Sec-WebSocket-Key` (or the hixie-76
    /// keys) come from `rng`; the response deadline runs from `now`.
    #[must_use = "the machine holds the request to send"]
    pub fn new<R: Rng + ?Sized>(
        request: ClientRequest,
        rng: &mut R,
        now: Instant,
    ) -> Result<Self, Error> {
        let (bytes, expect) = request::build(&request, rng)?;
        let deadline = now + request.timeout;
        Ok(ClientHandshake {
            request,
            expect,
            state: State::Head(HeadScanner::default()),
            buf: BytesMut::new(),
            transmit: Outbox::with(Bytes::from(bytes)),
            deadline,
            handshake: None,
        })
    }

    /// The request this machine sent.
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent (empty for hixie-76).
    pub fn key(&self) -> &str {
        &self.expect.key
    }

    crate::transmit::transmit_methods!("the server", "the request");

    /// Buffers bytes received from the server; [`poll_event`](Self::poll_event)
    /// parses them. `now` is the time they arrived (the response deadline
    /// runs from `new`).
    ///
    /// Refuses with the stored error after a failure, and with a
    /// [`HttpLimitError`](crate::HttpLimitError) when the response head
    /// breaks the limits (checked as it arrives). After `Connected` this
    /// returns [`MisuseError::WrongState`] and does not take the bytes:
    /// they belong to the WebSocket connection.
    pub fn receive(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let _ = now;
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Connected => return Err(MisuseError::WrongState("receive").into()),
            _ => {}
        }
        self.buf.extend_from_slice(data);
        // The head's limits are checked as it arrives; parsing waits for
        // `poll_event`.
        if let State::Head(scanner) = &mut self.state {
            if let Err(e) = scanner.scan(&self.buf, &self.request.limits) {
                return Err(self.fail(e.into()));
            }
        }
        Ok(())
    }

    /// Parses what is buffered and returns the next event: `Ok(None)` when
    /// more input is needed, and after `Connected`. An error is permanent
    /// and returned again by every later call; so is
    /// [`HttpPeerError::Rejected`] after a redirect or a rejection.
    #[must_use = "events must be handled"]
    pub fn poll_event(&mut self) -> Result<Option<ClientEvent>, Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        self.advance().map_err(|e| self.fail(e))
    }

    fn advance(&mut self) -> Result<Option<ClientEvent>, Error> {
        match &mut self.state {
            State::Head(scanner) => match scanner.scan(&self.buf, &self.request.limits)? {
                None => Ok(None),
                Some(n) => self.on_head(n),
            },
            State::HixieAnswer(_) if self.buf.len() >= 16 => self.on_hixie_answer().map(Some),
            State::Body { len, .. } if self.buf.len() >= *len => Ok(self.deliver_rejection()),
            _ => Ok(None),
        }
    }

    fn on_head(&mut self, n: usize) -> Result<Option<ClientEvent>, Error> {
        let head = self.buf.split_to(n);
        let res = http::parse_response(&head, &self.request.limits)?;
        if res.status != 101 {
            return self.on_refusal(res);
        }
        let neg = validate::check_101(&res, &self.request, &self.expect)?;
        let dialect = self.request.dialect;
        let hs = Handshake {
            role: Role::Client,
            dialect,
            protocol: neg.protocol,
            extensions: neg.extensions,
            key: dialect.is_hybi().then(|| self.expect.key.clone()),
            nonce: neg.nonce,
            target: None,
            origin: None,
            headers: res.headers,
        };
        if dialect == Dialect::Hixie76 {
            self.state = State::HixieAnswer(Box::new(hs));
            return self.advance();
        }
        Ok(Some(self.connect(hs)))
    }

    fn on_hixie_answer(&mut self) -> Result<ClientEvent, Error> {
        let answer = self.buf.split_to(16);
        if answer[..] != self.expect.hixie_answer[..] {
            return Err(HttpPeerError::HixieAnswerMismatch.into());
        }
        match mem::replace(&mut self.state, State::Connected) {
            State::HixieAnswer(hs) => Ok(self.connect(*hs)),
            _ => Err(MisuseError::WrongState("hixie answer").into()),
        }
    }

    fn connect(&mut self, hs: Handshake) -> ClientEvent {
        self.state = State::Connected;
        self.handshake = Some(hs.clone());
        ClientEvent::Connected(hs)
    }

    /// A non-101: a redirect now, or a rejection once its bounded body is in.
    fn on_refusal(&mut self, res: HttpResponse) -> Result<Option<ClientEvent>, Error> {
        let status = res.status;
        if (300..400).contains(&status) {
            if let Some(location) = res.headers.get_str("location") {
                let location = String::from(location);
                self.state = State::Failed(HttpPeerError::Rejected(status).into());
                return Ok(Some(ClientEvent::Redirect { status, location }));
            }
        }
        let max = self.request.limits.max_body;
        let len = match http::content_length(&res.headers) {
            Ok(Some(cl)) if cl <= max as u64 => cl as usize,
            _ => self.buf.len().min(max),
        };
        self.state = State::Body {
            res: Box::new(res),
            len,
        };
        self.advance()
    }

    fn deliver_rejection(&mut self) -> Option<ClientEvent> {
        match mem::replace(&mut self.state, State::Connected) {
            State::Body { mut res, len } => {
                res.body = self.buf.split_to(len).freeze();
                self.state = State::Failed(HttpPeerError::Rejected(res.status).into());
                Some(ClientEvent::Rejected(*res))
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called; `None`
    /// once the handshake is over.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connected | State::Failed(_) => None,
            _ => Some(self.deadline),
        }
    }

    /// Tells the machine the time; past the deadline it fails with
    /// [`Error::Timeout`].
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.poll_timeout() {
            Some(d) if now >= d => Err(self.fail(Error::Timeout)),
            _ => Ok(()),
        }
    }

    /// The completed handshake, once connected.
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

    /// True when the driver should close the connection: the handshake
    /// failed, was redirected or was rejected (nothing is queued then).
    #[must_use]
    pub fn wants_close(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// Takes the bytes received behind the server's response (its first
    /// frames). Empty before `Connected`.
    #[must_use = "the leftover bytes belong to the WebSocket connection"]
    pub fn take_leftover(&mut self) -> Bytes {
        match self.state {
            State::Connected => self.buf.split().freeze(),
            _ => Bytes::new(),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if !matches!(e, Error::Misuse(_)) {
            self.state = State::Failed(e.clone());
        }
        e
    }
}

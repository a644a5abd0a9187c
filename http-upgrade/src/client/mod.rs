//! The client side of the opening handshake (RFC 6455 §4.1; drafts -04 to
//! -08 §5.1; draft-00 §4.1).

mod request;
mod validate;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use core::mem;

use bytes::{Bytes, BytesMut};
use rand_core::Rng;

pub use request::ClientRequest;

use crate::error::{Error, HttpPeerError, MisuseError};
use crate::handshake::{Handshake, Role};
use crate::http::{self, HttpResponse};
use crate::limits::HeadScanner;
use crate::{Dialect, Instant};
use request::Expect;

/// What the client machine found in the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The response is incomplete.
    NeedMore,
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
/// 1. [`new`](Self::new) builds the request (keys from the injected RNG)
///    and queues it.
/// 2. Write out [`poll_transmit`](Self::poll_transmit) (including, for
///    hixie-76, the 8 key3 bytes behind the head).
/// 3. Feed every received chunk to [`receive_data`](Self::receive_data)
///    until it returns something other than [`ClientEvent::NeedMore`].
/// 4. After [`ClientEvent::Connected`], hand
///    [`take_leftover`](Self::take_leftover) (frames the server sent right
///    behind its response) to the WebSocket connection.
/// 5. Keep a timer at [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires.
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
    transmit: VecDeque<Bytes>,
    deadline: Instant,
    handshake: Option<Handshake>,
}

impl ClientHandshake {
    /// Builds and queues the request; `Sec-WebSocket-Key` (or the hixie-76
    /// keys) come from `rng`; the response deadline runs from `now`.
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
            transmit: VecDeque::from([Bytes::from(bytes)]),
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

    /// The next bytes to write to the server.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Feeds received bytes and parses as far as possible.
    ///
    /// After `Connected` this returns [`MisuseError::WrongState`] and does
    /// not take the bytes: they belong to the WebSocket connection.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<ClientEvent, Error> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Connected => return Err(MisuseError::WrongState("receive_data").into()),
            _ => {}
        }
        self.buf.extend_from_slice(data);
        self.advance().map_err(|e| self.fail(e))
    }

    fn advance(&mut self) -> Result<ClientEvent, Error> {
        match &mut self.state {
            State::Head(scanner) => match scanner.scan(&self.buf, &self.request.limits)? {
                None => Ok(ClientEvent::NeedMore),
                Some(n) => self.on_head(n),
            },
            State::HixieAnswer(_) if self.buf.len() >= 16 => self.on_hixie_answer(),
            State::Body { len, .. } if self.buf.len() >= *len => Ok(self.deliver_rejection()),
            _ => Ok(ClientEvent::NeedMore),
        }
    }

    fn on_head(&mut self, n: usize) -> Result<ClientEvent, Error> {
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
        Ok(self.connect(hs))
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
    fn on_refusal(&mut self, res: HttpResponse) -> Result<ClientEvent, Error> {
        let status = res.status;
        if (300..400).contains(&status) {
            if let Some(location) = res.headers.get_str("location") {
                let location = String::from(location);
                self.state = State::Failed(HttpPeerError::Rejected(status).into());
                return Ok(ClientEvent::Redirect { status, location });
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

    fn deliver_rejection(&mut self) -> ClientEvent {
        match mem::replace(&mut self.state, State::Connected) {
            State::Body { mut res, len } => {
                res.body = self.buf.split_to(len).freeze();
                self.state = State::Failed(HttpPeerError::Rejected(res.status).into());
                ClientEvent::Rejected(*res)
            }
            other => {
                self.state = other;
                ClientEvent::NeedMore
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called; `None`
    /// once the handshake is over.
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
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// The stored error, if the machine failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Takes the bytes received behind the server's response (its first
    /// frames). Empty before `Connected`.
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

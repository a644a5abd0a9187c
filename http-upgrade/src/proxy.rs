//! Tunnelling through an HTTP proxy with `CONNECT` (RFC 7231 §4.3.6, RFC
//! 6455 §4.1 step 2), with optional `Proxy-Authorization: Basic` (RFC 7617).

use alloc::format;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};

use crate::Instant;
use crate::error::{Error, HttpPeerError, MisuseError};
use crate::http::{self, HttpResponse, check_header, push_header};
use crate::limits::{HeadScanner, Limits};
use crate::transmit::Outbox;
use crate::url::WsUrl;

/// What the proxy machine found, from [`ProxyConnect::poll_event`]. An
/// incomplete answer is no event: `poll_event` returns `Ok(None)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyEvent {
    /// A 2xx: the tunnel is open; start TLS or the WebSocket handshake and
    /// pass it [`ProxyConnect::take_leftover`] first.
    Open,
}

/// A `CONNECT host:port` exchange with an HTTP proxy.
///
/// Call order (the contract of every machine of the family):
/// [`new`](Self::new) (or [`for_url`](Self::for_url)); write
/// [`poll_transmit`](Self::poll_transmit) (or
/// [`transmit_slices`](Self::transmit_slices) +
/// [`advance_transmit`](Self::advance_transmit)); [`receive`](Self::receive)
/// the proxy's bytes and call [`poll_event`](Self::poll_event) until
/// [`ProxyEvent::Open`] or an error ([`HttpPeerError::ProxyRefused`]
/// carries the status, e.g. 407; the full answer stays available in
/// [`response`](Self::response); [`wants_close`](Self::wants_close) is
/// then true); after `Open`, take [`take_leftover`](Self::take_leftover).
/// The machine has no timer of its own: the driver's connect timeout
/// covers it.
#[derive(Debug)]
pub struct ProxyConnect {
    limits: Limits,
    scanner: HeadScanner,
    buf: BytesMut,
    transmit: Outbox,
    response: Option<HttpResponse>,
    result: Option<Result<(), Error>>,
}

impl ProxyConnect {
    /// Queues `CONNECT host:port HTTP/1.1` (`host` bracketed if IPv6) with
    /// `Proxy-Authorization: Basic base64(user:password)` if `auth` is given.
    #[must_use = "the machine holds the request to send"]
    pub fn new(
        host: &str,
        port: u16,
        auth: Option<(&str, &str)>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        check_header("Host", &authority)?;
        if authority.contains(' ') {
            return Err(MisuseError::InvalidHeader(authority).into());
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(format!("CONNECT {authority} HTTP/1.1\r\n").as_bytes());
        push_header(&mut out, "Host", &authority);
        if let Some((user, password)) = auth {
            let credentials = STANDARD.encode(format!("{user}:{password}"));
            push_header(
                &mut out,
                "Proxy-Authorization",
                &format!("Basic {credentials}"),
            );
        }
        out.extend_from_slice(b"\r\n");
        Ok(ProxyConnect {
            limits,
            scanner: HeadScanner::default(),
            buf: BytesMut::new(),
            transmit: Outbox::with(Bytes::from(out)),
            response: None,
            result: None,
        })
    }

    /// A `CONNECT` to the host and port of a WebSocket URL.
    #[must_use = "the machine holds the request to send"]
    pub fn for_url(url: &WsUrl, auth: Option<(&str, &str)>) -> Result<Self, Error> {
        Self::new(url.host(), url.port(), auth, Limits::default())
    }

    crate::transmit::transmit_methods!("the proxy", "the `CONNECT` request");

    /// Buffers bytes from the proxy; [`poll_event`](Self::poll_event)
    /// parses them. Refuses with the stored error after a failure, with a
    /// limit error when the answer's head breaks the limits (checked as it
    /// arrives), and with [`MisuseError::WrongState`] once the tunnel is
    /// open (the bytes are the target's then).
    pub fn receive(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let _ = now;
        match &self.result {
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(())) => return Err(MisuseError::WrongState("receive").into()),
            None => {}
        }
        self.buf.extend_from_slice(data);
        // The head's limits are checked as it arrives.
        if let Err(e) = self.scanner.scan(&self.buf, &self.limits) {
            let e = Error::from(e);
            self.result = Some(Err(e.clone()));
            return Err(e);
        }
        Ok(())
    }

    /// Parses what is buffered: [`ProxyEvent::Open`] once, `Ok(None)` while
    /// more input is needed and after `Open`; an error (a refusal
    /// included) is permanent and returned again by every later call.
    #[must_use = "events must be handled"]
    pub fn poll_event(&mut self) -> Result<Option<ProxyEvent>, Error> {
        match &self.result {
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(())) => return Ok(None),
            None => {}
        }
        let outcome = self.parse();
        if let Err(e) = &outcome {
            self.result = Some(Err(e.clone()));
        }
        outcome
    }

    fn parse(&mut self) -> Result<Option<ProxyEvent>, Error> {
        let Some(n) = self.scanner.scan(&self.buf, &self.limits)? else {
            return Ok(None);
        };
        let head = self.buf.split_to(n);
        let res = http::parse_response(&head, &self.limits)?;
        let status = res.status;
        self.response = Some(res);
        if !(200..300).contains(&status) {
            return Err(HttpPeerError::ProxyRefused(status).into());
        }
        self.result = Some(Ok(()));
        Ok(Some(ProxyEvent::Open))
    }

    /// True when the driver should close the connection: the proxy refused
    /// or sent something invalid.
    #[must_use]
    pub fn wants_close(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    /// The proxy's answer head, once received.
    #[must_use]
    pub fn response(&self) -> Option<&HttpResponse> {
        self.response.as_ref()
    }

    /// Bytes received behind the proxy's answer (already from the target).
    /// Empty before [`ProxyEvent::Open`].
    #[must_use = "the leftover bytes belong to the tunnel"]
    pub fn take_leftover(&mut self) -> Bytes {
        match self.result {
            Some(Ok(())) => self.buf.split().freeze(),
            _ => Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn drain(p: &mut ProxyConnect) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = p.poll_transmit(&mut out);
        out
    }

    /// `receive` then `poll_event`, as a driver calls them.
    fn feed(p: &mut ProxyConnect, data: &[u8]) -> Result<Option<ProxyEvent>, Error> {
        p.receive(T0, data)?;
        p.poll_event()
    }

    #[test]
    fn connect_request_with_auth() {
        let mut p = ProxyConnect::new(
            "::1",
            9001,
            Some(("Aladdin", "open sesame")),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(
            drain(&mut p),
            b"CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\
              Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert_eq!(p.pending_transmit(), 0);
        assert_eq!(drain(&mut p), b"");
    }

    #[test]
    fn open_with_leftover() {
        let url = WsUrl::parse("ws://example.com/x").unwrap();
        let mut p = ProxyConnect::for_url(&url, None).unwrap();
        let mut slices = [&[][..]; 2];
        assert_eq!(p.transmit_slices(&mut slices), 1);
        assert_eq!(
            slices[0],
            b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"
        );
        p.advance_transmit(slices[0].len());
        assert_eq!(p.pending_transmit(), 0);
        let answer = b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101";
        for i in 0..39 {
            let mut q = ProxyConnect::for_url(&url, None).unwrap();
            assert_eq!(feed(&mut q, &answer[..i]), Ok(None));
        }
        assert_eq!(feed(&mut p, answer), Ok(Some(ProxyEvent::Open)));
        assert_eq!(p.poll_event(), Ok(None), "Open is reported once");
        assert!(!p.wants_close());
        assert_eq!(&p.take_leftover()[..], b"HTTP/1.1 101");
        assert!(p.receive(T0, b"x").is_err());
    }

    #[test]
    fn refused() {
        let mut p = ProxyConnect::new("h", 1, None, Limits::default()).unwrap();
        let e = feed(
            &mut p,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
        )
        .unwrap_err();
        assert_eq!(e, Error::Peer(HttpPeerError::ProxyRefused(407)));
        assert_eq!(
            p.response().unwrap().headers.get_str("proxy-authenticate"),
            Some("Basic")
        );
        assert!(p.wants_close());
        assert_eq!(p.receive(T0, b""), Err(e.clone()));
        assert_eq!(p.poll_event(), Err(e));
        assert!(ProxyConnect::new("a b", 1, None, Limits::default()).is_err());
        assert!(ProxyConnect::new("a\r\n", 1, None, Limits::default()).is_err());
    }
}

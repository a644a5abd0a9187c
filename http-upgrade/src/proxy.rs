//! Tunnelling through an HTTP proxy with `CONNECT` (RFC 7231 §4.3.6, RFC
//! 6455 §4.1 step 2), with optional `Proxy-Authorization: Basic` (RFC 7617).

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};

use crate::error::{Error, HttpPeerError, MisuseError};
use crate::http::{self, HttpResponse, check_header, push_header};
use crate::limits::{HeadScanner, Limits};
use crate::url::WsUrl;

/// What the proxy machine found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyEvent {
    /// The proxy's answer is incomplete.
    NeedMore,
    /// A 2xx: the tunnel is open; start TLS or the WebSocket handshake and
    /// pass it [`ProxyConnect::take_leftover`] first.
    Open,
}

/// A `CONNECT host:port` exchange with an HTTP proxy.
///
/// Call order: [`new`](Self::new) (or [`for_url`](Self::for_url)), write
/// [`poll_transmit`](Self::poll_transmit), feed the proxy's bytes to
/// [`receive_data`](Self::receive_data) until [`ProxyEvent::Open`] or an
/// error ([`HttpPeerError::ProxyRefused`] carries the status, e.g. 407; the
/// full answer stays available in [`response`](Self::response)), then take
/// [`take_leftover`](Self::take_leftover).
#[derive(Debug)]
pub struct ProxyConnect {
    limits: Limits,
    scanner: HeadScanner,
    buf: BytesMut,
    transmit: VecDeque<Bytes>,
    response: Option<HttpResponse>,
    result: Option<Result<(), Error>>,
}

impl ProxyConnect {
    /// Queues `CONNECT host:port HTTP/1.1` (`host` bracketed if IPv6) with
    /// `Proxy-Authorization: Basic base64(user:password)` if `auth` is given.
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
            transmit: VecDeque::from([Bytes::from(out)]),
            response: None,
            result: None,
        })
    }

    /// A `CONNECT` to the host and port of a WebSocket URL.
    pub fn for_url(url: &WsUrl, auth: Option<(&str, &str)>) -> Result<Self, Error> {
        Self::new(url.host(), url.port(), auth, Limits::default())
    }

    /// The next bytes to write to the proxy.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Feeds bytes from the proxy.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<ProxyEvent, Error> {
        match &self.result {
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(())) => return Err(MisuseError::WrongState("receive_data").into()),
            None => {}
        }
        self.buf.extend_from_slice(data);
        let outcome = self.parse();
        if let Err(e) = &outcome {
            self.result = Some(Err(e.clone()));
        }
        outcome
    }

    fn parse(&mut self) -> Result<ProxyEvent, Error> {
        let Some(n) = self.scanner.scan(&self.buf, &self.limits)? else {
            return Ok(ProxyEvent::NeedMore);
        };
        let head = self.buf.split_to(n);
        let res = http::parse_response(&head, &self.limits)?;
        let status = res.status;
        self.response = Some(res);
        if !(200..300).contains(&status) {
            return Err(HttpPeerError::ProxyRefused(status).into());
        }
        self.result = Some(Ok(()));
        Ok(ProxyEvent::Open)
    }

    /// The proxy's answer head, once received.
    pub fn response(&self) -> Option<&HttpResponse> {
        self.response.as_ref()
    }

    /// Bytes received behind the proxy's answer (already from the target).
    /// Empty before [`ProxyEvent::Open`].
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
            &p.poll_transmit().unwrap()[..],
            b"CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\
              Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert_eq!(p.poll_transmit(), None);
    }

    #[test]
    fn open_with_leftover() {
        let url = WsUrl::parse("ws://example.com/x").unwrap();
        let mut p = ProxyConnect::for_url(&url, None).unwrap();
        assert_eq!(
            &p.poll_transmit().unwrap()[..],
            b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"
        );
        let answer = b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 101";
        for i in 0..39 {
            let mut q = ProxyConnect::for_url(&url, None).unwrap();
            assert_eq!(q.receive_data(&answer[..i]), Ok(ProxyEvent::NeedMore));
        }
        assert_eq!(p.receive_data(answer), Ok(ProxyEvent::Open));
        assert_eq!(&p.take_leftover()[..], b"HTTP/1.1 101");
        assert!(p.receive_data(b"x").is_err());
    }

    #[test]
    fn refused() {
        let mut p = ProxyConnect::new("h", 1, None, Limits::default()).unwrap();
        let e = p
            .receive_data(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            )
            .unwrap_err();
        assert_eq!(e, Error::Peer(HttpPeerError::ProxyRefused(407)));
        assert_eq!(
            p.response().unwrap().headers.get_str("proxy-authenticate"),
            Some("Basic")
        );
        assert_eq!(p.receive_data(b""), Err(e));
        assert!(ProxyConnect::new("a b", 1, None, Limits::default()).is_err());
        assert!(ProxyConnect::new("a\r\n", 1, None, Limits::default()).is_err());
    }
}

//! A small HTTP/1.1 response builder (RFC 7230 §3.1.2, §3.3) for the stub
//! web server: plain pages next to the WebSocket endpoints, rejections.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::error::MisuseError;
use crate::http::{check_header, push_header};

/// The body of a [`Response`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// The whole body, sent with the head.
    Full(Bytes),
    /// A body of this many bytes that the application streams afterwards
    /// with `ServerHandshake::send_body`.
    Streamed(u64),
}

/// An HTTP response to send: status, extra headers, body.
///
/// `Content-Length` is added from the body (unless the status forbids a
/// body: 1xx, 204, 304, RFC 7230 §3.3.2) and `Connection: close` when the
/// server machine will not read another request.
///
/// ```
/// use http_upgrade::Response;
/// let page = Response::new(200)
///     .header("Content-Type", "text/html")
///     .body("<h1>hi</h1>");
/// assert_eq!(page.status(), 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    reason: Option<String>,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: None,
            headers: Vec::new(),
            body: Body::Full(Bytes::new()),
        }
    }

    /// Replaces the reason phrase (default: the RFC 7231 §6.1 phrase).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds a header (builder style). Names must be tokens and values free
    /// of CR/LF; this is checked when the response is sent.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the whole body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Full(body.into());
        self
    }

    /// Announces a body of `content_length` bytes streamed afterwards.
    pub fn streamed(mut self, content_length: u64) -> Self {
        self.body = Body::Streamed(content_length);
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase set with [`reason`](Self::reason), if any.
    pub fn custom_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The extra headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body_ref(&self) -> &Body {
        &self.body
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// True if the status allows no body (RFC 7230 §3.3.3 item 1).
    fn bodyless(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }

    /// Bytes of body announced (full or streamed), zero if bodyless.
    pub(crate) fn body_len(&self) -> u64 {
        match (&self.body, self.bodyless()) {
            (_, true) => 0,
            (Body::Full(b), _) => b.len() as u64,
            (Body::Streamed(n), _) => *n,
        }
    }

    /// The response as HTTP/1.1 bytes (status line, headers with
    /// `Content-Length`, the body), for a driver that writes it itself (a
    /// listener refusing a connection over its limit); `close` adds
    /// `Connection: close`. A streamed body's bytes are not included.
    pub fn to_bytes(&self, close: bool) -> Result<Vec<u8>, MisuseError> {
        self.encode(close, false)
    }

    /// Serializes the head and, unless `head_only` (a HEAD request), the
    /// full body. `close` adds `Connection: close`.
    pub(crate) fn encode(&self, close: bool, head_only: bool) -> Result<Vec<u8>, MisuseError> {
        if !(100..1000).contains(&self.status) {
            return Err(MisuseError::InvalidHeader(format!(
                "status {}",
                self.status
            )));
        }
        let reason = self.reason.as_deref().unwrap_or(reason_phrase(self.status));
        check_header("Reason", reason)?;
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", self.status, reason).as_bytes());
        for (n, v) in &self.headers {
            check_header(n, v)?;
            push_header(&mut out, n, v);
        }
        if !self.bodyless() && !self.has_header("content-length") {
            push_header(&mut out, "Content-Length", &format!("{}", self.body_len()));
        }
        if close && !self.has_header("connection") {
            push_header(&mut out, "Connection", "close");
        }
        out.extend_from_slice(b"\r\n");
        if let (Body::Full(b), false, false) = (&self.body, head_only, self.bodyless()) {
            out.extend_from_slice(b);
        }
        Ok(out)
    }
}

/// The RFC 7231 §6.1 (and RFC 6585) reason phrase of common statuses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_length_and_close() {
        let r = Response::new(404).header("X-A", "1").body("nope");
        let b = r.encode(true, false).unwrap();
        assert_eq!(
            b,
            b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        );
        let h = r.encode(false, true).unwrap();
        assert_eq!(
            h,
            b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 4\r\n\r\n"
        );
    }

    #[test]
    fn streamed_and_bodyless() {
        let b = Response::new(200)
            .streamed(10)
            .encode(false, false)
            .unwrap();
        assert_eq!(b, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        let b = Response::new(204).body("x").encode(false, false).unwrap();
        assert_eq!(b, b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn rejects_header_injection() {
        let r = Response::new(200).header("X", "a\r\nEvil: 1");
        assert!(matches!(
            r.encode(false, false),
            Err(MisuseError::InvalidHeader(_))
        ));
        let r = Response::new(200).header("Bad Name", "a");
        assert!(r.encode(false, false).is_err());
        assert!(Response::new(42).encode(false, false).is_err());
    }
}

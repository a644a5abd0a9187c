//! Owned HTTP/1.1 message heads (RFC 7230 §3) parsed with httparse.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::error::{Error, HttpLimitError, HttpPeerError, Limit, MisuseError};
use crate::grammar::{is_token, trim_ows};
use crate::limits::Limits;

/// The header fields of a received message, in order, names as sent.
/// Lookups are ASCII case-insensitive (RFC 7230 §3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// No fields.
    #[must_use]
    pub const fn new() -> Self {
        Headers {
            entries: Vec::new(),
        }
    }

    /// Appends a field after the ones already there. The value is stored
    /// as given: pass it as HTTP parsers hand it over, without the
    /// whitespace around it (RFC 7230 §3.2.4). Nothing is checked here;
    /// what is written to the wire or converted is checked then.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.entries.push((name.into(), value.into()));
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of the first field called `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Every value of the fields called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.entries
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn from_httparse(raw: &[httparse::Header<'_>]) -> Self {
        let entries = raw
            .iter()
            .map(|h| (String::from(h.name), trim_ows(h.value).to_vec()))
            .collect();
        Headers { entries }
    }
}

/// A plain (non-upgrade) HTTP request received by a server, for the
/// application to answer (RFC 7230 §3.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/index.html?x=1`.
    pub target: String,
    /// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// The header fields.
    pub headers: Headers,
    /// The body (`Content-Length` bytes, bounded by [`Limits::max_body`]).
    pub body: Bytes,
}

impl HttpRequest {
    /// A request head with an empty body, e.g. one a host HTTP server has
    /// parsed already (see [`HostedUpgrade`](crate::HostedUpgrade)):
    /// `target` is the request target as sent (origin-form `/path?query`,
    /// RFC 7230 §5.3.1), `minor_version` 1 for HTTP/1.1 and 0 for HTTP/1.0.
    #[must_use]
    pub fn new(
        method: impl Into<String>,
        target: impl Into<String>,
        minor_version: u8,
        headers: Headers,
    ) -> Self {
        HttpRequest {
            method: method.into(),
            target: target.into(),
            minor_version,
            headers,
            body: Bytes::new(),
        }
    }
}

/// An HTTP response received by a client: a refused upgrade, a redirect,
/// or a proxy's answer (RFC 7230 §3.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The HTTP minor version.
    pub minor_version: u8,
    /// The header fields.
    pub headers: Headers,
    /// The body, bounded by [`Limits::max_body`]: `Content-Length` bytes if
    /// that fits, otherwise what had arrived with the head.
    pub body: Bytes,
}

fn malformed(e: httparse::Error) -> Error {
    let why = match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::Version => "invalid HTTP version",
        _ => "malformed message",
    };
    Error::Peer(HttpPeerError::Malformed(why))
}

fn header_slots<'b>(limits: &Limits) -> Vec<httparse::Header<'b>> {
    let empty: httparse::Header<'b> = httparse::EMPTY_HEADER;
    vec![empty; limits.max_headers.saturating_add(1).min(1024)]
}

fn too_many(limits: &Limits) -> Error {
    Error::Capacity(HttpLimitError {
        limit: Limit::HeaderCount,
        size: limits.max_headers.saturating_add(1),
        max: limits.max_headers,
    })
}

/// Parses a complete request head (the scanner found its end).
pub(crate) fn parse_request(head: &[u8], limits: &Limits) -> Result<HttpRequest, Error> {
    let mut slots = header_slots(limits);
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HttpPeerError::Malformed("truncated head").into());
        }
        Err(httparse::Error::TooManyHeaders) => return Err(too_many(limits)),
        Err(e) => return Err(malformed(e)),
    }
    Ok(HttpRequest {
        method: String::from(req.method.unwrap_or_default()),
        target: String::from(req.path.unwrap_or_default()),
        minor_version: req.version.unwrap_or_default(),
        headers: Headers::from_httparse(req.headers),
        body: Bytes::new(),
    })
}

/// Parses a complete response head.
pub(crate) fn parse_response(head: &[u8], limits: &Limits) -> Result<HttpResponse, Error> {
    let mut slots = header_slots(limits);
    let mut res = httparse::Response::new(&mut slots);
    match res.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HttpPeerError::Malformed("truncated head").into());
        }
        Err(httparse::Error::TooManyHeaders) => return Err(too_many(limits)),
        Err(e) => return Err(malformed(e)),
    }
    Ok(HttpResponse {
        status: res.code.unwrap_or_default(),
        reason: String::from(res.reason.unwrap_or_default()),
        minor_version: res.version.unwrap_or_default(),
        headers: Headers::from_httparse(res.headers),
        body: Bytes::new(),
    })
}

/// The single value of a header that must appear at most once.
pub(crate) fn single<'a>(
    h: &'a Headers,
    name: &'static str,
) -> Result<Option<&'a [u8]>, HttpPeerError> {
    let mut all = h.get_all(name);
    let first = all.next();
    if all.next().is_some() {
        return Err(HttpPeerError::DuplicateHeader(name));
    }
    Ok(first)
}

/// Like [`single`] but the header must be present.
pub(crate) fn required<'a>(h: &'a Headers, name: &'static str) -> Result<&'a [u8], HttpPeerError> {
    single(h, name)?.ok_or(HttpPeerError::MissingHeader(name))
}

/// The `Host` rules of RFC 7230 §5.4: "A server MUST respond with a 400
/// (Bad Request) status code to any HTTP/1.1 request message that lacks a
/// Host header field and to any request message that contains more than one
/// Host header field or a Host header field with an invalid field-value."
/// HTTP/1.0 requests may omit `Host` (only HTTP/1.1 clients MUST send it).
pub(crate) fn check_host(req: &HttpRequest) -> Result<(), HttpPeerError> {
    match single(&req.headers, "Host")? {
        None if req.minor_version >= 1 => Err(HttpPeerError::MissingHeader("Host")),
        None => Ok(()),
        Some(v) if !is_host_value(v) => Err(HttpPeerError::BadHeaderValue("Host")),
        Some(_) => Ok(()),
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 7230 §5.4), with `uri-host` an
/// IP-literal in brackets or a reg-name / IPv4 address (RFC 3986 §3.2.2)
/// and `port = *DIGIT` (RFC 3986 §3.2.3). The empty value is valid (a
/// request whose target has no authority, RFC 7230 §5.4).
fn is_host_value(v: &[u8]) -> bool {
    let (host, port) = match v.strip_prefix(b"[") {
        Some(rest) => {
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let literal = &rest[..close];
            let ok = !literal.is_empty()
                && literal
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
            if !ok {
                return false;
            }
            (&[][..], &rest[close + 1..])
        }
        None => match v.iter().position(|&b| b == b':') {
            Some(colon) => (&v[..colon], &v[colon..]),
            None => (v, &[][..]),
        },
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && is_reg_name(host)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (RFC 3986 §3.2.2).
fn is_reg_name(v: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'%' {
            let hex = v.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) || is_sub_delim(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// `Content-Length` as a number; `Err` if malformed or repeated with
/// different values (RFC 7230 §3.3.2).
pub(crate) fn content_length(h: &Headers) -> Result<Option<u64>, HttpPeerError> {
    let mut found: Option<u64> = None;
    for v in h.get_all("content-length") {
        let s = core::str::from_utf8(v).ok();
        let n = s
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(HttpPeerError::BadHeaderValue("Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(HttpPeerError::BadHeaderValue("Content-Length"));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Checks that a header can be written: the name a token, the value free of
/// CR, LF and NUL (RFC 7230 §3.2).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), MisuseError> {
    let bad_value = value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if !is_token(name) || bad_value {
        return Err(MisuseError::InvalidHeader(alloc::format!(
            "{name}: {value}"
        )));
    }
    Ok(())
}

/// Appends `name: value\r\n`.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

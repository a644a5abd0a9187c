//! The client's opening request per dialect (RFC 6455 §4.1; drafts -04 to
//! -08 §5.1; draft-00 §4.1 steps 5-27).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use rand_core::Rng;

use crate::Dialect;
use crate::error::{Error, MisuseError};
use crate::extensions::{ExtensionOffer, serialize_extensions};
use crate::grammar::is_token;
use crate::http::{check_header, push_header};
use crate::keys;
use crate::limits::Limits;
use crate::url::WsUrl;

/// What a client asks for: URL, dialect, origin, subprotocols, extension
/// offers, extra headers; plus limits on the response and a deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientRequest {
    /// Where to connect.
    pub url: WsUrl,
    /// The dialect to speak (default [`Dialect::Rfc6455`]).
    pub dialect: Dialect,
    /// The origin sent as `Origin` (13, hixie-76) or `Sec-WebSocket-Origin`
    /// (versions 4-8).
    pub origin: Option<String>,
    /// Subprotocols offered, in preference order (RFC 6455 §4.1 item 10).
    pub protocols: Vec<String>,
    /// Extensions offered (RFC 6455 §9.1); not sent for hixie-76.
    pub extensions: Vec<ExtensionOffer>,
    /// Extra headers (Cookie, Authorization, ...).
    pub headers: Vec<(String, String)>,
    /// Limits on the response.
    pub limits: Limits,
    /// How long the server may take to answer (default 5 s).
    pub timeout: Duration,
}

impl ClientRequest {
    /// A request for `url` (`ws://`, `wss://`, `http://`, `https://`).
    pub fn new(url: &str) -> Result<Self, Error> {
        let url = WsUrl::parse(url).map_err(MisuseError::Url)?;
        Ok(Self::from_url(url))
    }

    /// A request for an already parsed URL.
    pub fn from_url(url: WsUrl) -> Self {
        ClientRequest {
            url,
            dialect: Dialect::Rfc6455,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
            limits: Limits::default(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Sets the dialect (builder style).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets the origin (builder style).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds an offered subprotocol (builder style).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds an extension offer (builder style).
    pub fn extension(mut self, ext: ExtensionOffer) -> Self {
        self.extensions.push(ext);
        self
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the limits (builder style).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the deadline for the response (builder style).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn check(&self) -> Result<(), MisuseError> {
        if let Some(p) = self.protocols.iter().find(|p| !is_token(p)) {
            return Err(MisuseError::InvalidToken(p.clone()));
        }
        if let Some(e) = self.extensions.iter().find(|e| !e.is_valid()) {
            return Err(MisuseError::InvalidToken(format!("{e}")));
        }
        if let Some(o) = &self.origin {
            check_header("Origin", o)?;
        }
        for (n, v) in &self.headers {
            check_header(n, v)?;
        }
        Ok(())
    }
}

/// What the client must check the answer against.
#[derive(Clone, Debug)]
pub(crate) struct Expect {
    /// `Sec-WebSocket-Key` (hybi).
    pub(crate) key: String,
    /// The expected `Sec-WebSocket-Accept` (hybi) .
    pub(crate) accept: String,
    /// The expected 16-byte answer (hixie-76).
    pub(crate) hixie_answer: [u8; 16],
}

/// Builds the request bytes and what to expect back.
pub(crate) fn build<R: Rng + ?Sized>(
    req: &ClientRequest,
    rng: &mut R,
) -> Result<(Vec<u8>, Expect), MisuseError> {
    req.check()?;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("GET {} HTTP/1.1\r\n", req.url.resource()).as_bytes());
    push_header(&mut out, "Host", &req.url.host_header());
    let d = req.dialect;
    push_header(
        &mut out,
        "Upgrade",
        if d.is_hybi() {
            "websocket"
        } else {
            "WebSocket"
        },
    );
    push_header(&mut out, "Connection", "Upgrade");
    let expect = if d.is_hybi() {
        hybi_fields(&mut out, req, rng)
    } else {
        hixie_fields(&mut out, req, rng)
    };
    if !req.protocols.is_empty() {
        push_header(
            &mut out,
            "Sec-WebSocket-Protocol",
            &req.protocols.join(", "),
        );
    }
    if d.has_extensions() && !req.extensions.is_empty() {
        push_header(
            &mut out,
            "Sec-WebSocket-Extensions",
            &serialize_extensions(&req.extensions),
        );
    }
    for (n, v) in &req.headers {
        push_header(&mut out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    if !d.is_hybi() {
        out.extend_from_slice(&expect.1);
    }
    Ok((out, expect.0))
}

/// RFC 6455 §4.1 items 7-9 (and -04..-08 §5.1: `Sec-WebSocket-Origin`).
fn hybi_fields<R: Rng + ?Sized>(
    out: &mut Vec<u8>,
    req: &ClientRequest,
    rng: &mut R,
) -> (Expect, [u8; 8]) {
    let key = keys::generate_key(rng);
    push_header(out, "Sec-WebSocket-Key", &key);
    if let Some(o) = &req.origin {
        let name = if req.dialect.uses_sec_websocket_origin() {
            "Sec-WebSocket-Origin"
        } else {
            "Origin"
        };
        push_header(out, name, o);
    }
    let version = req.dialect.version().unwrap_or(13);
    push_header(out, "Sec-WebSocket-Version", &format!("{version}"));
    let accept = keys::accept_key(key.as_bytes());
    let expect = Expect {
        key,
        accept,
        hixie_answer: [0; 16],
    };
    (expect, [0; 8])
}

/// draft-00 §4.1 steps 12-27: Origin, Key1, Key2, and key3 after the head.
fn hixie_fields<R: Rng + ?Sized>(
    out: &mut Vec<u8>,
    req: &ClientRequest,
    rng: &mut R,
) -> (Expect, [u8; 8]) {
    // Step 13: the Origin field is mandatory in this dialect; without one
    // set, send the origin of the URL itself (http(s)://host[:port]).
    match &req.origin {
        Some(o) => push_header(out, "Origin", o),
        None => {
            let scheme = if req.url.is_secure() { "https" } else { "http" };
            let origin = format!("{scheme}://{}", req.url.host_header());
            push_header(out, "Origin", &origin);
        }
    }
    let k1 = keys::generate_hixie76_key(rng);
    let k2 = keys::generate_hixie76_key(rng);
    let key3 = keys::generate_key3(rng);
    push_header(out, "Sec-WebSocket-Key1", &k1.value);
    push_header(out, "Sec-WebSocket-Key2", &k2.value);
    let expect = Expect {
        key: String::new(),
        accept: String::new(),
        hixie_answer: keys::hixie76_answer(k1.number, k2.number, &key3),
    };
    (expect, key3)
}

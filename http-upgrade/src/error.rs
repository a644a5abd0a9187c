//! Errors of the handshake machines, grouped by who is at fault, each mapped
//! to an HTTP status in one place ([`Error::status`]).
//!
//! A machine that returns an error keeps it: every later call reports the same
//! error again (failure is permanent).

use alloc::string::String;

use crate::Dialect;
use crate::grammar::GrammarError;
use crate::url::UrlError;

/// Any error of this crate.
///
/// [`Error::status`] gives the HTTP status a server answers with (RFC 7231
/// §6, RFC 6585 §5 for 431, RFC 6455 §4.4 for 426). For failures only a
/// client can detect (a bad `101` response) it gives `502`, the status a
/// gateway relaying the failure would use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent something invalid or refused the handshake.
    #[error("peer error: {0}")]
    Peer(#[from] HttpPeerError),
    /// A configured limit was exceeded.
    #[error("limit exceeded: {0}")]
    Capacity(#[from] HttpLimitError),
    /// The caller used the API wrongly (wrong state, invalid argument).
    #[error("API misuse: {0}")]
    Misuse(#[from] MisuseError),
    /// The handshake deadline passed (see `poll_timeout`).
    #[error("handshake timed out")]
    Timeout,
}

impl Error {
    /// The HTTP status code that describes this error, the one place where
    /// errors are mapped to statuses.
    ///
    /// | error | status |
    /// |---|---|
    /// | [`HttpPeerError::MethodNotAllowed`] | 405 |
    /// | [`HttpPeerError::OriginRefused`] | 403 |
    /// | [`HttpPeerError::UnsupportedVersion`], [`HttpPeerError::MissingVersion`], [`HttpPeerError::DialectRefused`] | 426 |
    /// | [`HttpPeerError::TransferEncoding`], [`HttpPeerError::UnsupportedProtocol`] | 501 |
    /// | response errors a client detects, [`HttpPeerError::Rejected`], [`HttpPeerError::ProxyRefused`] | 502 |
    /// | other [`HttpPeerError`]s | 400 |
    /// | [`HttpLimitError`] | 414 (request line), 413 (body), 431 (headers) |
    /// | [`MisuseError`] | 500 |
    /// | [`Error::Timeout`] | 408 |
    pub fn status(&self) -> u16 {
        match self {
            Error::Peer(e) => e.status(),
            Error::Capacity(e) => match e.limit {
                Limit::RequestLine => 414,
                Limit::Body => 413,
                Limit::HeaderCount | Limit::HeaderLine | Limit::HeadTotal => 431,
            },
            Error::Misuse(_) => 500,
            Error::Timeout => 408,
        }
    }
}

/// The peer is at fault: a malformed or refused request or response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpPeerError {
    /// The HTTP message does not parse (RFC 7230 §3).
    #[error("malformed HTTP message: {0}")]
    Malformed(&'static str),
    /// A WebSocket upgrade with a method other than GET (RFC 6455 §4.2.1 item 1).
    #[error("method {0} not allowed for a WebSocket upgrade")]
    MethodNotAllowed(String),
    /// A WebSocket upgrade over HTTP/1.0 (RFC 6455 §4.2.1 item 1 needs HTTP/1.1).
    #[error("WebSocket upgrade requires HTTP/1.1")]
    HttpVersion,
    /// A required header is absent (`Host` in an HTTP/1.1 request: RFC
    /// 7230 §5.4).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header that must appear once appears several times (`Host` in any
    /// request: RFC 7230 §5.4).
    #[error("duplicate header {0}")]
    DuplicateHeader(&'static str),
    /// A header has a value this handshake cannot accept (e.g. `Upgrade`
    /// without `websocket`, `Connection` without `upgrade`).
    #[error("invalid value in header {0}")]
    BadHeaderValue(&'static str),
    /// `Sec-WebSocket-Key` does not base64-decode to 16 bytes (RFC 6455 §4.2.1 item 5).
    #[error("Sec-WebSocket-Key is not 16 base64-encoded bytes")]
    BadKey,
    /// `Sec-WebSocket-Key1`/`Key2` are not valid (draft-hixie-76 §5.2 steps 4-6).
    #[error("invalid hixie-76 key: {0}")]
    BadHixieKey(&'static str),
    /// `Sec-WebSocket-Version` names a version we do not speak (RFC 6455 §4.4).
    #[error("unsupported Sec-WebSocket-Version {0:?}")]
    UnsupportedVersion(String),
    /// An upgrade request without `Sec-WebSocket-Version` nor hixie-76 keys.
    #[error("missing Sec-WebSocket-Version")]
    MissingVersion,
    /// The dialect is one the server is configured to refuse.
    #[error("dialect {0:?} refused by configuration")]
    DialectRefused(Dialect),
    /// The origin check hook refused the request's origin (RFC 6455 §4.2.2, §10.2).
    #[error("origin refused")]
    OriginRefused,
    /// A syntax error in `Sec-WebSocket-Extensions` (RFC 6455 §9.1).
    #[error("bad Sec-WebSocket-Extensions: {0}")]
    BadExtensions(GrammarError),
    /// A syntax error in `Sec-WebSocket-Protocol` (RFC 6455 §4.1, §11.3.4).
    #[error("bad Sec-WebSocket-Protocol: {0}")]
    BadProtocols(GrammarError),
    /// A request body with `Transfer-Encoding`, which this stub server does
    /// not decode (RFC 7230 §3.3.1 allows 501).
    #[error("Transfer-Encoding in requests is not supported")]
    TransferEncoding,
    /// `Sec-WebSocket-Accept` does not match our key (RFC 6455 §4.1, client step 4).
    #[error("Sec-WebSocket-Accept does not match")]
    AcceptMismatch,
    /// The hixie-76 16-byte answer does not match (draft-hixie-76 §4.1 step 44).
    #[error("hixie-76 challenge answer does not match")]
    HixieAnswerMismatch,
    /// The server selected a subprotocol we did not offer (RFC 6455 §4.1, client step 6).
    #[error("server selected subprotocol {0:?} that was not offered")]
    UnofferedProtocol(String),
    /// The server accepted an extension we did not offer (RFC 6455 §4.1, client step 5).
    #[error("server accepted extension {0:?} that was not offered")]
    UnofferedExtension(String),
    /// The server refused the upgrade with this status (the response was
    /// returned as a rejection or redirect event first).
    #[error("server answered with status {0}")]
    Rejected(u16),
    /// An extended CONNECT names a `:protocol` other than `websocket`
    /// (RFC 9220 §3: 501).
    #[error("unsupported :protocol {0:?}")]
    UnsupportedProtocol(String),
    /// A field HTTP/2 and HTTP/3 do not allow (`connection`, `upgrade`,
    /// ..., RFC 9113 §8.2.2), or that an extended CONNECT must not carry
    /// (`sec-websocket-key`, RFC 8441 §5).
    #[error("field {0} not allowed here")]
    ForbiddenHeader(&'static str),
    /// An HTTP proxy refused the CONNECT request (RFC 7231 §4.3.6), e.g. 407.
    #[error("proxy answered CONNECT with status {0}")]
    ProxyRefused(u16),
}

impl HttpPeerError {
    fn status(&self) -> u16 {
        match self {
            HttpPeerError::MethodNotAllowed(_) => 405,
            HttpPeerError::OriginRefused => 403,
            HttpPeerError::UnsupportedVersion(_)
            | HttpPeerError::MissingVersion
            | HttpPeerError::DialectRefused(_) => 426,
            HttpPeerError::TransferEncoding | HttpPeerError::UnsupportedProtocol(_) => 501,
            HttpPeerError::AcceptMismatch
            | HttpPeerError::HixieAnswerMismatch
            | HttpPeerError::UnofferedProtocol(_)
            | HttpPeerError::UnofferedExtension(_)
            | HttpPeerError::Rejected(_)
            | HttpPeerError::ProxyRefused(_) => 502,
            _ => 400,
        }
    }
}

/// Which configured limit was exceeded (see [`Limits`](crate::Limits)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Length of the request line or status line.
    RequestLine,
    /// Number of header lines.
    HeaderCount,
    /// Length of one header line.
    HeaderLine,
    /// Total size of the message head.
    HeadTotal,
    /// Size of a message body.
    Body,
}

/// A configured limit was exceeded: `size` is what the peer sent (or at
/// least how far it got), `max` the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{limit:?}: {size} exceeds the limit of {max}")]
pub struct HttpLimitError {
    /// The limit.
    pub limit: Limit,
    /// The size seen.
    pub size: usize,
    /// The configured maximum.
    pub max: usize,
}

/// The caller used the API wrongly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// The method is not valid in the machine's current state.
    #[error("{0} is not valid in the current state")]
    WrongState(&'static str),
    /// `accept` chose a subprotocol the client did not offer (RFC 6455 §4.2.2).
    #[error("subprotocol {0:?} was not offered by the client")]
    ProtocolNotOffered(String),
    /// `accept` answered an extension the client did not offer (RFC 6455 §9.1).
    #[error("extension {0:?} was not offered by the client")]
    ExtensionNotOffered(String),
    /// A header name or value that cannot be sent (not a token, CR/LF in value).
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// A subprotocol or extension element that is not a valid token.
    #[error("invalid token {0:?}")]
    InvalidToken(String),
    /// The URL could not be parsed.
    #[error("invalid URL: {0}")]
    Url(#[from] UrlError),
    /// More body bytes were sent than the response's `Content-Length`.
    #[error("body overruns Content-Length by {0} bytes")]
    BodyOverrun(u64),
    /// A value has no counterpart in the type it was converted to (the
    /// `http` feature's conversions): a streamed body, a method or HTTP
    /// version a WebSocket request cannot have, ...
    #[error("cannot convert {0}")]
    Unconvertible(&'static str),
}

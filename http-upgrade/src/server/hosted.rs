//! The server side of the opening handshake for a host HTTP server that
//! has parsed the request itself (hyper, axum, ...): the checks of RFC 6455
//! §4.2.1 on a parsed head, and the `101` of §4.2.2 as a value.

use rand_core::Rng;

use crate::Dialect;
use crate::error::{Error, HttpLimitError, Limit};
use crate::handshake::Handshake;
use crate::http::{self, HttpRequest};
use crate::limits::Limits;
use crate::response::Response;
use crate::server::config::{Accept, ServerConfig};
use crate::server::respond;
use crate::server::validate::{self, Pending, UpgradeRequest};

/// A WebSocket upgrade request that a host HTTP server parsed and that
/// passed the checks [`ServerHandshake`](crate::ServerHandshake) applies to
/// a request head; [`accept`](Self::accept) it for the `101` to send.
///
/// The host reads the request, builds an [`HttpRequest`] (with the `http`
/// feature: `HttpRequest::try_from(&parts)`), calls [`new`](Self::new),
/// then either sends the [`Response`] of [`accept`](Self::accept) and hands
/// the upgraded stream to a WebSocket connection, or, on an error, sends
/// [`error_response`](crate::error_response) (400, 403, 405, 414, 426,
/// 431).
///
/// hixie-76 is refused: its 8-byte key3 follows the request head as if it
/// were a body and its MD5 answer follows the `101` (draft-00 §5.2 steps
/// 8-13), neither of which a host server's upgrade API carries. It gets
/// the `426` of a server configured without that dialect (RFC 6455 §4.4).
///
/// ```
/// use http_upgrade::{Accept, Headers, HostedUpgrade, HttpRequest, ServerConfig};
/// # use http_upgrade::testing::SplitMix;
/// let mut headers = Headers::new();
/// headers.push("Host", "server.example.com");
/// headers.push("Upgrade", "websocket");
/// headers.push("Connection", "Upgrade");
/// headers.push("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
/// headers.push("Sec-WebSocket-Version", "13");
/// let req = HttpRequest::new("GET", "/chat", 1, headers);
///
/// let upgrade = HostedUpgrade::new(req, &ServerConfig::default())?;
/// let accept = Accept::for_request(upgrade.request());
/// # let mut rng = SplitMix::new(1);
/// let (handshake, response) = upgrade.accept(accept, &mut rng)?;
/// assert_eq!(response.status(), 101);
/// assert!(response.headers().contains(&(
///     "Sec-WebSocket-Accept".into(),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()
/// )));
/// assert_eq!(handshake.target.as_deref(), Some("/chat"));
/// # Ok::<(), http_upgrade::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct HostedUpgrade {
    pending: Pending,
    request: UpgradeRequest,
}

impl HostedUpgrade {
    /// Checks a parsed request as the server machine checks a request head,
    /// in the same order:
    ///
    /// 1. the [`Limits`] of `config` that make sense for a head someone else
    ///    parsed, measured on its HTTP/1.1 form (`METHOD target HTTP/1.x`,
    ///    then one `name: value` line per field, each ended by CRLF, and the
    ///    blank line): `max_start_line` (414, RFC 7231 §6.5.12),
    ///    `max_header_line`, `max_headers` and `max_head` (431, RFC 6585
    ///    §5). `max_body` does not apply (an upgrade request's body is not
    ///    read; `req.body` is ignored), nor does `handshake_timeout` (the
    ///    host reads the request);
    /// 2. one valid `Host` (RFC 7230 §5.4; 400);
    /// 3. the upgrade itself (RFC 6455 §4.2.1): `GET` (405), HTTP/1.1 (400),
    ///    `Upgrade: websocket`, `Connection: upgrade`, the key (400), a
    ///    version the config accepts (426), the origin policy (403), the
    ///    subprotocol and extension lists (400). hixie-76 fails with
    ///    [`HttpPeerError::DialectRefused`](crate::HttpPeerError::DialectRefused)
    ///    (426), as if `config` did not accept it.
    ///
    /// A request that is no upgrade attempt at all (the machine would hand
    /// it to the application as a plain request) fails at the first check
    /// it misses, usually `Upgrade` (400): routing plain requests is the
    /// host's business. The error's automatic response is
    /// [`error_response`](crate::error_response).
    pub fn new(req: HttpRequest, config: &ServerConfig) -> Result<HostedUpgrade, Error> {
        check_head_limits(&req, &config.limits)?;
        http::check_host(&req)?;
        let dialects = config.dialects.without(Dialect::Hixie76);
        let (pending, request) = validate::validate(req, config, dialects)?;
        Ok(HostedUpgrade { pending, request })
    }

    /// The validated request: dialect, target, origin, the offered
    /// subprotocols and extensions, the subprotocol the config's policy
    /// selected, every header field.
    #[must_use]
    pub fn request(&self) -> &UpgradeRequest {
        &self.request
    }

    /// Accepts the upgrade as
    /// [`ServerHandshake::accept`](crate::ServerHandshake::accept) does
    /// (RFC 6455 §4.2.2 step 5; drafts -04/-05 §5.2.2 step 3.3 for the
    /// `Sec-WebSocket-Nonce` drawn from `rng`): returns the [`Handshake`]
    /// for the connection and the `101 Switching Protocols` for the host to
    /// send, with exactly the header fields the machine would write
    /// (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`, the nonce, the
    /// subprotocol, the extensions, `accept`'s own fields), no body.
    ///
    /// A [`MisuseError`](crate::MisuseError) (a subprotocol or extension
    /// the client did not offer, an invalid header) consumes the upgrade
    /// like any other result: clone it first to retry.
    pub fn accept<R: Rng + ?Sized>(
        self,
        accept: Accept,
        rng: &mut R,
    ) -> Result<(Handshake, Response), Error> {
        // hixie-76 never gets here, so its `secure` flag does not matter.
        let (hs, response) = respond::answer(&self.pending, accept, rng, false)?;
        Ok((hs, response))
    }
}

/// The head limits of [`HostedUpgrade::new`], checked in the order the
/// machine's scanner meets them; sizes count the CRLFs, as the scanner's.
fn check_head_limits(req: &HttpRequest, limits: &Limits) -> Result<(), HttpLimitError> {
    let over = |limit, size, max| Err(HttpLimitError { limit, size, max });
    // "GET" SP target SP "HTTP/1.1"
    let line = req.method.len() + 1 + req.target.len() + 1 + 8;
    if line > limits.max_start_line {
        return over(Limit::RequestLine, line + 2, limits.max_start_line);
    }
    let mut total = line + 2;
    for (i, (name, value)) in req.headers.iter().enumerate() {
        let line = name.len() + 2 + value.len();
        if line > limits.max_header_line {
            return over(Limit::HeaderLine, line + 2, limits.max_header_line);
        }
        if i + 1 > limits.max_headers {
            return over(Limit::HeaderCount, i + 1, limits.max_headers);
        }
        total += line + 2;
    }
    total += 2;
    if total > limits.max_head {
        return over(Limit::HeadTotal, total, limits.max_head);
    }
    Ok(())
}

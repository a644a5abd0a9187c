//! The WebSocket opening handshake over HTTP/2 (RFC 8441) and HTTP/3 (RFC
//! 9220): an *extended CONNECT* request on one stream, answered `200`.
//!
//! The request replaces RFC 6455's `GET` with `Upgrade` (RFC 8441 §5):
//!
//! ```text
//! :method = CONNECT              sec-websocket-version = 13
//! :protocol = websocket          sec-websocket-protocol = chat, superchat
//! :scheme = https                sec-websocket-extensions = permessage-deflate
//! :path = /chat                  origin = http://www.example.com
//! :authority = server.example.com
//! ```
//!
//! There is no `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept` (the
//! pseudo-header, which no script can forge, replaces them), no `Upgrade`,
//! `Connection` or `Host`, and a `2xx` (RFC 8441 shows `200`) opens the
//! WebSocket on the stream, whose end (`END_STREAM`, a QUIC FIN) then plays
//! the part of the TCP close.
//!
//! Both machines here work on header *lists* (name/value pairs, the
//! pseudo-header fields first, as HPACK and QPACK deliver them), not on
//! any HTTP/2 or HTTP/3 library's types, and apply the same limits,
//! validation and negotiation as the HTTP/1.1 path:
//!
//! * [`ConnectUpgrade`]: the server side; checks a request's fields and
//!   answers it (the `200` as a [`Response`]) or refuses it with the
//!   status of [`Error::status`] ([`connect_error_response`]).
//! * [`ConnectClient`]: the client side; the request's fields from a
//!   [`ClientRequest`] and the check of the server's answer.
//!
//! The connection that follows is an RFC 6455 one (the client masks,
//! §5.3), built from the [`Handshake`] as after an HTTP/1.1 upgrade.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::Dialect;
use crate::client::ClientRequest;
use crate::client::validate::{check_extensions, check_protocol};
use crate::error::{Error, HttpLimitError, HttpPeerError, Limit, MisuseError};
use crate::extensions::{parse_extensions, serialize_extensions};
use crate::grammar::{is_token, parse_token_list, trim_ows};
use crate::handshake::{Handshake, Role};
use crate::http::{Headers, check_header, single};
use crate::limits::Limits;
use crate::response::Response;
use crate::server::config::{Accept, ServerConfig};
use crate::server::respond::check_accept;
use crate::server::validate::{Pending, UpgradeRequest, origin_of};

/// The pseudo-header fields a request may carry (RFC 9113 §8.3.1, RFC 8441
/// §4); any other is malformed.
const REQUEST_PSEUDO: [&str; 5] = [":method", ":scheme", ":authority", ":path", ":protocol"];

/// Fields that are specific to an HTTP/1.1 connection: "malformed" in
/// HTTP/2 and HTTP/3 (RFC 9113 §8.2.2, RFC 9114 §4.2); RFC 8441 §5 names
/// `Connection` and `Upgrade` for WebSockets in particular.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
];

/// What a field costs towards [`Limits::max_head`]: its name and value
/// plus 32 bytes, the size of a header list of RFC 9113 §6.5.2
/// (`SETTINGS_MAX_HEADER_LIST_SIZE`) and RFC 9114 §4.2.2.
const FIELD_OVERHEAD: usize = 32;

/// A WebSocket request over HTTP/2 or HTTP/3 (extended CONNECT, RFC 8441
/// §4–5, RFC 9220 §3) whose fields passed the checks;
/// [`accept`](Self::accept) it for the `200` to send.
///
/// The host HTTP/2 or HTTP/3 server parsed the stream's `HEADERS`; it
/// hands every field, pseudo-header fields first, in the order received,
/// to [`new`](Self::new), then sends the [`Response`] of
/// [`accept`](Self::accept) and runs a WebSocket connection on the stream,
/// or sends [`connect_error_response`] (and ends the stream).
///
/// ```
/// use http_upgrade::{Accept, ConnectUpgrade, Headers, ServerConfig};
/// let mut fields = Headers::new();
/// for (n, v) in [
///     (":method", "CONNECT"),
///     (":protocol", "websocket"),
///     (":scheme", "https"),
///     (":path", "/chat"),
///     (":authority", "server.example.com"),
///     ("sec-websocket-protocol", "chat, superchat"),
///     ("sec-websocket-extensions", "permessage-deflate"),
///     ("sec-websocket-version", "13"),
///     ("origin", "http://www.example.com"),
/// ] {
///     fields.push(n, v);
/// }
/// let config = ServerConfig::default().with_protocols(["chat"]);
/// let upgrade = ConnectUpgrade::new(fields, &config)?;
/// assert_eq!(upgrade.request().target, "/chat");
/// assert_eq!(upgrade.scheme(), "https");
/// let accept = Accept::for_request(upgrade.request());
/// let (handshake, response) = upgrade.accept(accept)?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers(), [("sec-websocket-protocol".into(), "chat".into())]);
/// assert_eq!(handshake.protocol.as_deref(), Some("chat"));
/// # Ok::<(), http_upgrade::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectUpgrade {
    pending: Pending,
    request: UpgradeRequest,
    scheme: String,
}

impl ConnectUpgrade {
    /// Checks an extended CONNECT request's fields, in this order (the
    /// first failure is the error; its status is [`Error::status`]):
    ///
    /// | check | error | status |
    /// |---|---|---|
    /// | the [`Limits`] of `config`: `max_headers` fields, `max_header_line` for one field (`name: value`), `max_head` for the list (RFC 9113 §6.5.2 sizes: name + value + 32 each), `max_start_line` for `:path` | [`HttpLimitError`] | 431, 414 |
    /// | field names lowercase (RFC 9113 §8.2.1), pseudo-header fields first, known and each once (§8.3) | [`HttpPeerError::Malformed`], [`HttpPeerError::DuplicateHeader`] | 400 |
    /// | `:method` is `CONNECT` | [`HttpPeerError::MethodNotAllowed`] | 405 |
    /// | `:protocol` present (a CONNECT without it asks for a proxy tunnel, which we do not make) | [`HttpPeerError::MissingHeader`] | 400 |
    /// | `:protocol` is `websocket` (RFC 8441 §5; RFC 9220 §3 asks for 501 otherwise) | [`HttpPeerError::UnsupportedProtocol`] | 501 |
    /// | `:scheme`, `:path` and `:authority` present (RFC 8441 §4, RFC 9113 §8.3.1) | [`HttpPeerError::MissingHeader`] | 400 |
    /// | `:scheme` is `http` or `https` (RFC 8441 §5); `:path` origin-form; `:authority` a host; a `host` field, if any, the same (RFC 9113 §8.3.1) | [`HttpPeerError::BadHeaderValue`] | 400 |
    /// | no connection-specific field (`connection`, `upgrade`, `keep-alive`, `proxy-connection`, `transfer-encoding`; RFC 8441 §5, RFC 9113 §8.2.2), `te` only `trailers` | [`HttpPeerError::ForbiddenHeader`] | 400 |
    /// | no `sec-websocket-key` (RFC 8441 §5: superseded by `:protocol`) | [`HttpPeerError::ForbiddenHeader`] | 400 |
    /// | `sec-websocket-version: 13` and `config` accepts RFC 6455 (the hybi drafts and hixie-76 have no HTTP/2 form) | [`HttpPeerError::MissingVersion`], [`HttpPeerError::UnsupportedVersion`], [`HttpPeerError::DialectRefused`] | 426 |
    /// | the origin policy (RFC 6455 §10.2) | [`HttpPeerError::OriginRefused`] | 403 |
    /// | `sec-websocket-protocol` and `sec-websocket-extensions` grammar | [`HttpPeerError::BadProtocols`], [`HttpPeerError::BadExtensions`] | 400 |
    ///
    /// HTTP/2 libraries refuse most malformed lists themselves (a stream
    /// error); the checks are made again here so that the machine stands
    /// on its own, and so that an HTTP/3 library that passes more through
    /// is held to the same rules.
    pub fn new(fields: Headers, config: &ServerConfig) -> Result<ConnectUpgrade, Error> {
        check_limits(&fields, &config.limits)?;
        let pseudo = Pseudo::split(&fields)?;
        let (pending, request, scheme) = validate(pseudo, fields.clone(), config)?;
        Ok(ConnectUpgrade {
            pending,
            request,
            scheme,
        })
    }

    /// The validated request: RFC 6455 dialect, the target (`:path`), the
    /// host (`:authority`), the origin, the offered subprotocols and
    /// extensions, the subprotocol the config's policy selected, and every
    /// field (pseudo-header fields included).
    #[must_use]
    pub fn request(&self) -> &UpgradeRequest {
        &self.request
    }

    /// `:scheme`: `https` for a `wss` URI, `http` for `ws` (RFC 8441 §5).
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Accepts the WebSocket: returns the [`Handshake`] for the connection
    /// and the `200` for the host to send on the stream, with the
    /// subprotocol, the extensions and `accept`'s own fields, every name
    /// lowercase (RFC 9113 §8.2.1), and no body (the stream stays open:
    /// WebSocket frames follow as DATA).
    ///
    /// A [`MisuseError`] for an answer the client did not ask for (as
    /// [`HostedUpgrade::accept`](crate::HostedUpgrade::accept)), or for a
    /// field of `accept` that HTTP/2 does not allow (a connection-specific
    /// one, `sec-websocket-accept`).
    pub fn accept(self, accept: Accept) -> Result<(Handshake, Response), Error> {
        check_accept(&self.pending, &accept)?;
        let mut r = Response::new(200);
        if let Some(p) = &accept.protocol {
            r = r.header("sec-websocket-protocol", p.as_str());
        }
        if !accept.extensions.is_empty() {
            r = r.header(
                "sec-websocket-extensions",
                serialize_extensions(&accept.extensions),
            );
        }
        for (n, v) in &accept.headers {
            let name = n.to_ascii_lowercase();
            if CONNECTION_SPECIFIC.contains(&name.as_str())
                || name == "sec-websocket-accept"
                || name == "te"
            {
                return Err(MisuseError::InvalidHeader(format!(
                    "{n}: not allowed in an HTTP/2 or HTTP/3 response"
                ))
                .into());
            }
            r = r.header(name, v.as_str());
        }
        let hs = Handshake {
            role: Role::Server,
            dialect: Dialect::Rfc6455,
            protocol: accept.protocol,
            extensions: accept.extensions,
            key: None,
            nonce: None,
            target: Some(self.pending.target),
            origin: self.pending.origin,
            headers: Headers::default(),
        };
        Ok((hs, r))
    }
}

/// The response to send for an error of [`ConnectUpgrade::new`] (or any
/// [`Error`]) on an HTTP/2 or HTTP/3 stream: its status, a plain-text
/// body saying why, `sec-websocket-version: 13` with a 426 (RFC 6455
/// §4.4), `allow: CONNECT` with a 405; lowercase names and no
/// connection-specific field.
#[must_use]
pub fn connect_error_response(e: &Error) -> Response {
    let status = e.status();
    let mut r = Response::new(status).header("content-type", "text/plain; charset=utf-8");
    if status == 426 {
        r = r.header("sec-websocket-version", "13");
    }
    if let Error::Peer(HttpPeerError::MethodNotAllowed(_)) = e {
        r = r.header("allow", "CONNECT");
    }
    let mut body = format!("{e}\n");
    body.retain(|c| c != '\r');
    r.body(body)
}

/// The pseudo-header fields of a request, each present at most once.
#[derive(Default)]
struct Pseudo<'a> {
    method: Option<&'a [u8]>,
    scheme: Option<&'a [u8]>,
    authority: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
    protocol: Option<&'a [u8]>,
}

impl<'a> Pseudo<'a> {
    /// RFC 9113 §8.2.1 and §8.3: lowercase names; pseudo-header fields
    /// before the others, only the request ones, none twice.
    fn split(fields: &'a Headers) -> Result<Pseudo<'a>, HttpPeerError> {
        let mut p = Pseudo::default();
        let mut regular = false;
        for (name, value) in fields.iter() {
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(HttpPeerError::Malformed(
                    "field name empty or not lowercase (RFC 9113 §8.2.1)",
                ));
            }
            if !name.starts_with(':') {
                if !is_token(name) {
                    return Err(HttpPeerError::Malformed("invalid field name"));
                }
                regular = true;
                continue;
            }
            if regular {
                return Err(HttpPeerError::Malformed(
                    "pseudo-header field after a regular field (RFC 9113 §8.3)",
                ));
            }
            let Some(i) = REQUEST_PSEUDO.iter().position(|n| *n == name) else {
                return Err(HttpPeerError::Malformed(
                    "not a request pseudo-header field (RFC 9113 §8.3)",
                ));
            };
            let slot = match i {
                0 => &mut p.method,
                1 => &mut p.scheme,
                2 => &mut p.authority,
                3 => &mut p.path,
                _ => &mut p.protocol,
            };
            if slot.is_some() {
                return Err(HttpPeerError::DuplicateHeader(REQUEST_PSEUDO[i]));
            }
            *slot = Some(value);
        }
        Ok(p)
    }
}

/// The limits of [`ConnectUpgrade::new`].
fn check_limits(fields: &Headers, limits: &Limits) -> Result<(), HttpLimitError> {
    let over = |limit, size, max| Err(HttpLimitError { limit, size, max });
    if fields.len() > limits.max_headers {
        return over(Limit::HeaderCount, fields.len(), limits.max_headers);
    }
    let mut total = 0usize;
    for (name, value) in fields.iter() {
        if name == ":path" && value.len() > limits.max_start_line {
            return over(Limit::RequestLine, value.len(), limits.max_start_line);
        }
        let line = name.len() + 2 + value.len();
        if line > limits.max_header_line {
            return over(Limit::HeaderLine, line, limits.max_header_line);
        }
        total = total.saturating_add(name.len() + value.len() + FIELD_OVERHEAD);
    }
    if total > limits.max_head {
        return over(Limit::HeadTotal, total, limits.max_head);
    }
    Ok(())
}

fn utf8(v: &[u8], name: &'static str) -> Result<String, HttpPeerError> {
    core::str::from_utf8(v)
        .map(String::from)
        .map_err(|_| HttpPeerError::BadHeaderValue(name))
}

/// `host [ ":" port ]` with no userinfo, path or space (RFC 9113 §8.3.1:
/// `:authority` "MUST NOT include the deprecated userinfo subcomponent").
fn is_authority(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~:[]!$&'()*+,;=%".contains(&b))
}

fn validate(
    p: Pseudo<'_>,
    fields: Headers,
    config: &ServerConfig,
) -> Result<(Pending, UpgradeRequest, String), HttpPeerError> {
    let method = p.method.ok_or(HttpPeerError::MissingHeader(":method"))?;
    if method != b"CONNECT" {
        return Err(HttpPeerError::MethodNotAllowed(
            String::from_utf8_lossy(method).into_owned(),
        ));
    }
    let protocol = p
        .protocol
        .ok_or(HttpPeerError::MissingHeader(":protocol"))?;
    if protocol != b"websocket" {
        return Err(HttpPeerError::UnsupportedProtocol(
            String::from_utf8_lossy(protocol).into_owned(),
        ));
    }
    let scheme = p.scheme.ok_or(HttpPeerError::MissingHeader(":scheme"))?;
    let path = p.path.ok_or(HttpPeerError::MissingHeader(":path"))?;
    let authority = p
        .authority
        .ok_or(HttpPeerError::MissingHeader(":authority"))?;
    if scheme != b"https" && scheme != b"http" {
        return Err(HttpPeerError::BadHeaderValue(":scheme"));
    }
    if !path.starts_with(b"/") || path.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(HttpPeerError::BadHeaderValue(":path"));
    }
    if !is_authority(authority) {
        return Err(HttpPeerError::BadHeaderValue(":authority"));
    }
    let h = &fields;
    if let Some(host) = single(h, "host")? {
        if !trim_ows(host).eq_ignore_ascii_case(authority) {
            return Err(HttpPeerError::BadHeaderValue("host"));
        }
    }
    for name in CONNECTION_SPECIFIC {
        if h.get(name).is_some() {
            return Err(HttpPeerError::ForbiddenHeader(name));
        }
    }
    if h.get_all("te")
        .any(|v| !trim_ows(v).eq_ignore_ascii_case(b"trailers"))
    {
        return Err(HttpPeerError::ForbiddenHeader("te"));
    }
    if h.get("sec-websocket-key").is_some() {
        return Err(HttpPeerError::ForbiddenHeader("sec-websocket-key"));
    }
    let version = single(h, "sec-websocket-version")?.ok_or(HttpPeerError::MissingVersion)?;
    if trim_ows(version) != b"13" {
        return Err(HttpPeerError::UnsupportedVersion(
            String::from_utf8_lossy(version).into_owned(),
        ));
    }
    if !config.dialects.contains(Dialect::Rfc6455) {
        return Err(HttpPeerError::DialectRefused(Dialect::Rfc6455));
    }
    let origin = origin_of(h)?;
    if !config.origin.allows(origin.as_deref()) {
        return Err(HttpPeerError::OriginRefused);
    }
    let mut protocols = Vec::new();
    parse_token_list(h.get_all("sec-websocket-protocol"), &mut protocols)
        .map_err(HttpPeerError::BadProtocols)?;
    let mut extensions = Vec::new();
    parse_extensions(h.get_all("sec-websocket-extensions"), &mut extensions)
        .map_err(HttpPeerError::BadExtensions)?;
    let target = utf8(path, ":path")?;
    let host = utf8(authority, ":authority")?;
    let pending = Pending {
        dialect: Dialect::Rfc6455,
        key: String::new(),
        hixie_parts: (0, 0),
        key3: [0; 8],
        origin: origin.clone(),
        host: host.clone(),
        target: target.clone(),
        protocols: protocols.clone(),
        extension_names: extensions.iter().map(|e| e.name.clone()).collect(),
    };
    let request = UpgradeRequest {
        dialect: Dialect::Rfc6455,
        selected_protocol: config.select_protocol(&protocols),
        target,
        host,
        origin,
        protocols,
        extensions,
        headers: fields,
    };
    let scheme = utf8(scheme, ":scheme")?;
    Ok((pending, request, scheme))
}

/// The client side of an extended CONNECT (RFC 8441 §4–5, RFC 9220 §3):
/// the request's fields from a [`ClientRequest`], and the check of the
/// server's answer.
///
/// The host HTTP/2 or HTTP/3 client must have seen the server's
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (RFC 8441 §3) before it sends
/// [`fields`](Self::fields) on a new stream; it then hands the answer's
/// status and fields to [`response`](Self::response).
///
/// ```
/// use http_upgrade::{ClientRequest, ConnectClient, Headers};
/// let request = ClientRequest::new("wss://server.example.com/chat")?.protocol("chat");
/// let client = ConnectClient::new(request)?;
/// let fields = client.fields();
/// assert_eq!(fields.get_str(":protocol"), Some("websocket"));
/// assert_eq!(fields.get_str(":scheme"), Some("https"));
/// assert_eq!(fields.get_str(":authority"), Some("server.example.com"));
/// let mut answer = Headers::new();
/// answer.push("sec-websocket-protocol", "chat");
/// let handshake = client.response(200, &answer)?;
/// assert_eq!(handshake.protocol.as_deref(), Some("chat"));
/// # Ok::<(), http_upgrade::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectClient {
    request: ClientRequest,
}

impl ConnectClient {
    /// A client for `request`, which must be for the RFC 6455 dialect (the
    /// hybi drafts and hixie-76 have no HTTP/2 form) and have valid
    /// subprotocols, extensions and extra fields; extra fields that are
    /// connection-specific, `host` or `sec-websocket-key` are refused
    /// (RFC 8441 §5, RFC 9113 §8.2.2).
    pub fn new(request: ClientRequest) -> Result<ConnectClient, Error> {
        if request.dialect != Dialect::Rfc6455 {
            return Err(
                MisuseError::Unconvertible("a dialect other than RFC 6455 over HTTP/2").into(),
            );
        }
        for p in &request.protocols {
            if !is_token(p) {
                return Err(MisuseError::InvalidToken(p.clone()).into());
            }
        }
        for e in &request.extensions {
            if !e.is_valid() {
                return Err(MisuseError::InvalidToken(format!("{e}")).into());
            }
        }
        for (n, v) in &request.headers {
            check_header(n, v)?;
            let name = n.to_ascii_lowercase();
            if CONNECTION_SPECIFIC.contains(&name.as_str())
                || ["host", "te", "sec-websocket-key"].contains(&name.as_str())
            {
                return Err(MisuseError::InvalidHeader(format!(
                    "{n}: not allowed in an extended CONNECT request"
                ))
                .into());
            }
        }
        Ok(ConnectClient { request })
    }

    /// The request it was made from.
    #[must_use]
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// `:scheme`: `https` for `wss` (and `https`) URLs, else `http`.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.request.url.is_secure() {
            "https"
        } else {
            "http"
        }
    }

    /// `:authority`: the host, and the port if it is not the scheme's.
    #[must_use]
    pub fn authority(&self) -> String {
        self.request.url.host_header()
    }

    /// `:path`: the resource name (`/chat?room=1`).
    #[must_use]
    pub fn path(&self) -> &str {
        self.request.url.resource()
    }

    /// Every field of the request, pseudo-header fields first, names
    /// lowercase: `:method CONNECT`, `:protocol websocket`, `:scheme`,
    /// `:path`, `:authority`, `sec-websocket-version: 13`, then the
    /// offered subprotocols, extensions, the origin and the extra fields.
    #[must_use]
    pub fn fields(&self) -> Headers {
        let r = &self.request;
        let mut h = Headers::new();
        h.push(":method", "CONNECT");
        h.push(":protocol", "websocket");
        h.push(":scheme", self.scheme());
        h.push(":path", self.path());
        h.push(":authority", self.authority());
        h.push("sec-websocket-version", "13");
        if !r.protocols.is_empty() {
            h.push("sec-websocket-protocol", r.protocols.join(", "));
        }
        if !r.extensions.is_empty() {
            h.push(
                "sec-websocket-extensions",
                serialize_extensions(&r.extensions),
            );
        }
        if let Some(o) = &r.origin {
            h.push("origin", o.as_str());
        }
        for (n, v) in &r.headers {
            h.push(n.to_ascii_lowercase(), v.as_str());
        }
        h
    }

    /// Checks the server's answer: a `2xx` opens the WebSocket (RFC 8441
    /// §5 shows `200`; RFC 9110 §9.3.6: any 2xx to a CONNECT starts the
    /// tunnel), with at most a subprotocol we offered and only extensions
    /// we offered (RFC 6455 §4.1, client steps 5–6), and no
    /// connection-specific field (RFC 9113 §8.2.2). A `101` is malformed
    /// (RFC 9113 §8.6); any other status is a refusal,
    /// [`HttpPeerError::Rejected`].
    ///
    /// The [`Handshake`] keeps the answer's fields.
    pub fn response(self, status: u16, fields: &Headers) -> Result<Handshake, Error> {
        if status == 101 {
            return Err(HttpPeerError::Malformed("101 on an HTTP/2 or HTTP/3 stream").into());
        }
        if !(200..300).contains(&status) {
            return Err(HttpPeerError::Rejected(status).into());
        }
        for name in CONNECTION_SPECIFIC {
            if fields.get(name).is_some() {
                return Err(HttpPeerError::ForbiddenHeader(name).into());
            }
        }
        let protocol = check_protocol(fields, &self.request)?;
        let extensions = check_extensions(fields, &self.request)?;
        Ok(Handshake {
            role: Role::Client,
            dialect: Dialect::Rfc6455,
            protocol,
            extensions,
            key: None,
            nonce: None,
            target: None,
            origin: None,
            headers: fields.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_forms() {
        for ok in [
            "a.example",
            "127.0.0.1:8080",
            "[::1]:443",
            "xn--bcher-kva.example",
        ] {
            assert!(is_authority(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "a b", "user@host", "host/path"] {
            assert!(!is_authority(bad.as_bytes()), "{bad}");
        }
    }
}

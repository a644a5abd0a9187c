//! The server's opening-handshake responses: `101` per dialect and the
//! automatic error responses.

use alloc::format;
use alloc::string::String;

use rand_core::Rng;

use crate::error::{Error, HttpPeerError, MisuseError};
use crate::extensions::serialize_extensions;
use crate::handshake::{Handshake, Role};
use crate::http::Headers;
use crate::http::check_header;
use crate::response::Response;
use crate::server::config::{Accept, ServerConfig};
use crate::server::validate::Pending;
use crate::{Dialect, DialectSet, keys};

/// Checks the application's answer against the client's offer (RFC 6455
/// §4.2.2 step 5.4-5.5: only offered subprotocols and extensions).
pub(crate) fn check_accept(p: &Pending, a: &Accept) -> Result<(), MisuseError> {
    if let Some(proto) = &a.protocol {
        if !p.protocols.contains(proto) {
            return Err(MisuseError::ProtocolNotOffered(proto.clone()));
        }
    }
    for e in &a.extensions {
        if !e.is_valid() {
            return Err(MisuseError::InvalidToken(format!("{e}")));
        }
        if !p
            .extension_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&e.name))
        {
            return Err(MisuseError::ExtensionNotOffered(e.name.clone()));
        }
    }
    for (n, v) in &a.headers {
        check_header(n, v)?;
    }
    Ok(())
}

/// Accepts an upgrade (RFC 6455 §4.2.2 step 5; drafts -04/-05 §5.2.2;
/// draft-00 §5.2): checks the application's answer, draws the hybi-04/05
/// `Sec-WebSocket-Nonce` from `rng`, and returns the [`Handshake`] and the
/// `101`. For hixie-76 that is the head only (`secure` picks the scheme of
/// its `Sec-WebSocket-Location`): the machine writes the MD5 answer after
/// it. [`ServerHandshake::accept`](crate::ServerHandshake::accept) and
/// [`HostedUpgrade::accept`](crate::HostedUpgrade::accept) both answer here.
pub(crate) fn answer<R: Rng + ?Sized>(
    p: &Pending,
    accept: Accept,
    rng: &mut R,
    secure: bool,
) -> Result<(Handshake, Response), MisuseError> {
    check_accept(p, &accept)?;
    let hybi = p.dialect.is_hybi();
    let nonce = p
        .dialect
        .server_sends_nonce()
        .then(|| keys::generate_key(rng));
    let response = if hybi {
        hybi_101(p, &accept, nonce.as_deref())
    } else {
        hixie_101_head(p, &accept, secure)
    };
    let hs = Handshake {
        role: Role::Server,
        dialect: p.dialect,
        protocol: accept.protocol,
        extensions: accept.extensions,
        key: hybi.then(|| p.key.clone()),
        nonce,
        target: Some(p.target.clone()),
        origin: p.origin.clone(),
        headers: Headers::default(),
    };
    Ok((hs, response))
}

/// The `101` of the hybi dialects: RFC 6455 §4.2.2 step 5, plus
/// `Sec-WebSocket-Nonce` for -04/-05 (§5.2.2 step 3.3 of both drafts).
///
/// The one list of its header fields: the server machine writes it with
/// [`Response::encode`], [`HostedUpgrade`](crate::HostedUpgrade) hands it
/// to the host server as it is.
pub(crate) fn hybi_101(p: &Pending, a: &Accept, nonce: Option<&str>) -> Response {
    let r = Response::new(101)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", keys::accept_key(p.key.as_bytes()));
    let r = match nonce {
        Some(n) => r.header("Sec-WebSocket-Nonce", n),
        None => r,
    };
    with_common(r, a)
}

/// The head of the hixie-76 `101` (draft-00 §5.2 steps 10-12): Origin
/// echo, Location. The 16-byte MD5 answer (step 13) follows the blank line
/// (see [`hixie_answer`]); it is no body a `Response` could carry, a `101`
/// has none.
fn hixie_101_head(p: &Pending, a: &Accept, secure: bool) -> Response {
    let origin = p.origin.as_deref().unwrap_or("null").to_ascii_lowercase();
    let scheme = if secure { "wss" } else { "ws" };
    let location = format!("{scheme}://{}{}", p.host, p.target);
    let r = Response::new(101)
        .reason("WebSocket Protocol Handshake")
        .header("Upgrade", "WebSocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Origin", origin)
        .header("Sec-WebSocket-Location", location);
    with_common(r, a)
}

/// The hixie-76 challenge answer written after the `101` head (draft-00
/// §5.2 step 13).
pub(crate) fn hixie_answer(p: &Pending) -> [u8; 16] {
    let (p1, p2) = p.hixie_parts;
    keys::hixie76_answer(p1, p2, &p.key3)
}

/// The fields both families of `101` end with: the subprotocol, the
/// accepted extensions (RFC 6455 §4.2.2 step 5.4-5.5), the application's.
fn with_common(mut r: Response, a: &Accept) -> Response {
    if let Some(proto) = &a.protocol {
        r = r.header("Sec-WebSocket-Protocol", proto.as_str());
    }
    if !a.extensions.is_empty() {
        r = r.header(
            "Sec-WebSocket-Extensions",
            serialize_extensions(&a.extensions),
        );
    }
    for (n, v) in &a.headers {
        r = r.header(n.as_str(), v.as_str());
    }
    r
}

/// The `Sec-WebSocket-Version` list of RFC 6455 §4.4: the versions the
/// server accepts, newest first, e.g. `13, 8, 7, 6, 5, 4`.
pub(crate) fn version_list(dialects: DialectSet) -> String {
    let mut s = String::new();
    for v in dialects.iter().filter_map(Dialect::version) {
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(&format!("{v}"));
    }
    s
}

/// The automatic response to a request that failed with `e`: the error's
/// [`status`](Error::status), `Content-Type: text/plain; charset=utf-8`, a
/// one-line body naming the error, and per status `Sec-WebSocket-Version`
/// with the versions `config` accepts plus `Upgrade: websocket` (426, RFC
/// 6455 §4.4, RFC 7231 §6.5.15) or `Allow: GET` (405, RFC 7231 §6.5.5).
///
/// [`ServerHandshake`](crate::ServerHandshake) queues it by itself, with
/// `Connection: close` added when written; a host server sends it for an
/// error of [`HostedUpgrade::new`](crate::HostedUpgrade::new) and then
/// closes the connection or not, as it sees fit (the response carries no
/// `Connection` field, which HTTP/2 forbids, RFC 7540 §8.1.2.2).
#[must_use]
pub fn error_response(e: &Error, config: &ServerConfig) -> Response {
    let status = e.status();
    let mut r = Response::new(status).header("Content-Type", "text/plain; charset=utf-8");
    if status == 426 {
        let versions = version_list(config.dialects);
        if !versions.is_empty() {
            r = r.header("Sec-WebSocket-Version", versions);
        }
        r = r.header("Upgrade", "websocket");
    }
    if let Error::Peer(HttpPeerError::MethodNotAllowed(_)) = e {
        r = r.header("Allow", "GET");
    }
    let mut body = format!("{e}\n");
    body.retain(|c| c != '\r');
    r.body(body)
}

//! The server's opening-handshake responses: `101` per dialect and the
//! automatic error responses.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::Dialect;
use crate::error::{Error, HttpPeerError, MisuseError};
use crate::extensions::serialize_extensions;
use crate::http::check_header;
use crate::response::Response;
use crate::server::config::{Accept, ServerConfig};
use crate::server::validate::Pending;
use crate::{DialectSet, keys};

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

/// The hixie-76 `101` (draft-00 §5.2 steps 10-13): Origin echo, Location,
/// then the 16-byte MD5 answer after the blank line, as bytes (the answer
/// is no body a `Response` could carry: a `101` has none).
pub(crate) fn hixie_101(
    p: &Pending,
    a: &Accept,
    key3: &[u8; 8],
    secure: bool,
) -> Result<Vec<u8>, MisuseError> {
    let origin = p.origin.as_deref().unwrap_or("null").to_ascii_lowercase();
    let scheme = if secure { "wss" } else { "ws" };
    let location = format!("{scheme}://{}{}", p.host, p.target);
    let r = Response::new(101)
        .reason("WebSocket Protocol Handshake")
        .header("Upgrade", "WebSocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Origin", origin)
        .header("Sec-WebSocket-Location", location);
    let mut out = with_common(r, a).encode(false, false)?;
    let (p1, p2) = p.hixie_parts;
    out.extend_from_slice(&keys::hixie76_answer(p1, p2, key3));
    Ok(out)
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

/// The automatic response for a failed request: the error's status,
/// `Connection: close`, and per status `Sec-WebSocket-Version` (426,
/// RFC 6455 §4.4) or `Allow: GET` (405, RFC 7231 §6.5.5).
pub(crate) fn error_response(e: &Error, config: &ServerConfig) -> Response {
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

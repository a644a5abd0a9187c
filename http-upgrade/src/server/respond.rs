//! The server's opening-handshake responses: `101` per dialect and the
//! automatic error responses.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::Dialect;
use crate::error::{Error, HttpPeerError, MisuseError};
use crate::extensions::serialize_extensions;
use crate::http::{check_header, push_header};
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
pub(crate) fn hybi_101(p: &Pending, a: &Accept, nonce: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    push_header(&mut out, "Upgrade", "websocket");
    push_header(&mut out, "Connection", "Upgrade");
    push_header(
        &mut out,
        "Sec-WebSocket-Accept",
        &keys::accept_key(p.key.as_bytes()),
    );
    if let Some(n) = nonce {
        push_header(&mut out, "Sec-WebSocket-Nonce", n);
    }
    push_common(&mut out, a);
    out.extend_from_slice(b"\r\n");
    out
}

/// The hixie-76 `101` (draft-00 §5.2 steps 10-13): Origin echo, Location,
/// then the 16-byte MD5 answer after the blank line.
pub(crate) fn hixie_101(p: &Pending, a: &Accept, key3: &[u8; 8], secure: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n");
    push_header(&mut out, "Upgrade", "WebSocket");
    push_header(&mut out, "Connection", "Upgrade");
    let origin = p.origin.as_deref().unwrap_or("null").to_ascii_lowercase();
    push_header(&mut out, "Sec-WebSocket-Origin", &origin);
    let scheme = if secure { "wss" } else { "ws" };
    let location = format!("{scheme}://{}{}", p.host, p.target);
    push_header(&mut out, "Sec-WebSocket-Location", &location);
    push_common(&mut out, a);
    out.extend_from_slice(b"\r\n");
    let (p1, p2) = p.hixie_parts;
    out.extend_from_slice(&keys::hixie76_answer(p1, p2, key3));
    out
}

fn push_common(out: &mut Vec<u8>, a: &Accept) {
    if let Some(proto) = &a.protocol {
        push_header(out, "Sec-WebSocket-Protocol", proto);
    }
    if !a.extensions.is_empty() {
        push_header(
            out,
            "Sec-WebSocket-Extensions",
            &serialize_extensions(&a.extensions),
        );
    }
    for (n, v) in &a.headers {
        push_header(out, n, v);
    }
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

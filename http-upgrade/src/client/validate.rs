//! Checking the server's `101` (RFC 6455 §4.1 "the client MUST validate
//! the server's response"; draft-04 §5.1; draft-00 §4.1 steps 28-44).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Dialect;
use crate::client::request::{ClientRequest, Expect};
use crate::error::HttpPeerError;
use crate::extensions::{ExtensionOffer, parse_extensions};
use crate::grammar::{is_token, list_contains, trim_ows};
use crate::http::{Headers, HttpResponse, required, single};

/// What a valid `101` negotiated.
pub(crate) struct Negotiated {
    pub(crate) protocol: Option<String>,
    pub(crate) extensions: Vec<ExtensionOffer>,
    pub(crate) nonce: Option<String>,
}

/// Validates the head of a `101` response.
pub(crate) fn check_101(
    res: &HttpResponse,
    req: &ClientRequest,
    expect: &Expect,
) -> Result<Negotiated, HttpPeerError> {
    let h = &res.headers;
    require_token(h, "Upgrade", "websocket")?;
    require_token(h, "Connection", "upgrade")?;
    let protocol = check_protocol(h, req)?;
    let mut neg = Negotiated {
        protocol,
        extensions: Vec::new(),
        nonce: None,
    };
    if req.dialect.is_hybi() {
        check_accept(h, expect)?;
        neg.nonce = check_nonce(h, req.dialect)?;
        neg.extensions = check_extensions(h, req)?;
    } else {
        check_hixie_fields(h, req)?;
    }
    Ok(neg)
}

fn require_token(h: &Headers, name: &'static str, token: &str) -> Result<(), HttpPeerError> {
    if !list_contains([required(h, name)?], token) {
        return Err(HttpPeerError::BadHeaderValue(name));
    }
    Ok(())
}

fn str_of(v: &[u8], name: &'static str) -> Result<String, HttpPeerError> {
    core::str::from_utf8(trim_ows(v))
        .map(String::from)
        .map_err(|_| HttpPeerError::BadHeaderValue(name))
}

fn check_accept(h: &Headers, expect: &Expect) -> Result<(), HttpPeerError> {
    let got = required(h, "Sec-WebSocket-Accept")?;
    if trim_ows(got) != expect.accept.as_bytes() {
        return Err(HttpPeerError::AcceptMismatch);
    }
    Ok(())
}

/// hybi-04 needs the nonce for its masking key (draft-04 §4.2); -05 still
/// requires it (§5.2.2 step 3.3) but never uses it, so it is optional there.
fn check_nonce(h: &Headers, dialect: Dialect) -> Result<Option<String>, HttpPeerError> {
    if !dialect.server_sends_nonce() {
        return Ok(None);
    }
    match single(h, "Sec-WebSocket-Nonce")? {
        Some(v) => Ok(Some(str_of(v, "Sec-WebSocket-Nonce")?)),
        None if dialect == Dialect::Hybi04 => {
            Err(HttpPeerError::MissingHeader("Sec-WebSocket-Nonce"))
        }
        None => Ok(None),
    }
}

/// RFC 6455 §4.1 client step 6: the protocol must be one we offered.
/// draft-00 §4.1 step 41: hixie-76 requires it when one was offered.
pub(crate) fn check_protocol(
    h: &Headers,
    req: &ClientRequest,
) -> Result<Option<String>, HttpPeerError> {
    let Some(v) = single(h, "Sec-WebSocket-Protocol")? else {
        if req.dialect == Dialect::Hixie76 && !req.protocols.is_empty() {
            return Err(HttpPeerError::MissingHeader("Sec-WebSocket-Protocol"));
        }
        return Ok(None);
    };
    let p = str_of(v, "Sec-WebSocket-Protocol")?;
    if !is_token(&p) || !req.protocols.contains(&p) {
        return Err(HttpPeerError::UnofferedProtocol(p));
    }
    Ok(Some(p))
}

/// RFC 6455 §4.1 client step 5: only extensions we offered (by name).
pub(crate) fn check_extensions(
    h: &Headers,
    req: &ClientRequest,
) -> Result<Vec<ExtensionOffer>, HttpPeerError> {
    let mut exts = Vec::new();
    parse_extensions(h.get_all("sec-websocket-extensions"), &mut exts)
        .map_err(HttpPeerError::BadExtensions)?;
    for e in &exts {
        if !req
            .extensions
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&e.name))
        {
            return Err(HttpPeerError::UnofferedExtension(e.name.clone()));
        }
    }
    Ok(exts)
}

/// draft-00 §4.1 step 41: `Sec-WebSocket-Location` must be our URL and
/// `Sec-WebSocket-Origin` our origin (compared ASCII case-insensitively,
/// since the server lowercases it, draft-00 §5.2 step 2 /origin/).
fn check_hixie_fields(h: &Headers, req: &ClientRequest) -> Result<(), HttpPeerError> {
    let location = required(h, "Sec-WebSocket-Location")?;
    if trim_ows(location) != req.url.to_string().as_bytes() {
        return Err(HttpPeerError::BadHeaderValue("Sec-WebSocket-Location"));
    }
    let origin = required(h, "Sec-WebSocket-Origin")?;
    if let Some(ours) = &req.origin {
        if !trim_ows(origin).eq_ignore_ascii_case(ours.as_bytes()) {
            return Err(HttpPeerError::BadHeaderValue("Sec-WebSocket-Origin"));
        }
    }
    Ok(())
}

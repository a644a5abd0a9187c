//! Classifying a request (plain or upgrade) and validating an upgrade
//! (RFC 6455 §4.2.1; drafts -04/-05 §5.2.1; draft-00 §5.1).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::HttpPeerError;
use crate::extensions::{ExtensionOffer, parse_extensions};
use crate::grammar::{list_contains, parse_token_list};
use crate::http::{Headers, HttpRequest, required, single};
use crate::keys;
use crate::server::config::ServerConfig;
use crate::{Dialect, DialectSet};

/// A WebSocket upgrade request that passed validation, for the application
/// to accept or reject.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeRequest {
    /// The dialect detected from the request (RFC 6455 §4.2.1 item 6;
    /// hixie-76 by its `Sec-WebSocket-Key1`/`Key2`).
    pub dialect: Dialect,
    /// The request target (/resource name/), e.g. `/chat?room=1`.
    pub target: String,
    /// The `Host` header.
    pub host: String,
    /// `Origin` (or `Sec-WebSocket-Origin` for versions 4-8), if sent.
    pub origin: Option<String>,
    /// The offered subprotocols, in the client's order.
    pub protocols: Vec<String>,
    /// The offered extensions, in the client's order (RFC 6455 §9.1).
    pub extensions: Vec<ExtensionOffer>,
    /// The subprotocol the configured policy picks, if any.
    pub selected_protocol: Option<String>,
    /// All request headers (cookies, authorization, ...).
    pub headers: Headers,
}

/// What the server machine keeps to build the response.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) dialect: Dialect,
    pub(crate) key: String,
    pub(crate) hixie_parts: (u32, u32),
    pub(crate) key3: [u8; 8],
    pub(crate) origin: Option<String>,
    pub(crate) host: String,
    pub(crate) target: String,
    pub(crate) protocols: Vec<String>,
    pub(crate) extension_names: Vec<String>,
}

/// True if the request tries to open a WebSocket: `Upgrade: websocket` or
/// any WebSocket key/version header. Anything else is a plain request.
pub(crate) fn is_upgrade_attempt(h: &Headers) -> bool {
    list_contains(h.get_all("upgrade"), "websocket")
        || [
            "sec-websocket-key",
            "sec-websocket-key1",
            "sec-websocket-key2",
            "sec-websocket-version",
        ]
        .iter()
        .any(|n| h.get(n).is_some())
}

/// Whether an upgrade's request-target names a resource: origin-form
/// (`/path?query`, RFC 7230 §5.3.1) or an absolute `http`, `https`, `ws` or
/// `wss` URI (RFC 7230 §5.3.2, RFC 6455 §3 and §4.2.1 item 1). The bytes
/// themselves are httparse's to check: browsers leave some characters RFC
/// 3986 reserves (`|`, `^`, `[`) unencoded (URL Standard), so they pass.
fn is_resource_target(t: &str) -> bool {
    if t.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = t.split_once("://") else {
        return false;
    };
    ["http", "https", "ws", "wss"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
        && !rest.is_empty()
}

fn utf8(v: &[u8], name: &'static str) -> Result<String, HttpPeerError> {
    core::str::from_utf8(v)
        .map(String::from)
        .map_err(|_| HttpPeerError::BadHeaderValue(name))
}

/// Validates an upgrade attempt in RFC 6455 §4.2.1 order, accepting the
/// `dialects` given (the config's, or fewer for a host server that cannot
/// carry hixie-76's key3 and answer).
pub(crate) fn validate(
    req: HttpRequest,
    config: &ServerConfig,
    dialects: DialectSet,
) -> Result<(Pending, UpgradeRequest), HttpPeerError> {
    if req.method != "GET" {
        return Err(HttpPeerError::MethodNotAllowed(req.method));
    }
    if req.minor_version < 1 {
        return Err(HttpPeerError::HttpVersion);
    }
    if !is_resource_target(&req.target) {
        return Err(HttpPeerError::Malformed(
            "request-target is neither origin-form nor an absolute URI",
        ));
    }
    let h = &req.headers;
    let host = utf8(required(h, "Host")?, "Host")?;
    require_token(h, "Upgrade", "websocket")?;
    require_token(h, "Connection", "upgrade")?;
    let dialect = detect_dialect(h)?;
    if !dialects.contains(dialect) {
        return Err(HttpPeerError::DialectRefused(dialect));
    }
    let (key, hixie_parts) = keys_of(h, dialect)?;
    let origin = origin_of(h)?;
    if !config.origin.allows(origin.as_deref()) {
        return Err(HttpPeerError::OriginRefused);
    }
    let mut protocols = Vec::new();
    parse_token_list(h.get_all("sec-websocket-protocol"), &mut protocols)
        .map_err(HttpPeerError::BadProtocols)?;
    let mut extensions = Vec::new();
    if dialect.has_extensions() {
        parse_extensions(h.get_all("sec-websocket-extensions"), &mut extensions)
            .map_err(HttpPeerError::BadExtensions)?;
    }
    let pending = Pending {
        dialect,
        key,
        hixie_parts,
        key3: [0; 8],
        origin: origin.clone(),
        host: host.clone(),
        target: req.target.clone(),
        protocols: protocols.clone(),
        extension_names: extensions.iter().map(|e| e.name.clone()).collect(),
    };
    let upgrade = UpgradeRequest {
        dialect,
        selected_protocol: config.select_protocol(&protocols),
        target: req.target,
        host,
        origin,
        protocols,
        extensions,
        headers: req.headers,
    };
    Ok((pending, upgrade))
}

fn require_token(h: &Headers, name: &'static str, token: &str) -> Result<(), HttpPeerError> {
    if h.get(name).is_none() {
        return Err(HttpPeerError::MissingHeader(name));
    }
    if !list_contains(h.get_all(name), token) {
        return Err(HttpPeerError::BadHeaderValue(name));
    }
    Ok(())
}

/// The dialect: `Sec-WebSocket-Version` for hybi, Key1/Key2 for hixie-76.
fn detect_dialect(h: &Headers) -> Result<Dialect, HttpPeerError> {
    let Some(v) = single(h, "Sec-WebSocket-Version")? else {
        let hixie = h.get("sec-websocket-key1").is_some() && h.get("sec-websocket-key2").is_some();
        return if hixie {
            Ok(Dialect::Hixie76)
        } else {
            Err(HttpPeerError::MissingVersion)
        };
    };
    let unsupported = || HttpPeerError::UnsupportedVersion(String::from_utf8_lossy(v).into_owned());
    let digits = core::str::from_utf8(v).map_err(|_| unsupported())?;
    // RFC 6455 §4.1: `version = DIGIT | (NZDIGIT DIGIT) | ("1" DIGIT DIGIT)
    // | ("2" DIGIT DIGIT)`, "with no leading zeros".
    if digits.is_empty()
        || digits.len() > 3
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(unsupported());
    }
    digits
        .parse::<u8>()
        .ok()
        .and_then(Dialect::from_version)
        .ok_or_else(unsupported)
}

/// `Sec-WebSocket-Key` (16 bytes once decoded) or the hixie-76 key parts.
fn keys_of(h: &Headers, dialect: Dialect) -> Result<(String, (u32, u32)), HttpPeerError> {
    if dialect.is_hybi() {
        let key = required(h, "Sec-WebSocket-Key")?;
        if !keys::is_valid_key(key) {
            return Err(HttpPeerError::BadKey);
        }
        return Ok((utf8(key, "Sec-WebSocket-Key")?, (0, 0)));
    }
    let k1 = required(h, "Sec-WebSocket-Key1")?;
    let k2 = required(h, "Sec-WebSocket-Key2")?;
    let p1 = keys::hixie76_key_part(k1).map_err(HttpPeerError::BadHixieKey)?;
    let p2 = keys::hixie76_key_part(k2).map_err(HttpPeerError::BadHixieKey)?;
    Ok((String::new(), (p1, p2)))
}

/// `Origin`, else `Sec-WebSocket-Origin` (versions 4-8 send the latter).
pub(crate) fn origin_of(h: &Headers) -> Result<Option<String>, HttpPeerError> {
    let o = match single(h, "Origin")? {
        Some(o) => Some(o),
        None => single(h, "Sec-WebSocket-Origin")?,
    };
    o.map(|v| utf8(v, "Origin")).transpose()
}

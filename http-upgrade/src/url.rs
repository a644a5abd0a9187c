//! WebSocket URIs (RFC 6455 §3; draft-00 §3.1): a small strict parser.
//!
//! ```text
//! ws-URI  = "ws:"  "//" host [ ":" port ] path [ "?" query ]
//! wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]
//! ```
//!
//! `http`/`https` are accepted as aliases of `ws`/`wss`. Fragments and
//! userinfo are rejected (RFC 6455 §3 forbids fragments).

use alloc::string::String;
use core::fmt;
use core::net::Ipv6Addr;
use core::str::FromStr;

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws`, `wss`, `http` or `https`, or `://` is missing.
    #[error("scheme must be ws://, wss://, http:// or https://")]
    BadScheme,
    /// No host after `//`.
    #[error("missing host")]
    MissingHost,
    /// A host with characters outside `[A-Za-z0-9.-_~]`, or a bad IPv6 literal.
    #[error("invalid host")]
    BadHost,
    /// A port that is empty, not a number, zero or above 65535.
    #[error("invalid port")]
    BadPort,
    /// A `#fragment` (RFC 6455 §3: fragment identifiers are meaningless here).
    #[error("fragments are not allowed in WebSocket URLs")]
    Fragment,
    /// `user:pass@` in the authority.
    #[error("userinfo is not supported")]
    Userinfo,
    /// A space, control or non-ASCII character in the path or query.
    #[error("invalid character in path or query")]
    BadChar,
}

/// A parsed WebSocket URL: what the opening handshake needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WsUrl {
    secure: bool,
    host: String,
    port: u16,
    resource: String,
}

impl WsUrl {
    /// Parses `ws://host[:port]/path?query` (also `wss`, `http`, `https`,
    /// IPv6 literals such as `ws://[::1]:9001/x`).
    pub fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let (secure, rest) = split_scheme(url)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::Userinfo);
        }
        let (host, port) = split_authority(authority)?;
        let port = match port {
            None => default_port(secure),
            Some(p) => parse_port(p)?,
        };
        Ok(WsUrl {
            secure,
            host,
            port,
            resource: parse_resource(tail)?,
        })
    }

    /// True for `wss`/`https`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host, lowercase, without IPv6 brackets (what a driver connects to).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (80/443 if not given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The /resource name/: path (at least `/`) and `?query` (RFC 6455 §3).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value: host (bracketed if IPv6) and `:port` unless
    /// it is the scheme's default (RFC 6455 §4.1 item 4, draft-00 §4.1 step 11).
    pub fn host_header(&self) -> String {
        let mut s = String::new();
        if self.host.contains(':') {
            s.push('[');
            s.push_str(&self.host);
            s.push(']');
        } else {
            s.push_str(&self.host);
        }
        if self.port != default_port(self.secure) {
            s.push(':');
            s.push_str(&alloc::format!("{}", self.port));
        }
        s
    }
}

impl fmt::Display for WsUrl {
    /// The URL rebuilt per draft-00 §3.2 (the hixie-76 `Sec-WebSocket-Location`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.resource)
    }
}

impl FromStr for WsUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        WsUrl::parse(s)
    }
}

fn default_port(secure: bool) -> u16 {
    if secure { 443 } else { 80 }
}

fn split_scheme(url: &str) -> Result<(bool, &str), UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError::BadScheme)?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        _ => return Err(UrlError::BadScheme),
    };
    Ok((secure, rest))
}

fn split_authority(a: &str) -> Result<(String, Option<&str>), UrlError> {
    if a.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if let Some(v6) = a.strip_prefix('[') {
        let (lit, after) = v6.split_once(']').ok_or(UrlError::BadHost)?;
        let addr = Ipv6Addr::from_str(lit).map_err(|_| UrlError::BadHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::BadPort)?),
        };
        return Ok((alloc::format!("{addr}"), port));
    }
    let (host, port) = match a.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (a, None),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if !host.bytes().all(ok) {
        return Err(UrlError::BadHost);
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::BadPort),
        Ok(n) => Ok(n),
    }
}

fn parse_resource(tail: &str) -> Result<String, UrlError> {
    if tail.contains('#') {
        return Err(UrlError::Fragment);
    }
    if !tail.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(UrlError::BadChar);
    }
    let mut r = String::new();
    if !tail.starts_with('/') {
        r.push('/');
    }
    r.push_str(tail);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parses() {
        let u = WsUrl::parse("ws://Example.com/chat?x=1").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.resource()),
            ("example.com", 80, "/chat?x=1")
        );
        assert_eq!(u.host_header(), "example.com");
        assert!(!u.is_secure());
        let u = WsUrl::parse("wss://a.b:8443").unwrap();
        assert_eq!((u.port(), u.resource(), u.is_secure()), (8443, "/", true));
        assert_eq!(u.to_string(), "wss://a.b:8443/");
        let u = WsUrl::parse("ws://[::1]:9001/x").unwrap();
        assert_eq!((u.host(), u.port(), u.resource()), ("::1", 9001, "/x"));
        assert_eq!(u.host_header(), "[::1]:9001");
        let u = WsUrl::parse("https://h?q").unwrap();
        assert_eq!((u.port(), u.resource()), (443, "/?q"));
        assert_eq!(WsUrl::parse("ws://h:80/").unwrap().host_header(), "h");
    }

    #[test]
    fn errors() {
        assert_eq!(WsUrl::parse("ftp://h/"), Err(UrlError::BadScheme));
        assert_eq!(WsUrl::parse("h/x"), Err(UrlError::BadScheme));
        assert_eq!(WsUrl::parse("ws:///x"), Err(UrlError::MissingHost));
        assert_eq!(WsUrl::parse("ws://:80/x"), Err(UrlError::MissingHost));
        assert_eq!(WsUrl::parse("ws://h:/x"), Err(UrlError::BadPort));
        assert_eq!(WsUrl::parse("ws://h:0/x"), Err(UrlError::BadPort));
        assert_eq!(WsUrl::parse("ws://h:65536/x"), Err(UrlError::BadPort));
        assert_eq!(WsUrl::parse("ws://h:8a/x"), Err(UrlError::BadPort));
        assert_eq!(WsUrl::parse("ws://h/x#f"), Err(UrlError::Fragment));
        assert_eq!(WsUrl::parse("ws://u@h/x"), Err(UrlError::Userinfo));
        assert_eq!(WsUrl::parse("ws://h/a b"), Err(UrlError::BadChar));
        assert_eq!(WsUrl::parse("ws://h!/"), Err(UrlError::BadHost));
        assert_eq!(WsUrl::parse("ws://[::g]/"), Err(UrlError::BadHost));
        assert_eq!(WsUrl::parse("ws://[::1/"), Err(UrlError::BadHost));
        assert_eq!(WsUrl::parse("ws://[::1]x/"), Err(UrlError::BadPort));
    }
}

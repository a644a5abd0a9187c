//! Which HTTP proxy a client tunnels through: `http_proxy` for `ws://`,
//! `https_proxy` for `wss://` (lower case first, then upper case, as curl
//! does), minus the hosts in `no_proxy`. The tunnel itself is
//! [`http_upgrade::ProxyConnect`], run by the [`Driver`](crate::Driver).

use http_upgrade::{Limits, ProxyConnect, WsUrl};

use crate::{Error, ErrorKind};

/// Where a client's proxy setting comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxySetting {
    /// `http_proxy` / `https_proxy` / `no_proxy` and their upper-case forms.
    #[default]
    FromEnv,
    /// Never use a proxy.
    Direct,
    /// Always this proxy (`http://[user:password@]host[:port]`).
    Url(String),
}

/// An HTTP proxy to `CONNECT` through.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proxy {
    /// The proxy's host.
    pub host: String,
    /// The proxy's port (default 80, as curl for `http://`).
    pub port: u16,
    /// `Proxy-Authorization: Basic` credentials.
    pub auth: Option<(String, String)>,
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

impl ProxySetting {
    /// The proxy for `url`, if any.
    pub fn for_url(&self, url: &WsUrl) -> Result<Option<Proxy>, Error> {
        match self {
            ProxySetting::Direct => Ok(None),
            ProxySetting::Url(u) => Proxy::parse(u).map(Some),
            ProxySetting::FromEnv => {
                let names: &[&str] = if url.is_secure() {
                    &["https_proxy", "HTTPS_PROXY"]
                } else {
                    &["http_proxy", "HTTP_PROXY"]
                };
                let Some(value) = env(names) else {
                    return Ok(None);
                };
                let no_proxy = env(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
                if bypasses(&no_proxy, url.host()) {
                    return Ok(None);
                }
                Proxy::parse(&value).map(Some)
            }
        }
    }
}

/// True if `host` matches an entry of a `no_proxy` list: `*`, the host
/// itself, or a domain suffix (`example.com` and `.example.com` both cover
/// `www.example.com`). A `:port` on an entry is ignored.
pub fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    no_proxy.split([',', ' ']).any(|entry| {
        let entry = entry.trim();
        let entry = match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => h,
            _ => entry,
        };
        let entry = entry.trim_start_matches("*.").trim_start_matches('.');
        let entry = entry.trim_start_matches('[').trim_end_matches(']');
        if entry == "*" {
            return true;
        }
        !entry.is_empty()
            && (host.eq_ignore_ascii_case(entry)
                || host.len() > entry.len()
                    && host
                        .to_ascii_lowercase()
                        .ends_with(&entry.to_ascii_lowercase())
                    && host.as_bytes().get(host.len() - entry.len() - 1) == Some(&b'.'))
    })
}

impl Proxy {
    /// A proxy at `host:port`, without credentials.
    pub fn new(host: impl Into<String>, port: u16) -> Proxy {
        Proxy {
            host: host.into(),
            port,
            auth: None,
        }
    }

    /// With `Proxy-Authorization: Basic` credentials.
    #[must_use]
    pub fn with_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Proxy {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Parses `[http://][user:password@]host[:port][/]`.
    pub fn parse(value: &str) -> Result<Proxy, Error> {
        let bad = || Error::from(ErrorKind::ProxyConfig(value.to_owned()));
        let rest = match value.split_once("://") {
            Some(("http" | "HTTP", rest)) => rest,
            Some(_) => return Err(bad()),
            None => value,
        };
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((u.to_owned(), p.to_owned())), hp)
            }
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, p.parse().map_err(|_| bad())?),
            _ => (hostport, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        Ok(Proxy {
            host: host.to_owned(),
            port,
            auth,
        })
    }

    /// The `CONNECT` machine for `url`'s host and port.
    pub fn connect_to(&self, url: &WsUrl) -> Result<ProxyConnect, Error> {
        let auth = self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        ProxyConnect::new(url.host(), url.port(), auth, Limits::default())
            .map_err(|e| ErrorKind::Proxy(e).into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://u:pw@proxy.local:3128/").unwrap();
        assert_eq!(p.host, "proxy.local");
        assert_eq!(p.port, 3128);
        assert_eq!(p.auth, Some(("u".into(), "pw".into())));
        assert_eq!(Proxy::parse("10.0.0.1").unwrap().port, 80);
        assert_eq!(Proxy::parse("[::1]:8080").unwrap().host, "::1");
        assert!(Proxy::parse("socks5://x:1").is_err());
        assert!(Proxy::parse("http://:1").is_err());
    }

    #[test]
    fn no_proxy_matching() {
        assert!(bypasses("*", "anything"));
        assert!(bypasses("localhost, .example.com", "www.example.com"));
        assert!(bypasses("example.com", "example.com"));
        assert!(bypasses("example.com:443", "a.EXAMPLE.com"));
        assert!(!bypasses("example.com", "badexample.com"));
        assert!(bypasses("127.0.0.1", "127.0.0.1"));
        assert!(bypasses("::1", "[::1]"));
        assert!(!bypasses("", "host"));
    }
}

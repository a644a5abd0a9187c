//! The client behind a reverse proxy: `X-Forwarded-For` from proxies the
//! server is told to trust ([`ServerOptions::with_trusted_proxies`]).
//!
//! A connection from a trusted proxy (nginx, HAProxy, a cloud load
//! balancer) skips the address filter at accept; each request it carries
//! names its client in `X-Forwarded-For`, a comma-separated list that
//! every proxy on the way appends its own peer to. The client is the
//! rightmost address that is not a trusted proxy (what a client writes
//! itself is to the left of what the first trusted proxy appended, so it
//! is never believed). That address becomes the connection's
//! [`peer`](crate::Driver::peer) (port 0: the header has none) and goes
//! through the [filter][`ServerOptions::with_filter`]: refused, the request
//! gets `403`. A list the server cannot read gets `400`. Without the
//! field the proxy itself is the client.
//!
//! [`ServerOptions::with_trusted_proxies`]: crate::ServerOptions::with_trusted_proxies
//! [`ServerOptions::with_filter`]: crate::ServerOptions::with_filter

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_upgrade::{Headers, Response};

/// Which peers are trusted proxies.
pub(crate) type TrustFn = dyn Fn(IpAddr) -> bool + Send + Sync;
/// The server's address filter.
pub(crate) type FilterFn = dyn Fn(SocketAddr) -> bool + Send + Sync;

/// Addresses read from `X-Forwarded-For` at most (a longer list is refused).
pub const MAX_HOPS: usize = 32;

/// What a connection from a trusted proxy needs to find and filter its
/// requests' clients.
pub(crate) struct Forwarded {
    /// The proxy's address (the socket's peer).
    pub(crate) proxy: SocketAddr,
    pub(crate) trust: Arc<TrustFn>,
    pub(crate) filter: Option<Arc<FilterFn>>,
}

/// Why a request's client is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The list has an entry that is not an address, or too many.
    Malformed,
    /// The filter refused the client.
    Filtered(SocketAddr),
}

impl Refusal {
    /// The answer to the request.
    pub(crate) fn response(&self) -> Response {
        match self {
            Refusal::Malformed => Response::new(400).body("malformed X-Forwarded-For\n"),
            Refusal::Filtered(_) => Response::new(403).body("Forbidden\n"),
        }
    }
}

/// One entry of the list: an IPv4 or IPv6 address, optionally with a
/// port (`1.2.3.4:80`, `[::1]:80`) or in brackets (`[::1]`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

impl Forwarded {
    /// The client of a request from the trusted proxy: the
    /// rightmost untrusted address of its `X-Forwarded-For` fields (the
    /// leftmost if all are trusted), else the proxy; then the filter.
    pub(crate) fn client(&self, headers: &Headers) -> Result<SocketAddr, Refusal> {
        let mut hops = Vec::new();
        for field in headers.get_all("x-forwarded-for") {
            let field = std::str::from_utf8(field).map_err(|_| Refusal::Malformed)?;
            for hop in field.split(',') {
                if hop.trim().is_empty() {
                    continue;
                }
                if hops.len() == MAX_HOPS {
                    return Err(Refusal::Malformed);
                }
                hops.push(parse_hop(hop).ok_or(Refusal::Malformed)?);
            }
        }
        let client = match hops.iter().rev().find(|ip| !(self.trust)(**ip)) {
            Some(ip) => SocketAddr::new(*ip, 0),
            None => hops
                .first()
                .map_or(self.proxy, |ip| SocketAddr::new(*ip, 0)),
        };
        match &self.filter {
            Some(f) if !f(client) => Err(Refusal::Filtered(client)),
            _ => Ok(client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(filter: Option<Arc<FilterFn>>) -> Forwarded {
        let trust: Arc<TrustFn> = Arc::new(|ip: IpAddr| ip.is_loopback());
        Forwarded {
            proxy: PROXY.parse().unwrap(),
            trust,
            filter,
        }
    }

    fn headers(fields: &[&str]) -> Headers {
        let mut h = Headers::new();
        for f in fields {
            h.push("X-Forwarded-For", f.as_bytes().to_vec());
        }
        h
    }

    const PROXY: &str = "127.0.0.1:40000";

    fn client(f: &Forwarded, fields: &[&str]) -> Result<SocketAddr, Refusal> {
        f.client(&headers(fields))
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let f = forwarded(None);
        let ok = |s: &str| Ok(SocketAddr::new(s.parse().unwrap(), 0));
        assert_eq!(client(&f, &["203.0.113.7"]), ok("203.0.113.7"));
        // What the client wrote itself (the left) is not believed.
        assert_eq!(client(&f, &["10.9.9.9, 203.0.113.7"]), ok("203.0.113.7"));
        // Trusted proxies on the way are skipped, across fields.
        assert_eq!(
            client(&f, &["198.51.100.1", "203.0.113.7, 127.0.0.2"]),
            ok("203.0.113.7")
        );
        assert_eq!(client(&f, &["[2001:db8::1]:4711"]), ok("2001:db8::1"));
        assert_eq!(client(&f, &["2001:db8::2"]), ok("2001:db8::2"));
        assert_eq!(client(&f, &["[2001:db8::3]"]), ok("2001:db8::3"));
        assert_eq!(client(&f, &["192.0.2.1:80"]), ok("192.0.2.1"));
        // Only proxies: the first of them; no field: the proxy.
        assert_eq!(client(&f, &["127.0.0.5, 127.0.0.6"]), ok("127.0.0.5"));
        assert_eq!(client(&f, &[]), Ok(PROXY.parse().unwrap()));
        assert_eq!(client(&f, &[" , "]), Ok(PROXY.parse().unwrap()));
    }

    #[test]
    fn unreadable_lists_are_refused() {
        let f = forwarded(None);
        for bad in [
            "unknown",
            "1.2.3",
            "203.0.113.7, evil",
            "[::1",
            "::1]:80",
            "1.2.3.4:99999",
        ] {
            assert_eq!(client(&f, &[bad]), Err(Refusal::Malformed), "{bad}");
        }
        let long = vec!["203.0.113.7"; MAX_HOPS + 1].join(",");
        assert_eq!(client(&f, &[&long]), Err(Refusal::Malformed));
        let mut h = Headers::new();
        h.push("X-Forwarded-For", vec![0xff, 0xfe]);
        assert_eq!(f.client(&h), Err(Refusal::Malformed));
        assert_eq!(Refusal::Malformed.response().status(), 400);
    }

    #[test]
    fn the_filter_sees_the_client() {
        let no_doc: Arc<FilterFn> = Arc::new(|a: SocketAddr| a.ip().to_string() != "203.0.113.7");
        let f = forwarded(Some(no_doc));
        let refused = client(&f, &["203.0.113.7"]).unwrap_err();
        assert_eq!(refused, Refusal::Filtered("203.0.113.7:0".parse().unwrap()));
        assert_eq!(refused.response().status(), 403);
        assert!(client(&f, &["203.0.113.8"]).is_ok());
    }
}

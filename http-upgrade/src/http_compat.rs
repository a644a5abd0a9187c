//! Conversions to and from the [`http`] crate (v1), the types of
//! hyper, axum and most Rust HTTP stacks (feature `http`).
//!
//! | from | to | notes |
//! |---|---|---|
//! | `&http::request::Parts`, `&http::Request<B>` | [`HttpRequest`] | a host server's parsed request, for [`HostedUpgrade::new`](crate::HostedUpgrade::new) |
//! | [`Response`] | `http::Response<Bytes>` | the `101` of [`HostedUpgrade::accept`](crate::HostedUpgrade::accept), [`error_response`](crate::error_response) |
//! | `&http::HeaderMap` | [`Headers`] | never fails |
//! | `&Headers` | `http::HeaderMap` | |
//! | `&http::Uri` | [`WsUrl`] | absolute `ws`, `wss`, `http`, `https` URIs |
//! | `http::Request<()>` | [`ClientRequest`] | a request built with `http::Request::builder()` |
//! | `&Handshake` | `http::Response<()>` | a client's view of the `101` |
//!
//! Request heads from the peer fail with the [`Error`] a server machine
//! would report (so [`error_response`](crate::error_response) answers
//! them); values of our own that the other type cannot hold fail with a
//! [`MisuseError`].
//!
//! ```
//! use http_upgrade::{Accept, HostedUpgrade, HttpRequest, ServerConfig};
//! # use http_upgrade::testing::SplitMix;
//! let request = http::Request::get("/chat")
//!     .header("Host", "example.com")
//!     .header("Upgrade", "websocket")
//!     .header("Connection", "Upgrade")
//!     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .header("Sec-WebSocket-Version", "13")
//!     .body(())
//!     .unwrap();
//! let upgrade = HostedUpgrade::new(HttpRequest::try_from(&request)?, &ServerConfig::default())?;
//! let accept = Accept::for_request(upgrade.request());
//! # let mut rng = SplitMix::new(1);
//! let (_handshake, response) = upgrade.accept(accept, &mut rng)?;
//! let response = http::Response::<bytes::Bytes>::try_from(response)?;
//! assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
//! assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! # Ok::<(), http_upgrade::Error>(())
//! ```

use alloc::format;
use alloc::string::String;

use ::http::header::{HeaderName, HeaderValue};
use ::http::{HeaderMap, Method, StatusCode, Uri, Version};
use bytes::Bytes;

use crate::error::{Error, HttpPeerError, MisuseError};
use crate::extensions::parse_extensions;
use crate::grammar::{parse_token_list, trim_ows};
use crate::handshake::Handshake;
use crate::http::{Headers, HttpRequest};
use crate::response::{Body, Response};
use crate::url::{UrlError, WsUrl};
use crate::{ClientRequest, Dialect};

/// A host server's parsed request head: method, request target (the URI's
/// path and query, `/` if it has none, RFC 7230 §5.3), HTTP/1.0 as minor
/// version 0 and HTTP/1.1 as 1, the header fields (see
/// [`Headers`]' `From<&HeaderMap>`), an empty body.
///
/// Any other HTTP version fails with [`HttpPeerError::HttpVersion`]
/// (status 400): the upgrade of RFC 6455 §4.1 is HTTP/1.1's (over HTTP/2
/// and HTTP/3 a WebSocket is an extended CONNECT, RFC 8441 §4, RFC 9220
/// §3, which this crate does not speak yet).
impl TryFrom<&::http::request::Parts> for HttpRequest {
    type Error = Error;
    fn try_from(parts: &::http::request::Parts) -> Result<HttpRequest, Error> {
        request_head(&parts.method, &parts.uri, parts.version, &parts.headers)
    }
}

/// As `TryFrom<&http::request::Parts>`; the body is not looked at.
impl<B> TryFrom<&::http::Request<B>> for HttpRequest {
    type Error = Error;
    fn try_from(req: &::http::Request<B>) -> Result<HttpRequest, Error> {
        request_head(req.method(), req.uri(), req.version(), req.headers())
    }
}

fn request_head(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
) -> Result<HttpRequest, Error> {
    let minor_version = match version {
        Version::HTTP_10 => 0,
        Version::HTTP_11 => 1,
        _ => return Err(HttpPeerError::HttpVersion.into()),
    };
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = if target.is_empty() { "/" } else { target };
    Ok(HttpRequest::new(
        method.as_str(),
        target,
        minor_version,
        Headers::from(headers),
    ))
}

/// Every field, in the order [`HeaderMap::iter`] yields them (the values of
/// one name together, in their order, which is the order that matters,
/// RFC 7230 §3.2.2); names lowercase as the map keeps them; values without
/// surrounding whitespace (RFC 7230 §3.2.4), as the server machine keeps
/// them.
impl From<&HeaderMap> for Headers {
    fn from(map: &HeaderMap) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in map {
            headers.push(name.as_str(), trim_ows(value.as_bytes()));
        }
        headers
    }
}

/// Every field, in order. Fails with [`MisuseError::InvalidHeader`] on a
/// name that is not a token or a value with control characters (RFC 7230
/// §3.2), which only fields added with [`Headers::push`] can have.
impl TryFrom<&Headers> for HeaderMap {
    type Error = Error;
    fn try_from(headers: &Headers) -> Result<HeaderMap, Error> {
        let mut map = HeaderMap::new();
        for (name, value) in headers.iter() {
            let bad = || {
                let v = String::from_utf8_lossy(value);
                MisuseError::InvalidHeader(format!("{name}: {v}"))
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let v = HeaderValue::from_bytes(value).map_err(|_| bad())?;
            map.try_append(n, v).map_err(|_| bad())?;
        }
        Ok(map)
    }
}

/// The response for a host server to send: status, header fields in
/// order, the full body (none for the statuses that have none: 1xx, 204,
/// 304, RFC 7230 §3.3.3). The reason phrase is dropped (the `http` crate
/// has none); `Content-Length` and `Connection` are left to the host
/// server, which frames the body itself.
///
/// Fails with [`MisuseError::Unconvertible`] for a
/// [streamed](Response::streamed) body (send its chunks through the host's
/// own body type) and [`MisuseError::InvalidHeader`] for a status outside
/// 100-999 or a field the `http` crate refuses (as sending it would).
impl TryFrom<Response> for ::http::Response<Bytes> {
    type Error = Error;
    fn try_from(r: Response) -> Result<::http::Response<Bytes>, Error> {
        let status = StatusCode::from_u16(r.status())
            .map_err(|_| MisuseError::InvalidHeader(format!("status {}", r.status())))?;
        let bodyless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let body = match r.body_ref() {
            Body::Streamed(_) => return Err(MisuseError::Unconvertible("a streamed body").into()),
            Body::Full(_) if bodyless => Bytes::new(),
            Body::Full(b) => b.clone(),
        };
        let mut map = HeaderMap::new();
        for (name, value) in r.headers() {
            let bad = || MisuseError::InvalidHeader(format!("{name}: {value}"));
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let v = HeaderValue::from_str(value).map_err(|_| bad())?;
            map.try_append(n, v).map_err(|_| bad())?;
        }
        let mut out = ::http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = map;
        Ok(out)
    }
}

/// An absolute URI with scheme `ws`, `wss`, `http` or `https` and a host
/// (RFC 6455 §3), checked as [`WsUrl::parse`] checks a string: no userinfo,
/// a port from 1 to 65535. A relative URI fails with
/// [`UrlError::BadScheme`] or [`UrlError::MissingHost`].
impl TryFrom<&Uri> for WsUrl {
    type Error = UrlError;
    fn try_from(uri: &Uri) -> Result<WsUrl, UrlError> {
        let scheme = uri.scheme_str().ok_or(UrlError::BadScheme)?;
        let authority = uri.authority().ok_or(UrlError::MissingHost)?;
        let tail = uri.path_and_query().map_or("", |pq| pq.as_str());
        WsUrl::parse(&format!("{scheme}://{authority}{tail}"))
    }
}

/// A client request written with the `http` crate's builder, e.g.
/// `http::Request::get("wss://example.com/chat").header(..).body(())`:
///
/// * the URI must be absolute (see `TryFrom<&Uri> for WsUrl`), the method
///   `GET` and the version HTTP/1.1 (RFC 6455 §4.1 item 2);
/// * `Sec-WebSocket-Protocol` values become [`ClientRequest::protocols`],
///   `Sec-WebSocket-Extensions` values [`ClientRequest::extensions`]
///   (parsed as RFC 6455 §9.1 lists), `Origin` (or `Sec-WebSocket-Origin`,
///   at most one of them) [`ClientRequest::origin`];
/// * `Sec-WebSocket-Version` picks the dialect: 13 is RFC 6455, 8, 7, 6, 5
///   and 4 the hybi drafts, absent means 13 (hixie-76 has no version: set
///   [`ClientRequest::dialect`] afterwards);
/// * `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key` (and hixie-76's
///   `Key1`/`Key2`) are dropped: the handshake writes them from the URL
///   and fresh keys (RFC 6455 §4.1 items 4-7);
/// * every other field goes to [`ClientRequest::headers`], name lowercase.
///
/// Fails with [`MisuseError::Url`], [`MisuseError::Unconvertible`] (method,
/// version) or [`MisuseError::InvalidHeader`] (a list that does not parse,
/// an unknown version, two origins, a value that is not UTF-8).
impl TryFrom<::http::Request<()>> for ClientRequest {
    type Error = Error;
    fn try_from(req: ::http::Request<()>) -> Result<ClientRequest, Error> {
        if req.method() != Method::GET {
            return Err(MisuseError::Unconvertible("a method other than GET").into());
        }
        if req.version() != Version::HTTP_11 {
            return Err(MisuseError::Unconvertible("an HTTP version other than 1.1").into());
        }
        let url = WsUrl::try_from(req.uri()).map_err(MisuseError::Url)?;
        let mut out = ClientRequest::from_url(url);
        let mut version = None;
        for (name, value) in req.headers() {
            let bad = || {
                let v = String::from_utf8_lossy(value.as_bytes());
                MisuseError::InvalidHeader(format!("{name}: {v}"))
            };
            let v = value.as_bytes();
            match name.as_str() {
                "host" | "upgrade" | "connection" | "sec-websocket-key" | "sec-websocket-key1"
                | "sec-websocket-key2" => {}
                "sec-websocket-protocol" => {
                    parse_token_list([v], &mut out.protocols).map_err(|_| bad())?;
                }
                "sec-websocket-extensions" => {
                    parse_extensions([v], &mut out.extensions).map_err(|_| bad())?;
                }
                "origin" | "sec-websocket-origin" if out.origin.is_none() => {
                    let o = value.to_str().map_err(|_| bad())?;
                    out.origin = Some(String::from(o.trim()));
                }
                "origin" | "sec-websocket-origin" => return Err(bad().into()),
                "sec-websocket-version" if version.is_none() => {
                    version = Some(dialect_of(v).ok_or_else(bad)?);
                }
                "sec-websocket-version" => return Err(bad().into()),
                _ => {
                    let v = value.to_str().map_err(|_| bad())?;
                    out.headers
                        .push((String::from(name.as_str()), String::from(v)));
                }
            }
        }
        out.dialect = version.unwrap_or(Dialect::Rfc6455);
        Ok(out)
    }
}

/// The dialect a `Sec-WebSocket-Version` value names (RFC 6455 §4.1 item
/// 9, §4.4), if we speak it.
fn dialect_of(v: &[u8]) -> Option<Dialect> {
    let digits = trim_ows(v);
    let ok = !digits.is_empty() && digits.len() <= 3 && digits.iter().all(u8::is_ascii_digit);
    let n = core::str::from_utf8(digits).ok().filter(|_| ok)?;
    n.parse::<u8>().ok().and_then(Dialect::from_version)
}

/// A client's view of the server's `101 Switching Protocols` (RFC 6455
/// §4.2.2 step 5): status 101 and the response's header fields, which a
/// client [`Handshake`] keeps in [`Handshake::headers`]. A server's
/// handshake keeps none (its `101` is the [`Response`] of
/// [`HostedUpgrade::accept`](crate::HostedUpgrade::accept)), so it
/// converts to a bare `101`. Fails as `TryFrom<&Headers> for HeaderMap`.
impl TryFrom<&Handshake> for ::http::Response<()> {
    type Error = Error;
    fn try_from(hs: &Handshake) -> Result<::http::Response<()>, Error> {
        let mut out = ::http::Response::new(());
        *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *out.headers_mut() = HeaderMap::try_from(&hs.headers)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(dialect_of(b"13"), Some(Dialect::Rfc6455));
        assert_eq!(dialect_of(b" 4 "), Some(Dialect::Hybi04));
        for bad in [&b""[..], b"9", b"013x", b"1300", b"+13", b"0"] {
            assert_eq!(dialect_of(bad), None, "{bad:?}");
        }
    }
}

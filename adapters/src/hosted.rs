//! WebSockets behind a host HTTP server (hyper, axum, any server that
//! parses requests itself and hands over the connection after a `101`):
//! [`upgrade`] checks the request the host parsed (RFC 6455 §4.2.1, the
//! same checks and limits as our own handshake machine), asks the server's
//! [`Policy`](crate::Policy), negotiates the extensions (permessage-deflate
//! and the rest, as usual) and returns the `101` for the host to send,
//! with an [`Upgrading`] that runs the session on the upgraded stream.
//!
//! With the `http` feature, [`upgrade_http`] takes an `http::Request` and
//! answers with an `http::Response`, which is what hyper and axum speak:
//!
//! ```no_run
//! # #[cfg(all(feature = "http", feature = "tokio"))]
//! # async fn handler(
//! #     mut req: http::Request<()>,
//! #     options: std::sync::Arc<ws_adapters::ServerOptions>,
//! #     on_upgrade: impl std::future::Future<Output = std::io::Result<tokio::io::DuplexStream>>
//! #         + Send + 'static,
//! # ) -> http::Response<bytes::Bytes> {
//! use ws_adapters::hosted;
//!
//! match hosted::upgrade_http(&req, None, &options) {
//!     Ok((response, upgrading)) => {
//!         // hyper: `let on_upgrade = hyper::upgrade::on(&mut req);`, and
//!         // the stream through `hyper_util::rt::TokioIo::new(upgraded)`.
//!         tokio::spawn(async move {
//!             let mut ws = upgrading.tokio(on_upgrade.await.unwrap());
//!             while let Ok(Some(event)) = ws.recv().await {
//!                 if let Some(msg) = event.into_message() {
//!                     let _ = ws.send(msg).await;
//!                 }
//!             }
//!         });
//!         response
//!     }
//!     Err(refused) => refused.http_response(),
//! }
//! # }
//! ```
//!
//! What the host does and we do not: TLS, the connection limit and the
//! address filter of our own listeners (pass the peer address to apply
//! [`ServerOptions::filter`](crate::ServerOptions)), the handshake timeout,
//! plain HTTP requests (routing is the host's). Hixie-76 cannot run behind
//! a host server (its answer has a body after the `101`): it is refused
//! with `426`, as by a server that does not offer it.

use std::net::SocketAddr;

use http_upgrade::{
    ConnectUpgrade, Handshake, Headers, HostedUpgrade, HttpRequest, Response,
    connect_error_response, error_response,
};
use ws_proto::session::Session;

use crate::{Clock, Driver, Error, ErrorKind, ServerOptions};

/// An upgrade refused: why, and the response for the host to send.
#[derive(Debug)]
#[non_exhaustive]
pub struct Refused {
    /// Why (a peer error with its status, the policy's refusal, the
    /// memory budget).
    pub error: Error,
    /// The response to send (status, headers such as
    /// `Sec-WebSocket-Version` for a `426`, a short text body).
    pub response: Response,
}

impl Refused {
    /// The response as an `http::Response` (feature `http`).
    #[cfg(feature = "http")]
    pub fn http_response(&self) -> http::Response<bytes::Bytes> {
        to_http(self.response.clone())
    }
}

/// An accepted upgrade: the open session, waiting for the upgraded stream.
#[derive(Debug)]
pub struct Upgrading {
    driver: Driver,
}

impl Upgrading {
    /// What was negotiated (subprotocol, extensions, dialect, target).
    pub fn handshake(&self) -> Option<&Handshake> {
        self.driver.negotiated()
    }

    /// Runs the session on the upgraded stream, on tokio (hyper's
    /// `Upgraded` through `hyper_util::rt::TokioIo`).
    #[cfg(feature = "tokio")]
    pub fn tokio<S>(self, stream: S) -> crate::tokio::WebSocket<S>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        crate::AsyncWebSocket::from_driver(crate::tokio::Tokio(stream), self.driver)
    }

    /// Runs the session on the upgraded stream, on async-io / smol (a
    /// `futures_io` stream).
    #[cfg(feature = "smol")]
    pub fn smol<S>(self, stream: S) -> crate::smol::WebSocket<S>
    where
        S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
    {
        crate::AsyncWebSocket::from_driver(crate::smol::Smol(stream), self.driver)
    }

    /// The driver, to run in a loop of your own ([`Driver::turn`]).
    pub fn into_driver(self) -> Driver {
        self.driver
    }
}

/// Checks and answers an upgrade request a host server parsed, by
/// `options` (handshake settings, session settings and negotiators,
/// policy, memory budget; the filter if `peer` is known). `Ok`: the `101`
/// to send and the session to run once the host hands over the stream.
pub fn upgrade(
    request: HttpRequest,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Result<(Response, Upgrading), Refused> {
    admit(peer, options)?;
    let hosted = HostedUpgrade::new(request, &options.http).map_err(|e| {
        let response = error_response(&e, &options.http);
        refuse(
            peer,
            ws_proto::session::SessionError::from(e).into(),
            response,
        )
    })?;
    let accept = decide(hosted.request(), peer, options)?;
    let clock = Clock::new();
    let (session, response) = Session::server_hosted(
        options.session.clone(),
        hosted,
        accept,
        &mut rand::rng(),
        clock.now(),
    )
    .map_err(|e| internal(peer, e))?;
    Ok((response, upgrading(session, clock, peer, options)))
}

/// Checks and answers a WebSocket request over an HTTP/2 or HTTP/3 stream
/// (extended CONNECT, RFC 8441 §4–5, RFC 9220 §3): `fields` are the
/// stream's request fields, pseudo-header fields first
/// ([`ConnectUpgrade::new`] says what is checked), answered by `options`
/// as [`upgrade`] answers an HTTP/1.1 upgrade (filter, memory budget,
/// policy, negotiators, the policy's per-upgrade connection settings).
/// `Ok`: the `200` to send on the stream (not ending it) and the session
/// to run on the stream's bytes. A refusal's response is
/// [`connect_error_response`]'s (lowercase fields, nothing
/// connection-specific).
pub fn connect_upgrade(
    fields: Headers,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Result<(Response, Upgrading), Refused> {
    admit(peer, options)?;
    let upgrade = ConnectUpgrade::new(fields, &options.http).map_err(|e| {
        let response = connect_error_response(&e);
        refuse(
            peer,
            ws_proto::session::SessionError::from(e).into(),
            response,
        )
    })?;
    let accept = decide(upgrade.request(), peer, options)?;
    let connection = options.policy.connection_config(upgrade.request(), &accept);
    let clock = Clock::new();
    let (session, response) = Session::server_connect(
        options.session.clone(),
        upgrade,
        accept,
        connection,
        clock.now(),
    )
    .map_err(|e| internal(peer, e))?;
    Ok((response, upgrading(session, clock, peer, options)))
}

fn refuse(peer: Option<SocketAddr>, error: Error, response: Response) -> Refused {
    Refused {
        error: error.with_peer(peer),
        response,
    }
}

/// The address filter (when the peer is known): 403.
fn admit(peer: Option<SocketAddr>, options: &ServerOptions) -> Result<(), Refused> {
    match peer {
        Some(p) if !options.admits(p) => Err(refuse(
            peer,
            ErrorKind::Rejected(403).into(),
            Response::new(403).body("Forbidden\n"),
        )),
        _ => Ok(()),
    }
}

/// The memory budget (503 over its hard limit), then the policy.
fn decide(
    req: &http_upgrade::UpgradeRequest,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Result<http_upgrade::Accept, Refused> {
    if let Some(b) = options.budget.as_ref().filter(|b| b.over_hard()) {
        b.note_refused();
        log::warn!("{peer:?}: upgrade refused (503), over the memory budget");
        return Err(refuse(
            peer,
            ErrorKind::Rejected(503).into(),
            Response::new(503).header("Retry-After", "5"),
        ));
    }
    options.policy.upgrade(req, peer).map_err(|response| {
        let status = response.status();
        refuse(peer, ErrorKind::Rejected(status).into(), response)
    })
}

fn internal(peer: Option<SocketAddr>, e: ws_proto::session::SessionError) -> Refused {
    let response = Response::new(500).body("Internal Server Error\n");
    refuse(peer, e.into(), response)
}

fn upgrading(
    session: Session,
    clock: Clock,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Upgrading {
    let mut driver = Driver::new(session, clock, peer);
    if let Some(b) = &options.budget {
        driver = driver.with_budget(b.ticket());
    }
    Upgrading { driver }
}

/// [`upgrade`] for an `http::Request` (hyper, axum): the `101` or the
/// refusal as an `http::Response`.
#[cfg(feature = "http")]
pub fn upgrade_http<B>(
    request: &http::Request<B>,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Result<(http::Response<bytes::Bytes>, Upgrading), Refused> {
    let parsed = HttpRequest::try_from(request).map_err(|e| Refused {
        response: error_response(&e, &options.http),
        error: Error::from(ws_proto::session::SessionError::from(e)).with_peer(peer),
    })?;
    let (response, upgrading) = upgrade(parsed, peer, options)?;
    Ok((to_http(response), upgrading))
}

/// [`connect_upgrade`] for an `http::Request` a host HTTP/2 server
/// parsed (hyper with `http2().enable_connect_protocol()`, axum on it):
/// `protocol` is the request's `:protocol` pseudo-header, which the host
/// keeps in an extension of its own (hyper:
/// `req.extensions().get::<hyper::ext::Protocol>().map(|p| p.as_str())`).
/// `Ok`: the `200` for the host to send (it keeps the stream open) and
/// the session to run on the upgraded stream (hyper:
/// `hyper::upgrade::on(&mut req)`, through `hyper_util::rt::TokioIo`).
#[cfg(feature = "http")]
pub fn connect_upgrade_http<B>(
    request: &http::Request<B>,
    protocol: Option<&str>,
    peer: Option<SocketAddr>,
    options: &ServerOptions,
) -> Result<(http::Response<bytes::Bytes>, Upgrading), Refused> {
    let fields = connect_fields(request.method(), request.uri(), protocol, request.headers());
    let (response, upgrading) = connect_upgrade(fields, peer, options)?;
    Ok((to_http(response), upgrading))
}

/// The request's fields as an HTTP/2 or HTTP/3 library decoded them:
/// pseudo-header fields first (RFC 9113 §8.3), then the others.
#[cfg(feature = "http")]
pub(crate) fn connect_fields(
    method: &http::Method,
    uri: &http::Uri,
    protocol: Option<&str>,
    headers: &http::HeaderMap,
) -> Headers {
    let mut h = Headers::new();
    h.push(":method", method.as_str());
    if let Some(p) = protocol {
        h.push(":protocol", p);
    }
    if let Some(s) = uri.scheme_str() {
        h.push(":scheme", s);
    }
    if let Some(pq) = uri.path_and_query() {
        h.push(":path", pq.as_str());
    }
    if let Some(a) = uri.authority() {
        h.push(":authority", a.as_str());
    }
    for (name, value) in headers {
        h.push(name.as_str(), value.as_bytes());
    }
    h
}

#[cfg(feature = "http")]
fn to_http(response: Response) -> http::Response<bytes::Bytes> {
    http::Response::try_from(response).unwrap_or_else(|e| {
        log::error!("response not convertible: {e}");
        let mut r = http::Response::new(bytes::Bytes::new());
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

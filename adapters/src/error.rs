//! The adapters' error type.

use std::io;
use std::net::SocketAddr;

use ws_proto::session::SessionError;

/// What went wrong while driving a WebSocket over a socket.
///
/// Errors raised while serving or talking to a known peer come wrapped in
/// [`Error::Peer`]; [`root`](Error::root) unwraps them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The handshake or the WebSocket connection failed (see its close code
    /// or HTTP status).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A client's server answered with a redirect.
    #[error("redirected ({status}) to {location}")]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header.
        location: String,
    },
    /// A client's server refused the upgrade.
    #[error("the server refused the upgrade with status {0}")]
    Rejected(u16),
    /// The connection is over; nothing more can be sent or received.
    #[error("the connection is closed")]
    Closed,
    /// The URL's host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The HTTP proxy refused the `CONNECT` or answered badly.
    #[error("proxy: {0}")]
    Proxy(http_upgrade::Error),
    /// A proxy setting (`http_proxy`, ...) could not be understood.
    #[error("bad proxy setting {0:?}")]
    ProxyConfig(String),
    /// TLS failed (certificate, handshake, or a TLS alert).
    #[cfg(feature = "tls")]
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// A `wss://` URL without a TLS configuration, a bad server name, or a
    /// certificate or key that could not be loaded.
    #[error("tls setup: {0}")]
    TlsConfig(String),
    /// An operation did not finish in time (connect, handshake).
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The error `source`, on the connection with `peer`.
    #[error("{peer}: {source}")]
    Peer {
        /// The remote address.
        peer: SocketAddr,
        /// What happened.
        source: Box<Error>,
    },
}

impl Error {
    /// The error without its [`Error::Peer`] wrapping.
    pub fn root(&self) -> &Error {
        match self {
            Error::Peer { source, .. } => source.root(),
            e => e,
        }
    }

    /// The peer the error happened with, if known.
    pub fn peer(&self) -> Option<SocketAddr> {
        match self {
            Error::Peer { peer, .. } => Some(*peer),
            _ => None,
        }
    }

    /// Wraps `self` with the peer address (once).
    pub fn at(self, peer: Option<SocketAddr>) -> Error {
        match (peer, self) {
            (_, e @ Error::Peer { .. }) => e,
            (Some(peer), e) => Error::Peer {
                peer,
                source: Box::new(e),
            },
            (None, e) => e,
        }
    }

    /// The close code the connection failed with (RFC 6455 §7.4.1), if
    /// this is a failure of the WebSocket connection.
    pub fn close_code(&self) -> Option<ws_proto::CloseCode> {
        match self.root() {
            Error::Session(SessionError::Connection(e)) => e.close_code(),
            _ => None,
        }
    }

    /// True if this is (or wraps) an `io::ErrorKind::WouldBlock`.
    pub fn is_would_block(&self) -> bool {
        matches!(self.root(), Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl From<ws_proto::Error> for Error {
    fn from(e: ws_proto::Error) -> Self {
        Error::Session(e.into())
    }
}

impl From<http_upgrade::Error> for Error {
    fn from(e: http_upgrade::Error) -> Self {
        Error::Session(e.into())
    }
}

/// For code that speaks `std::io` (a `Read`/`Write` wrapper, a codec): an
/// I/O error comes out as itself, a timeout as `TimedOut`, a closed
/// connection as `ConnectionAborted`, an unresolvable host as `NotFound`,
/// and everything else as `Other` with this error as its source.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.root() {
            Error::Io(io) => io.kind(),
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Closed => io::ErrorKind::ConnectionAborted,
            Error::Resolve(_) => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        match e {
            Error::Io(io) => io,
            e => io::Error::new(kind, e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn into_io_error_keeps_the_kind_and_the_source() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let e: io::Error = Error::Timeout("handshake").at(Some(peer)).into();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
        let e: io::Error = Error::Io(io::ErrorKind::BrokenPipe.into()).into();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        let failed =
            Error::from(ws_proto::Error::from(ws_proto::PeerError::InvalidUtf8)).at(Some(peer));
        assert_eq!(
            failed.close_code(),
            Some(ws_proto::CloseCode::INVALID_PAYLOAD)
        );
        let e: io::Error = failed.into();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.get_ref().is_some(), "the source is kept");
    }
}

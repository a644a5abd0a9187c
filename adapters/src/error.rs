//! The adapters' error type: what went wrong ([`ErrorKind`]) and with whom
//! (the peer's address), side by side.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use ws_proto::CloseCode;
use ws_proto::session::SessionError;

/// What went wrong while driving a WebSocket over a socket, and with which
/// peer, if its address is known.
///
/// [`kind`](Error::kind) says what happened; [`close_code`](Error::close_code)
/// and [`status`](Error::status) give the protocol's word for it (RFC 6455
/// §7.4.1, RFC 7231 §6); [`peer`](Error::peer) says where. It displays as
/// `peer: kind` when the address is known, as `kind` otherwise.
///
/// The error is one pointer wide (kind and address live in one allocation),
/// so `Result<T, Error>` costs little on the paths that succeed.
///
/// ```
/// use ws_adapters::{Error, ErrorKind};
///
/// let e = Error::from(ErrorKind::Closed).with_peer(Some("127.0.0.1:9".parse().unwrap()));
/// assert!(matches!(e.kind(), ErrorKind::Closed));
/// assert_eq!(e.to_string(), "127.0.0.1:9: the connection is closed");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    peer: Option<SocketAddr>,
}

/// What went wrong; see [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The handshake or the WebSocket connection failed (see
    /// [`Error::close_code`] and [`Error::status`]).
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
    /// A client's server refused the upgrade (or, behind a host server,
    /// we refused it: [`hosted::Refused`](crate::hosted::Refused)).
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
    /// HTTP/2 (feature `h2`): the server did not choose ALPN `h2`, does not
    /// allow extended CONNECT, or a request could not be built.
    #[error("HTTP/2: {0}")]
    Http2(String),
    /// An operation did not finish in time (connect, handshake).
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// What went wrong, by value (the peer address is dropped).
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// The remote address of the connection the error happened on, if known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// Records the remote address; an address already recorded is kept (the
    /// innermost layer knows best).
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> Error {
        if self.inner.peer.is_none() {
            self.inner.peer = peer;
        }
        self
    }

    /// The close code the WebSocket connection failed with (RFC 6455
    /// §7.4.1), as [`ws_proto::Error::close_code`] maps it; `None` if this
    /// is not a failure of an open connection (a socket error, a handshake
    /// failure, a misused call).
    pub fn close_code(&self) -> Option<CloseCode> {
        match self.kind() {
            ErrorKind::Session(SessionError::Connection(e)) => e.close_code(),
            _ => None,
        }
    }

    /// The HTTP status of a failed opening handshake: the status the server
    /// (or the proxy, for a refused `CONNECT`) answered with, or, for a
    /// failure this side detected, the status
    /// [`http_upgrade::Error::status`] maps it to (a server answers with
    /// it; 502 for a bad response a client saw). `None` for everything else.
    pub fn status(&self) -> Option<u16> {
        match self.kind() {
            ErrorKind::Rejected(status) | ErrorKind::Redirect { status, .. } => Some(*status),
            ErrorKind::Session(SessionError::Handshake(e)) => Some(e.status()),
            ErrorKind::Proxy(http_upgrade::Error::Peer(
                http_upgrade::HttpPeerError::ProxyRefused(status),
            )) => Some(*status),
            ErrorKind::Proxy(e) => Some(e.status()),
            _ => None,
        }
    }

    /// True if this is an `io::ErrorKind::WouldBlock`.
    pub fn is_would_block(&self) -> bool {
        matches!(self.kind(), ErrorKind::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// True if the peer stopped reading (the write timeout): output cannot
    /// be delivered, so the transport is closed at once rather than given
    /// time to send a close frame.
    #[cfg(feature = "uring")]
    pub(crate) fn is_write_stalled(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Session(SessionError::Connection(ws_proto::Error::Timeout(
                ws_proto::TimeoutError::WriteStalled
            )))
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.peer {
            Some(peer) => write!(f, "{peer}: {}", self.inner.kind),
            None => self.inner.kind.fmt(f),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

/// The source is the kind's source: the kind's own message is already part
/// of this error's.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.kind)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner { kind, peer: None }),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        ErrorKind::Io(e).into()
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        ErrorKind::Session(e).into()
    }
}

impl From<ws_proto::Error> for Error {
    fn from(e: ws_proto::Error) -> Self {
        ErrorKind::Session(e.into()).into()
    }
}

/// A handshake failure (a misused call becomes
/// [`ws_proto::UsageError::Handshake`], as [`SessionError`] maps it).
impl From<http_upgrade::Error> for Error {
    fn from(e: http_upgrade::Error) -> Self {
        ErrorKind::Session(e.into()).into()
    }
}

#[cfg(feature = "tls")]
impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        ErrorKind::Tls(e).into()
    }
}

/// For code that speaks `std::io` (a `Read`/`Write` wrapper, a codec): an
/// I/O error comes out as itself, a timeout as `TimedOut`, a closed
/// connection as `ConnectionAborted`, an unresolvable host as `NotFound`,
/// and everything else as `Other` with this error as its source.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind() {
            ErrorKind::Io(io) => io.kind(),
            ErrorKind::Timeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::Closed => io::ErrorKind::ConnectionAborted,
            ErrorKind::Resolve(_) => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        match e.inner.peer {
            None => match e.into_kind() {
                ErrorKind::Io(io) => io,
                other => io::Error::new(kind, Error::from(other)),
            },
            Some(_) => io::Error::new(kind, e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn into_io_error_keeps_the_kind_and_the_source() {
        let e: io::Error = Error::from(ErrorKind::Timeout("handshake"))
            .with_peer(Some(peer()))
            .into();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
        let e: io::Error = Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).into();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(e.get_ref().is_none(), "an i/o error comes out as itself");
        let failed = Error::from(ws_proto::Error::from(ws_proto::PeerError::InvalidUtf8))
            .with_peer(Some(peer()));
        assert_eq!(failed.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        let e: io::Error = failed.into();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.get_ref().is_some(), "the source is kept");
        let e: io::Error = Error::from(ErrorKind::Closed).into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        let e: io::Error = Error::from(ErrorKind::Resolve("x.invalid".into())).into();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_peer_is_set_once_and_shown_first() {
        let other: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let e = Error::from(ErrorKind::Closed)
            .with_peer(Some(peer()))
            .with_peer(Some(other))
            .with_peer(None);
        assert_eq!(e.peer(), Some(peer()));
        assert_eq!(e.to_string(), "127.0.0.1:9: the connection is closed");
        let e = Error::from(ErrorKind::Closed).with_peer(None);
        assert_eq!(e.peer(), None);
        assert_eq!(e.to_string(), "the connection is closed");
        assert!(matches!(e.into_kind(), ErrorKind::Closed));
    }

    #[test]
    fn close_codes_and_statuses() {
        let too_big =
            ws_proto::Error::from(ws_proto::CapacityError::MessageTooLarge { size: 2, max: 1 });
        let e = Error::from(too_big);
        assert_eq!(e.close_code(), Some(CloseCode::TOO_BIG));
        assert_eq!(e.status(), None);
        let e = Error::from(http_upgrade::Error::Timeout);
        assert_eq!((e.close_code(), e.status()), (None, Some(408)));
        let e = Error::from(ErrorKind::Rejected(503));
        assert_eq!(e.status(), Some(503));
        let e = Error::from(ErrorKind::Redirect {
            status: 301,
            location: "/".into(),
        });
        assert_eq!(e.status(), Some(301));
        let refused = http_upgrade::Error::from(http_upgrade::HttpPeerError::ProxyRefused(407));
        assert_eq!(Error::from(ErrorKind::Proxy(refused)).status(), Some(407));
        let e = Error::from(io::Error::from(io::ErrorKind::WouldBlock));
        assert!(e.is_would_block());
        assert_eq!((e.close_code(), e.status()), (None, None));
        assert!(!Error::from(ErrorKind::Closed).is_would_block());
    }

    #[test]
    fn the_source_is_the_kinds_source() {
        use std::error::Error as _;
        let e = Error::from(io::Error::other("boom")).with_peer(Some(peer()));
        assert_eq!(e.source().unwrap().to_string(), "boom");
        assert!(Error::from(ErrorKind::Closed).source().is_none());
    }

    #[test]
    fn results_stay_one_pointer_wide() {
        use std::mem::size_of;
        assert_eq!(size_of::<Error>(), size_of::<usize>());
        assert_eq!(size_of::<Result<(), Error>>(), size_of::<usize>());
        assert!(size_of::<Result<usize, Error>>() <= 2 * size_of::<usize>());
    }
}

//! The adapters' error type.

use std::io;

use ws_proto::session::SessionError;

/// What went wrong while driving a WebSocket over a socket.
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

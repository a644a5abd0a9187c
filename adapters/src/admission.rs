//! Connection admission for every listener of ours (std, mio, smol,
//! tokio): the address filter, then the connection limit with its `503`.
//! A host server (hyper, axum) admits its own connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use http_upgrade::Response;

use crate::ServerOptions;

/// The bytes written to a connection refused over the limit: `503`,
/// `Retry-After`, `Connection: close` (built once, by
/// [`Response`]).
pub(crate) fn busy() -> &'static [u8] {
    static BUSY: OnceLock<Vec<u8>> = OnceLock::new();
    BUSY.get_or_init(|| {
        Response::new(503)
            .header("Retry-After", "1")
            .to_bytes(true)
            .unwrap_or_default()
    })
}

/// Counts a server's live connections.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gate(Arc<AtomicUsize>);

/// One admitted connection; frees its place in the [`Gate`] on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// Applies the filter (closing at once: nothing is read) and the limit
    /// (`write` sends the `503`, best effort); `Some` for a connection to
    /// serve.
    pub(crate) fn admit(
        &self,
        options: &ServerOptions,
        peer: SocketAddr,
        write: impl FnOnce(&[u8]),
    ) -> Option<Slot> {
        if !options.admits(peer) {
            log::info!("{peer}: refused by the filter");
            return None;
        }
        if self.0.fetch_add(1, Ordering::AcqRel) >= options.max_connections {
            self.0.fetch_sub(1, Ordering::AcqRel);
            log::warn!("{peer}: refused, connection limit reached");
            write(busy());
            return None;
        }
        Some(Slot(self.0.clone()))
    }

    /// Connections admitted and not yet dropped.
    pub(crate) fn live(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// The listen backlog of our listeners: room for bursts of connections
/// (std's `TcpListener::bind` and mio's ask for 128, and a burst of a few
/// hundred handshakes overflowed that into one-second SYN retries). The
/// kernel caps it at `net.core.somaxconn`.
pub(crate) const BACKLOG: i32 = 1024;

/// A blocking listening socket on `addr` with [`BACKLOG`] and
/// `SO_REUSEADDR`; with `reuse_port`, other sockets may bind the same
/// address (`SO_REUSEPORT`, for one listener per loop).
#[cfg(unix)]
pub(crate) fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, listen, socket_with, sockopt};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if reuse_port {
        sockopt::set_socket_reuseport(&fd, true)?;
    }
    bind(&fd, &addr)?;
    listen(&fd, BACKLOG)?;
    Ok(std::net::TcpListener::from(fd))
}

/// [`listen`] where there is no `rustix`: std's own bind (its backlog).
#[cfg(not(unix))]
pub(crate) fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    if reuse_port {
        return Err(std::io::ErrorKind::Unsupported.into());
    }
    std::net::TcpListener::bind(addr)
}

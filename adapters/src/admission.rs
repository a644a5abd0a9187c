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

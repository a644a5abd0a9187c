//! `tracing` support (feature `tracing`): one span per connection, named
//! `websocket`, with the role and peer address from the start and the
//! negotiated subprotocol, extensions and dialect recorded when the
//! connection opens; events (target `ws_adapters`) when it opens and
//! ends. The [`Driver`](crate::Driver) enters the span for each turn of
//! the drive loop, so the crate's `log` records made inside a turn (and
//! the application's, in a subscriber that bridges `log`) are attributed
//! to the connection. Nothing is recorded per message.

use std::net::SocketAddr;

use http_upgrade::Handshake;
use tracing::field::{Empty, display};

/// A connection's span and what has been recorded on it.
#[derive(Debug)]
pub(crate) struct Trace {
    span: tracing::Span,
    opened: bool,
    ended: bool,
}

impl Trace {
    pub(crate) fn new(role: &'static str, peer: Option<SocketAddr>) -> Self {
        let span = tracing::info_span!(
            "websocket",
            role,
            peer = Empty,
            protocol = Empty,
            extensions = Empty,
            dialect = Empty
        );
        if let Some(p) = peer {
            span.record("peer", display(p));
        }
        Trace {
            span,
            opened: false,
            ended: false,
        }
    }

    pub(crate) fn peer(&self, peer: SocketAddr) {
        self.span.record("peer", display(peer));
    }

    /// The span, to enter for a turn.
    pub(crate) fn span(&self) -> tracing::Span {
        self.span.clone()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.opened
    }

    /// Records what the handshake settled, once.
    pub(crate) fn opened(&mut self, h: &Handshake) {
        if std::mem::replace(&mut self.opened, true) {
            return;
        }
        let exts: Vec<String> = h.extensions.iter().map(ToString::to_string).collect();
        self.span
            .record("protocol", h.protocol.as_deref().unwrap_or(""))
            .record("extensions", exts.join(", "))
            .record("dialect", tracing::field::debug(h.dialect));
        tracing::debug!(parent: &self.span, "open");
    }

    /// The end of the connection (a clean close or a failure), once.
    pub(crate) fn ended(&mut self, failure: Option<&crate::Error>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        match failure {
            None => tracing::debug!(parent: &self.span, "closed"),
            Some(e) => tracing::debug!(parent: &self.span, error = %e, "failed"),
        }
    }
}

//! The extension negotiation hook (RFC 6455 §9.1).

use alloc::boxed::Box;
use alloc::vec::Vec;

use http_upgrade::{Accept, ExtensionOffer};

use crate::{Dialect, Extension, ExtensionError};

/// Negotiates one extension family during the opening handshake and builds
/// the [`Extension`] the connection then runs.
///
/// The compression extensions in `deflate-ext` implement it. A negotiator is
/// shared by every connection of an endpoint, so it holds only policy.
pub trait Negotiator: Send + Sync {
    /// A name for diagnostics, e.g. `"permessage-deflate"`.
    fn name(&self) -> &str;

    /// Client: the offers to put in `Sec-WebSocket-Extensions` for
    /// `dialect`, in preference order (empty: offer nothing).
    fn offers(&self, dialect: Dialect) -> Vec<ExtensionOffer>;

    /// Server: choose among all of the client's `offers` (in its order,
    /// other extensions' included) and return the response element and the
    /// extension, or `None` to decline. Malformed offers are declined, not
    /// failed (RFC 7692 §5).
    fn accept(
        &self,
        dialect: Dialect,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)>;

    /// Client: the server accepted `response`. Returns `Ok(None)` if the
    /// element is not this negotiator's, the extension if it is valid for
    /// what [`offers`](Self::offers) sent, and an error if it is not (the
    /// client must then fail the connection, RFC 6455 §4.1, RFC 7692 §7.1).
    fn confirm(
        &self,
        dialect: Dialect,
        response: &ExtensionOffer,
    ) -> Result<Option<Box<dyn Extension>>, ExtensionError>;
}

/// Server side of RFC 6455 §9.1: each negotiator, in the configured order
/// (the chain order), may accept among the client's `offers`; its response
/// element is appended to `accept.extensions` (after any the application
/// put there) unless an extension accepted before owns one of its RSV bits
/// (RFC 7692 §5: two RSV1 extensions cannot both run). Returns the
/// accepted extensions, in chain order. `Session::accept` and
/// `Session::server_hosted` both negotiate here.
pub(crate) fn negotiate_server(
    negotiators: &[Box<dyn Negotiator>],
    dialect: Dialect,
    offers: &[ExtensionOffer],
    accept: &mut Accept,
) -> Vec<Box<dyn Extension>> {
    let mut exts: Vec<Box<dyn Extension>> = Vec::new();
    let mut rsv_used = 0u8;
    for n in negotiators {
        if let Some((resp, ext)) = n.accept(dialect, offers) {
            if ext.rsv_mask() & rsv_used == 0 {
                rsv_used |= ext.rsv_mask();
                accept.extensions.push(resp);
                exts.push(ext);
            }
        }
    }
    exts
}

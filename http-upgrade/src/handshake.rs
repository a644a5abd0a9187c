//! The result of a completed opening handshake, for the framing layer.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Dialect;
use crate::extensions::ExtensionOffer;
use crate::http::Headers;
use crate::keys;

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request (and mask our frames, RFC 6455 §5.3).
    Client,
    /// We answered it.
    Server,
}

/// What the connection that follows the handshake needs to know: dialect,
/// chosen subprotocol, accepted extensions and dialect key material.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handshake {
    /// Our role.
    pub role: Role,
    /// The dialect both ends now speak.
    pub dialect: Dialect,
    /// The subprotocol the server selected (`Sec-WebSocket-Protocol`, RFC 6455 §4.2.2).
    pub protocol: Option<String>,
    /// The extensions in the server's `Sec-WebSocket-Extensions`, in order
    /// (RFC 6455 §9.1). Empty for hixie-76.
    pub extensions: Vec<ExtensionOffer>,
    /// The `Sec-WebSocket-Key` of the request (hybi dialects).
    pub key: Option<String>,
    /// The `Sec-WebSocket-Nonce` of the response (hybi-04 and -05 only,
    /// draft-04/-05 §5.2.2 step 3.3).
    pub nonce: Option<String>,
    /// Server: the request target (/resource name/, e.g. `/chat?room=1`,
    /// RFC 6455 §4.2.1 item 1). Client: `None` (it is the request's).
    pub target: Option<String>,
    /// Server: the `Origin` (or `Sec-WebSocket-Origin` for versions 4-8)
    /// the client sent, if any (RFC 6455 §4.2.1 item 7).
    pub origin: Option<String>,
    /// Client: the header fields of the server's `101` response. Server:
    /// empty; the request's fields are in the `Upgrade` event (and a
    /// server policy's callback) but are not kept for the life of the
    /// connection, which would cost every idle connection a few hundred
    /// bytes.
    pub headers: Headers,
}

impl Handshake {
    /// The hybi-04 per-connection masking key, SHA-1(key ‖ nonce ‖ GUID)
    /// (draft-04 §4.2); `None` for every other dialect.
    pub fn hybi04_masking_key(&self) -> Option<[u8; 20]> {
        match (self.dialect, &self.key, &self.nonce) {
            (Dialect::Hybi04, Some(k), Some(n)) => Some(keys::hybi04_masking_key(k, n)),
            _ => None,
        }
    }
}

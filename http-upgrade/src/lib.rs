//! Sans-IO HTTP/1.1 opening handshake for WebSocket, client and server, in
//! every dialect (RFC 6455 §4, the hybi drafts, hixie-76).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod dialect;
mod time;

pub use dialect::Dialect;
pub use time::Instant;

//! Sans-IO HTTP/1.1 opening handshake for WebSocket, client and server, in
//! every dialect: RFC 6455 (version 13), the hybi drafts (versions 8, 7, 6,
//! 5, 4) and hixie-76 (draft-ietf-hybi-thewebsocketprotocol-00).
//!
//! The machines never touch a socket, a clock or an entropy source: bytes
//! go in through `receive(now, &bytes)`, events come out of `poll_event`
//! (`Ok(None)`: need more input), bytes to send come out of
//! `poll_transmit` (or `transmit_slices` + `advance_transmit`), time comes
//! in as an [`Instant`] and randomness from an injected [`rand_core::Rng`].
//! This is the contract of every machine of the family, `ws_proto`'s
//! `Connection` and `Session` included; [`ServerHandshake`] documents the
//! order in which a driver calls them.
//!
//! * [`ServerHandshake`]: parses requests (push parsing, httparse
//!   underneath), validates upgrades (RFC 6455 §4.2.1), answers them
//!   (§4.2.2) or refuses them with the right status, and hands plain HTTP
//!   requests to the application (a stub web server with keep-alive).
//! * [`HostedUpgrade`]: the same checks and answer for a request a host
//!   HTTP server (hyper, axum, ...) has parsed already: the `101` comes
//!   out as a [`Response`] value, a refusal's as [`error_response`].
//! * [`ClientHandshake`]: builds the request from a [`ClientRequest`]
//!   (RFC 6455 §4.1) and validates the answer.
//! * [`ConnectUpgrade`] and [`ConnectClient`]: the handshake over HTTP/2
//!   (RFC 8441) and HTTP/3 (RFC 9220), an extended `CONNECT` with
//!   `:protocol websocket` answered `200`, on header lists.
//! * [`ProxyConnect`]: an HTTP `CONNECT` tunnel request (RFC 7231 §4.3.6).
//! * [`Handshake`]: the result both roles hand to the framing layer
//!   (dialect, subprotocol, extensions, hybi-04 masking key).
//!
//! # Example: a client and a server handshaking in memory
//!
//! ```
//! use std::sync::Arc;
//! use http_upgrade::*;
//!
//! // Any `rand_core::Rng` will do; this one is deterministic for the example.
//! struct Counter(u64);
//! impl rand_core::TryRng for Counter {
//!     type Error = core::convert::Infallible;
//!     fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
//!         self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
//!         Ok((self.0 >> 33) as u32)
//!     }
//!     fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
//!         Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
//!     }
//!     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//!         for b in dst {
//!             *b = self.try_next_u32()? as u8;
//!         }
//!         Ok(())
//!     }
//! }
//! let mut rng = Counter(1);
//! let now = Instant::ZERO;
//!
//! let request = ClientRequest::new("ws://example.com/chat")?
//!     .protocol("chat")
//!     .extension(ExtensionOffer::new("permessage-deflate"));
//! let mut client = ClientHandshake::new(request, &mut rng, now)?;
//!
//! let config = Arc::new(ServerConfig::default().with_protocols(["chat"]));
//! let mut server = ServerHandshake::new(config, now);
//!
//! // Client -> server.
//! let mut wire = Vec::new();
//! assert!(client.poll_transmit(&mut wire) > 0);
//! server.receive(now, &wire)?;
//! let Some(ServerEvent::Upgrade(req)) = server.poll_event()? else { panic!("not an upgrade") };
//! assert_eq!(req.dialect, Dialect::Rfc6455);
//! assert_eq!(req.selected_protocol.as_deref(), Some("chat"));
//! let accept = Accept::for_request(&req).extension(ExtensionOffer::new("permessage-deflate"));
//! let server_side = server.accept(accept, &mut rng)?;
//!
//! // Server -> client, with a frame right behind the 101.
//! wire.clear();
//! assert!(server.poll_transmit(&mut wire) > 0);
//! wire.extend_from_slice(&[0x81, 0x00]);
//! client.receive(now, &wire)?;
//! let Some(ClientEvent::Connected(client_side)) = client.poll_event()? else {
//!     panic!("not connected")
//! };
//! assert_eq!(client_side.protocol.as_deref(), Some("chat"));
//! assert_eq!(client_side.extensions, server_side.extensions);
//! assert_eq!(&client.take_leftover()[..], &[0x81, 0x00]);
//! # Ok::<(), http_upgrade::Error>(())
//! ```
//!
//! # Features
//!
//! `std` (default) enables `std` in the dependencies; without it the crate
//! is `no_std` + `alloc`.
//! `http` (implies `std`) adds conversions to and from the `http` crate's
//! types, for host HTTP servers (hyper, axum) and clients built on them;
//! the module `http_compat` (present with the feature only) lists them.
//! `testing` adds `testing::SplitMix`, a deterministic, *not
//! cryptographic* RNG that the family's tests, fuzz harnesses and benches
//! inject where a machine takes randomness.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod builders;
mod client;
mod connect;
mod dialect;
mod error;
mod extensions;
mod grammar;
mod handshake;
mod http;
#[cfg(feature = "http")]
pub mod http_compat;
pub mod keys;
mod limits;
mod proxy;
#[cfg(feature = "qpack")]
pub mod qpack;
mod response;
mod server;
mod time;
mod transmit;
mod url;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use client::{ClientEvent, ClientHandshake, ClientRequest};
pub use connect::{ConnectClient, ConnectUpgrade, connect_error_response};
pub use dialect::{Dialect, DialectSet};
pub use error::{Error, HttpLimitError, HttpPeerError, Limit, MisuseError};
pub use extensions::{ExtensionOffer, ExtensionParam, parse_extensions, serialize_extensions};
pub use grammar::{GrammarError, is_token, parse_token_list};
pub use handshake::{Handshake, Role};
pub use http::{Headers, HttpRequest, HttpResponse};
pub use limits::Limits;
pub use proxy::{ProxyConnect, ProxyEvent};
pub use rand_core;
pub use response::{Body, Response, reason_phrase};
pub use server::{
    Accept, HostedUpgrade, OriginCheck, OriginPolicy, ProtocolPolicy, ServerConfig, ServerEvent,
    ServerHandshake, UpgradeRequest, error_response,
};
pub use time::Instant;
pub use url::{UrlError, WsUrl};

//! Sans-IO WebSocket framing and the connection state machine: RFC 6455 and
//! the dialects before it (hybi-08/07, hybi-06/05, hybi-04, hixie-76),
//! selected by [`Negotiated::dialect`] (what the handshake settled).
//!
//! Bytes go in, events and bytes come out; nothing here touches a socket, a
//! clock or an entropy source. The opening handshake is `http-upgrade`'s
//! job; a [`Connection`] takes over after it.
//!
//! | module | RFC 6455 |
//! |---|---|
//! | [`frame`] | §5.2 base framing: [`FrameHeader`], [`FrameView`] |
//! | [`mask`] | §5.3 masking: [`apply_mask`] |
//! | [`utf8`] | §8.1 incremental UTF-8: [`Utf8Validator`] |
//! | [`close`] | §5.5.1, §7.4 close frames and [`CloseCode`]s |
//! | [`Connection`] | §5-§7: fragmentation, control frames, closing handshake |
//! | [`extension`] | §9 extensions: the [`Extension`] trait |
//! | [`legacy`] | hybi-04/05/06 frames and masking, hixie-76 frames (the drafts) |
//!
//! # A conversation in memory
//!
//! ```
//! use ws_proto::{CloseCode, Config, Connection, Event, Instant, State};
//!
//! // A deterministic RNG for the client's mask keys (use a CSPRNG in production).
//! struct Counter(u32);
//! impl rand_core::TryRng for Counter {
//!     type Error = core::convert::Infallible;
//!     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//!     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(u64::from(self.try_next_u32()?)) }
//!     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//!         dst.iter_mut().for_each(|b| *b = 7);
//!         Ok(())
//!     }
//! }
//!
//! let now = Instant::ZERO;
//! let mut client = Connection::client(Config::default(), Box::new(Counter(0)), now)?;
//! let mut server = Connection::server(Config::default(), now)?;
//!
//! // Moves everything one side has queued to the other.
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) -> Result<(), ws_proto::Error> {
//!     let mut wire = Vec::new();
//!     from.poll_transmit(&mut wire);
//!     to.receive(now, &wire)
//! }
//!
//! client.send_text("hello")?;
//! client.send_ping(&b"are you there"[..])?;
//! pump(&mut client, &mut server, now)?;
//! assert_eq!(server.poll_event()?, Some(Event::Text("hello".into())));
//! assert!(matches!(server.poll_event()?, Some(Event::Ping(p)) if p == "are you there"));
//! assert_eq!(server.poll_event()?, None);
//!
//! // The server echoes and its automatic pong goes out with it.
//! server.send_text("hello back")?;
//! pump(&mut server, &mut client, now)?;
//! assert!(matches!(client.poll_event()?, Some(Event::Pong(_))));
//! assert_eq!(client.poll_event()?, Some(Event::Text("hello back".into())));
//!
//! // The client closes; the server echoes and drops TCP first (§7.1.1).
//! client.close(now, CloseCode::NORMAL, "bye")?;
//! assert_eq!(client.state(), State::Closing);
//! pump(&mut client, &mut server, now)?;
//! let ev = server.poll_event()?;
//! assert!(matches!(ev, Some(Event::Close { code: Some(CloseCode::NORMAL), .. })));
//! pump(&mut server, &mut client, now)?;
//! assert!(server.wants_close());
//! assert!(matches!(client.poll_event()?, Some(Event::Close { .. })));
//! assert_eq!(client.state(), State::Closed);
//! assert!(!client.wants_close()); // waits for the server's FIN
//! client.receive_eof(now);
//! assert!(client.wants_close());
//! # Ok::<(), ws_proto::Error>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod close;
mod config;
mod connection;
mod error;
mod event;
pub mod extension;
pub mod frame;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
pub mod legacy;
pub mod mask;
pub mod record;
pub mod session;
#[cfg(feature = "std")]
pub mod sim;
pub mod utf8;

pub use bytes::{Bytes, BytesMut};
pub use close::CloseCode;
pub use config::{Config, Negotiated, ReceiveMode, Role};
pub use connection::{
    Connection, FRAME_RESERVE, MaskRng, PONG_COALESCE_BYTES, PONG_COALESCE_FRAMES, Prepared,
    RecvLoan, State, TransmitPart,
};
pub use error::{CapacityError, Error, ExtensionError, PeerError, TimeoutError, UsageError};
pub use event::{Event, Message, MessageKind, Utf8Bytes};
pub use extension::{Encoded, Extension, FrameMeta, Granularity};
pub use frame::{FrameHeader, FrameView, OpCode, Status};
pub use http_upgrade::{Dialect, Instant};
pub use mask::apply_mask;
pub use utf8::Utf8Validator;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

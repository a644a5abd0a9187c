//! WebSocket compression extensions: permessage-deflate (RFC 7692),
//! deflate-frame / x-webkit-deflate-frame and deflate-stream.
//!
//! | module | what |
//! |---|---|
//! | [`backend`] | raw DEFLATE with window bits, sync flush, `00 00 ff ff` tail, bounded inflate (RFC 7692 §7.2) |
//! | [`pmd`] | permessage-deflate: parameters (§7.1), negotiation (§5, §7), message codec (§6, §7.2) |
//! | [`frame`] | deflate-frame and x-webkit-deflate-frame |
//! | [`stream`] | deflate-stream (hybi drafts -04 to -09) |
//! | [`ws`] | the three as ws-proto `Extension`s |
//! | [`negotiators`] | the three as ws-proto session `Negotiator`s, [`default_negotiators`] |
//!
//! # Using it
//!
//! Put negotiators on ws-proto's
//! [`SessionConfig`](ws_proto::session::SessionConfig); the session offers,
//! accepts or checks (RFC 7692 §5, §7.1) and runs the resulting extension.
//! A server usually takes [`default_negotiators`]; a client offers
//! permessage-deflate alone:
//!
//! ```
//! use deflate_ext::{
//!     ClientWindowOffer, Level, PerMessageDeflate, PmdNegotiator, PmdOffer, PmdServerPolicy,
//!     WindowBits,
//! };
//! use ws_proto::Config;
//! use ws_proto::session::SessionConfig;
//!
//! // Server: permessage-deflate, else (x-webkit-)deflate-frame, else
//! // deflate-stream on the hybi dialects.
//! let mut server = SessionConfig::new(Config::default());
//! server.negotiators = deflate_ext::default_negotiators();
//!
//! // Server tuned for memory: no context takeover on its side, a 1 KiB
//! // window asked of clients that allow it, small messages left alone.
//! let lean = SessionConfig::new(Config::default()).with_negotiator(
//!     PmdNegotiator::default()
//!         .with_policy(
//!             PmdServerPolicy::default()
//!                 .with_server_no_context_takeover(true)
//!                 .with_client_max_window_bits(WindowBits::new(10).unwrap()),
//!         )
//!         .with_threshold(256),
//! );
//!
//! // Client: the default offer `permessage-deflate; client_max_window_bits`.
//! let client = SessionConfig::default().with_negotiator(PerMessageDeflate::negotiator());
//!
//! // Client with two offers, most preferred first, compressing harder.
//! let picky = SessionConfig::default().with_negotiator(
//!     PmdNegotiator::default()
//!         .with_offers([
//!             PmdOffer {
//!                 server_max_window_bits: WindowBits::new(10),
//!                 client_max_window_bits: ClientWindowOffer::Supported,
//!                 ..PmdOffer::default()
//!             },
//!             PmdOffer::default(),
//!         ])
//!         .with_level(Level::BEST),
//! );
//! # let _ = (lean, client, picky);
//! # use std::sync::Arc;
//! # use ws_proto::{Instant, session::{Session, SessionEvent}};
//! # use http_upgrade::{Accept, ClientRequest, ServerConfig};
//! # struct Counter(u32);
//! # impl rand_core::TryRng for Counter {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { self.0 += 1; Ok(self.0) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(u64::from(self.try_next_u32()?)) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
//! #         for b in d { *b = self.try_next_u32()? as u8; }
//! #         Ok(())
//! #     }
//! # }
//! # let now = Instant::ZERO;
//! # let client = SessionConfig::default().with_negotiator(PerMessageDeflate::negotiator());
//! # let request = ClientRequest::new("ws://localhost/")?;
//! # let mut c = Session::client(request, Arc::new(client), Box::new(Counter(0)), now)?;
//! # let mut s = Session::server(Arc::new(ServerConfig::default()), Arc::new(server), now);
//! # let mut wire = Vec::new();
//! # c.poll_transmit(&mut wire);
//! # s.receive(now, &wire)?;
//! # let Some(SessionEvent::Upgrade(req)) = s.poll_event()? else { panic!() };
//! # s.accept(now, Accept::for_request(&req), &mut Counter(9))?;
//! # wire.clear();
//! # s.poll_transmit(&mut wire);
//! # c.receive(now, &wire)?;
//! # let Some(SessionEvent::Open(h)) = c.poll_event()? else { panic!() };
//! # assert_eq!(h.extensions[0].to_string(), "permessage-deflate");
//! # Ok::<(), ws_proto::session::SessionError>(())
//! ```
//!
//! Below the negotiators, the pieces can be used on their own: a server
//! picks an offer with [`PmdServerPolicy::accept`] and answers with
//! [`PmdAgreed::to_element`]; a client sends
//! [`PmdClientConfig::offer_elements`] and checks the answer with
//! [`PmdClientConfig::validate`]; both build [`PerMessageDeflate::new`] for
//! their [`Role`] and hand it to a `Connection` as a `Box<dyn Extension>`.
//! Elements are http-upgrade's [`ExtensionOffer`].
//!
//! This crate links `std`: its DEFLATE backend (zlib-rs through flate2,
//! chosen by measurement, see `docs/deflate.md`) needs it.

pub mod backend;
pub mod codec;
mod element;
pub mod error;
pub mod frame;
pub mod negotiators;
pub mod pmd;
pub mod stream;
pub mod ws;

pub use backend::{Compressor, DEFLATE_TAIL, Decompressor, Flush, Level, WindowBits};
pub use codec::{Budget, FrameKind, Role, Transform};
pub use error::{CodecError, NegotiationError};
pub use frame::{
    DeflateFrame, DeflateFrameAgreed, DeflateFrameClientConfig, DeflateFrameName,
    DeflateFrameParams, DeflateFrameServerPolicy,
};
pub use http_upgrade::{ExtensionOffer, ExtensionParam};
pub use negotiators::{
    DeflateFrameNegotiator, DeflateStreamNegotiator, PmdNegotiator, default_negotiators,
};
pub use pmd::codec::IdleState;
pub use pmd::negotiate::{PmdClientConfig, PmdServerPolicy};
pub use pmd::{ClientWindowOffer, PerMessageDeflate, PmdAgreed, PmdConfig, PmdOffer};
pub use stream::DeflateStream;

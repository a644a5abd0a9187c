//! WebSocket compression extensions: permessage-deflate (RFC 7692),
//! deflate-frame / x-webkit-deflate-frame and deflate-stream.
//!
//! | module | what |
//! |---|---|
//! | [`backend`] | raw DEFLATE with window bits, sync flush, `00 00 ff ff` tail, bounded inflate (RFC 7692 §7.2) |
//! | [`element`] | a neutral `Sec-WebSocket-Extensions` element (RFC 6455 §9.1) |
//! | [`pmd`] | permessage-deflate: parameters (§7.1), negotiation (§5, §7), message codec (§6, §7.2) |
//! | [`frame`] | deflate-frame and x-webkit-deflate-frame |
//! | [`stream`] | deflate-stream (hybi drafts -04 to -09) |
//! | [`ws`] | the three as ws-proto `Extension`s |
//! | [`upgrade`] | http-upgrade's `ExtensionOffer` read and written |
//!
//! A server parses the client's offers (http-upgrade), picks one with
//! [`PmdServerPolicy::accept`], sends [`PmdAgreed::to_element`] back and
//! builds [`PerMessageDeflate::new`] for [`Role::Server`]; a client sends
//! [`PmdClientConfig::offer_elements`], checks the answer with
//! [`PmdClientConfig::validate`] and builds the same for [`Role::Client`].
//! Either instance goes into ws-proto's connection as a `Box<dyn Extension>`.
//!
//! This crate links `std`: its DEFLATE backend (zlib-rs through flate2,
//! chosen by measurement, see `docs/deflate.md`) needs it.

pub mod backend;
pub mod codec;
pub mod element;
pub mod error;
pub mod frame;
pub mod pmd;
pub mod stream;
pub mod upgrade;
pub mod ws;

pub use backend::{Compressor, DEFLATE_TAIL, Decompressor, Flush, Level, WindowBits};
pub use codec::{FrameKind, Role, Transform};
pub use element::{Element, ExtensionElement};
pub use error::{CodecError, NegotiationError};
pub use frame::{DeflateFrame, DeflateFrameAgreed, DeflateFrameParams};
pub use pmd::negotiate::{PmdClientConfig, PmdServerPolicy};
pub use pmd::{PerMessageDeflate, PmdAgreed, PmdConfig, PmdOffer};
pub use stream::DeflateStream;

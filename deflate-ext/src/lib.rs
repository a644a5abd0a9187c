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
mod element;
pub mod error;
pub mod frame;
pub mod negotiators;
pub mod pmd;
pub mod stream;
pub mod ws;

pub use backend::{Compressor, DEFLATE_TAIL, Decompressor, Flush, Level, WindowBits};
pub use codec::{FrameKind, Role, Transform};
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

//! WebSocket compression extensions: permessage-deflate (RFC 7692),
//! deflate-frame / x-webkit-deflate-frame and deflate-stream.
//!
//! This crate links `std`: its DEFLATE backend (flate2 over zlib-rs) needs it.

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

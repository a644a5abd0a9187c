//! WebSocket compression extensions: permessage-deflate (RFC 7692),
//! deflate-frame / x-webkit-deflate-frame and deflate-stream.
//!
//! This crate links `std`: its DEFLATE backend (flate2 over zlib-rs) needs it.

pub mod backend;
pub mod error;

pub use backend::{Compressor, DEFLATE_TAIL, Decompressor, Flush, Level, WindowBits};
pub use error::{CodecError, NegotiationError};

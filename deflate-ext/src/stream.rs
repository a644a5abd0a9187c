//! deflate-stream: the hybi-era extension that DEFLATEs every byte of the
//! connection after the opening handshake, frames of every kind and their
//! headers included (draft-ietf-hybi-thewebsocketprotocol-04 §8.1, -05
//! §8.2.1, -09 §9.2.1). It has no parameters, uses no RSV bit, and the data
//! is raw DEFLATE without a zlib header (-09: "MUST NOT be wrapped in ...
//! zlib"). A sender must not hold back part of a frame because the DEFLATE
//! output is not byte aligned, so every write ends with a sync flush (the
//! `00 00 ff ff` stays in the stream: it is one continuous DEFLATE stream).

use crate::backend::{Compressor, Decompressor, Flush, Level, WindowBits};
use crate::element::is_named;
use crate::error::{CodecError, NegotiationError};
use http_upgrade::{Dialect, ExtensionOffer};

/// The extension token.
pub const DEFLATE_STREAM: &str = "deflate-stream";

/// Whether `dialect` defined deflate-stream: the hybi drafts -04 to -09,
/// i.e. `Sec-WebSocket-Version` 4 to 8. RFC 6455 dropped it and hixie-76
/// has no extensions.
pub fn defined_in(dialect: Dialect) -> bool {
    matches!(
        dialect,
        Dialect::Hybi04 | Dialect::Hybi05 | Dialect::Hybi06 | Dialect::Hybi07 | Dialect::Hybi08
    )
}

/// The offer (and response) element: the bare token.
pub fn element() -> ExtensionOffer {
    ExtensionOffer::new(DEFLATE_STREAM)
}

/// Checks an offer or a response: the token without parameters (any
/// parameter is unknown).
pub fn validate(e: &ExtensionOffer) -> Result<(), NegotiationError> {
    if !is_named(e, DEFLATE_STREAM) {
        return Err(NegotiationError::WrongName);
    }
    match e.params.first() {
        Some(p) => Err(NegotiationError::UnknownParam(p.name.clone())),
        None => Ok(()),
    }
}

/// An established deflate-stream extension: one compressor for everything
/// this endpoint writes, one decompressor for everything it reads, both with
/// 32 KiB windows and context kept for the life of the connection.
#[derive(Debug)]
pub struct DeflateStream {
    compressor: Compressor,
    decompressor: Decompressor,
    failed: Option<CodecError>,
}

impl DeflateStream {
    /// A deflate-stream codec compressing at `level`.
    pub const fn new(level: Level) -> DeflateStream {
        DeflateStream {
            compressor: Compressor::new(WindowBits::MAX, level),
            decompressor: Decompressor::new(WindowBits::MAX),
            failed: None,
        }
    }

    /// Whether (compressor, decompressor) state is allocated now.
    pub fn allocated(&self) -> (bool, bool) {
        (
            self.compressor.is_allocated(),
            self.decompressor.is_allocated(),
        )
    }

    /// Compresses outgoing connection bytes (whole frames) and appends them
    /// to `out`, flushed so the peer can decode all of it now.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.compressor.compress(input, out, Flush::Sync)
    }

    /// Inflates incoming connection bytes into `out`, adding at most
    /// `max_output` bytes; more is [`CodecError::TooBig`] (close 1009).
    /// Errors are permanent.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_output: usize,
    ) -> Result<(), CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if input.is_empty() {
            return Ok(());
        }
        let base = out.len();
        let r = self
            .decompressor
            .decompress(input, out, base.saturating_add(max_output));
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = match e {
                    CodecError::TooBig { size, .. } => CodecError::TooBig {
                        size: size.saturating_sub(base),
                        max: max_output,
                    },
                    e => e,
                };
                self.failed = Some(e.clone());
                self.decompressor.release();
                Err(e)
            }
        }
    }

    /// Inflates incoming connection bytes into `out` until `input` is used
    /// up or `out` has grown by `max_output` bytes, and returns how many
    /// input bytes were consumed; the caller keeps the rest and calls again
    /// (with the rest, or with nothing to drain output the inflater still
    /// holds) once it has made room. This is how the connection inflates
    /// deflate-stream input on demand, so a stream of any compression ratio
    /// never holds more than `max_output` inflated bytes ahead of the
    /// parser. Output before a corrupt byte is kept in `out`; errors are
    /// permanent.
    pub fn decode_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_output: usize,
    ) -> Result<usize, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let limit = out.len().saturating_add(max_output);
        let r = self.decompressor.decompress_some(input, out, limit);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.decompressor.release();
        }
        r
    }
}

//! The permessage-deflate message transformation (RFC 7692 §6, §7.2): one
//! direction each, frame by frame, so fragmented messages go in and out
//! without being gathered first.

use crate::backend::{Compressor, Decompressor, Flush, Level, WindowBits};
use crate::codec::{Budget, FrameKind, Transform};
use crate::error::CodecError;

/// What happens to the backend state between messages when the agreed
/// parameters forbid context takeover for a direction (RFC 7692 §7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum IdleState {
    /// Reset the state in place: no allocation per message, the memory stays
    /// reserved for the life of the connection.
    #[default]
    Reset,
    /// Free the state after each message and allocate it again on the next
    /// compressed one: an idle connection costs nothing, each message pays
    /// an allocation.
    Release,
}

/// The sending half: compresses data messages (RFC 7692 §7.2.1).
#[derive(Debug)]
pub struct MessageEncoder {
    compressor: Compressor,
    no_context_takeover: bool,
    idle: IdleState,
    threshold: usize,
    /// `Some(compressed)` while a fragmented message is being sent.
    current: Option<bool>,
}

impl MessageEncoder {
    /// A key for the next message's encoding when it depends only on the
    /// message (no context takeover, no message in progress): window bits,
    /// level and threshold. `None` otherwise.
    pub fn shared_key(&self) -> Option<u64> {
        if !self.no_context_takeover || self.current.is_some() {
            return None;
        }
        let window = u64::from(self.compressor.window().get());
        let level = u64::from(self.compressor.level().get());
        let threshold = u64::try_from(self.threshold).unwrap_or(u64::MAX) & 0xffff_ffff;
        Some(window << 40 | level << 32 | threshold)
    }

    /// An encoder bound to a window, a level, the context takeover rule of its
    /// direction and a size threshold: complete messages shorter than
    /// `threshold` bytes are sent uncompressed (RSV1 clear, RFC 7692 §6).
    pub fn new(
        window: WindowBits,
        level: Level,
        no_context_takeover: bool,
        idle: IdleState,
        threshold: usize,
    ) -> MessageEncoder {
        MessageEncoder {
            compressor: Compressor::new(window, level),
            no_context_takeover,
            idle,
            threshold,
            current: None,
        }
    }

    /// Whether compressor state is allocated now.
    pub fn is_allocated(&self) -> bool {
        self.compressor.is_allocated()
    }

    /// Transforms one outgoing frame. A first frame with FIN set (a whole
    /// message) is compressed unless shorter than the threshold; the first
    /// frame of a fragmented message is always compressed (its total size is
    /// unknown). Non-final fragments end with a sync flush that keeps the
    /// `00 00 ff ff` tail; the final one removes it (RFC 7692 §7.2.1). RSV1 is
    /// set on the first frame of a compressed message only (§6.1). Control
    /// frames are left alone.
    #[inline]
    pub fn encode(
        &mut self,
        kind: FrameKind,
        fin: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        let (compressed, first) = match (kind, self.current) {
            (FrameKind::Control, _) => return Ok(Transform::Unchanged),
            (FrameKind::First, None) => (!fin || payload.len() >= self.threshold, true),
            (FrameKind::Continuation, Some(c)) => (c, false),
            _ => return Err(CodecError::OutOfSequence),
        };
        self.current = if fin { None } else { Some(compressed) };
        if !compressed {
            return Ok(Transform::Unchanged);
        }
        let flush = if fin { Flush::End } else { Flush::Sync };
        self.compressor.compress(payload, out, flush)?;
        if fin && self.no_context_takeover {
            match self.idle {
                IdleState::Reset => self.compressor.reset(),
                IdleState::Release => self.compressor.release(),
            }
        }
        Ok(Transform::Replaced { rsv1: first })
    }

    /// Compresses a whole message into `out` the same way as a single frame
    /// with FIN set; returns whether it was compressed (RSV1).
    pub fn encode_message(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, CodecError> {
        Ok(matches!(
            self.encode(FrameKind::First, true, payload, out)?,
            Transform::Replaced { .. }
        ))
    }
}

/// The receiving half: decompresses compressed messages (RFC 7692 §6.2,
/// §7.2.2) with their inflated size bounded.
#[derive(Debug)]
pub struct MessageDecoder {
    decompressor: Decompressor,
    no_context_takeover: bool,
    idle: IdleState,
    /// `Some(inflated so far)` inside a compressed message, `Some(None)`
    /// inside an uncompressed one.
    current: Option<Option<usize>>,
    failed: Option<CodecError>,
}

impl MessageDecoder {
    /// A decoder for a peer compressing with at most a 2^`window` window; with
    /// `no_context_takeover` the peer resets its window between messages and
    /// so may we (§7.2.2).
    pub fn new(window: WindowBits, no_context_takeover: bool, idle: IdleState) -> MessageDecoder {
        MessageDecoder {
            decompressor: Decompressor::new(window),
            no_context_takeover,
            idle,
            current: None,
            failed: None,
        }
    }

    /// Whether decompressor state is allocated now.
    pub fn is_allocated(&self) -> bool {
        self.decompressor.is_allocated()
    }

    /// Transforms one incoming frame. RSV1 on the first frame of a data
    /// message marks it compressed (RFC 7692 §6); its frames are inflated as
    /// they come, the `00 00 ff ff` tail appended after the final one
    /// (§7.2.2). `budget` bounds the inflated output, of the whole message or
    /// of this call ([`Budget`]): passing it ends with [`CodecError::TooBig`]
    /// (close 1009, `max` the message's limit) after at most one byte more
    /// than the budget was reserved. RSV1 on a control or continuation frame
    /// is [`CodecError::Rsv1Misplaced`] (§6.1). After an error the decoder
    /// only repeats it.
    #[inline]
    pub fn decode(
        &mut self,
        kind: FrameKind,
        rsv1: bool,
        fin: bool,
        payload: &[u8],
        budget: Budget,
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let max_message = match budget {
            Budget::Message(max) => max,
            Budget::Call(max_output) => {
                let so_far = match (kind, self.current) {
                    (FrameKind::Continuation, Some(Some(n))) => n,
                    _ => 0,
                };
                so_far.saturating_add(max_output)
            }
        };
        let r = self.decode_inner(kind, rsv1, fin, payload, max_message, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.decompressor.release();
        }
        r
    }

    #[inline]
    fn decode_inner(
        &mut self,
        kind: FrameKind,
        rsv1: bool,
        fin: bool,
        payload: &[u8],
        max_message: usize,
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        let inflated = match (kind, self.current) {
            (FrameKind::Control, _) if rsv1 => return Err(CodecError::Rsv1Misplaced),
            (FrameKind::Control, _) => return Ok(Transform::Unchanged),
            (FrameKind::Continuation, _) if rsv1 => return Err(CodecError::Rsv1Misplaced),
            (FrameKind::First, None) if rsv1 => 0,
            (FrameKind::First, None) => {
                self.current = (!fin).then_some(None);
                return Ok(Transform::Unchanged);
            }
            (FrameKind::Continuation, Some(None)) => {
                if fin {
                    self.current = None;
                }
                return Ok(Transform::Unchanged);
            }
            (FrameKind::Continuation, Some(Some(n))) => n,
            _ => return Err(CodecError::OutOfSequence),
        };
        // `out` may hold the caller's earlier data: bound what we add.
        let base = out.len();
        let limit = base.saturating_add(max_message.saturating_sub(inflated));
        let too_big = |e: CodecError| match e {
            CodecError::TooBig { size, .. } => CodecError::TooBig {
                size: size.saturating_sub(base).saturating_add(inflated),
                max: max_message,
            },
            e => e,
        };
        if fin {
            self.decompressor
                .decompress_end(payload, out, limit)
                .map_err(too_big)?;
            self.current = None;
            if self.no_context_takeover {
                match self.idle {
                    IdleState::Reset => self.decompressor.reset(),
                    IdleState::Release => self.decompressor.release(),
                }
            }
        } else {
            self.decompressor
                .decompress(payload, out, limit)
                .map_err(too_big)?;
            self.current = Some(Some(inflated + (out.len() - base)));
        }
        Ok(Transform::Replaced { rsv1: false })
    }
}

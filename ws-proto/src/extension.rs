//! The extension interface (RFC 6455 §9): negotiated extensions form a chain
//! that transforms data frames or messages and owns RSV bits.
//!
//! Three granularities cover the deflate family:
//!
//! * [`Granularity::Message`] — permessage-deflate (RFC 7692). Outgoing, the
//!   whole message payload (or each part of a message sent in parts) is
//!   encoded *before* the connection fragments it; the returned RSV bits are
//!   set on the first frame of the message only. Incoming, `decode` is called
//!   once per frame in order with `first`/`fin` flags and the RSV bits of the
//!   message's first frame, so an inflater can stream with bounded memory.
//!   The connection refuses a continuation frame carrying a bit owned by a
//!   message-granularity extension (RFC 7692 §6.1, close 1002).
//! * [`Granularity::Frame`] — deflate-frame / x-webkit-deflate-frame. The
//!   connection fragments first, then encodes each frame; RSV bits are per
//!   frame. Incoming, each frame's payload is decoded on its own.
//! * [`Granularity::Stream`] — deflate-stream (hybi drafts -04..-09 §8/§9):
//!   the entire byte stream below framing is transformed, both directions,
//!   through `encode_stream` / `decode_stream`.
//!
//! **Order.** Outgoing data passes the chain in order (`chain[0]` first),
//! message-granularity extensions before fragmentation, frame-granularity
//! ones after it, stream ones last; incoming data passes it in reverse.
//!
//! **When decode is called.** A frame is passed to an extension's `decode`
//! only if it carries one of the extension's RSV bits (for message
//! granularity: if the message's first frame did), or if the extension owns
//! no RSV bits at all. Control frames never pass through extensions (§5.5;
//! RFC 7692 §6). A frame that no extension will see is delivered in chunks as
//! it arrives; one that an extension decodes is gathered whole first (it is
//! bounded by `max_frame_size`).
//!
//! **Bounds.** `max_output` is what remains of the message budget
//! (`max_message_size`); an implementation must not allocate beyond it and
//! returns [`ExtensionError::TooBig`] instead (close 1009).
//!
//! **Errors** map to close codes in [`Error::close_code`](crate::Error::close_code):
//! `InvalidData` 1007, `TooBig` 1009, `Negotiation` 1010, `Internal` 1011.

use bytes::{Bytes, BytesMut};

use crate::error::ExtensionError;
use crate::event::MessageKind;

/// Where in the stack an extension transforms data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// Whole messages (permessage-deflate, RFC 7692).
    Message,
    /// Individual frames (deflate-frame).
    Frame,
    /// The raw byte stream under the framing (deflate-stream).
    Stream,
}

/// What an extension is told about the data it transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    /// Text or binary (continuation frames carry their message's kind).
    pub kind: MessageKind,
    /// This is the first frame (or first part) of its message.
    pub first: bool,
    /// This is the last frame (or last part) of its message.
    pub fin: bool,
    /// Incoming: the RSV bits seen (for message granularity, those of the
    /// message's first frame), with the bits of extensions later in the
    /// chain already removed. Outgoing: the bits set so far by extensions
    /// earlier in the chain.
    pub rsv: u8,
}

/// The output of [`Extension::encode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The transformed payload.
    pub payload: Bytes,
    /// The RSV bits to set (only among the extension's own
    /// [`rsv_mask`](Extension::rsv_mask); others are ignored).
    pub rsv: u8,
}

/// A negotiated extension. Implemented by `deflate-ext`; the connection
/// drives it. See the [module documentation](self) for the calling contract.
pub trait Extension: Send {
    /// The extension token as negotiated, e.g. `permessage-deflate`.
    fn name(&self) -> &str;

    /// The RSV bits this extension owns, as in the first header byte:
    /// `0x40` RSV1, `0x20` RSV2, `0x10` RSV3.
    fn rsv_mask(&self) -> u8;

    /// Where in the stack the extension works.
    fn granularity(&self) -> Granularity {
        Granularity::Message
    }

    /// Transforms outgoing data (a whole message or part for
    /// [`Granularity::Message`], a frame for [`Granularity::Frame`]).
    fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        let _ = meta;
        Ok(Encoded { payload, rsv: 0 })
    }

    /// A key for this extension's outgoing encoding of the next message
    /// when that encoding depends only on the message and the negotiated
    /// parameters, not on earlier messages (permessage-deflate without
    /// context takeover on our side, RFC 7692 §7.1.1): two extensions
    /// giving the same key produce the same bytes for the same message, so
    /// a message sent to many connections
    /// ([`Connection::send_prepared`](crate::Connection::send_prepared)) is
    /// encoded once per key, not once per connection. `None` (the default)
    /// when the output depends on history. A key must identify the
    /// extension type as well as its parameters.
    fn shared_encoding(&self) -> Option<u64> {
        None
    }

    /// Transforms an incoming frame's payload. Must not produce (or allocate)
    /// more than `max_output` bytes: return [`ExtensionError::TooBig`].
    fn decode(
        &mut self,
        meta: &FrameMeta,
        payload: Bytes,
        max_output: usize,
    ) -> Result<Bytes, ExtensionError> {
        let _ = (meta, max_output);
        Ok(payload)
    }

    /// Transforms outgoing wire bytes ([`Granularity::Stream`]); must flush,
    /// so the peer can decode everything written so far.
    fn encode_stream(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ExtensionError> {
        out.extend_from_slice(input);
        Ok(())
    }

    /// Transforms incoming wire bytes ([`Granularity::Stream`]), appending
    /// at most `max_output` bytes to `out`, and returns how many bytes of
    /// `input` it consumed. Reaching `max_output` is not an error: the
    /// connection keeps the unconsumed input and calls again once its
    /// parser has used what was produced, with the rest of the input, or
    /// with an empty `input` to collect output the extension still holds.
    /// So the decoded bytes a connection holds stay bounded whatever the
    /// expansion ratio (a decompression bomb costs time as it is parsed,
    /// not memory). On an error, bytes already appended are kept: the
    /// connection turns the complete frames among them into events before
    /// it reports the error, so what arrived intact before the corruption
    /// does not depend on read boundaries.
    fn decode_stream(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        max_output: usize,
    ) -> Result<usize, ExtensionError> {
        let n = input.len().min(max_output);
        out.extend_from_slice(input.get(..n).unwrap_or_default());
        Ok(n)
    }
}

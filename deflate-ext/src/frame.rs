//! deflate-frame and its WebKit name x-webkit-deflate-frame: per-frame
//! compression from draft-tyoshino-hybi-websocket-perframe-deflate, as
//! implemented by pywebsocket, WebKit, Netty and Jetty (the draft text is not
//! available; `shared/specs/deflate-frame-and-deflate-stream-NOTES.md` §B
//! records the behaviour followed here).
//!
//! * Parameters, in offer and response alike: `max_window_bits` (8..=15, no
//!   leading zero) and `no_context_takeover` (no value). Those in the
//!   client's offer constrain the server's compressor; those in the server's
//!   response constrain the client's compressor.
//! * Each data frame (first or continuation) is compressed on its own: raw
//!   DEFLATE, sync flush, `00 00 ff ff` removed, RSV1 set on that frame.
//!   Control frames are never compressed. A frame without RSV1 is taken as is.
//! * The LZ77 window carries over between frames unless
//!   `no_context_takeover` applies to that direction.

use crate::backend::{Compressor, Decompressor, Flush, Level, WindowBits};
use crate::codec::{FrameKind, Transform};
use crate::element::{flag, for_each_param, is_named, push};
use crate::error::{CodecError, NegotiationError};
use http_upgrade::ExtensionOffer;
use ws_proto::Role;

/// The extension token of the draft.
pub const DEFLATE_FRAME: &str = "deflate-frame";
/// The vendor-prefixed token used by WebKit/Safari and Chrome of 2012.
pub const X_WEBKIT_DEFLATE_FRAME: &str = "x-webkit-deflate-frame";

const MAX_WINDOW_BITS: &str = "max_window_bits";
const NO_CONTEXT_TAKEOVER: &str = "no_context_takeover";

/// Whether `dialect` can use deflate-frame: it sets RSV1 per frame on
/// RFC 6455 style framing (versions 13, 8, 7), where browsers used it.
pub fn defined_in(dialect: http_upgrade::Dialect) -> bool {
    dialect.has_rfc6455_framing()
}

/// Which of the two names an element used; the response repeats the offer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeflateFrameName {
    /// `deflate-frame`.
    DeflateFrame,
    /// `x-webkit-deflate-frame`.
    XWebkit,
}

impl DeflateFrameName {
    /// The token.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeflateFrameName::DeflateFrame => DEFLATE_FRAME,
            DeflateFrameName::XWebkit => X_WEBKIT_DEFLATE_FRAME,
        }
    }

    /// The name `e` uses, if it is one of the two.
    pub fn of(e: &ExtensionOffer) -> Option<DeflateFrameName> {
        if is_named(e, DEFLATE_FRAME) {
            Some(DeflateFrameName::DeflateFrame)
        } else if is_named(e, X_WEBKIT_DEFLATE_FRAME) {
            Some(DeflateFrameName::XWebkit)
        } else {
            None
        }
    }
}

/// The requests one side makes of the other's compressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DeflateFrameParams {
    /// The peer must not compress with more than a 2^w window.
    pub max_window_bits: Option<WindowBits>,
    /// The peer must reset its compressor after every frame.
    pub no_context_takeover: bool,
}

impl DeflateFrameParams {
    /// Parses an offer or a response: unknown or repeated parameters, a value
    /// on `no_context_takeover` and a bad `max_window_bits` are refused.
    pub fn parse(
        e: &ExtensionOffer,
    ) -> Result<(DeflateFrameName, DeflateFrameParams), NegotiationError> {
        let name = DeflateFrameName::of(e).ok_or(NegotiationError::WrongName)?;
        let mut p = DeflateFrameParams::default();
        for_each_param(e, &[MAX_WINDOW_BITS, NO_CONTEXT_TAKEOVER], |k, v| {
            if k == 0 {
                let w = v.and_then(WindowBits::parse);
                p.max_window_bits =
                    Some(w.ok_or_else(|| NegotiationError::InvalidValue(MAX_WINDOW_BITS.into()))?);
            } else {
                p.no_context_takeover = flag(NO_CONTEXT_TAKEOVER, v)?;
            }
            Ok(())
        })?;
        Ok((name, p))
    }

    /// The element carrying these parameters under `name`.
    pub fn to_element(&self, name: DeflateFrameName) -> ExtensionOffer {
        let mut e = ExtensionOffer::new(name.as_str());
        if let Some(w) = self.max_window_bits {
            push(&mut e, MAX_WINDOW_BITS, Some(w.to_string()));
        }
        if self.no_context_takeover {
            push(&mut e, NO_CONTEXT_TAKEOVER, None);
        }
        e
    }
}

/// The outcome of deflate-frame negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateFrameAgreed {
    /// The token in use.
    pub name: DeflateFrameName,
    /// The client's offer: constrains the server's compressor.
    pub offer: DeflateFrameParams,
    /// The server's response: constrains the client's compressor.
    pub response: DeflateFrameParams,
}

impl DeflateFrameAgreed {
    /// The response element a server sends.
    pub fn response_element(&self) -> ExtensionOffer {
        self.response.to_element(self.name)
    }
}

/// How a server answers deflate-frame offers.
///
/// `#[non_exhaustive]`: start from the default and chain the `with_*`
/// methods (or assign fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct DeflateFrameServerPolicy {
    /// What the server asks of the client's compressor, sent in the response.
    pub request: DeflateFrameParams,
    /// Decline offers whose `max_window_bits` is below this (default: accept
    /// any, 8 included, see [`crate::backend`]).
    pub min_window_bits: Option<WindowBits>,
}

impl DeflateFrameServerPolicy {
    /// Picks the first valid deflate-frame or x-webkit-deflate-frame offer.
    /// Returns its index in `offers` and the agreement; elements of other
    /// extensions are skipped.
    pub fn accept(&self, offers: &[ExtensionOffer]) -> Option<(usize, DeflateFrameAgreed)> {
        offers.iter().enumerate().find_map(|(i, e)| {
            let (name, offer) = DeflateFrameParams::parse(e).ok()?;
            let too_small = matches!(
                (offer.max_window_bits, self.min_window_bits),
                (Some(w), Some(min)) if w < min
            );
            (!too_small).then_some((
                i,
                DeflateFrameAgreed {
                    name,
                    offer,
                    response: self.request,
                },
            ))
        })
    }
}

/// What a client offers for deflate-frame and how it checks the answer.
///
/// `#[non_exhaustive]`: start from the default and chain the `with_*`
/// methods (or assign fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateFrameClientConfig {
    /// The token to offer.
    pub name: DeflateFrameName,
    /// What the client asks of the server's compressor.
    pub request: DeflateFrameParams,
}

http_upgrade::with_builders!(DeflateFrameServerPolicy {
    request: DeflateFrameParams => with_request;
    min_window_bits: Option<WindowBits> => with_min_window_bits;
});

http_upgrade::with_builders!(DeflateFrameClientConfig {
    name: DeflateFrameName => with_name;
    request: DeflateFrameParams => with_request;
});

impl Default for DeflateFrameClientConfig {
    fn default() -> DeflateFrameClientConfig {
        DeflateFrameClientConfig {
            name: DeflateFrameName::XWebkit,
            request: DeflateFrameParams::default(),
        }
    }
}

impl DeflateFrameClientConfig {
    /// The offer element.
    pub fn offer_element(&self) -> ExtensionOffer {
        self.request.to_element(self.name)
    }

    /// Checks the server's response: same token as offered, valid
    /// parameters. Any request it makes of our compressor is supported.
    pub fn validate(
        &self,
        response: &ExtensionOffer,
    ) -> Result<DeflateFrameAgreed, NegotiationError> {
        let (name, params) = DeflateFrameParams::parse(response)?;
        if name != self.name {
            return Err(NegotiationError::WrongName);
        }
        Ok(DeflateFrameAgreed {
            name,
            offer: self.request,
            response: params,
        })
    }
}

/// An established deflate-frame extension: compresses and inflates frame by
/// frame.
#[derive(Debug)]
pub struct DeflateFrame {
    agreed: DeflateFrameAgreed,
    compressor: Compressor,
    send_nct: bool,
    decompressor: Decompressor,
    recv_nct: bool,
    threshold: usize,
    failed: Option<CodecError>,
}

impl DeflateFrame {
    /// The extension for `role`: the client's compressor follows the
    /// response, the server's the offer. Frames shorter than `threshold`
    /// bytes are sent uncompressed (RSV1 clear).
    pub fn new(
        role: Role,
        agreed: DeflateFrameAgreed,
        level: Level,
        threshold: usize,
    ) -> DeflateFrame {
        let (send, recv) = match role {
            Role::Client => (agreed.response, agreed.offer),
            Role::Server => (agreed.offer, agreed.response),
        };
        let window = |p: DeflateFrameParams| p.max_window_bits.unwrap_or(WindowBits::MAX);
        DeflateFrame {
            agreed,
            compressor: Compressor::new(window(send), level),
            send_nct: send.no_context_takeover,
            decompressor: Decompressor::new(window(recv)),
            recv_nct: recv.no_context_takeover,
            threshold,
            failed: None,
        }
    }

    /// The negotiated parameters.
    pub fn agreed(&self) -> &DeflateFrameAgreed {
        &self.agreed
    }

    /// Whether (compressor, decompressor) state is allocated now.
    pub fn allocated(&self) -> (bool, bool) {
        (
            self.compressor.is_allocated(),
            self.decompressor.is_allocated(),
        )
    }

    /// Compresses one outgoing data frame into `out` and sets RSV1 on it;
    /// control frames and frames below the threshold stay as they are.
    pub fn encode_frame(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        if kind == FrameKind::Control || payload.len() < self.threshold {
            return Ok(Transform::Unchanged);
        }
        self.compressor.compress(payload, out, Flush::End)?;
        if self.send_nct {
            self.compressor.reset();
        }
        Ok(Transform::Replaced { rsv1: true })
    }

    /// Inflates one incoming frame carrying RSV1 into `out`, at most
    /// `max_output` bytes ([`CodecError::TooBig`] beyond). RSV1 on a control
    /// frame is [`CodecError::Rsv1Misplaced`]. Errors are permanent.
    pub fn decode_frame(
        &mut self,
        kind: FrameKind,
        rsv1: bool,
        payload: &[u8],
        max_output: usize,
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.inflate(kind, rsv1, payload, max_output, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.decompressor.release();
        }
        r
    }

    fn inflate(
        &mut self,
        kind: FrameKind,
        rsv1: bool,
        payload: &[u8],
        max_output: usize,
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        if !rsv1 {
            return Ok(Transform::Unchanged);
        }
        if kind == FrameKind::Control {
            return Err(CodecError::Rsv1Misplaced);
        }
        let base = out.len();
        let limit = base.saturating_add(max_output);
        let rebase = |e: CodecError| match e {
            CodecError::TooBig { size, .. } => CodecError::TooBig {
                size: size.saturating_sub(base),
                max: max_output,
            },
            e => e,
        };
        self.decompressor
            .decompress_end(payload, out, limit)
            .map_err(rebase)?;
        if self.recv_nct {
            self.decompressor.reset();
        }
        Ok(Transform::Replaced { rsv1: false })
    }
}

//! permessage-deflate (RFC 7692): parameters, negotiation, and the extension
//! object that compresses outgoing and inflates incoming messages.

pub mod codec;
pub mod negotiate;
pub mod params;

use crate::backend::Level;
use crate::codec::{Budget, FrameKind, Transform};
use crate::error::CodecError;
use codec::{IdleState, MessageDecoder, MessageEncoder};
pub use params::{ClientWindowOffer, PERMESSAGE_DEFLATE, PmdAgreed, PmdOffer};
use ws_proto::Role;

/// Whether `dialect` can use permessage-deflate: it needs RFC 6455 framing
/// with its RSV1 bit (RFC 7692 §6), so versions 13, 8 and 7.
pub fn defined_in(dialect: http_upgrade::Dialect) -> bool {
    dialect.has_rfc6455_framing()
}

/// Local settings of a permessage-deflate endpoint that are not negotiated
/// (RFC 7692 leaves them to the implementation).
///
/// `#[non_exhaustive]`: start from [`PmdConfig::default`] and chain the
/// `with_*` methods (or assign fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PmdConfig {
    /// Compression level; default [`Level::FAST`].
    pub level: Level,
    /// Whole messages shorter than this many bytes are sent uncompressed
    /// (RSV1 clear, RFC 7692 §6); default 64. Fragmented messages whose
    /// first frame is not final are always compressed.
    pub threshold: usize,
    /// What to do with the state of a direction without context takeover
    /// between messages; default [`IdleState::Reset`].
    pub idle: IdleState,
}

impl Default for PmdConfig {
    fn default() -> PmdConfig {
        PmdConfig {
            level: Level::FAST,
            threshold: 64,
            idle: IdleState::Reset,
        }
    }
}

http_upgrade::with_builders!(PmdConfig {
    level: Level => with_level;
    threshold: usize => with_threshold;
    idle: IdleState => with_idle;
});

/// An established permessage-deflate extension for one connection
/// (RFC 7692 §6, §7.2): an encoder for what this endpoint sends and a decoder
/// for what it receives, configured from the agreed parameters and the role.
///
/// Memory: both halves allocate their backend state on first use only;
/// see `docs/deflate.md` for the cost of each setting.
#[derive(Debug)]
pub struct PerMessageDeflate {
    agreed: PmdAgreed,
    role: Role,
    encoder: MessageEncoder,
    decoder: MessageDecoder,
}

impl PerMessageDeflate {
    /// The extension as configured by `agreed` for `role`: a client
    /// compresses with the `client_*` parameters and inflates with the
    /// `server_*` ones, a server the other way round (RFC 7692 §7).
    pub fn new(role: Role, agreed: PmdAgreed, config: PmdConfig) -> PerMessageDeflate {
        let (send_window, send_nct, recv_window, recv_nct) = match role {
            Role::Client => (
                agreed.client_window(),
                agreed.client_no_context_takeover,
                agreed.server_window(),
                agreed.server_no_context_takeover,
            ),
            Role::Server => (
                agreed.server_window(),
                agreed.server_no_context_takeover,
                agreed.client_window(),
                agreed.client_no_context_takeover,
            ),
        };
        PerMessageDeflate {
            agreed,
            role,
            encoder: MessageEncoder::new(
                send_window,
                config.level,
                send_nct,
                config.idle,
                config.threshold,
            ),
            decoder: MessageDecoder::new(recv_window, recv_nct, config.idle),
        }
    }

    /// The agreed parameters.
    pub fn agreed(&self) -> &PmdAgreed {
        &self.agreed
    }

    /// The role this instance serves.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The response element a server sends for these parameters.
    pub fn response_element(&self) -> http_upgrade::ExtensionOffer {
        self.agreed.to_element()
    }

    /// Whether (compressor, decompressor) state is allocated now.
    pub fn allocated(&self) -> (bool, bool) {
        (self.encoder.is_allocated(), self.decoder.is_allocated())
    }

    /// The key under which the next message's encoding may be shared (see
    /// `ws_proto::Extension::shared_encoding`).
    pub fn encoder_key(&self) -> Option<u64> {
        self.encoder.shared_key()
    }

    /// Transforms an outgoing frame; see [`MessageEncoder::encode`].
    #[inline]
    pub fn encode_frame(
        &mut self,
        kind: FrameKind,
        fin: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        self.encoder.encode(kind, fin, payload, out)
    }

    /// Transforms an incoming frame, inflating at most `budget`; see
    /// [`MessageDecoder::decode`].
    #[inline]
    pub fn decode_frame(
        &mut self,
        kind: FrameKind,
        rsv1: bool,
        fin: bool,
        payload: &[u8],
        budget: Budget,
        out: &mut Vec<u8>,
    ) -> Result<Transform, CodecError> {
        self.decoder.decode(kind, rsv1, fin, payload, budget, out)
    }
}

//! permessage-deflate negotiation for both roles (RFC 7692 §5, §7.1): the
//! client's offers, the server's choice and answer, the client's check of
//! that answer.

use super::params::{ClientWindowOffer, PERMESSAGE_DEFLATE, PmdAgreed, PmdOffer};
use crate::backend::WindowBits;
use crate::element::is_named;
use crate::error::NegotiationError;
use http_upgrade::ExtensionOffer;

/// How a server answers permessage-deflate offers (RFC 7692 §7.1).
///
/// The default accepts every valid offer with the client's requests granted
/// and nothing added: the same answer as `permessage-deflate` servers that
/// do not tune memory. Set the fields to trade ratio for memory.
///
/// `#[non_exhaustive]`: start from [`PmdServerPolicy::default`] and chain
/// the `with_*` methods (or assign fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PmdServerPolicy {
    /// Add `server_no_context_takeover` to every response: the server resets
    /// its compressor after each message (§7.1.1.1 lets a server do so
    /// unasked). Saves the client its inflate window between messages.
    pub server_no_context_takeover: bool,
    /// Add `client_no_context_takeover` to every response (§7.1.1.2): the
    /// client resets its compressor after each message, so the server may
    /// reset its decompressor. When the offer carries the hint, the response
    /// echoes it whatever this says.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with. The response carries
    /// `server_max_window_bits` when this or the offer's limit is below 15.
    pub server_max_window_bits: WindowBits,
    /// The largest window the server wants the client to compress with. It
    /// can only be asked for when the offer has `client_max_window_bits`
    /// (§7.1.2.2); a hint value in the offer is echoed when smaller.
    pub client_max_window_bits: WindowBits,
    /// Decline offers without `client_max_window_bits` when
    /// `client_max_window_bits` is below 15 (the client could not be
    /// limited). Otherwise such offers are accepted with a 32 KiB client
    /// window.
    pub require_client_max_window_bits: bool,
    /// Accept offers carrying `server_max_window_bits` (RFC 7692 §7.1.2.1 lets
    /// a server that does not support it decline them).
    pub accept_server_max_window_bits: bool,
    /// The smallest window the server agrees to compress with; offers asking
    /// for less are declined. Default 8: see [`crate::backend`] on how
    /// window bits 8 are honoured.
    pub min_server_max_window_bits: WindowBits,
}

impl Default for PmdServerPolicy {
    fn default() -> PmdServerPolicy {
        PmdServerPolicy {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: WindowBits::MAX,
            client_max_window_bits: WindowBits::MAX,
            require_client_max_window_bits: false,
            accept_server_max_window_bits: true,
            min_server_max_window_bits: WindowBits::MIN,
        }
    }
}

impl PmdServerPolicy {
    /// The agreed parameters this policy answers `offer` with, or why it
    /// declines it (RFC 7692 §7: "the server doesn't support the offered
    /// configuration").
    pub fn respond(&self, offer: &PmdOffer) -> Result<PmdAgreed, NegotiationError> {
        if offer.server_max_window_bits.is_some() && !self.accept_server_max_window_bits {
            return Err(NegotiationError::Unsupported(
                "server_max_window_bits".to_owned(),
            ));
        }
        let server_window = match offer.server_max_window_bits {
            Some(w) => w.min(self.server_max_window_bits),
            None => self.server_max_window_bits,
        };
        if server_window < self.min_server_max_window_bits {
            return Err(NegotiationError::Unsupported(
                "server_max_window_bits".to_owned(),
            ));
        }
        let server_max_window_bits = (offer.server_max_window_bits.is_some()
            || server_window < WindowBits::MAX)
            .then_some(server_window);
        let cap = self.client_max_window_bits;
        let client_max_window_bits = match offer.client_max_window_bits {
            ClientWindowOffer::Absent if cap < WindowBits::MAX => {
                if self.require_client_max_window_bits {
                    return Err(NegotiationError::Unsupported(
                        "client_max_window_bits".to_owned(),
                    ));
                }
                None
            }
            ClientWindowOffer::Absent => None,
            ClientWindowOffer::Supported => (cap < WindowBits::MAX).then_some(cap),
            ClientWindowOffer::Hint(w) => Some(w.min(cap)),
        };
        Ok(PmdAgreed {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }

    /// Picks the first offer in the client's order of preference that is a
    /// valid permessage-deflate offer this policy accepts (RFC 7692 §5: "It is
    /// RECOMMENDED that a server accepts PMCEs with higher preference").
    /// Returns its index in `offers` and the agreed parameters; `None`
    /// declines them all. Elements of other extensions are skipped.
    pub fn accept(&self, offers: &[ExtensionOffer]) -> Option<(usize, PmdAgreed)> {
        self.accept_with(offers, |_, _, _| true)
    }

    /// As [`accept`](PmdServerPolicy::accept), with a further say: `choose`
    /// sees each acceptable offer (index, offer, answer) in order and returns
    /// whether to take it.
    pub fn accept_with<F>(
        &self,
        offers: &[ExtensionOffer],
        mut choose: F,
    ) -> Option<(usize, PmdAgreed)>
    where
        F: FnMut(usize, &PmdOffer, &PmdAgreed) -> bool,
    {
        offers.iter().enumerate().find_map(|(i, e)| {
            if !is_named(e, PERMESSAGE_DEFLATE) {
                return None;
            }
            let offer = PmdOffer::parse(e).ok()?;
            let agreed = self.respond(&offer).ok()?;
            choose(i, &offer, &agreed).then_some((i, agreed))
        })
    }
}

/// What a client offers and accepts for permessage-deflate (RFC 7692 §5,
/// §7.1).
///
/// `#[non_exhaustive]`: start from [`PmdClientConfig::default`] and chain
/// the `with_*` methods (or assign fields).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PmdClientConfig {
    /// The offers, most preferred first (RFC 7692 §5: "An element preceding
    /// another element has higher preference"). Must not be empty.
    pub offers: Vec<PmdOffer>,
    /// The smallest client window this client agrees to compress with; a
    /// response asking for less fails the handshake. Default 8.
    pub min_client_max_window_bits: WindowBits,
}

http_upgrade::with_builders!(PmdServerPolicy {
    server_no_context_takeover: bool => with_server_no_context_takeover;
    client_no_context_takeover: bool => with_client_no_context_takeover;
    server_max_window_bits: WindowBits => with_server_max_window_bits;
    client_max_window_bits: WindowBits => with_client_max_window_bits;
    require_client_max_window_bits: bool => with_require_client_max_window_bits;
    accept_server_max_window_bits: bool => with_accept_server_max_window_bits;
    min_server_max_window_bits: WindowBits => with_min_server_max_window_bits;
});

http_upgrade::with_builders!(PmdClientConfig {
    offers: Vec<PmdOffer> => with_offers;
    min_client_max_window_bits: WindowBits => with_min_client_max_window_bits;
});

impl Default for PmdClientConfig {
    /// One offer, `permessage-deflate; client_max_window_bits`: any server
    /// limit on our window is accepted.
    fn default() -> PmdClientConfig {
        PmdClientConfig {
            offers: vec![PmdOffer {
                client_max_window_bits: ClientWindowOffer::Supported,
                ..PmdOffer::default()
            }],
            min_client_max_window_bits: WindowBits::MIN,
        }
    }
}

impl PmdClientConfig {
    /// The offer elements, in order, for `Sec-WebSocket-Extensions`.
    pub fn offer_elements(&self) -> Vec<ExtensionOffer> {
        self.offers.iter().map(PmdOffer::to_element).collect()
    }

    /// Checks the server's permessage-deflate response (RFC 7692 §7: unknown
    /// parameter, invalid value, duplicate, unsupported configuration all
    /// fail the connection; §5: the response must correspond to one of the
    /// offers). Returns the agreed parameters.
    pub fn validate(&self, response: &ExtensionOffer) -> Result<PmdAgreed, NegotiationError> {
        let agreed = PmdAgreed::parse(response)?;
        if agreed.client_window() < self.min_client_max_window_bits {
            return Err(NegotiationError::Unsupported(
                "client_max_window_bits".to_owned(),
            ));
        }
        let mut first_err = None;
        for offer in &self.offers {
            match offer.accepts(&agreed) {
                Ok(()) => return Ok(agreed),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(NegotiationError::NotOffered(PERMESSAGE_DEFLATE.to_owned())))
    }
}

//! The three extensions as ws-proto [`Negotiator`]s, ready for a
//! [`SessionConfig`](ws_proto::session::SessionConfig): each holds the
//! client's offers, the server's policy and the codec settings, and only
//! speaks in the dialects that defined its extension.
//!
//! | negotiator | token(s) | dialects | RSV |
//! |---|---|---|---|
//! | [`PmdNegotiator`] | `permessage-deflate` (RFC 7692) | 13, 8, 7 | RSV1 |
//! | [`DeflateFrameNegotiator`] | `deflate-frame`, `x-webkit-deflate-frame` | 13, 8, 7 | RSV1 |
//! | [`DeflateStreamNegotiator`] | `deflate-stream` (hybi -04 to -09) | 8 to 4 | none |
//!
//! A negotiator is shared by every connection of an endpoint: it holds
//! policy only, and builds a fresh extension per connection.
//!
//! **Client.** [`offers`](Negotiator::offers) sends the configured offers;
//! [`confirm`](Negotiator::confirm) claims a response element only if it
//! carries a token this negotiator offered in that dialect (`Ok(None)`
//! otherwise, so an unsolicited element is claimed by nobody and fails the
//! handshake), and fails it when it does not correspond to an offer
//! (RFC 7692 §7.1). That two accepted elements may not share RSV1
//! (RFC 7692 §5) is checked by the session across the whole response.

use crate::backend::Level;
use crate::error::NegotiationError;
use crate::frame::{
    self, DeflateFrame, DeflateFrameClientConfig, DeflateFrameName, DeflateFrameServerPolicy,
};
use crate::pmd::negotiate::{PmdClientConfig, PmdServerPolicy};
use crate::pmd::{self, PERMESSAGE_DEFLATE, PerMessageDeflate, PmdConfig, PmdOffer};
use crate::stream::{self, DEFLATE_STREAM, DeflateStream};
use http_upgrade::ExtensionOffer;
use ws_proto::session::Negotiator;
use ws_proto::{Dialect, Extension, ExtensionError, Role};

fn failed(token: &str, e: NegotiationError) -> ExtensionError {
    ExtensionError::Negotiation(format!("{token}: {e}").into())
}

/// permessage-deflate (RFC 7692) for a session, both roles.
///
/// The default offers `permessage-deflate; client_max_window_bits` (any
/// server limit on our window is accepted), accepts every valid offer as a
/// server with the client's requests granted, and compresses at
/// [`Level::FAST`] from 64 bytes up ([`PmdConfig::default`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PmdNegotiator {
    /// Client: the offers, most preferred first, and what responses to accept.
    pub client: PmdClientConfig,
    /// Server: how offers are answered.
    pub server: PmdServerPolicy,
    /// Both: level, threshold and idle state of the codec.
    pub config: PmdConfig,
}

impl PmdNegotiator {
    /// The defaults described on the type.
    pub fn new() -> PmdNegotiator {
        PmdNegotiator::default()
    }

    /// Client: offer these, most preferred first (RFC 7692 §5) instead of
    /// the default offer. An empty list offers nothing.
    pub fn with_offers(mut self, offers: impl IntoIterator<Item = PmdOffer>) -> PmdNegotiator {
        self.client.offers = offers.into_iter().collect();
        self
    }

    /// Client: the whole client configuration.
    pub fn with_client(mut self, client: PmdClientConfig) -> PmdNegotiator {
        self.client = client;
        self
    }

    /// Server: answer offers under `policy`.
    pub fn with_policy(mut self, policy: PmdServerPolicy) -> PmdNegotiator {
        self.server = policy;
        self
    }

    /// Both: the codec settings.
    pub fn with_config(mut self, config: PmdConfig) -> PmdNegotiator {
        self.config = config;
        self
    }

    /// Both: the compression level.
    pub fn with_level(mut self, level: Level) -> PmdNegotiator {
        self.config.level = level;
        self
    }

    /// Both: whole messages shorter than this are sent uncompressed.
    pub fn with_threshold(mut self, threshold: usize) -> PmdNegotiator {
        self.config.threshold = threshold;
        self
    }
}

impl PerMessageDeflate {
    /// A [`PmdNegotiator`] with its defaults, for
    /// [`SessionConfig::with_negotiator`](ws_proto::session::SessionConfig::with_negotiator).
    pub fn negotiator() -> PmdNegotiator {
        PmdNegotiator::default()
    }
}

impl Negotiator for PmdNegotiator {
    fn name(&self) -> &str {
        PERMESSAGE_DEFLATE
    }

    fn offers(&self, dialect: Dialect) -> Vec<ExtensionOffer> {
        if !pmd::defined_in(dialect) {
            return Vec::new();
        }
        self.client.offer_elements()
    }

    fn accept(
        &self,
        dialect: Dialect,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        if !pmd::defined_in(dialect) {
            return None;
        }
        let (_, agreed) = self.server.accept(offers)?;
        let ext = PerMessageDeflate::new(Role::Server, agreed, self.config);
        Some((agreed.to_element(), Box::new(ext)))
    }

    fn confirm(
        &self,
        dialect: Dialect,
        response: &ExtensionOffer,
    ) -> Result<Option<Box<dyn Extension>>, ExtensionError> {
        let offered = pmd::defined_in(dialect) && !self.client.offers.is_empty();
        if !offered || !response.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return Ok(None);
        }
        let agreed = self
            .client
            .validate(response)
            .map_err(|e| failed(PERMESSAGE_DEFLATE, e))?;
        let ext = PerMessageDeflate::new(Role::Client, agreed, self.config);
        Ok(Some(Box::new(ext)))
    }
}

/// deflate-frame / x-webkit-deflate-frame for a session, both roles.
///
/// The default offers `x-webkit-deflate-frame` without parameters (the name
/// browsers sent; [`named`](DeflateFrameNegotiator::named) picks the other),
/// accepts either name as a server and echoes it, asks nothing of the
/// client's compressor, and compresses frames of 64 bytes and more at
/// [`Level::FAST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateFrameNegotiator {
    /// Client: the token to offer and the requests on the server's compressor.
    pub client: DeflateFrameClientConfig,
    /// Server: how offers are answered.
    pub server: DeflateFrameServerPolicy,
    /// Both: the compression level.
    pub level: Level,
    /// Both: frames shorter than this are sent uncompressed (RSV1 clear).
    pub threshold: usize,
}

impl Default for DeflateFrameNegotiator {
    fn default() -> DeflateFrameNegotiator {
        DeflateFrameNegotiator {
            client: DeflateFrameClientConfig::default(),
            server: DeflateFrameServerPolicy::default(),
            level: Level::FAST,
            threshold: PmdConfig::default().threshold,
        }
    }
}

impl DeflateFrameNegotiator {
    /// The defaults, offering `name` as a client.
    pub fn named(name: DeflateFrameName) -> DeflateFrameNegotiator {
        let mut n = DeflateFrameNegotiator::default();
        n.client.name = name;
        n
    }

    /// Client: the whole client configuration.
    pub fn with_client(mut self, client: DeflateFrameClientConfig) -> DeflateFrameNegotiator {
        self.client = client;
        self
    }

    /// Server: answer offers under `policy`.
    pub fn with_policy(mut self, policy: DeflateFrameServerPolicy) -> DeflateFrameNegotiator {
        self.server = policy;
        self
    }

    /// Both: the compression level.
    pub fn with_level(mut self, level: Level) -> DeflateFrameNegotiator {
        self.level = level;
        self
    }

    /// Both: frames shorter than this are sent uncompressed.
    pub fn with_threshold(mut self, threshold: usize) -> DeflateFrameNegotiator {
        self.threshold = threshold;
        self
    }
}

impl DeflateFrame {
    /// A [`DeflateFrameNegotiator`] with its defaults.
    pub fn negotiator() -> DeflateFrameNegotiator {
        DeflateFrameNegotiator::default()
    }
}

impl Negotiator for DeflateFrameNegotiator {
    fn name(&self) -> &str {
        self.client.name.as_str()
    }

    fn offers(&self, dialect: Dialect) -> Vec<ExtensionOffer> {
        if !frame::defined_in(dialect) {
            return Vec::new();
        }
        vec![self.client.offer_element()]
    }

    fn accept(
        &self,
        dialect: Dialect,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        if !frame::defined_in(dialect) {
            return None;
        }
        let (_, agreed) = self.server.accept(offers)?;
        let ext = DeflateFrame::new(Role::Server, agreed, self.level, self.threshold);
        Some((agreed.response_element(), Box::new(ext)))
    }

    fn confirm(
        &self,
        dialect: Dialect,
        response: &ExtensionOffer,
    ) -> Result<Option<Box<dyn Extension>>, ExtensionError> {
        let name = self.client.name;
        if !frame::defined_in(dialect) || DeflateFrameName::of(response) != Some(name) {
            return Ok(None);
        }
        let agreed = self
            .client
            .validate(response)
            .map_err(|e| failed(name.as_str(), e))?;
        let ext = DeflateFrame::new(Role::Client, agreed, self.level, self.threshold);
        Ok(Some(Box::new(ext)))
    }
}

/// deflate-stream for a session, both roles (hybi drafts -04 to -09; it has
/// no parameters).
///
/// [`fallback`](DeflateStreamNegotiator::fallback) makes a server accept it
/// only when the client offers no per-message or per-frame compression that
/// the dialect defines, so that a set like [`default_negotiators`] never
/// compresses twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateStreamNegotiator {
    /// Both: the compression level.
    pub level: Level,
    /// Server: decline when the offers also hold `permessage-deflate`,
    /// `deflate-frame` or `x-webkit-deflate-frame` in a dialect that
    /// defines them (another negotiator is expected to take those).
    pub fallback_only: bool,
}

impl Default for DeflateStreamNegotiator {
    fn default() -> DeflateStreamNegotiator {
        DeflateStreamNegotiator {
            level: Level::FAST,
            fallback_only: false,
        }
    }
}

impl DeflateStreamNegotiator {
    /// The defaults, accepting deflate-stream only as a fallback (see
    /// [`fallback_only`](DeflateStreamNegotiator::fallback_only)).
    pub fn fallback() -> DeflateStreamNegotiator {
        DeflateStreamNegotiator {
            fallback_only: true,
            ..DeflateStreamNegotiator::default()
        }
    }

    /// Both: the compression level.
    pub fn with_level(mut self, level: Level) -> DeflateStreamNegotiator {
        self.level = level;
        self
    }
}

impl DeflateStream {
    /// A [`DeflateStreamNegotiator`] with its defaults.
    pub fn negotiator() -> DeflateStreamNegotiator {
        DeflateStreamNegotiator::default()
    }
}

/// Whether `offers` hold a compression extension other than deflate-stream
/// that `dialect` defines.
fn offers_other_compression(dialect: Dialect, offers: &[ExtensionOffer]) -> bool {
    offers.iter().any(|o| {
        (o.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) && pmd::defined_in(dialect))
            || (DeflateFrameName::of(o).is_some() && frame::defined_in(dialect))
    })
}

impl Negotiator for DeflateStreamNegotiator {
    fn name(&self) -> &str {
        DEFLATE_STREAM
    }

    fn offers(&self, dialect: Dialect) -> Vec<ExtensionOffer> {
        if !stream::defined_in(dialect) {
            return Vec::new();
        }
        vec![stream::element()]
    }

    fn accept(
        &self,
        dialect: Dialect,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        if !stream::defined_in(dialect)
            || (self.fallback_only && offers_other_compression(dialect, offers))
        {
            return None;
        }
        offers.iter().find(|o| stream::validate(o).is_ok())?;
        let ext: Box<dyn Extension> = Box::new(DeflateStream::new(self.level));
        Some((stream::element(), ext))
    }

    fn confirm(
        &self,
        dialect: Dialect,
        response: &ExtensionOffer,
    ) -> Result<Option<Box<dyn Extension>>, ExtensionError> {
        if !stream::defined_in(dialect) || !response.name.eq_ignore_ascii_case(DEFLATE_STREAM) {
            return Ok(None);
        }
        stream::validate(response).map_err(|e| failed(DEFLATE_STREAM, e))?;
        Ok(Some(Box::new(DeflateStream::new(self.level))))
    }
}

/// The recommended set for a server, in order of preference:
/// permessage-deflate ([`PmdNegotiator::default`]), then deflate-frame /
/// x-webkit-deflate-frame ([`DeflateFrameNegotiator::default`], taken only
/// when the client did not offer an acceptable permessage-deflate, since the
/// session never lets two extensions share RSV1), then deflate-stream for
/// the hybi dialects ([`DeflateStreamNegotiator::fallback`]).
///
/// A client normally offers permessage-deflate alone
/// (`vec![Box::new(PmdNegotiator::default())]`); this set would also offer
/// `x-webkit-deflate-frame` and, on hybi dialects, `deflate-stream`.
pub fn default_negotiators() -> Vec<Box<dyn Negotiator>> {
    vec![
        Box::new(PmdNegotiator::default()),
        Box::new(DeflateFrameNegotiator::default()),
        Box::new(DeflateStreamNegotiator::fallback()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(offers: &[ExtensionOffer]) -> String {
        http_upgrade::serialize_extensions(offers)
    }

    #[test]
    fn offers_only_where_the_dialect_defines_the_extension() {
        let set = default_negotiators();
        let table = [
            (
                Dialect::Rfc6455,
                "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
            ),
            (
                Dialect::Hybi08,
                "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame, deflate-stream",
            ),
            (
                Dialect::Hybi07,
                "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame, deflate-stream",
            ),
            (Dialect::Hybi06, "deflate-stream"),
            (Dialect::Hybi04, "deflate-stream"),
            (Dialect::Hixie76, ""),
        ];
        for (d, want) in table {
            let offers: Vec<ExtensionOffer> = set.iter().flat_map(|n| n.offers(d)).collect();
            assert_eq!(names(&offers), want, "{d:?}");
        }
    }

    #[test]
    fn confirm_claims_only_what_was_offered() {
        let pmd = PmdNegotiator::default();
        let df = DeflateFrameNegotiator::named(DeflateFrameName::DeflateFrame);
        let ds = DeflateStreamNegotiator::default();
        let e = ExtensionOffer::new;
        // Another negotiator's token, or ours in a dialect we did not offer it in.
        assert!(
            pmd.confirm(Dialect::Rfc6455, &e("deflate-stream"))
                .unwrap()
                .is_none()
        );
        assert!(
            pmd.confirm(Dialect::Hybi06, &e(PERMESSAGE_DEFLATE))
                .unwrap()
                .is_none()
        );
        assert!(
            df.confirm(Dialect::Rfc6455, &e("x-webkit-deflate-frame"))
                .unwrap()
                .is_none()
        );
        assert!(
            ds.confirm(Dialect::Rfc6455, &e(DEFLATE_STREAM))
                .unwrap()
                .is_none()
        );
        // An empty offer list claims nothing.
        let silent = PmdNegotiator::default().with_offers([]);
        assert!(silent.offers(Dialect::Rfc6455).is_empty());
        assert!(
            silent
                .confirm(Dialect::Rfc6455, &e(PERMESSAGE_DEFLATE))
                .unwrap()
                .is_none()
        );
        // Ours, valid and invalid.
        let ok = pmd
            .confirm(Dialect::Rfc6455, &e("PerMessage-Deflate"))
            .unwrap();
        assert_eq!(ok.unwrap().name(), PERMESSAGE_DEFLATE);
        let bad = e(PERMESSAGE_DEFLATE).with_param("x", None);
        assert!(matches!(
            pmd.confirm(Dialect::Rfc6455, &bad),
            Err(ExtensionError::Negotiation(_))
        ));
        assert_eq!(
            df.confirm(Dialect::Hybi08, &e("deflate-frame"))
                .unwrap()
                .unwrap()
                .name(),
            "deflate-frame"
        );
        let bad = e(DEFLATE_STREAM).with_param("x", Some("1"));
        assert!(ds.confirm(Dialect::Hybi07, &bad).is_err());
    }

    #[test]
    fn server_choices() {
        let e = ExtensionOffer::new;
        let pmd = PmdNegotiator::default();
        let offers = [e("deflate-stream"), e(PERMESSAGE_DEFLATE)];
        let (resp, ext) = pmd.accept(Dialect::Rfc6455, &offers).unwrap();
        assert_eq!(
            (resp.to_string().as_str(), ext.rsv_mask()),
            (PERMESSAGE_DEFLATE, 0x40)
        );
        assert!(pmd.accept(Dialect::Hybi06, &offers).is_none());
        // deflate-frame echoes the token it was offered.
        let df = DeflateFrameNegotiator::default();
        let (resp, _) = df.accept(Dialect::Hybi08, &[e("deflate-frame")]).unwrap();
        assert_eq!(resp.to_string(), "deflate-frame");
        // deflate-stream: only in the hybi dialects; as a fallback, only
        // when nothing better that the dialect defines is offered.
        let ds = DeflateStreamNegotiator::default();
        let fb = DeflateStreamNegotiator::fallback();
        assert!(ds.accept(Dialect::Rfc6455, &offers).is_none());
        let (resp, ext) = ds.accept(Dialect::Hybi08, &offers).unwrap();
        assert_eq!(
            (resp.to_string().as_str(), ext.rsv_mask()),
            (DEFLATE_STREAM, 0)
        );
        assert!(fb.accept(Dialect::Hybi08, &offers).is_none());
        assert!(fb.accept(Dialect::Hybi08, &offers[..1]).is_some());
        // On hybi-06 permessage-deflate does not exist, so it does not count.
        assert!(fb.accept(Dialect::Hybi06, &offers).is_some());
    }
}

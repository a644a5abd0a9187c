//! Glue to http-upgrade's `Sec-WebSocket-Extensions` types (RFC 6455 §9.1):
//! its parsed [`ExtensionOffer`] is read through [`ExtensionElement`], and
//! [`Element`]s built here convert into it for the handshake to serialize.

use crate::element::{Element, ExtensionElement};
use http_upgrade::{ExtensionOffer, ExtensionParam};

impl ExtensionElement for ExtensionOffer {
    fn name(&self) -> &str {
        &self.name
    }
    fn param_count(&self) -> usize {
        self.params.len()
    }
    fn param(&self, i: usize) -> Option<(&str, Option<&str>)> {
        self.params
            .get(i)
            .map(|p| (p.name.as_str(), p.value.as_deref()))
    }
}

impl From<Element> for ExtensionOffer {
    fn from(e: Element) -> ExtensionOffer {
        ExtensionOffer {
            name: e.name,
            params: e
                .params
                .into_iter()
                .map(|(name, value)| ExtensionParam { name, value })
                .collect(),
        }
    }
}

impl From<&ExtensionOffer> for Element {
    fn from(e: &ExtensionOffer) -> Element {
        Element::from_view(e)
    }
}

/// Views a parsed list as the negotiation functions take it.
pub fn views(list: &[ExtensionOffer]) -> impl Iterator<Item = &dyn ExtensionElement> {
    list.iter().map(|e| e as &dyn ExtensionElement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pmd::negotiate::{PmdClientConfig, PmdServerPolicy};

    #[test]
    fn negotiates_through_http_upgrade_parsing() {
        let header = b"permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", permessage-deflate";
        let mut offers = Vec::new();
        http_upgrade::parse_extensions([&header[..]], &mut offers).unwrap();
        let (i, agreed) = PmdServerPolicy::default().accept(views(&offers)).unwrap();
        assert_eq!(i, 0);
        let response: ExtensionOffer = agreed.to_element().into();
        let line = http_upgrade::serialize_extensions(&[response]);
        assert_eq!(line, "permessage-deflate; server_max_window_bits=10");
        let mut parsed = Vec::new();
        http_upgrade::parse_extensions([line.as_bytes()], &mut parsed).unwrap();
        let client = PmdClientConfig::default();
        // The default client did not offer server_max_window_bits, so any
        // server limit is fine for it.
        assert_eq!(client.validate(&parsed[0]), Ok(agreed));
        assert_eq!(Element::from(&parsed[0]), agreed.to_element());
    }
}

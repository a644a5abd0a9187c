//! Reading `Sec-WebSocket-Extensions` elements (RFC 6455 §9.1) strictly, as
//! the negotiation code of every extension here needs: http-upgrade parses
//! the header into [`ExtensionOffer`]s (values unquoted, RFC 7692 §5.2), and
//! these helpers check names and parameters.

use crate::error::NegotiationError;
use http_upgrade::ExtensionOffer;

/// Whether `e` names the extension `name` (tokens compared ASCII
/// case-insensitively).
pub(crate) fn is_named(e: &ExtensionOffer, name: &str) -> bool {
    e.name.eq_ignore_ascii_case(name)
}

/// Walks the parameters of `e`, refusing a name seen twice (RFC 7692 §7:
/// "multiple extension parameters with the same name") and any name not in
/// `known`. Calls `each(index into known, value)` once per parameter.
pub(crate) fn for_each_param(
    e: &ExtensionOffer,
    known: &[&str],
    mut each: impl FnMut(usize, Option<&str>) -> Result<(), NegotiationError>,
) -> Result<(), NegotiationError> {
    let mut seen = 0u32;
    for p in &e.params {
        let Some(k) = known.iter().position(|n| n.eq_ignore_ascii_case(&p.name)) else {
            return Err(NegotiationError::UnknownParam(p.name.clone()));
        };
        if seen & (1 << k) != 0 {
            return Err(NegotiationError::DuplicateParam(p.name.clone()));
        }
        seen |= 1 << k;
        each(k, p.value.as_deref())?;
    }
    Ok(())
}

/// A parameter that must have no value (RFC 7692 §7.1.1.1, §7.1.1.2).
pub(crate) fn flag(name: &str, value: Option<&str>) -> Result<bool, NegotiationError> {
    match value {
        None => Ok(true),
        Some(_) => Err(NegotiationError::InvalidValue(name.to_owned())),
    }
}

/// Adds a parameter to an element being built.
pub(crate) fn push(e: &mut ExtensionOffer, name: &str, value: Option<String>) {
    e.params.push(http_upgrade::ExtensionParam {
        name: name.to_owned(),
        value,
    });
}

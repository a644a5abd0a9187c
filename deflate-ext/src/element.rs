//! A neutral view of one `Sec-WebSocket-Extensions` element (RFC 6455 §9.1):
//! an extension name and its parameters. The negotiation code reads offers
//! and responses through [`ExtensionElement`] and writes [`Element`]s, so it
//! can be fed from any parser (http-upgrade's `ExtensionOffer` implements the
//! trait, see [`crate::upgrade`]).

use crate::error::NegotiationError;
use core::fmt;

/// Read access to one extension element: `name; p1; p2=value`
/// (RFC 6455 §9.1). Values are unquoted (RFC 7692 §5.2: `x="10"` is `x=10`).
pub trait ExtensionElement {
    /// The extension token.
    fn name(&self) -> &str;
    /// The number of parameters.
    fn param_count(&self) -> usize;
    /// Parameter `i` (0-based, in order): its name and its value, `None` for
    /// a parameter without `=`.
    fn param(&self, i: usize) -> Option<(&str, Option<&str>)>;
}

/// An owned extension element, as built for an offer or a response.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Element {
    /// The extension token.
    pub name: String,
    /// Parameters in order: name and optional value.
    pub params: Vec<(String, Option<String>)>,
}

impl Element {
    /// An element without parameters.
    pub fn new(name: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter, builder style; `None` for a parameter without value.
    pub fn with(mut self, name: &str, value: Option<&str>) -> Element {
        self.params
            .push((name.to_owned(), value.map(str::to_owned)));
        self
    }

    /// Adds a parameter in place.
    pub fn push(&mut self, name: &str, value: Option<String>) {
        self.params.push((name.to_owned(), value));
    }

    /// Copies any element into an owned one.
    pub fn from_view(e: &dyn ExtensionElement) -> Element {
        let params = (0..e.param_count())
            .filter_map(|i| e.param(i))
            .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
            .collect();
        Element {
            name: e.name().to_owned(),
            params,
        }
    }
}

impl ExtensionElement for Element {
    fn name(&self) -> &str {
        &self.name
    }
    fn param_count(&self) -> usize {
        self.params.len()
    }
    fn param(&self, i: usize) -> Option<(&str, Option<&str>)> {
        self.params.get(i).map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

impl fmt::Display for Element {
    /// The header form `name; p1; p2=v` (RFC 6455 §9.1). Values written by
    /// this crate are tokens (decimal window sizes), never quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (n, v) in &self.params {
            write!(f, "; {n}")?;
            if let Some(v) = v {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// Joins elements into one `Sec-WebSocket-Extensions` value, `", "` between.
pub fn header_value(elements: &[Element]) -> String {
    let mut s = String::new();
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&e.to_string());
    }
    s
}

/// Whether `e` names the extension `name` (tokens compared ASCII
/// case-insensitively).
pub(crate) fn is_named(e: &dyn ExtensionElement, name: &str) -> bool {
    e.name().eq_ignore_ascii_case(name)
}

/// Walks the parameters of `e`, refusing a name seen twice (RFC 7692 §7:
/// "multiple extension parameters with the same name") and any name not in
/// `known`. Calls `each(index into known, value)` once per parameter.
pub(crate) fn for_each_param(
    e: &dyn ExtensionElement,
    known: &[&str],
    mut each: impl FnMut(usize, Option<&str>) -> Result<(), NegotiationError>,
) -> Result<(), NegotiationError> {
    let mut seen = 0u32;
    for i in 0..e.param_count() {
        let Some((name, value)) = e.param(i) else {
            continue;
        };
        let Some(k) = known.iter().position(|n| n.eq_ignore_ascii_case(name)) else {
            return Err(NegotiationError::UnknownParam(name.to_owned()));
        };
        if seen & (1 << k) != 0 {
            return Err(NegotiationError::DuplicateParam(name.to_owned()));
        }
        seen |= 1 << k;
        each(k, value)?;
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

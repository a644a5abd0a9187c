//! `Sec-WebSocket-Extensions` offers and responses (RFC 6455 §9.1):
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! A quoted value must be a token once unquoted (RFC 6455 §9.1). This crate
//! only parses and serializes; negotiation lives in the extension crates.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::grammar::{Cursor, GrammarError, is_token, push_token_or_quoted};

/// One element of a `Sec-WebSocket-Extensions` list: an offer from a client
/// or an accepted entry in a server's response (RFC 6455 §9.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<ExtensionParam>,
}

/// An extension parameter, `name` or `name=value` (RFC 6455 §9.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ExtensionParam {
    /// The parameter token.
    pub name: String,
    /// The value, unquoted; `None` for a parameter without `=`.
    pub value: Option<String>,
}

impl ExtensionOffer {
    /// An offer without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        ExtensionOffer {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (builder style); `value` `None` for a bare flag.
    pub fn with_param(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.params.push(ExtensionParam {
            name: name.into(),
            value: value.map(String::from),
        });
        self
    }

    /// The first parameter called `name` (ASCII case-insensitive): `None` if
    /// absent, `Some(None)` if present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// True if every name and value is a token, so that the serialized form
    /// parses back to the same offer (RFC 6455 §9.1).
    pub fn is_valid(&self) -> bool {
        is_token(&self.name)
            && self
                .params
                .iter()
                .all(|p| is_token(&p.name) && p.value.as_deref().is_none_or(is_token))
    }
}

impl fmt::Display for ExtensionOffer {
    /// The RFC 6455 §9.1 form, `name; p1; p2=v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        push_extension(&mut s, self);
        f.write_str(&s)
    }
}

fn push_extension(out: &mut String, ext: &ExtensionOffer) {
    out.push_str(&ext.name);
    for p in &ext.params {
        out.push_str("; ");
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            push_token_or_quoted(out, v);
        }
    }
}

/// Serializes a list of extensions as one `Sec-WebSocket-Extensions` value,
/// elements separated by `", "`.
pub fn serialize_extensions(exts: &[ExtensionOffer]) -> String {
    let mut out = String::new();
    for (i, e) in exts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_extension(&mut out, e);
    }
    out
}

/// Parses one or more `Sec-WebSocket-Extensions` header values (the list
/// continues across header lines, RFC 7230 §3.2.2) into `out`.
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<ExtensionOffer>,
) -> Result<(), GrammarError> {
    for value in values {
        let mut c = Cursor::new(value);
        c.first_element()?;
        loop {
            out.push(parse_one(&mut c)?);
            if !c.next_element()? {
                break;
            }
        }
    }
    Ok(())
}

fn parse_one(c: &mut Cursor<'_>) -> Result<ExtensionOffer, GrammarError> {
    let name = c.token();
    if name.is_empty() {
        return Err(c.missing_token());
    }
    let mut ext = ExtensionOffer::new(name);
    c.skip_ows();
    while c.peek() == Some(b';') {
        c.bump();
        c.skip_ows();
        ext.params.push(parse_param(c)?);
        c.skip_ows();
    }
    Ok(ext)
}

fn parse_param(c: &mut Cursor<'_>) -> Result<ExtensionParam, GrammarError> {
    let name = c.token();
    if name.is_empty() {
        return Err(GrammarError::InvalidToken);
    }
    let mut param = ExtensionParam {
        name: String::from(name),
        value: None,
    };
    c.skip_ows();
    if c.peek() == Some(b'=') {
        c.bump();
        c.skip_ows();
        let v = c.token_or_quoted()?;
        if v.is_empty() {
            return Err(GrammarError::MissingValue);
        }
        param.value = Some(v);
    }
    Ok(param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn parse(v: &str) -> Result<Vec<ExtensionOffer>, GrammarError> {
        let mut out = Vec::new();
        parse_extensions([v.as_bytes()], &mut out).map(|()| out)
    }

    #[test]
    fn parses_rfc7692_offers() {
        let got = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", \
             permessage-deflate",
        )
        .unwrap();
        let first = ExtensionOffer::new("permessage-deflate")
            .with_param("client_max_window_bits", None)
            .with_param("server_max_window_bits", Some("10"));
        assert_eq!(
            got,
            vec![first.clone(), ExtensionOffer::new("permessage-deflate")]
        );
        assert_eq!(first.param("SERVER_max_window_bits"), Some(Some("10")));
        assert_eq!(first.param("client_max_window_bits"), Some(None));
        assert_eq!(first.param("nope"), None);
    }

    #[test]
    fn across_header_lines() {
        let mut out = Vec::new();
        parse_extensions([&b"a; x=1"[..], b"b"], &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, "b");
    }

    #[test]
    fn round_trip() {
        let v = "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=15; c";
        let got = parse(v).unwrap();
        assert_eq!(serialize_extensions(&got), v);
        assert!(got.iter().all(ExtensionOffer::is_valid));
        assert_eq!(
            got[1].to_string(),
            "permessage-deflate; client_max_window_bits=15; c"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse(""), Err(GrammarError::EmptyElement));
        assert_eq!(parse(","), Err(GrammarError::EmptyElement));
        // RFC 7230 §7: empty elements are ignored.
        assert_eq!(parse("a,, b;x ,").unwrap().len(), 2);
        assert_eq!(parse("a;"), Err(GrammarError::InvalidToken));
        assert_eq!(parse("a; =1"), Err(GrammarError::InvalidToken));
        assert_eq!(parse("a; b="), Err(GrammarError::MissingValue));
        assert_eq!(parse("a; b=\"1"), Err(GrammarError::UnterminatedQuote));
        assert_eq!(
            parse("a; b=\"1 2\""),
            Err(GrammarError::QuotedValueNotToken)
        );
        assert_eq!(parse("a b"), Err(GrammarError::UnexpectedChar(b'b')));
        assert_eq!(parse("a; b=1 2"), Err(GrammarError::UnexpectedChar(b'2')));
        assert_eq!(parse("@"), Err(GrammarError::InvalidToken));
    }
}

//! RFC 7230 §3.2.6 tokens and quoted strings, and the §7 comma-separated
//! list rule, as used by `Connection`, `Upgrade`, `Sec-WebSocket-Protocol`
//! and `Sec-WebSocket-Extensions` (RFC 6455 §4.3, §9.1).

use alloc::string::String;
use alloc::vec::Vec;

/// A syntax error in a header list value.
///
/// The list rule is RFC 7230 §7's: empty elements (`a,,b`, a leading or
/// trailing comma) are accepted and ignored, as a recipient MUST, but a
/// value must hold at least one element (`1#`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrammarError {
    /// A value with no list element at all (empty, or only commas).
    #[error("empty list element")]
    EmptyElement,
    /// A character that is not a `tchar` where a token was expected (RFC 7230 §3.2.6).
    #[error("invalid token")]
    InvalidToken,
    /// `name=` with nothing after the `=`.
    #[error("parameter without value after '='")]
    MissingValue,
    /// A quoted string without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A quoted parameter value that is not a token once unquoted (RFC 6455 §9.1).
    #[error("quoted value is not a token")]
    QuotedValueNotToken,
    /// An unexpected character where `,`, `;` or `=` was expected.
    #[error("unexpected character {0:#04x}")]
    UnexpectedChar(u8),
}

/// True for RFC 7230 §3.2.6 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True if `s` is a non-empty RFC 7230 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// True if some element of the comma-separated `values` equals `token`,
/// compared ASCII case-insensitively (`Connection: keep-alive, Upgrade`).
/// Elements are trimmed of optional whitespace; empty elements are skipped.
pub(crate) fn list_contains<'a>(values: impl IntoIterator<Item = &'a [u8]>, token: &str) -> bool {
    values.into_iter().any(|v| {
        v.split(|&b| b == b',')
            .any(|e| trim_ows(e).eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Removes leading and trailing SP / HTAB.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A cursor over one header value.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn bump(&mut self) {
        self.pos += 1;
    }

    pub(crate) fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// Reads a token; `Ok("")` if the next byte is not a `tchar`.
    pub(crate) fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.bump();
        }
        // tchar is ASCII, so the slice is valid UTF-8.
        self.bytes
            .get(start..self.pos)
            .and_then(|s| core::str::from_utf8(s).ok())
            .unwrap_or("")
    }

    /// Reads a quoted string (cursor at the opening quote), unescaping
    /// quoted-pairs (RFC 7230 §3.2.6).
    pub(crate) fn quoted(&mut self) -> Result<Vec<u8>, GrammarError> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(GrammarError::UnterminatedQuote),
                Some(b'"') => {
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.bump();
                    let c = self.peek().ok_or(GrammarError::UnterminatedQuote)?;
                    if !is_qd_char(c) && c != b'"' && c != b'\\' {
                        return Err(GrammarError::UnexpectedChar(c));
                    }
                    out.push(c);
                    self.bump();
                }
                Some(c) if is_qd_char(c) => {
                    out.push(c);
                    self.bump();
                }
                Some(c) => return Err(GrammarError::UnexpectedChar(c)),
            }
        }
    }

    /// Reads a token or a quoted string whose content is a token.
    pub(crate) fn token_or_quoted(&mut self) -> Result<String, GrammarError> {
        if self.peek() == Some(b'"') {
            let raw = self.quoted()?;
            return match core::str::from_utf8(&raw) {
                Ok(s) if is_token(s) => Ok(String::from(s)),
                _ => Err(GrammarError::QuotedValueNotToken),
            };
        }
        Ok(String::from(self.token()))
    }

    /// Skips whitespace and empty list elements (RFC 7230 §7); `false` at
    /// the end of the value.
    pub(crate) fn skip_empty_elements(&mut self) -> bool {
        loop {
            self.skip_ows();
            match self.peek() {
                Some(b',') => self.bump(),
                None => return false,
                Some(_) => return true,
            }
        }
    }

    /// At the start of a list value: `Ok(())` if an element follows
    /// (after any empty ones), [`GrammarError::EmptyElement`] if none does.
    pub(crate) fn first_element(&mut self) -> Result<(), GrammarError> {
        if self.skip_empty_elements() {
            Ok(())
        } else {
            Err(GrammarError::EmptyElement)
        }
    }

    /// After an element: end of input (`Ok(false)`) or a comma followed by
    /// another element (`Ok(true)`); empty elements in between are ignored.
    pub(crate) fn next_element(&mut self) -> Result<bool, GrammarError> {
        self.skip_ows();
        match self.peek() {
            None => Ok(false),
            Some(b',') => Ok(self.skip_empty_elements()),
            Some(c) => Err(GrammarError::UnexpectedChar(c)),
        }
    }

    /// Error for a missing token at the cursor.
    pub(crate) fn missing_token(&self) -> GrammarError {
        match self.peek() {
            None | Some(b',') => GrammarError::EmptyElement,
            Some(_) => GrammarError::InvalidToken,
        }
    }
}

/// qdtext plus SP/HTAB (and obs-text), the bytes allowed inside quotes.
fn is_qd_char(c: u8) -> bool {
    matches!(c, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// Parses a `1#token` list (`Sec-WebSocket-Protocol`, RFC 6455 §4.1 and
/// §11.3.4) from one or more header values, appending to `out`. Quoted
/// strings whose content is a token are accepted for the `1#(token |
/// quoted-string)` rule of drafts -04/-05 (§5.1 item 10).
pub fn parse_token_list<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<String>,
) -> Result<(), GrammarError> {
    for value in values {
        let mut c = Cursor::new(value);
        c.first_element()?;
        loop {
            let t = c.token_or_quoted()?;
            if t.is_empty() {
                return Err(c.missing_token());
            }
            out.push(t);
            if !c.next_element()? {
                break;
            }
        }
    }
    Ok(())
}

/// Writes `value` as a token if it is one, else as a quoted string.
pub(crate) fn push_token_or_quoted(out: &mut String, value: &str) {
    if is_token(value) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn tokens(v: &str) -> Result<Vec<String>, GrammarError> {
        let mut out = Vec::new();
        parse_token_list([v.as_bytes()], &mut out).map(|()| out)
    }

    #[test]
    fn token_lists() {
        assert_eq!(
            tokens("chat, superchat").unwrap(),
            vec!["chat", "superchat"]
        );
        assert_eq!(tokens(" a ,b\t").unwrap(), vec!["a", "b"]);
        assert_eq!(tokens("\"quoted\"").unwrap(), vec!["quoted"]);
        assert_eq!(tokens(""), Err(GrammarError::EmptyElement));
        assert_eq!(tokens(" , ,"), Err(GrammarError::EmptyElement));
        // RFC 7230 §7: empty elements are ignored.
        assert_eq!(tokens("a,,b").unwrap(), vec!["a", "b"]);
        assert_eq!(tokens("a, ,").unwrap(), vec!["a"]);
        assert_eq!(tokens(",a").unwrap(), vec!["a"]);
        assert_eq!(tokens("a b"), Err(GrammarError::UnexpectedChar(b'b')));
        assert_eq!(tokens("a/b"), Err(GrammarError::UnexpectedChar(b'/')));
        assert_eq!(tokens("\"a b\""), Err(GrammarError::QuotedValueNotToken));
        assert_eq!(tokens("\"ab"), Err(GrammarError::UnterminatedQuote));
    }

    #[test]
    fn contains_is_case_insensitive() {
        assert!(list_contains([&b"keep-alive, Upgrade"[..]], "upgrade"));
        assert!(list_contains([&b"x"[..], b"UPGRADE"], "upgrade"));
        assert!(!list_contains([&b"upgrades"[..]], "upgrade"));
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_token_or_quoted(&mut s, "a b\"c");
        assert_eq!(s, "\"a b\\\"c\"");
    }
}

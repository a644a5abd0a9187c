//! Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).
//!
//! A text message arrives in fragments and each fragment in chunks; a code
//! point may be split anywhere. [`Utf8Validator`] checks each chunk as it
//! arrives and fails on the first byte that can no longer be part of valid
//! UTF-8, not at the end of the message (the "fail fast" behaviour Autobahn
//! checks in its cases 6.4.*).
//!
//! The bulk of each chunk goes through `simdutf8`'s `compat` API, whose error
//! tells apart "invalid here" (`error_len() == Some(_)`) from "valid but
//! truncated" (`None`), exactly like `core::str::from_utf8`. A truncated tail
//! (at most 3 bytes) is carried to the next chunk; the carried bytes plus the
//! next chunk's first bytes are checked together, so a sequence that can never
//! complete (`0xF5..`, `0xC0 0x80`, overlongs, surrogates `0xED 0xA0..`,
//! above U+10FFFF `0xF4 0x90..`) fails at once.

use alloc::string::String;
use core::fmt;

use bytes::Bytes;

/// Invalid UTF-8 was found in a text message or close reason (§8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl core::error::Error for Utf8Error {}

/// Validates a UTF-8 byte stream chunk by chunk, failing fast.
///
/// ```
/// use ws_proto::Utf8Validator;
/// let mut v = Utf8Validator::new();
/// let euro = "€".as_bytes(); // e2 82 ac
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..]).unwrap();
/// assert!(v.finish().is_ok());
/// // 0xED 0xA0 starts a surrogate: rejected before the third byte arrives.
/// assert!(Utf8Validator::new().feed(&[0xED, 0xA0]).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carried: u8,
}

/// The length of the sequence a leading byte announces (0 for bytes that
/// cannot lead).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Validator {
            carry: [0; 4],
            carried: 0,
        }
    }

    /// True when no partial code point is pending.
    pub fn is_boundary(&self) -> bool {
        self.carried == 0
    }

    /// Checks the next chunk. Fails as soon as the bytes seen so far cannot
    /// be a prefix of valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.carried != 0 {
            input = self.complete_carry(input)?;
            if self.carried != 0 {
                return Ok(());
            }
        }
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => self.stash(input.get(e.valid_up_to()..).unwrap_or_default()),
        }
    }

    /// Declares the end of the message: fails if a code point is incomplete.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.carried == 0 {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    /// Resets for the next message.
    pub fn reset(&mut self) {
        *self = Utf8Validator::new();
    }

    /// Keeps a valid truncated tail (1..=3 bytes) for the next chunk.
    fn stash(&mut self, tail: &[u8]) -> Result<(), Utf8Error> {
        let slot = self.carry.get_mut(..tail.len()).ok_or(Utf8Error)?;
        slot.copy_from_slice(tail);
        self.carried = tail.len() as u8;
        Ok(())
    }

    /// Moves bytes from `input` into the carried sequence until it is
    /// complete or `input` runs out; returns the rest of `input`.
    fn complete_carry<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = usize::from(self.carried);
        let want = sequence_len(self.carry[0]);
        let take = want.saturating_sub(have).min(input.len());
        let (head, rest) = input.split_at(take);
        let end = have + take;
        let seq = self.carry.get_mut(have..end).ok_or(Utf8Error)?;
        seq.copy_from_slice(head);
        let seq = self.carry.get(..end).ok_or(Utf8Error)?;
        match core::str::from_utf8(seq) {
            Ok(_) => self.carried = 0,
            Err(e) if e.error_len().is_some() => return Err(Utf8Error),
            Err(_) => self.carried = end as u8,
        }
        Ok(rest)
    }
}

/// Validates a complete byte string (a close reason, a whole message).
pub fn validate(bytes: &[u8]) -> Result<(), Utf8Error> {
    simdutf8::basic::from_utf8(bytes)
        .map(|_| ())
        .map_err(|_| Utf8Error)
}

/// `Bytes` known to hold valid UTF-8: the payload of a text message (§5.6).
///
/// Cloning shares the buffer. [`as_str`](Utf8Bytes::as_str) is O(1): every
/// way to make one validates (a `&str` or `String`, `TryFrom<Bytes>`), or
/// is the connection's own text path, which validated the bytes as they
/// arrived (§8.1) — checked again under debug assertions, which the fuzz
/// targets run with.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// The empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A `'static` string, without a copy.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text, without a check.
    #[inline]
    pub fn as_str(&self) -> &str {
        #[allow(unsafe_code)]
        // SAFETY: the bytes are valid UTF-8 and never change. Every
        // constructor validates (`TryFrom<Bytes>`) or starts from a `str`
        // (`from_static`, `From<&str>`, `From<String>`, `new`); the only
        // other one, `from_validated`, is crate-private and called by the
        // receive path on a text message whose every byte went through the
        // incremental validator (or the ASCII check of the unmasking pass)
        // with success, which it asserts in debug builds. No method hands
        // out the bytes mutably or slices them.
        unsafe {
            core::str::from_utf8_unchecked(&self.0)
        }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives the bytes back.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        debug_assert!(validate(&b).is_ok(), "text handed out unvalidated");
        Utf8Bytes(b)
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    /// Validates `b`, without a copy.
    fn try_from(b: Bytes) -> Result<Self, Utf8Error> {
        validate(&b)?;
        Ok(Utf8Bytes(b))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the string.
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    /// Copies the string (pass the `String` itself to move it instead).
    fn from(s: &String) -> Self {
        Utf8Bytes::from(s.as_str())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Bytes {
        s.0
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn chunked(bytes: &[u8], size: usize) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        for c in bytes.chunks(size.max(1)) {
            v.feed(c)?;
        }
        v.finish()
    }

    #[test]
    fn fails_fast_on_impossible_prefixes() {
        for bad in [
            &[0xF5][..],
            &[0xC0],
            &[0xC1],
            &[0xFF],
            &[0xE0, 0x80],
            &[0xED, 0xA0],
            &[0xF0, 0x80],
            &[0xF4, 0x90],
            &[0x80],
        ] {
            let mut v = Utf8Validator::new();
            let r = bad
                .iter()
                .try_for_each(|b| v.feed(core::slice::from_ref(b)));
            assert_eq!(r, Err(Utf8Error), "{bad:x?} byte-wise");
            assert_eq!(Utf8Validator::new().feed(bad), Err(Utf8Error), "{bad:x?}");
        }
    }

    #[test]
    fn valid_prefix_is_pending_not_error() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xF0, 0x9F]).unwrap();
        assert!(!v.is_boundary());
        assert_eq!(v.finish(), Err(Utf8Error));
        v.feed(&[0x98]).unwrap();
        v.feed(&[0x80, b'a']).unwrap();
        assert!(v.finish().is_ok());
    }

    #[test]
    fn autobahn_6_4_style_fail_in_middle() {
        // κόσμε followed by an invalid 0xF4 0x90 sequence, fed in pieces.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(&[0xf4, 0x90, 0x80, 0x80]), Err(Utf8Error));
    }

    proptest! {
        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..64), size in 1usize..8) {
            let want = core::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(chunked(&bytes, size).is_ok(), want);
        }

        #[test]
        fn valid_strings_pass_any_split(s in "\\PC{0,40}", size in 1usize..9) {
            prop_assert!(chunked(s.as_bytes(), size).is_ok());
        }

        #[test]
        fn fails_at_first_bad_byte(s in "\\PC{0,20}", junk in proptest::collection::vec(any::<u8>(), 1..6)) {
            let mut bytes: Vec<u8> = s.into_bytes();
            bytes.extend_from_slice(&junk);
            if let Err(e) = core::str::from_utf8(&bytes) {
                if let Some(len) = e.error_len() {
                    // Byte-wise feeding must fail no later than the byte
                    // that ends std's maximal invalid subpart.
                    let bad_at = e.valid_up_to() + len;
                    let mut v = Utf8Validator::new();
                    let mut failed_at = None;
                    for (i, b) in bytes.iter().enumerate() {
                        if v.feed(core::slice::from_ref(b)).is_err() { failed_at = Some(i); break; }
                    }
                    prop_assert!(failed_at.is_some());
                    let at = failed_at.unwrap_or(usize::MAX);
                    prop_assert!(at >= e.valid_up_to() && at <= bad_at);
                }
            }
        }
    }
}

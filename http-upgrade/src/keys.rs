//! Key material of the opening handshakes: `Sec-WebSocket-Key`/`Accept`
//! (RFC 6455 §4.1, §4.2.2), `Sec-WebSocket-Nonce` and the hybi-04 masking
//! key (draft-ietf-hybi-thewebsocketprotocol-04 §4.2, §5.2.2), and the
//! hixie-76 `Sec-WebSocket-Key1`/`Key2`/key3 challenge (draft-00 §4.1 steps
//! 16-27, §5.2 steps 4-9).

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use md5::Md5;
use rand_core::Rng;
use sha1::{Digest, Sha1};

/// The GUID appended to the key for `Sec-WebSocket-Accept` (RFC 6455 §1.3).
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The GUID of the hybi-04 per-connection masking key (draft-04 §4.2).
pub const HYBI04_MASK_GUID: &str = "61AC5F19-FBBA-4540-B96F-6561F1AB40A8";

/// Lenient decoder: accepts non-canonical trailing bits such as the drafts'
/// own example `AQIDBAUGBwgJCgsMDQ4PEC==` (see the -04/-05 summary) and
/// missing padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A fresh `Sec-WebSocket-Key` (or hybi-04/05 `Sec-WebSocket-Nonce`): 16
/// random bytes, base64-encoded (RFC 6455 §4.1 item 7; draft-04 §5.2.2 3.3).
pub fn generate_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    STANDARD.encode(raw)
}

/// True if `key` base64-decodes to exactly 16 bytes (RFC 6455 §4.2.1 item 5).
pub fn is_valid_key(key: &[u8]) -> bool {
    if key.len() > 32 {
        return false;
    }
    let mut buf = [0u8; 24];
    matches!(LENIENT.decode_slice(key, &mut buf), Ok(16))
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key ‖
/// GUID)), the key hashed as the string it is (RFC 6455 §4.2.2 step 5.4).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(ACCEPT_GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// The hybi-04 per-connection masking key: SHA-1(`Sec-WebSocket-Key` ‖
/// `Sec-WebSocket-Nonce` ‖ `61AC5F19-…`), the header values hashed as the
/// base64 strings they are (draft-04 §4.2).
pub fn hybi04_masking_key(key: &str, nonce: &str) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(nonce.as_bytes());
    h.update(HYBI04_MASK_GUID.as_bytes());
    h.finalize().into()
}

/// `key-number / spaces` of a hixie-76 `Sec-WebSocket-Key1`/`Key2` value
/// (draft-00 §5.2 steps 4-7).
pub fn hixie76_key_part(value: &[u8]) -> Result<u32, &'static str> {
    let mut number: u64 = 0;
    let mut spaces: u64 = 0;
    for &b in value {
        match b {
            b'0'..=b'9' => {
                number = number * 10 + u64::from(b - b'0');
                if number > u64::from(u32::MAX) {
                    return Err("key number exceeds 32 bits");
                }
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if spaces == 0 {
        return Err("key has no spaces");
    }
    if number % spaces != 0 {
        return Err("key number is not a multiple of the spaces");
    }
    u32::try_from(number / spaces).map_err(|_| "key number exceeds 32 bits")
}

/// The 16-byte hixie-76 answer: MD5(part1 BE ‖ part2 BE ‖ key3)
/// (draft-00 §5.2 steps 8-9).
pub fn hixie76_answer(part1: u32, part2: u32, key3: &[u8; 8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(part1.to_be_bytes());
    h.update(part2.to_be_bytes());
    h.update(key3);
    h.finalize().into()
}

/// A generated hixie-76 key: the header value and its `number` (the part
/// the server recovers by dividing by the spaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hixie76Key {
    /// The `Sec-WebSocket-Key1`/`Key2` value.
    pub value: String,
    /// /number_n/ of draft-00 §4.1 step 18.
    pub number: u32,
}

/// Generates a hixie-76 key per draft-00 §4.1 steps 16-22: 1-12 spaces, a
/// random number up to `u32::MAX / spaces` multiplied by the spaces, 1-12
/// random non-digit printable characters and the spaces inserted at random
/// positions (spaces never first or last).
pub fn generate_hixie76_key<R: Rng + ?Sized>(rng: &mut R) -> Hixie76Key {
    let spaces = 1 + below(rng, 12);
    let max = u32::MAX / spaces;
    let number = below_inclusive(rng, max);
    let mut key: Vec<u8> = (number * spaces).to_string_bytes();
    for _ in 0..1 + below(rng, 12) {
        let pos = below_inclusive(rng, len_u32(&key)) as usize;
        key.insert(pos.min(key.len()), random_filler(rng));
    }
    for _ in 0..spaces {
        // Positions 1..len, never the start or the end (step 22).
        let pos = 1 + below(rng, len_u32(&key).saturating_sub(1).max(1)) as usize;
        key.insert(pos.min(key.len()), b' ');
    }
    Hixie76Key {
        value: key.into_iter().map(char::from).collect(),
        number,
    }
}

/// The 8 random bytes of hixie-76 key3 (draft-00 §4.1 step 26).
pub fn generate_key3<R: Rng + ?Sized>(rng: &mut R) -> [u8; 8] {
    let mut k = [0u8; 8];
    rng.fill_bytes(&mut k);
    k
}

fn len_u32(v: &[u8]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

/// A character from U+0021-U+002F or U+003A-U+007E (draft-00 §4.1 step 21).
fn random_filler<R: Rng + ?Sized>(rng: &mut R) -> u8 {
    // 15 + 69 = 84 candidates.
    let i = below(rng, 84) as u8;
    if i < 15 { 0x21 + i } else { 0x3A + (i - 15) }
}

/// Uniform in `0..n` (n > 0), by rejection sampling.
fn below<R: Rng + ?Sized>(rng: &mut R, n: u32) -> u32 {
    let n = n.max(1);
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let x = rng.next_u32();
        if x < zone {
            return x % n;
        }
    }
}

/// Uniform in `0..=max`.
fn below_inclusive<R: Rng + ?Sized>(rng: &mut R, max: u32) -> u32 {
    match max.checked_add(1) {
        Some(n) => below(rng, n),
        None => rng.next_u32(),
    }
}

trait DecimalBytes {
    fn to_string_bytes(self) -> Vec<u8>;
}

impl DecimalBytes for u32 {
    fn to_string_bytes(self) -> Vec<u8> {
        let mut digits = Vec::new();
        let mut n = self;
        loop {
            digits.push(b'0' + (n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        digits.reverse();
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix;

    #[test]
    fn rfc6455_accept_example() {
        // RFC 6455 §1.3 and §4.2.2.
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_validity() {
        assert!(
            is_valid_key(b"AQIDBAUGBwgJCgsMDQ4PEC=="),
            "draft -04 example"
        );
        assert!(is_valid_key(b"AQIDBAUGBwgJCgsMDQ4PEA=="));
        assert!(!is_valid_key(b"AQIDBAUGBwgJCgsMDQ4P"), "15 bytes");
        assert!(!is_valid_key(b"AQIDBAUGBwgJCgsMDQ4PEBE="), "17 bytes");
        assert!(!is_valid_key(b"not base64 at all!!!!!!="));
        assert!(!is_valid_key(b""));
    }

    #[test]
    fn hybi04_masking_key_example() {
        // draft-04 §4.2, lines 693-700.
        let k = hybi04_masking_key("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==");
        assert_eq!(
            k,
            [
                0x41, 0xe1, 0x4f, 0x78, 0x31, 0x1e, 0x4c, 0x34, 0x28, 0x3e, 0x6d, 0x8b, 0x36, 0x3b,
                0x88, 0x48, 0xd5, 0x85, 0x91, 0xa7
            ]
        );
    }

    #[test]
    fn hixie76_examples() {
        // draft-00 §1.3: Key1/Key2/key3 of the protocol overview.
        let p1 = hixie76_key_part(b"4 @1  46546xW%0l 1 5").unwrap();
        let p2 = hixie76_key_part(b"12998 5 Y3 1  .P00").unwrap();
        assert_eq!(&hixie76_answer(p1, p2, b"^n:ds[4U"), b"8jKS'y:G*Co,Wxa-");
        // draft-00 §5.2 step 4-9 example.
        let p1 = hixie76_key_part(b"3e6b263  4 17 80").unwrap();
        let p2 = hixie76_key_part(b"17  9 G`ZD9   2 2b 7X 3 /r90").unwrap();
        assert_eq!((p1, p2), (906_585_445, 179_922_739));
        assert_eq!(&hixie76_answer(p1, p2, b"WjN}|M(6"), b"n`9eBk9z$R8pOtVb");
    }

    #[test]
    fn hixie76_bad_keys() {
        assert!(hixie76_key_part(b"123").is_err());
        assert!(hixie76_key_part(b"1 2 3").is_err(), "123 / 2 spaces");
        assert!(hixie76_key_part(b"99999999999 9").is_err());
    }

    #[test]
    fn generated_hixie76_keys_parse_back() {
        let mut rng = SplitMix::new(7);
        for _ in 0..500 {
            let k = generate_hixie76_key(&mut rng);
            let b = k.value.as_bytes();
            assert_ne!(b.first(), Some(&b' '));
            assert_ne!(b.last(), Some(&b' '));
            assert!(b.iter().all(|c| (0x20..0x7f).contains(c)));
            assert_eq!(hixie76_key_part(b), Ok(k.number));
        }
    }
}

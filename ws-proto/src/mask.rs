//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, in place.
//!
//! `transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4)`.
//!
//! [`apply_mask`] takes the key *phase* (how many payload bytes were masked
//! before this slice, mod 4) and returns the phase after it, so a payload that
//! arrives in pieces is unmasked piece by piece as it is read.
//!
//! The hot loop XORs unaligned `u64` words with the key rotated to the
//! phase and repeated twice, then one `u32` and the last bytes one by one,
//! without `unsafe`; the compiler vectorizes it (SSE2 on any
//! x86-64). With the `std` feature on x86-64, buffers of 128 bytes and more
//! run the same loop compiled for AVX2 when the CPU has it (detected once at
//! run time): one of the crate's two `unsafe` blocks (the other is
//! `Utf8Bytes::as_str`), a call to a
//! `#[target_feature]` function, sound because the feature was detected.
//! Figures: `docs/benchmarks.md` (`cargo bench -p ws-benches --bench mask`).
//!
//! [`apply_mask_ascii`] also reports whether the unmasked bytes are all
//! ASCII, computed in the same pass, so the receive path can skip UTF-8
//! validation of ASCII text without reading the payload a second time.

/// XORs `buf` in place with `key`, starting at key byte `phase & 3`.
///
/// Returns the phase for the byte that follows `buf`:
/// `(phase + buf.len()) % 4`. Applying the same key and phase twice restores
/// the input (§5.3: masking and unmasking are the same operation).
///
/// ```
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// // Unmask in two pieces, carrying the phase across.
/// let (a, b) = data.split_at_mut(2);
/// let phase = ws_proto::apply_mask(a, key, 0);
/// ws_proto::apply_mask(b, key, phase);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    xor_dispatch::<false>(buf, rotate(key, phase));
    (phase + buf.len()) & 3
}

/// [`apply_mask`] that also returns whether every byte of `buf` is ASCII
/// *after* unmasking (the check rides along in the same pass).
///
/// ```
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// assert_eq!(ws_proto::mask::apply_mask_ascii(&mut data, key, 0), (1, true));
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask_ascii(buf: &mut [u8], key: [u8; 4], phase: usize) -> (usize, bool) {
    let phase = phase & 3;
    let high = xor_dispatch::<true>(buf, rotate(key, phase));
    ((phase + buf.len()) & 3, high & HIGH_BITS == 0)
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The key as seen from byte `phase` on.
#[inline]
fn rotate(key: [u8; 4], phase: usize) -> [u8; 4] {
    // Byte i of the little-endian word moves to byte i - phase.
    #[allow(clippy::cast_possible_truncation)] // phase & 3 < 4
    let shift = 8 * (phase & 3) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// Picks the AVX2 build of [`xor_words`] for long buffers when the CPU has
/// it, the baseline build otherwise.
#[inline]
fn xor_dispatch<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if buf.len() >= 128 && std::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: `xor_words_avx2` has no precondition besides the CPU
        // supporting AVX2, which `is_x86_feature_detected!` just confirmed.
        return unsafe { xor_words_avx2::<ASCII>(buf, key) };
    }
    if buf.len() < 32 {
        return xor_short::<ASCII>(buf, key);
    }
    xor_words::<ASCII>(buf, key)
}

/// [`xor_words`] for fewer than 32 bytes (small messages, control frames):
/// at most two 16-byte steps, a word, a half word and the tail, in straight
/// code, without the vectorized loop's set-up and remainder handling.
#[inline(always)]
fn xor_short<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut acc = 0u64;
    let mut rest = buf;
    let mut step = |chunk: &mut [u8]| {
        let mut v = [0u8; 8];
        v.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(v) ^ word;
        if ASCII {
            acc |= x;
        }
        chunk.copy_from_slice(&x.to_ne_bytes());
    };
    if rest.len() >= 16 {
        let (head, tail) = core::mem::take(&mut rest).split_at_mut(16);
        let (a, b) = head.split_at_mut(8);
        step(a);
        step(b);
        rest = tail;
    }
    if rest.len() >= 8 {
        let (head, tail) = core::mem::take(&mut rest).split_at_mut(8);
        step(head);
        rest = tail;
    }
    acc | xor_tail::<ASCII>(rest, key)
}

/// [`xor_words`] compiled with AVX2 enabled (wider vectors, same code).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn xor_words_avx2<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    xor_words::<ASCII>(buf, key)
}

/// XORs `buf` with `key` from key byte 0: `u64` words (a multiple of 4
/// bytes, so the tail starts at phase 0 again), a `u32` if 4 or more bytes
/// are left, then single bytes. With
/// `ASCII`, returns the OR of every unmasked word and tail byte, whose high
/// bits say whether a non-ASCII byte was seen; otherwise 0. No alignment
/// requirement; LLVM unrolls and vectorizes the loop, the OR as a reduction.
#[inline(always)]
fn xor_words<const ASCII: bool>(buf: &mut [u8], key: [u8; 4]) -> u64 {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut acc = 0u64;
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let mut v = [0u8; 8];
        v.copy_from_slice(w);
        let x = u64::from_ne_bytes(v) ^ word;
        if ASCII {
            acc |= x;
        }
        w.copy_from_slice(&x.to_ne_bytes());
    }
    acc | xor_tail::<ASCII>(words.into_remainder(), key)
}

/// The last 0 to 7 bytes, from key byte 0: a `u32` if 4 or more, then
/// single bytes; with `ASCII` the OR of what it unmasked, else 0.
#[inline(always)]
fn xor_tail<const ASCII: bool>(mut rest: &mut [u8], key: [u8; 4]) -> u64 {
    let mut acc = 0u64;
    if rest.len() >= 4 {
        // Half a word (the tail starts at key byte 0): one XOR, not four.
        let (four, tail) = core::mem::take(&mut rest).split_at_mut(4);
        let mut v = [0u8; 4];
        v.copy_from_slice(four);
        let x = u32::from_ne_bytes(v) ^ u32::from_ne_bytes(key);
        if ASCII {
            acc |= u64::from(x);
        }
        four.copy_from_slice(&x.to_ne_bytes());
        rest = tail;
    }
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[i & 3];
        if ASCII {
            acc |= u64::from(*b);
        }
    }
    acc
}

/// The reference implementation: one byte at a time, as §5.3 states it.
/// Kept public for tests and benches; use [`apply_mask`].
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let mut p = phase & 3;
    for b in buf.iter_mut() {
        *b ^= key[p];
        p = (p + 1) & 3;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[test]
    fn rfc_5_7_hello() {
        let mut d = *b"Hello";
        assert_eq!(apply_mask(&mut d, [0x37, 0xfa, 0x21, 0x3d], 0), 1);
        assert_eq!(d, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn phase_rotation_is_exact() {
        let key = [1, 2, 4, 8];
        for phase in 0..4 {
            for len in 0..100 {
                let mut a: Vec<u8> = (0..len as u8).collect();
                let mut b = a.clone();
                assert_eq!(
                    apply_mask(&mut a, key, phase),
                    apply_mask_naive(&mut b, key, phase)
                );
                assert_eq!(a, b, "phase {phase} len {len}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn matches_naive(
            data in proptest::collection::vec(any::<u8>(), 0..4096 + 16),
            offset in 0usize..16,
            phase in 0usize..4,
            key in any::<[u8; 4]>(),
        ) {
            let offset = offset.min(data.len());
            let mut fast = data.clone();
            let mut slow = data.clone();
            let pf = apply_mask(&mut fast[offset..], key, phase);
            let ps = apply_mask_naive(&mut slow[offset..], key, phase);
            prop_assert_eq!(pf, ps);
            prop_assert_eq!(&fast, &slow);
        }

        #[test]
        fn ascii_flag_is_exact(
            data in proptest::collection::vec(0u8..0x80, 0..700),
            bad in proptest::option::of((0usize..700, 0x80u8..=0xff)),
            phase in 0usize..4,
            key in any::<[u8; 4]>(),
        ) {
            // Plain text with at most one high byte, masked with `key`.
            let mut plain = data.clone();
            if let (Some((at, b)), false) = (bad, plain.is_empty()) {
                let at = at % plain.len();
                plain[at] = b;
            }
            let mut wire = plain.clone();
            apply_mask_naive(&mut wire, key, phase);
            let (p, ascii) = apply_mask_ascii(&mut wire, key, phase);
            prop_assert_eq!(p, (phase + plain.len()) & 3);
            prop_assert_eq!(&wire, &plain);
            prop_assert_eq!(ascii, plain.is_ascii());
        }

        #[test]
        fn split_anywhere_equals_whole(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..600,
            key in any::<[u8; 4]>(),
        ) {
            let cut = cut.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            let p = apply_mask(a, key, 0);
            apply_mask(b, key, p);
            prop_assert_eq!(whole, parts);
        }
    }
}

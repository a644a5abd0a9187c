//! Helpers for tests, benches and examples of this crate family (feature
//! `testing`): a deterministic random source to inject where the machines
//! take an RNG.
//!
//! **Not for production.** A WebSocket client's mask keys and
//! `Sec-WebSocket-Key` must come from a cryptographically secure generator
//! (RFC 6455 §5.3, §10.3); [`SplitMix`] is predictable by design, so that
//! the same seed gives the same bytes on the wire, run after run.

use alloc::vec::Vec;
use core::convert::Infallible;

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): a deterministic, fast, statistically decent
/// generator of 64-bit values from a 64-bit state. Every seed, 0 included,
/// gives a full-period sequence.
///
/// **Not cryptographic**: anyone who sees a few outputs can predict the
/// rest. It implements [`rand_core::TryRng`] (hence [`rand_core::Rng`])
/// and deliberately not [`rand_core::TryCryptoRng`]. Use it to make tests,
/// fuzz harnesses and benches reproducible, never for real mask keys.
///
/// ```
/// use http_upgrade::rand_core::Rng;
/// use http_upgrade::testing::SplitMix;
///
/// let mut a = SplitMix::new(7);
/// let mut b = SplitMix::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix {
    state: u64,
}

impl SplitMix {
    /// The increment of the state (the golden ratio in 64-bit fixed point).
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> SplitMix {
        SplitMix { state: seed }
    }

    /// The next 64 bits of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 bits: the high half of [`next_u64`](Self::next_u64).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value in `0..n` (0 when `n` is 0). Slightly biased toward small
    /// values for `n` far from a power of two: fine for test data.
    pub fn below(&mut self, n: usize) -> usize {
        match u64::try_from(n) {
            Ok(0) => 0,
            // The remainder is below `n`, so it fits in a usize.
            Ok(n) => usize::try_from(self.next_u64() % n).unwrap_or(0),
            Err(_) => usize::try_from(self.next_u64()).unwrap_or(0),
        }
    }

    /// Fills `dst` with the next bytes of the sequence (each 64-bit value
    /// little-endian, the last one cut short).
    pub fn fill(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
        }
    }

    /// `n` bytes of the sequence, as [`fill`](Self::fill) writes them.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = alloc::vec![0; n];
        self.fill(&mut v);
        v
    }
}

impl rand_core::TryRng for SplitMix {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(SplitMix::next_u32(self))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(SplitMix::next_u64(self))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence() {
        // SplitMix64 from seed 0, as the reference implementation gives it.
        let mut r = SplitMix::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn bytes_below_and_the_trait_agree_with_next_u64() {
        let mut a = SplitMix::new(42);
        let mut b = a.clone();
        let v = a.bytes(12);
        let first = b.next_u64().to_le_bytes();
        let second = b.next_u64().to_le_bytes();
        assert_eq!(v[..8], first);
        assert_eq!(v[8..], second[..4]);
        assert_eq!(a, b);
        assert_eq!(a.below(0), 0);
        assert!((0..1000).all(|_| a.below(7) < 7));
        let mut c = SplitMix::new(5);
        let mut d = SplitMix::new(5);
        let got = rand_core::Rng::next_u32(&mut c);
        assert_eq!(got, d.next_u32());
    }
}

//! Deterministic helpers: an injected RNG, chunk plans and fuzzed settings.

use arbitrary::{Arbitrary, Unstructured};
use core::time::Duration;
use ws_proto::{Config, Dialect, Instant, MaskRng, ReceiveMode};

/// A small deterministic xorshift generator, injected wherever the core
/// wants randomness (mask keys, handshake keys, nonces).
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

impl rand_core::TryRng for XorShift {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.next_u64() as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.next_u64() as u8;
        }
        Ok(())
    }
}

/// A boxed mask-key RNG for client connections.
pub fn mask_rng(seed: u64) -> MaskRng {
    Box::new(XorShift(seed))
}

/// How an input is cut into the chunks a driver would read: a seed for the
/// chunk lengths and the largest chunk (0: the whole input at once).
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct ChunkPlan {
    /// Seed of the length sequence.
    pub seed: u16,
    /// Largest chunk; 0 feeds everything at once.
    pub max: u8,
}

impl ChunkPlan {
    /// The chunks of `data`, in order; never empty chunks, never more than
    /// `data.len()` of them.
    pub fn split<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        if self.max == 0 || data.is_empty() {
            return vec![data];
        }
        let mut rng = XorShift(u64::from(self.seed) << 8 | 0x5a);
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = (1 + rng.below(usize::from(self.max))).min(rest.len());
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
        }
        out
    }
}

/// Receive modes as a fuzzed choice.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// [`ReceiveMode::Whole`].
    #[default]
    Whole,
    /// [`ReceiveMode::Stream`].
    Stream,
    /// [`ReceiveMode::Threshold`] with this threshold.
    Threshold(u8),
}

impl Mode {
    /// The ws-proto mode.
    pub fn receive_mode(self) -> ReceiveMode {
        match self {
            Mode::Whole => ReceiveMode::Whole,
            Mode::Stream => ReceiveMode::Stream,
            Mode::Threshold(n) => ReceiveMode::Threshold(usize::from(n) * 4),
        }
    }
}

/// Connection settings as a fuzzed choice: small limits so the fuzzer
/// reaches them, zero bytes giving sensible values.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct Settings {
    /// Receive mode.
    pub mode: Mode,
    /// `max_frame_size` is 64 KiB when 0, else this many bytes.
    pub max_frame: u16,
    /// `max_message_size` is 256 KiB when 0, else this many bytes.
    pub max_message: u16,
    /// `max_fragments` is 1024 when 0, else this many.
    pub max_fragments: u8,
    /// `fragment_size` for sends (0: none).
    pub fragment_size: u8,
    /// Turn `auto_pong` off.
    pub no_auto_pong: bool,
    /// Keep-alive ping interval in seconds (0: none).
    pub keep_alive: u8,
    /// Idle timeout in seconds (0: none).
    pub idle_timeout: u8,
}

impl Settings {
    /// The ws-proto config for `dialect`.
    pub fn config(&self) -> Config {
        let secs = |s: u8| (s > 0).then(|| Duration::from_secs(u64::from(s)));
        Config::default()
            .with_max_frame_size(if self.max_frame == 0 {
                64 << 10
            } else {
                u64::from(self.max_frame)
            })
            .with_max_message_size(if self.max_message == 0 {
                256 << 10
            } else {
                u64::from(self.max_message)
            })
            .with_max_fragments(if self.max_fragments == 0 {
                1024
            } else {
                u64::from(self.max_fragments)
            })
            .with_fragment_size((self.fragment_size > 0).then_some(usize::from(self.fragment_size)))
            .with_receive_mode(self.mode.receive_mode())
            .with_auto_pong(!self.no_auto_pong)
            .with_close_timeout(Duration::from_secs(5))
            .with_keep_alive(secs(self.keep_alive))
            .with_idle_timeout(secs(self.idle_timeout))
    }
}

/// A hybi-04 masking key (the handshake derives it from the key and the
/// nonce; a connection on its own is given one).
pub fn hybi04_key(seed: u8) -> [u8; 20] {
    core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
}

/// A dialect as a fuzzed choice (an index into [`Dialect::ALL`]).
pub fn dialect(index: u8) -> Dialect {
    Dialect::ALL[usize::from(index) % Dialect::ALL.len()]
}

/// The fixed start time of every harness.
pub const T0: Instant = Instant::ZERO;

/// How much virtual time [`fire_timers`] runs after the input: past every
/// default deadline the harnesses leave armed (close 5 s, stall, write and
/// pong 30 s).
pub const TIMER_HORIZON: Duration = Duration::from_secs(120);

/// At most this many timer fires per run; [`fire_timers`] asserts it is
/// never reached before the horizon, so the outcome never depends on it.
pub const MAX_TIMER_FIRES: usize = 4096;

/// Fires every timer due up to `T0 +` [`TIMER_HORIZON`], in order, calling
/// `fire` with each deadline (which calls `handle_timeout` and polls).
///
/// Bounded by virtual time, not by a count: how many fires change nothing
/// visible (a kept buffer released after `Config::buffer_linger`) depends
/// on how the input was chunked, so a fixed count of fires would reach a
/// later deadline (stall, write) in one run and not in the other.
pub fn fire_timers<C>(
    conn: &mut C,
    poll_timeout: impl Fn(&C) -> Option<Instant>,
    mut fire: impl FnMut(&mut C, Instant),
) {
    let end = T0 + TIMER_HORIZON;
    for _ in 0..MAX_TIMER_FIRES {
        match poll_timeout(conn) {
            Some(at) if at <= end => fire(conn, at),
            _ => return,
        }
    }
    panic!("more than {MAX_TIMER_FIRES} timer fires within {TIMER_HORIZON:?}");
}

/// Parses a fixed-size `T` from the front of `data` and returns it with the
/// rest, which the harness uses as raw wire bytes. Seeds are made by putting
/// zero bytes (or a chosen prefix) in front of a test vector, see
/// [`prefix_len`].
pub fn split_input<'a, T: Arbitrary<'a> + Default>(data: &'a [u8]) -> (T, &'a [u8]) {
    let n = prefix_len::<T>().min(data.len());
    let (head, rest) = data.split_at(n);
    let mut u = Unstructured::new(head);
    (T::arbitrary(&mut u).unwrap_or_default(), rest)
}

/// How many bytes [`split_input`] takes for a `T` (types made only of
/// fixed-size fields consume the same number of bytes whatever the values).
pub fn prefix_len<'a, T: Arbitrary<'a>>() -> usize {
    let (lo, hi) = T::size_hint(0);
    hi.unwrap_or(lo)
}

/// The handshake limits of a harness: the defaults, or small ones that a
/// fuzzer's inputs reach.
pub fn limits(small: bool) -> http_upgrade::Limits {
    let l = http_upgrade::Limits::default();
    if small {
        l.with_max_start_line(64)
            .with_max_headers(8)
            .with_max_header_line(128)
            .with_max_head(512)
            .with_max_body(64)
    } else {
        l
    }
}

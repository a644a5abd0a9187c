//! Thin drivers that move bytes between sockets and the sans-IO
//! [`Session`](ws_proto::session::Session) machine. No protocol logic lives
//! here: an adapter reads, feeds, drains, writes and arms timers.
//!
//! * [`blocking`]: std sockets, one connection per thread (or your own loop).
//!
//! The libwebsockets tool set is built on these drivers as the crate's
//! examples (`cargo run -p ws-adapters --example test-server`).

pub mod blocking;
mod clock;
mod error;

pub use clock::Clock;
pub use error::Error;

use ws_proto::MaskRng;

/// A cryptographically secure RNG for client mask keys and handshake keys
/// (ChaCha12 seeded from the operating system), as RFC 6455 §5.3 and §10.3
/// require.
pub fn mask_rng() -> MaskRng {
    use rand::SeedableRng;
    Box::new(rand::rngs::StdRng::from_rng(&mut rand::rng()))
}

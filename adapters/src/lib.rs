//! Thin drivers that move bytes between sockets and the sans-IO
//! [`Session`](ws_proto::session::Session) machine. No protocol logic lives
//! here: an adapter reads, feeds, drains, writes and arms timers.
//!
//! * [`Driver`]: the core every adapter shares — one connection's session,
//!   its proxy-`CONNECT` and TLS layers, the server's handshake
//!   [`Policy`], timers; socket calls come in as closures.
//! * [`blocking`]: std sockets, a connection per thread or your own loop,
//!   split into reader and writer halves.
//! * [`mio`]: many connections on one `mio::Poll` (a server), and the hooks to
//!   put connections into your own mio loop; backpressure.
//! * `smol` (feature `smol`): async on async-io, any executor.
//! * `tokio` (feature `tokio`): async on tokio.
//! * `uring` (feature `uring`, Linux): a completion-based server loop and
//!   client on io_uring.
//! * `tls` (feature `tls`, default): rustls for `wss://`, both roles.
//!
//! Settings are shared too: [`ServerOptions`] (listen, filter, connection
//! limit, policy, timeouts, TLS) and [`ClientOptions`] (session, proxy, TLS).
//!
//! Every failure is one [`Error`]: what happened ([`ErrorKind`]) beside the
//! peer's address, with [`Error::close_code`] and [`Error::status`] for the
//! protocol's word on it.
//!
//! # Driver call order
//!
//! Every adapter runs one drive loop, [`Driver::turn`]: a single
//! non-blocking step over a [`Transport`] that returns the next event
//! ([`Turn::Event`]), what to wait for ([`Turn::Wait`]: readability,
//! writability, a deadline) or the end ([`Turn::Closed`]). The adapters
//! keep only how their runtime waits. A loop of your own (the mio
//! [`Conn`](mio::Conn) hooks) calls the same step.
//!
//! The libwebsockets tool set is built on these drivers as the crate's
//! examples (`cargo run -p ws-adapters --example test-server`).

mod admission;
#[cfg(any(feature = "smol", feature = "tokio"))]
mod aio;
pub mod blocking;
#[cfg(feature = "nats")]
pub mod broker;
pub mod budget;
mod clock;
mod driver;
mod error;
pub mod files;
pub mod forwarded;
#[cfg(feature = "h2")]
pub mod h2;
#[cfg(feature = "h3")]
pub mod h3;
pub mod hosted;
mod inbox;
mod layers;
mod loops;
pub mod mio;
mod options;
mod policy;
pub mod protocols;
pub mod proxy;
pub mod push;
pub mod recording;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "tracing")]
mod trace;
mod turn;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub mod uring;

#[cfg(any(feature = "smol", feature = "tokio"))]
pub use aio::{AsyncStream, AsyncWebSocket, ReadHalf, WriteHalf};
pub use budget::{BudgetReport, MemoryBudget, Ticket, Verdict};
pub use clock::Clock;
pub use driver::{
    BODY_CHUNK, BUDGET_CHECK, BodySource, Driver, MAX_LEND, PAUSE_RETRY, SCRATCH,
    in_place_read_size,
};
pub use error::{Error, ErrorKind};
pub use options::{
    ClientOptions, IntoClientRequest, ServerOptions, fd_limit, raise_fd_limit, reverse_name,
    session_config,
};
pub use policy::Policy;
pub use protocols::{Ctx, End, Protocol, Protocols, Running};
pub use push::{Delivery, Group, MemberId, Push, SharedPrepared, SlowConsumer};
pub use recording::{Recorded, Recording};
pub use turn::{AppEvent, HIGH_WATER, LOW_WATER, READ_BUDGET, Transport, Turn, Wait};
pub use ws_proto::{Event, Message, Utf8Bytes};

use ws_proto::MaskRng;

/// A cryptographically secure RNG for client mask keys and handshake keys
/// (ChaCha12 seeded from the operating system), as RFC 6455 §5.3 and §10.3
/// require.
pub fn mask_rng() -> MaskRng {
    use rand::SeedableRng;
    Box::new(rand::rngs::StdRng::from_rng(&mut rand::rng()))
}

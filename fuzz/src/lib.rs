//! Harnesses for the fuzz targets in `fuzz_targets/`, kept in the library so
//! that `tests/regressions.rs` replays committed crash inputs (and the seed
//! corpora) through exactly the code the fuzzers run.
//!
//! Every target is a `pub fn run(data: &[u8])` in one module. A harness
//! panics (via `assert!`) when an invariant of the core's contract
//! (`DESIGN.md`, "The contract of the core") is broken: a panic in the core,
//! an output larger than the configured limit, an unbounded transmit queue,
//! a fatal error without a close code or an HTTP status outside 4xx/5xx,
//! a failure that is not permanent, a round trip that is not exact, or a
//! result that depends on how the input was split into chunks.
//!
//! | module | target(s) |
//! |---|---|
//! | [`frames`] | `frame_decode` |
//! | [`primitives`] | `primitives` |
//! | [`dialects`] | `dialects` |
//! | [`session`] | `session_server`, `session_client` |
//! | [`http`] | `http_request`, `http_response` |
//! | [`grammar`] | `ext_grammar` |
//! | [`inflate`] | `inflate` |
//! | [`roundtrip`] | `roundtrip` |
//! | [`oracle`] | `oracle_frames`, `oracle_handshake`, `oracle_inflate` |
//! | [`template`] | `template_messages` (how to fuzz your own code) |
//! | [`template_protocols`] | `template_protocols` (how to fuzz a server-model protocol in memory) |
//! | [`sim_chat`] | `template_sim` (how to fuzz your own handler in a simulated network) |
//! | [`replay`] | `replay` (recorded transcripts: decode, replay, re-record) |
//! | [`connect`] | `connect_handshake` (extended CONNECT, RFC 8441 / 9220, both roles) |
//! | [`qpack`] | `qpack_decode` (HTTP/3 field sections, RFC 9204) |
//! | [`seeds`] | the seed corpora (written by `tests/seeds.rs`) |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod check;
pub mod connect;
pub mod dialects;
pub mod frames;
pub mod grammar;
pub mod http;
pub mod inflate;
pub mod oracle;
pub mod primitives;
pub mod qpack;
pub mod replay;
pub mod roundtrip;
pub mod seeds;
pub mod session;
pub mod sim_chat;
pub mod template;
pub mod template_protocols;
pub mod util;

/// A fuzz target's entry point.
pub type Harness = fn(&[u8]);

/// Every target's name and harness, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[(&str, Harness)] = &[
    ("frame_decode", frames::run),
    ("primitives", primitives::run),
    ("dialects", dialects::run),
    ("session_server", session::run_server),
    ("session_client", session::run_client),
    ("http_request", http::run_request),
    ("http_response", http::run_response),
    ("ext_grammar", grammar::run),
    ("inflate", inflate::run),
    ("roundtrip", roundtrip::run),
    ("oracle_frames", oracle::frames),
    ("oracle_handshake", oracle::handshake),
    ("oracle_inflate", oracle::inflate),
    ("template_messages", template::run),
    ("template_sim", sim_chat::run),
    ("template_protocols", template_protocols::run),
    ("replay", replay::run),
    ("connect_handshake", connect::run),
    ("qpack_decode", qpack::run),
];

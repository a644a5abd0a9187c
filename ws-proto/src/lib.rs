//! Sans-IO WebSocket framing and the connection state machine.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use http_upgrade::{Dialect, Instant};

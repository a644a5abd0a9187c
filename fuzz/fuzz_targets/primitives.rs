//! Fuzz target `primitives`: see `ws_fuzz::primitives::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::primitives::run(data));

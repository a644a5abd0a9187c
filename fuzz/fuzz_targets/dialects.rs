//! Fuzz target `dialects`: see `ws_fuzz::dialects::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::dialects::run(data));

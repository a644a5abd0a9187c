//! Fuzz target `replay`: see `ws_fuzz::replay` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::replay::run(data));

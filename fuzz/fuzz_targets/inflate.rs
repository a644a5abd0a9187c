//! Fuzz target `inflate`: see `ws_fuzz::inflate::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::inflate::run(data));

//! Fuzz target `roundtrip`: see `ws_fuzz::roundtrip::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::roundtrip::run(data));

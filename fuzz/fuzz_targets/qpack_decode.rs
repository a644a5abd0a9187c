//! Fuzz target `qpack_decode`: see `ws_fuzz::qpack` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::qpack::run(data));

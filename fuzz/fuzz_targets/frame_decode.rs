//! Fuzz target `frame_decode`: see `ws_fuzz::frames::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::frames::run(data));

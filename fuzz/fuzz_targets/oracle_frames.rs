//! Fuzz target `oracle_frames`: see `ws_fuzz::oracle::frames` for what it compares.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::oracle::frames(data));

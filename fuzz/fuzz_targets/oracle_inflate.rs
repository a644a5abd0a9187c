//! Fuzz target `oracle_inflate`: see `ws_fuzz::oracle::inflate` for what it compares.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::oracle::inflate(data));

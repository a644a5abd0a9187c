//! Fuzz target `oracle_handshake`: see `ws_fuzz::oracle::handshake` for what it compares.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::oracle::handshake(data));

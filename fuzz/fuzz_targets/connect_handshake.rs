//! Fuzz target `connect_handshake`: see `ws_fuzz::connect` for what it
//! asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::connect::run(data));

//! Fuzz target `session_client`: see `ws_fuzz::session::run_client` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::session::run_client(data));

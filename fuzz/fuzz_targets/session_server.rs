//! Fuzz target `session_server`: see `ws_fuzz::session::run_server` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::session::run_server(data));

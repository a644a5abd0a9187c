//! Fuzz target `http_request`: see `ws_fuzz::http::run_request` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::http::run_request(data));

//! Fuzz target `http_response`: see `ws_fuzz::http::run_response` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::http::run_response(data));

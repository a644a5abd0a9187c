//! Fuzz target `ext_grammar`: see `ws_fuzz::grammar::run` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::grammar::run(data));

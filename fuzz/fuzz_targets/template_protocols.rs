//! Fuzz target `template_protocols`: see `ws_fuzz::template_protocols`
//! for what it asserts, and copy it to fuzz your own server-model protocol.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::template_protocols::run(data));

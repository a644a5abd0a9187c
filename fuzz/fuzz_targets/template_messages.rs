//! Fuzz target `template_messages`: see `ws_fuzz::template` for what it
//! asserts, and copy it to fuzz your own handler.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::template::run(data));

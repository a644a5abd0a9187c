//! Fuzz target `template_sim`: see `ws_fuzz::sim_chat` for what it
//! asserts, and copy it to fuzz your own session-level handler.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_fuzz::sim_chat::run(data));

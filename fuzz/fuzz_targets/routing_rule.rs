#![no_main]
//! See `pombo_fuzz::routing_rule`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::routing_rule(data));

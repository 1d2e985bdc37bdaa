#![no_main]
//! See `pombo_fuzz::callback`: every provider callback parser.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::callback(data));

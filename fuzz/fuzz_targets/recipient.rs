#![no_main]
//! See `pombo_fuzz::recipient`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::recipient(data));

#![no_main]
//! See `pombo_fuzz::template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::template(data));

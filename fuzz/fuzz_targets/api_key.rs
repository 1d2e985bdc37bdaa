#![no_main]
//! See `pombo_fuzz::api_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::api_key(data));

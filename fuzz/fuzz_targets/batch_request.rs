#![no_main]
//! See `pombo_fuzz::batch_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::batch_request(data));

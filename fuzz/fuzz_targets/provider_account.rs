#![no_main]
//! See `pombo_fuzz::provider_account`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::provider_account(data));

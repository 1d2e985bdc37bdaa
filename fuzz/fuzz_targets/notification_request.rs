#![no_main]
//! See `pombo_fuzz::notification_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pombo_fuzz::notification_request(data));

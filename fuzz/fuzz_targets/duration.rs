#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bgapp_fuzz::duration(data));

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zerodb_storage_fuzz::zero_pages(data);
});

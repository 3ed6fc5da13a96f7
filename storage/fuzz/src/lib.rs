//! The bodies of the storage fuzz targets. Each takes arbitrary bytes and
//! panics only on a real bug: a decoder that panics, or one that accepts
//! bytes it would not have written. The same functions run under libFuzzer
//! (`fuzz_targets/`) and in the stable corpus replay test
//! (`storage/tests/fuzz_replay.rs`, which includes this file).

use zerodb_storage::SledEngine;

/// The sled engine's record decoder: never panics, and whatever it accepts
/// re-encodes to exactly the same bytes (the layout has one encoding per
/// record).
pub fn sled_record(data: &[u8]) {
    if let Ok(record) = SledEngine::decode_record(data) {
        assert_eq!(
            SledEngine::encode_record(&record),
            data,
            "decoded {record:?} does not re-encode to its input"
        );
    }
}

//! ZeroEngine against a `BTreeMap` model: splits, merges, scans in both
//! directions, large keys and values, and a data set far larger than the
//! page cache.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use zerodb_storage::{
    Direction, Engine, EngineOptions, FaultVfs, Record, ScanRange, Space, Version, WriteBatch,
    ZeroEngine,
};

/// A tiny deterministic generator so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn version(n: u64) -> Version {
    Version {
        physical_ms: n,
        logical: 0,
        node: 1,
    }
}

fn small_options() -> EngineOptions {
    EngineOptions {
        cache_bytes: 64 * 1024,
        checkpoint_wal_bytes: 256 * 1024,
        incarnation_seed: 7,
    }
}

fn open(vfs: &FaultVfs, options: EngineOptions) -> ZeroEngine {
    ZeroEngine::open(Arc::new(vfs.clone()), "db", options)
        .expect("open")
        .0
}

type Model = BTreeMap<Vec<u8>, Record>;

fn check_scan(engine: &mut ZeroEngine, model: &Model, rng: &mut Rng) {
    let a = rng.below(3000).to_be_bytes().to_vec();
    let b = rng.below(3000).to_be_bytes().to_vec();
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let start = match rng.below(3) {
        0 => Bound::Included(lo),
        1 => Bound::Excluded(lo),
        _ => Bound::Unbounded,
    };
    let end = match rng.below(3) {
        0 => Bound::Included(hi),
        1 => Bound::Excluded(hi),
        _ => Bound::Unbounded,
    };
    let range = ScanRange {
        space: Space::Data,
        start,
        end,
    };
    let limit = [1, 7, 100, usize::MAX][rng.below(4) as usize];
    for direction in [Direction::Forward, Direction::Reverse] {
        let got = engine.scan(&range, direction, limit).unwrap();
        let matching = model.iter().filter(|(k, _)| range.contains(k));
        let want: Vec<(Vec<u8>, Record)> = match direction {
            Direction::Forward => matching
                .take(limit)
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect(),
            Direction::Reverse => matching
                .rev()
                .take(limit)
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect(),
        };
        assert_eq!(got, want, "scan {range:?} {direction:?} limit {limit}");
    }
}

#[test]
fn random_operations_match_a_btreemap_through_splits_merges_and_reopens() {
    let vfs = FaultVfs::new(1);
    let mut engine = open(&vfs, small_options());
    let mut model = Model::new();
    let mut rng = Rng(42);
    for step in 0..6000u64 {
        let mut batch = WriteBatch::new();
        for _ in 0..1 + rng.below(8) {
            let key = rng.below(3000).to_be_bytes().to_vec();
            if rng.below(3) == 0 {
                batch.remove(Space::Data, key.clone());
                model.remove(&key);
            } else {
                let len = [0, 10, 100, 3000][rng.below(4) as usize];
                let record = Record::value(version(step), vec![step as u8; len]);
                batch.put(Space::Data, key.clone(), record.clone());
                model.insert(key, record);
            }
        }
        engine.write(batch).unwrap();
        assert_eq!(
            engine.stats().records,
            model.len() as u64,
            "step {step}: the record count is live"
        );
        if step % 500 == 0 {
            engine.checkpoint().unwrap();
            let report = engine.validate();
            assert!(report.is_ok(), "step {step}: {:?}", report.problems);
        }
        if step % 97 == 0 {
            check_scan(&mut engine, &model, &mut rng);
        }
        if step % 1999 == 0 {
            engine.close().unwrap();
            engine = open(&vfs, small_options());
            // Recovery counts what the replayed WAL adds to the tree.
            assert_eq!(engine.stats().records, model.len() as u64, "step {step}");
        }
    }
    for i in 0..3000u64 {
        let key = i.to_be_bytes();
        assert_eq!(
            engine.get(Space::Data, &key).unwrap().as_ref(),
            model.get(&key[..])
        );
    }
    // Delete almost everything: the tree must shrink back through merges.
    let mut batch = WriteBatch::new();
    for key in model.keys().skip(3) {
        batch.remove(Space::Data, key.clone());
    }
    engine.write(batch).unwrap();
    model = model.into_iter().take(3).collect();
    engine.checkpoint().unwrap();
    let report = engine.validate();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 3);
    assert_eq!(report.depth, 1, "three records fit one leaf");
    for _ in 0..20 {
        check_scan(&mut engine, &model, &mut rng);
    }
}

#[test]
fn spaces_are_kept_apart_and_limits_are_enforced() {
    let vfs = FaultVfs::new(2);
    let mut engine = open(&vfs, small_options());
    let mut batch = WriteBatch::new();
    batch.put(
        Space::System,
        b"k".to_vec(),
        Record::value(version(1), b"lock".to_vec()),
    );
    batch.put(
        Space::Data,
        b"k".to_vec(),
        Record::value(version(2), b"data".to_vec()),
    );
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    let data = engine
        .scan(&ScanRange::all(Space::Data), Direction::Forward, 10)
        .unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].1.value.as_deref(), Some(&b"data"[..]));
    let system = engine
        .scan(&ScanRange::all(Space::System), Direction::Reverse, 10)
        .unwrap();
    assert_eq!(system[0].1.value.as_deref(), Some(&b"lock"[..]));

    let mut batch = WriteBatch::new();
    batch.put(
        Space::Data,
        vec![1; 4097],
        Record::value(version(3), b"x".to_vec()),
    );
    assert!(matches!(
        engine.write(batch),
        Err(zerodb_storage::StorageError::TooLarge { what: "key", .. })
    ));
    let mut batch = WriteBatch::new();
    batch.put(
        Space::Data,
        b"v".to_vec(),
        Record::value(version(3), vec![0; 16 * 1024 * 1024 + 1]),
    );
    assert!(engine.write(batch).is_err());
    // An empty or inverted range is empty, not a panic.
    let inverted = ScanRange {
        space: Space::Data,
        start: Bound::Included(b"z".to_vec()),
        end: Bound::Excluded(b"a".to_vec()),
    };
    assert!(engine
        .scan(&inverted, Direction::Forward, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn largest_keys_and_values_round_trip_through_checkpoints() {
    let vfs = FaultVfs::new(3);
    let mut engine = open(&vfs, small_options());
    let mut model = Model::new();
    for i in 0..40u8 {
        let mut key = vec![i; 4096];
        key[0] = i;
        let value: Vec<u8> = (0..(i as usize * 50_000))
            .map(|x| (x % 251) as u8)
            .collect();
        let record = Record {
            version: version(u64::from(i)),
            value: Some(value),
            expires_at_ms: Some(1000 + u64::from(i)),
        };
        let mut batch = WriteBatch::new();
        batch.put(Space::Data, key.clone(), record.clone());
        engine.write(batch).unwrap();
        model.insert(key, record);
    }
    let mut batch = WriteBatch::new();
    let big = vec![9u8; 16 * 1024 * 1024];
    batch.put(
        Space::Data,
        b"big".to_vec(),
        Record::value(version(99), big.clone()),
    );
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    let report = engine.validate();
    assert!(report.is_ok(), "{:?}", report.problems);
    engine.close().unwrap();
    let mut engine = open(&vfs, small_options());
    assert_eq!(
        engine
            .get(Space::Data, b"big")
            .unwrap()
            .unwrap()
            .value
            .unwrap(),
        big
    );
    for (k, r) in &model {
        assert_eq!(engine.get(Space::Data, k).unwrap().as_ref(), Some(r));
    }
    // Scans read overflowed values back from the tree too, both ways.
    let mut want: Vec<(Vec<u8>, Record)> = model.clone().into_iter().collect();
    want.push((b"big".to_vec(), Record::value(version(99), big.clone())));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let all = ScanRange {
        space: Space::Data,
        start: Bound::Unbounded,
        end: Bound::Unbounded,
    };
    let forward = engine.scan(&all, Direction::Forward, usize::MAX).unwrap();
    assert!(forward == want, "forward scan differs from the model");
    let mut reverse = engine.scan(&all, Direction::Reverse, usize::MAX).unwrap();
    reverse.reverse();
    assert!(reverse == want, "reverse scan differs from the model");
    // Replacing and removing large values frees their overflow pages.
    let mut batch = WriteBatch::new();
    batch.remove(Space::Data, b"big".to_vec());
    for k in model.keys() {
        batch.put(Space::Data, k.clone(), Record::tombstone(version(100)));
    }
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    let report = engine.validate();
    assert!(report.is_ok(), "{:?}", report.problems);
    let before = engine.stats().disk_bytes;
    let mut batch = WriteBatch::new();
    batch.put(
        Space::Data,
        b"big2".to_vec(),
        Record::value(version(101), big),
    );
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    engine.checkpoint().unwrap();
    assert!(engine.validate().is_ok());
    // The second 16 MiB value reuses the pages the first one freed.
    assert!(
        engine.stats().disk_bytes < before + 4 * 1024 * 1024,
        "free pages were not reused"
    );
}

#[test]
fn a_data_set_ten_times_the_cache_is_served_correctly() {
    let vfs = FaultVfs::new(4);
    let options = EngineOptions {
        cache_bytes: 256 * 1024,
        checkpoint_wal_bytes: 1024 * 1024,
        incarnation_seed: 1,
    };
    let mut engine = open(&vfs, options.clone());
    let n = 30_000u64;
    for chunk in 0..n / 1000 {
        let mut batch = WriteBatch::new();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let key = (i * 7919 % n).to_be_bytes().to_vec();
            batch.put(
                Space::Data,
                key,
                Record::value(version(i), vec![(i % 256) as u8; 90]),
            );
        }
        engine.write(batch).unwrap();
    }
    engine.checkpoint().unwrap();
    let stats = engine.stats();
    assert!(
        stats.disk_bytes > 10 * options.cache_bytes as u64,
        "data set of {} bytes is not 10x the cache",
        stats.disk_bytes
    );
    assert!(stats.cache_bytes <= options.cache_bytes as u64);
    let mut rng = Rng(5);
    for _ in 0..3000 {
        let k = rng.below(n);
        let r = engine.get(Space::Data, &k.to_be_bytes()).unwrap();
        assert!(r.is_some(), "key {k} missing");
    }
    let all = engine
        .scan(&ScanRange::all(Space::Data), Direction::Forward, usize::MAX)
        .unwrap();
    assert_eq!(all.len() as u64, n);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(engine.stats().cache_misses > 0);
    assert!(engine.validate().is_ok());
}

#[test]
fn the_file_shrinks_when_the_tree_does() {
    let vfs = FaultVfs::new(9);
    let mut engine = open(&vfs, small_options());
    let n = 20_000u64;
    let mut batch = WriteBatch::new();
    for i in 0..n {
        let key = (i * 7919 % n).to_be_bytes().to_vec();
        batch.put(Space::Data, key, Record::value(version(i), vec![3u8; 200]));
    }
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    let full = engine.stats().disk_bytes;
    // Remove all but the lowest keys; the pages the big tree used become
    // free one checkpoint later, and those at the end of the file go.
    let mut batch = WriteBatch::new();
    for i in 100..n {
        batch.remove(Space::Data, i.to_be_bytes().to_vec());
    }
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    for round in 0..2u64 {
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Data,
            b"x".to_vec(),
            Record::value(version(n + round), vec![1]),
        );
        engine.write(batch).unwrap();
        engine.checkpoint().unwrap();
    }
    let small = engine.stats().disk_bytes;
    assert!(
        small * 4 < full,
        "the file kept {small} of its {full} bytes after the tree shrank"
    );
    assert!(
        engine.validate().is_ok(),
        "{:?}",
        engine.validate().problems
    );
    engine.close().unwrap();
    let mut engine = open(&vfs, small_options());
    let all = engine
        .scan(&ScanRange::all(Space::Data), Direction::Forward, usize::MAX)
        .unwrap();
    assert_eq!(all.len(), 101);
    assert!(engine.validate().is_ok());
}

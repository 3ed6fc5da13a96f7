//! Disk space of ZeroDB's engine follows its live data: pages of replaced
//! trees are reused, a large checkpoint publishes in parts so it reuses the
//! pages it replaced itself, free pages at the end of the file are cut, and
//! `EngineStats` accounts for every page. Crashes anywhere in a multi-part
//! checkpoint that cuts the file lose nothing synced (FORMAT.md,
//! "Checkpoint protocol").

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use zerodb_storage::{
    CrashMode, Direction, Engine, EngineOptions, FaultVfs, Record, ScanRange, Space, Version,
    WriteBatch, ZeroEngine, PAGE_SIZE,
};

fn options() -> EngineOptions {
    EngineOptions {
        cache_bytes: 256 * 1024,
        checkpoint_wal_bytes: 1 << 30,
        incarnation_seed: 33,
    }
}

fn open(vfs: &FaultVfs) -> ZeroEngine {
    ZeroEngine::open(Arc::new(vfs.clone()), "db", options())
        .unwrap()
        .0
}

/// Keys spread over the key space in the order they are written.
fn key(i: u64) -> Vec<u8> {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .to_be_bytes()
        .to_vec()
}

fn record(i: u64, write: u64) -> Record {
    let version = Version {
        physical_ms: write + 1,
        logical: 0,
        node: 1,
    };
    Record::value(version, vec![(i % 251) as u8; 100])
}

/// Puts keys `new` and removes keys `old`, in one batch.
fn churn(engine: &mut ZeroEngine, new: std::ops::Range<u64>, old: std::ops::Range<u64>) {
    let mut batch = WriteBatch::new();
    for i in new {
        batch.put(Space::Data, key(i), record(i, i));
    }
    for i in old {
        batch.remove(Space::Data, key(i));
    }
    engine.write(batch).unwrap();
}

type Contents = BTreeMap<Vec<u8>, Record>;

fn contents(engine: &mut ZeroEngine) -> Contents {
    engine
        .scan(&ScanRange::all(Space::Data), Direction::Forward, usize::MAX)
        .unwrap()
        .into_iter()
        .collect()
}

fn expected(live: std::ops::Range<u64>) -> Contents {
    live.map(|i| (key(i), record(i, i))).collect()
}

/// The file holds the two superblocks, the pages in use and the free
/// pages, nothing else (a checkpoint cuts the file at its page count).
fn assert_accounted(engine: &ZeroEngine, context: &str) {
    let s = engine.stats();
    assert_eq!(
        s.file_bytes,
        2 * PAGE_SIZE as u64 + s.live_bytes + s.garbage_bytes,
        "{context}: file {} bytes, live {} + garbage {} + superblocks",
        s.file_bytes,
        s.live_bytes,
        s.garbage_bytes
    );
}

/// First in, first out: keys come and go all over the key space while the
/// live set keeps its size. Were the pages of earlier trees never reused
/// or never cut, the file would grow by about a tree per checkpoint.
#[test]
fn churn_keeps_the_file_proportional_to_the_live_data() {
    let vfs = FaultVfs::new(1);
    let mut engine = open(&vfs);
    let live = 20_000u64;
    churn(&mut engine, 0..live, 0..0);
    engine.checkpoint().unwrap();
    let loaded = engine.stats();
    assert_accounted(&engine, "after the load");
    let step = 2_000u64;
    for round in 0..40u64 {
        let (new, old) = (live + round * step, round * step);
        churn(&mut engine, new..new + step, old..old + step);
        engine.checkpoint().unwrap();
        let s = engine.stats();
        let context = format!("round {round}");
        assert_accounted(&engine, &context);
        assert!(
            s.live_bytes * 4 <= loaded.live_bytes * 5,
            "{context}: {} bytes in use for the same live set that took {} after the load",
            s.live_bytes,
            loaded.live_bytes
        );
        assert!(
            s.file_bytes * 2 <= loaded.file_bytes * 3,
            "{context}: the file grew to {} bytes from {} for the same live set",
            s.file_bytes,
            loaded.file_bytes
        );
    }
    let v = engine.validate();
    assert!(v.is_ok(), "{:?}", v.problems);
    let end = live + 40 * step;
    assert_eq!(contents(&mut engine), expected(40 * step..end));
    engine.close().unwrap();
    let mut engine = open(&vfs);
    assert_eq!(contents(&mut engine), expected(40 * step..end));
}

/// A checkpoint that rewrites every leaf: in one part it needs a second
/// tree's worth of pages; in parts it writes into the pages each earlier
/// part replaced.
#[test]
fn a_checkpoint_in_parts_reuses_the_pages_it_replaced() {
    let rewrite_all = |part_pages: u64| {
        let vfs = FaultVfs::new(2);
        let mut engine = open(&vfs);
        engine.set_checkpoint_part_pages(part_pages);
        churn(&mut engine, 0..20_000, 0..0);
        engine.checkpoint().unwrap();
        let before = engine.stats().file_bytes;
        // New versions of every key: every leaf is replaced.
        let mut batch = WriteBatch::new();
        for i in 0..20_000 {
            batch.put(Space::Data, key(i), record(i, i + 1));
        }
        engine.write(batch).unwrap();
        engine.checkpoint().unwrap();
        assert_accounted(&engine, &format!("parts of {part_pages} pages"));
        let v = engine.validate();
        assert!(v.is_ok(), "{:?}", v.problems);
        let after = engine.stats().file_bytes;
        (before, after)
    };
    let (before, whole) = rewrite_all(1 << 40);
    assert!(
        whole >= before * 9 / 5,
        "one part should need about two trees: {before} -> {whole}"
    );
    let (before, parts) = rewrite_all(8);
    assert!(
        parts * 4 <= before * 5,
        "a checkpoint in parts of 8 pages grew the file from {before} to {parts} bytes"
    );
}

/// Keys of one part of the key space (`prefix`), in order.
fn put_range(engine: &mut ZeroEngine, prefix: u8, range: std::ops::Range<u64>) {
    let mut batch = WriteBatch::new();
    for i in range {
        let mut k = vec![prefix];
        k.extend_from_slice(&i.to_be_bytes());
        batch.put(Space::Data, k, record(i, i));
    }
    engine.write(batch).unwrap();
}

/// The leaves of a key range that stops changing stay where they were
/// written. Written last, they sit at the end of the file; once everything
/// before them is deleted, only moving them to the front lets the file
/// shrink. Later checkpoints do that, a budget of pages at a time.
#[test]
fn pages_left_at_the_end_of_the_file_move_to_the_front_over_checkpoints() {
    let vfs = FaultVfs::new(3);
    let mut engine = open(&vfs);
    put_range(&mut engine, 0x00, 0..20_000);
    engine.checkpoint().unwrap();
    put_range(&mut engine, 0xff, 0..10_000);
    engine.checkpoint().unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..20_000u64 {
        let mut k = vec![0x00];
        k.extend_from_slice(&i.to_be_bytes());
        batch.remove(Space::Data, k);
    }
    engine.write(batch).unwrap();
    engine.checkpoint().unwrap();
    let deleted = engine.stats();
    for round in 0..8u64 {
        put_range(&mut engine, 0x80, round..round + 1);
        engine.checkpoint().unwrap();
        assert_accounted(&engine, &format!("round {round}"));
    }
    let end = engine.stats();
    assert!(
        end.file_bytes * 4 <= (end.live_bytes + 2 * PAGE_SIZE as u64) * 5,
        "the file kept {} bytes for {} in use (it held {} after the delete)",
        end.file_bytes,
        end.live_bytes,
        deleted.file_bytes
    );
    let v = engine.validate();
    assert!(v.is_ok(), "{:?}", v.problems);
    engine.close().unwrap();
    let mut engine = open(&vfs);
    assert_eq!(contents(&mut engine).len(), 10_008);
}

/// Crashes at every write of a multi-part checkpoint that shrinks the tree
/// and cuts the file (including the cut itself, and with a random prefix of
/// the unsynced writes kept): the store reopens with every synced record
/// and checks out clean, and goes on working.
#[test]
fn a_crash_anywhere_in_a_checkpoint_that_cuts_the_file_loses_nothing_synced() {
    for mode in [CrashMode::DropUnsynced, CrashMode::KeepRandomPrefixTorn] {
        let mut fail_after = 0u64;
        loop {
            let vfs = FaultVfs::new(50 + fail_after);
            vfs.set_crash_mode(mode);
            let mut engine = open(&vfs);
            engine.set_checkpoint_part_pages(4);
            churn(&mut engine, 0..3_000, 0..0);
            engine.checkpoint().unwrap();
            // Remove most keys and add a few: the tree shrinks, the parts
            // free pages, and the end of the file is cut.
            churn(&mut engine, 3_000..3_200, 0..2_500);
            engine.sync().unwrap();
            let file_before = engine.stats().file_bytes;
            vfs.fail_writes_after(fail_after);
            let finished = engine.checkpoint().is_ok();
            // The following checkpoint frees the pages the last part
            // replaced and cuts them too.
            let finished = finished && {
                let mut batch = WriteBatch::new();
                batch.put(Space::Data, key(3_200), record(3_200, 3_200));
                engine.write(batch).is_ok() && engine.sync().is_ok() && engine.checkpoint().is_ok()
            };
            let cut = engine.stats().file_bytes;
            drop(engine);
            vfs.clear_faults();
            vfs.crash();
            let context = format!("{mode:?}, crash after {fail_after} writes");
            let mut engine = open(&vfs);
            engine.set_checkpoint_part_pages(4);
            let want = if finished {
                expected(2_500..3_201)
            } else {
                // The one record after the checkpoint may or may not have
                // been synced when the faults struck.
                let mut found = contents(&mut engine);
                found.remove(&key(3_200));
                assert_eq!(found, expected(2_500..3_200), "{context}");
                contents(&mut engine)
            };
            assert_eq!(contents(&mut engine), want, "{context}");
            let v = engine.validate();
            assert!(v.is_ok(), "{context}: {:?}", v.problems);
            churn(&mut engine, 4_000..4_010, 0..0);
            engine.checkpoint().unwrap();
            // Two more checkpoints: the first may still have to merge the
            // shrinking changes (replayed from the WAL), the second frees
            // what that one replaced, and the file is cut, whatever an
            // injected fault kept the interrupted run from cutting.
            for i in 4_010..4_012 {
                churn(&mut engine, i..i + 1, 0..0);
                engine.checkpoint().unwrap();
            }
            let cut_after_reopen = engine.stats().file_bytes;
            assert!(
                cut_after_reopen * 2 < file_before,
                "{context}: the file kept {cut_after_reopen} of {file_before} bytes"
            );
            engine.close().unwrap();
            let mut engine = open(&vfs);
            assert_eq!(contents(&mut engine).len(), want.len() + 12, "{context}");
            // Done once the faults no longer strike: both checkpoints
            // finished and cut the file.
            if finished && cut * 2 < file_before {
                break;
            }
            fail_after += 1;
            assert!(
                fail_after < 5_000,
                "{context}: the checkpoints never finish"
            );
        }
        assert!(fail_after > 20, "{mode:?}: only {fail_after} crash points");
    }
}

/// Found by `superblock_damage` when checkpoints first merged in slices: a
/// slice freed pages another slice had written, the free-list chain took
/// the last of them, and with no id left to list the chain page was named
/// by the superblock but never written. Every state a checkpoint publishes
/// must check out.
#[test]
fn a_free_list_page_that_takes_the_last_free_page_is_still_written() {
    let vfs = FaultVfs::new(4);
    let mut engine = open(&vfs);
    for round in 0..4u64 {
        support::fill_numbered(&mut engine, round * 100..round * 100 + 100, 1500);
        engine.checkpoint().unwrap();
        let v = engine.validate();
        assert!(v.is_ok(), "round {round}: {:?}", v.problems);
        assert_accounted(&engine, &format!("round {round}"));
    }
}

//! Bit flips in the superblocks (pages 0 and 1), over the fault-injecting
//! file system. A flip in the older (inactive) superblock loses nothing:
//! the store opens as the same incarnation with everything, rewrites the
//! damaged copy, and survives a later flip in the other one. A flip in the
//! newest (active) one may fall back to the older one only if everything
//! since it is still in the WAL and the incarnation cannot have changed;
//! otherwise the store opens as a new incarnation. Both damaged: a clear
//! error. Nothing panics (FORMAT.md, "Recovery").

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use zerodb_storage::{
    CrashMode, Direction, Engine, EngineOptions, FaultVfs, Incarnation, OpenReport, Record,
    ScanRange, Space, StorageError, StorageResult, Vfs, ZeroEngine, PAGE_SIZE, ZERO_MAIN_FILE,
};

fn options() -> EngineOptions {
    EngineOptions {
        cache_bytes: 64 * 1024,
        checkpoint_wal_bytes: 1 << 30,
        incarnation_seed: 21,
    }
}

/// Every third record spans pages (see `support::numbered_record`).
const SPREAD: usize = 1500;

fn key(i: u64) -> Vec<u8> {
    support::numbered_key(i)
}

fn record(i: u64) -> Record {
    support::numbered_record(i, SPREAD)
}

fn fill(engine: &mut ZeroEngine, range: std::ops::Range<u64>) {
    support::fill_numbered(engine, range, SPREAD)
}

fn open(vfs: &FaultVfs) -> StorageResult<(ZeroEngine, OpenReport)> {
    ZeroEngine::open(Arc::new(vfs.clone()), "db", options())
}

type Contents = BTreeMap<Vec<u8>, Record>;

fn contents(engine: &mut ZeroEngine) -> Contents {
    engine
        .scan(&ScanRange::all(Space::Data), Direction::Forward, usize::MAX)
        .unwrap()
        .into_iter()
        .collect()
}

fn expected(range: std::ops::Range<u64>) -> Contents {
    range.map(|i| (key(i), record(i))).collect()
}

/// The generation each superblock slot claims (read without checking the
/// page: only for slots known to be intact).
fn generation(vfs: &FaultVfs, slot: u64) -> u64 {
    let bytes = vfs.contents("db", ZERO_MAIN_FILE).unwrap();
    let at = slot as usize * PAGE_SIZE + 48;
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The slot of the newest superblock (both intact).
fn active_slot(vfs: &FaultVfs) -> u64 {
    if generation(vfs, 0) > generation(vfs, 1) {
        0
    } else {
        1
    }
}

/// Flips a bit in the body of the superblock in `slot` (its incarnation
/// field: the CRC catches it).
fn flip_superblock(vfs: &FaultVfs, slot: u64) {
    flip_superblock_bit(vfs, slot, 3);
}

fn flip_superblock_bit(vfs: &FaultVfs, slot: u64, bit: u8) {
    vfs.flip_bit("db", ZERO_MAIN_FILE, slot * PAGE_SIZE as u64 + 58, bit)
        .unwrap();
}

/// A store with two checkpoints (generations 2 and 3) and synced WAL
/// records after the last one; records 0..300 in all, closed.
fn store(seed: u64) -> (FaultVfs, Incarnation) {
    let vfs = FaultVfs::new(seed);
    let (mut engine, created) = open(&vfs).unwrap();
    fill(&mut engine, 0..100);
    engine.checkpoint().unwrap();
    fill(&mut engine, 100..200);
    engine.checkpoint().unwrap();
    for i in 0..10 {
        fill(&mut engine, 200 + i * 10..210 + i * 10);
        engine.sync().unwrap();
    }
    engine.close().unwrap();
    (vfs, created.incarnation)
}

#[test]
fn a_flip_in_the_inactive_superblock_loses_nothing_and_is_repaired() {
    let (vfs, incarnation) = store(1);
    let active = active_slot(&vfs);
    flip_superblock(&vfs, 1 - active);

    let (mut engine, report) = open(&vfs).unwrap();
    assert_eq!(report.incarnation, incarnation, "nothing was lost");
    assert_eq!(contents(&mut engine), expected(0..300));
    // The damaged copy was rewritten: the store checks out clean.
    let v = engine.validate();
    assert!(v.is_ok(), "{:?}", v.problems);
    fill(&mut engine, 300..310);
    engine.sync().unwrap();
    engine.close().unwrap();
    drop(engine);

    // A later flip in the other superblock is survivable as well, now
    // that the first one holds a good copy again.
    let active = active_slot(&vfs);
    flip_superblock(&vfs, 1 - active);
    let (mut engine, report) = open(&vfs).unwrap();
    assert_eq!(report.incarnation, incarnation, "nothing was lost");
    assert_eq!(contents(&mut engine), expected(0..310));
    let v = engine.validate();
    assert!(v.is_ok(), "{:?}", v.problems);
}

#[test]
fn flips_in_the_inactive_superblock_after_each_reopen_lose_nothing() {
    let (vfs, incarnation) = store(2);
    let mut n = 300;
    for round in 0..6u64 {
        flip_superblock(&vfs, 1 - active_slot(&vfs));
        let (mut engine, report) = open(&vfs).unwrap();
        assert_eq!(report.incarnation, incarnation, "round {round}");
        assert_eq!(contents(&mut engine), expected(0..n), "round {round}");
        fill(&mut engine, n..n + 5);
        n += 5;
        if round % 3 == 1 {
            engine.checkpoint().unwrap();
        }
        engine.sync().unwrap();
        engine.close().unwrap();
    }
}

#[test]
fn a_flip_in_the_active_superblock_after_its_log_was_rotated_is_lost_state() {
    let (vfs, incarnation) = store(3);
    let active = active_slot(&vfs);
    flip_superblock(&vfs, active);
    let (mut engine, report) = open(&vfs).unwrap();
    // The records between the older checkpoint and the newest are in no
    // log any more: a new incarnation, never the old one with less data.
    assert_ne!(report.incarnation, incarnation);
    let found = contents(&mut engine);
    assert!(found.len() < 300, "{}", found.len());
    let v = engine.validate();
    assert!(v.is_ok(), "{:?}", v.problems);
}

#[test]
fn both_superblocks_flipped_fail_open_clearly() {
    let (vfs, _) = store(4);
    flip_superblock(&vfs, 0);
    flip_superblock(&vfs, 1);
    match open(&vfs) {
        Err(StorageError::Corruption { detail, .. }) => {
            assert!(detail.contains("both superblocks"), "{detail}")
        }
        other => panic!("open with both superblocks damaged returned {other:?}"),
    }
}

#[test]
fn both_superblocks_flipped_after_a_repair_fail_open_clearly() {
    let (vfs, _) = store(5);
    flip_superblock(&vfs, 1 - active_slot(&vfs));
    let (engine, _) = open(&vfs).unwrap();
    drop(engine);
    // Other bits than the first flip's, which the repair overwrote anyway.
    flip_superblock_bit(&vfs, 0, 5);
    flip_superblock_bit(&vfs, 1, 5);
    assert!(matches!(open(&vfs), Err(StorageError::Corruption { .. })));
}

/// What a reopen after a flip may do: refuse the store, open it as a new
/// incarnation, or open it as the same incarnation with every synced
/// record (`synced`) and nothing that was never written (`written`).
fn check_reopen(
    vfs: &FaultVfs,
    incarnation: Incarnation,
    synced: &Contents,
    written: &Contents,
    context: &str,
) {
    match open(vfs) {
        Err(StorageError::Corruption { .. }) => {}
        Err(other) => panic!("{context}: open failed with {other:?}"),
        Ok((mut engine, report)) => {
            let found = contents(&mut engine);
            if report.incarnation == incarnation {
                for (k, r) in synced {
                    assert_eq!(
                        found.get(k),
                        Some(r),
                        "{context}: same incarnation without synced key {}",
                        String::from_utf8_lossy(k)
                    );
                }
                for (k, r) in &found {
                    assert_eq!(written.get(k), Some(r), "{context}: a record never written");
                }
                let v = engine.validate();
                assert!(v.is_ok(), "{context}: {:?}", v.problems);
            }
        }
    }
}

/// A checkpoint cut short by a crash at every write it makes: before the
/// new superblock, after it but before the new log, or after both. Then a
/// flip in either superblock. Whatever the crash point, the reopened store
/// is the same incarnation with every synced record, or a new one.
#[test]
fn a_flip_in_either_superblock_after_a_checkpoint_cut_short_never_hides_a_loss() {
    for fail_after in 0..40u64 {
        for flipped in 0..2u64 {
            let vfs = FaultVfs::new(100 + fail_after);
            vfs.set_crash_mode(CrashMode::DropUnsynced);
            let (mut engine, created) = open(&vfs).unwrap();
            fill(&mut engine, 0..150);
            engine.checkpoint().unwrap();
            fill(&mut engine, 150..300);
            engine.sync().unwrap();
            vfs.fail_writes_after(fail_after);
            let _ = engine.checkpoint();
            drop(engine);
            vfs.clear_faults();
            vfs.crash();
            flip_superblock(&vfs, flipped);
            let all = expected(0..300);
            let context = format!("crash after {fail_after} writes, flip in slot {flipped}");
            check_reopen(&vfs, created.incarnation, &all, &all, &context);
        }
    }
}

/// The same for the checkpoint that stores a new incarnation after a loss
/// in the WAL: wherever a crash cuts it short, a flip in either superblock
/// must never bring back the old incarnation without the lost record.
#[test]
fn a_flip_after_an_incarnation_change_cut_short_never_brings_back_the_old_incarnation() {
    for fail_after in 0..40u64 {
        for flipped in 0..2u64 {
            let vfs = FaultVfs::new(200 + fail_after);
            vfs.set_crash_mode(CrashMode::DropUnsynced);
            let (mut engine, created) = open(&vfs).unwrap();
            fill(&mut engine, 0..100);
            engine.checkpoint().unwrap();
            for i in 0..5 {
                fill(&mut engine, 100 + i..101 + i);
                engine.sync().unwrap();
            }
            drop(engine);
            // Damage the first synced record after the checkpoint: it is
            // lost, and the store must never again claim the old
            // incarnation.
            let wal = vfs
                .list("db")
                .unwrap()
                .into_iter()
                .find(|n| n.starts_with("wal-"))
                .unwrap();
            vfs.flip_bit("db", &wal, 32 + 20, 1).unwrap();
            vfs.fail_writes_after(fail_after);
            let opened = open(&vfs);
            let finished = opened.is_ok();
            drop(opened);
            vfs.clear_faults();
            vfs.crash();
            let context = format!(
                "open after a WAL loss cut short after {fail_after} writes (finished: {finished}), flip in slot {flipped}"
            );
            flip_superblock(&vfs, flipped);
            match open(&vfs) {
                Err(StorageError::Corruption { .. }) => {}
                Err(other) => panic!("{context}: open failed with {other:?}"),
                Ok((mut engine, report)) => {
                    assert_ne!(
                        report.incarnation, created.incarnation,
                        "{context}: the old incarnation came back without record 100"
                    );
                    assert!(engine.get(Space::Data, &key(100)).unwrap().is_none());
                }
            }
        }
    }
}

/// The older superblock's tree is only trusted if no later checkpoint
/// wrote over it: here generation 3 is published but its log rotation
/// fails, so the log still reaches back to generation 2; the reopened
/// store then starts a checkpoint that writes generation-4 pages over the
/// pages generation 3 released (generation 2's tree) and crashes before
/// its superblock. A flip in generation 3's superblock must not bring back
/// generation 2 with a tree that is no longer its own.
#[test]
fn a_flip_in_the_newer_superblock_after_its_older_tree_was_reused_never_reads_the_reused_pages() {
    let mut refused = 0;
    for fail_after in 0..12u64 {
        let vfs = FaultVfs::new(300 + fail_after);
        vfs.set_crash_mode(CrashMode::DropUnsynced);
        let (mut engine, created) = open(&vfs).unwrap();
        fill(&mut engine, 0..150);
        engine.checkpoint().unwrap();
        fill(&mut engine, 150..300);
        engine.sync().unwrap();
        // Superblock 3 is written, then the log's rename fails.
        vfs.fail_writes_after(2);
        assert!(engine.checkpoint().is_err());
        drop(engine);
        vfs.clear_faults();
        vfs.crash();
        assert_eq!((generation(&vfs, 0), generation(&vfs, 1)), (2, 3));

        let (mut engine, report) = open(&vfs).unwrap();
        assert_eq!(report.incarnation, created.incarnation);
        fill(&mut engine, 0..150);
        engine.sync().unwrap();
        vfs.fail_writes_after(fail_after);
        let _ = engine.checkpoint();
        drop(engine);
        vfs.clear_faults();
        vfs.crash();
        if generation(&vfs, 0) != 2 {
            continue; // generation 4 was published: nothing to fall back to
        }
        flip_superblock(&vfs, 1);
        let all = expected(0..300);
        let context = format!("second checkpoint cut short after {fail_after} writes");
        if open(&vfs).is_err() {
            refused += 1;
        }
        check_reopen(&vfs, created.incarnation, &all, &all, &context);
    }
    assert!(refused > 0, "no case wrote over the older tree");
}

/// The same for a checkpoint published in parts (every part but the last
/// keeps the old WAL position): removes and overflow chains release pages
/// part after part, the crash falls anywhere among them, then a flip in
/// either superblock. The store is the same incarnation with exactly the
/// synced state (no removed record back), or a new one.
#[test]
fn a_flip_after_a_checkpoint_in_parts_cut_short_never_hides_a_loss() {
    // Loads 0..150, checkpoints, removes 0..100 and adds 150..300, syncs.
    let prepare = |seed: u64| {
        let vfs = FaultVfs::new(seed);
        vfs.set_crash_mode(CrashMode::DropUnsynced);
        let (mut engine, created) = open(&vfs).unwrap();
        engine.set_checkpoint_part_pages(2);
        fill(&mut engine, 0..150);
        engine.checkpoint().unwrap();
        let mut batch = zerodb_storage::WriteBatch::new();
        for i in 0..100 {
            batch.remove(Space::Data, key(i));
        }
        engine.write(batch).unwrap();
        fill(&mut engine, 150..300);
        engine.sync().unwrap();
        (vfs, engine, created)
    };
    // Without faults the checkpoint is several parts, several superblocks.
    let (vfs, mut engine, _) = prepare(399);
    let before = generation(&vfs, active_slot(&vfs));
    engine.checkpoint().unwrap();
    let parts = generation(&vfs, active_slot(&vfs)) - before;
    assert!(parts >= 4, "the checkpoint published {parts} superblocks");
    for fail_after in 0..80u64 {
        for flipped in 0..2u64 {
            let (vfs, mut engine, created) = prepare(400 + fail_after);
            vfs.fail_writes_after(fail_after);
            let _ = engine.checkpoint();
            drop(engine);
            vfs.clear_faults();
            vfs.crash();
            flip_superblock(&vfs, flipped);
            let all = expected(100..300);
            let context = format!("parts: crash after {fail_after} writes, flip in slot {flipped}");
            check_reopen(&vfs, created.incarnation, &all, &all, &context);
        }
    }
}

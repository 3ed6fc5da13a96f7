//! Unit tests of the WAL: preallocated segments, clean ends, torn and
//! damaged records.

use super::*;
use crate::vfs::{CrashMode, FaultVfs};
use crate::{Record, Space, Version};

fn batch(i: u64) -> WriteBatch {
    let version = Version {
        physical_ms: i,
        logical: 0,
        node: 1,
    };
    let mut b = WriteBatch::new();
    b.put(
        Space::Data,
        format!("k{i}"),
        Record::value(version, vec![7; 50]),
    );
    b
}

/// A fresh log with `n` batches, each synced on its own.
fn log_with(vfs: &FaultVfs, n: u64) -> Wal {
    let (mut wal, rec) = Wal::recover(Arc::new(vfs.clone()), "db", 1, |_| {}).unwrap();
    assert_eq!(rec.replayed, 0);
    for i in 0..n {
        assert_eq!(wal.append(&batch(i)).unwrap(), i + 1);
        assert!(wal.sync().unwrap());
    }
    wal
}

fn reopen(vfs: &FaultVfs) -> (Wal, Recovery, Vec<Vec<TaggedOp>>) {
    let mut seen = Vec::new();
    let (wal, rec) = Wal::recover(Arc::new(vfs.clone()), "db", 1, |ops| seen.push(ops)).unwrap();
    (wal, rec, seen)
}

/// Where record `lsn` (1-based) starts in a segment of this test's batches
/// (sync marks skipped).
fn record_offset(bytes: &[u8], lsn: u64) -> usize {
    let mut at = SEGMENT_HEADER_LEN;
    let mut records = 1;
    loop {
        let Some((_, payload, total)) = parse_frame(bytes, at) else {
            return at;
        };
        if !is_sync_mark(payload) {
            if records == lsn {
                return at;
            }
            records += 1;
        }
        at += total;
    }
}

#[test]
fn a_preallocated_segment_ends_cleanly_at_its_zeros() {
    let vfs = FaultVfs::new(1);
    let wal = log_with(&vfs, 5);
    let name = wal.name.clone();
    let data_end = wal.file_len as usize;
    drop(wal);
    let bytes = vfs.contents("db", &name).unwrap();
    assert_eq!(bytes.len() as u64, PREALLOCATE_BYTES, "preallocated");
    assert_eq!(bytes[data_end..data_end + FRAME_HEADER_LEN], END_MARK);
    assert!(bytes[data_end + FRAME_HEADER_LEN..].iter().all(|b| *b == 0));

    // Without the end mark (zeros right after the last record) the log
    // still ends cleanly there: zeros are never data, never damage.
    let file = vfs.open("db", &name, false).unwrap();
    file.write_at(data_end as u64, &[0; FRAME_HEADER_LEN])
        .unwrap();
    file.sync().unwrap();
    let (mut wal, rec, seen) = reopen(&vfs);
    assert_eq!((rec.replayed, rec.dropped, rec.synced_lost), (5, 0, false));
    assert_eq!(seen.len(), 5);
    assert_eq!(wal.next_lsn, 6);
    assert_eq!(wal.file_len as usize, data_end);
    // The file keeps its preallocated size; new records go on from there.
    assert_eq!(
        vfs.contents("db", &name).unwrap().len() as u64,
        PREALLOCATE_BYTES
    );
    assert_eq!(wal.append(&batch(5)).unwrap(), 6);
    wal.sync().unwrap();
    drop(wal);
    let (_, rec, _) = reopen(&vfs);
    assert_eq!((rec.replayed, rec.dropped), (6, 0));
}

#[test]
fn a_torn_record_inside_the_preallocated_space_is_cut_and_counted() {
    let vfs = FaultVfs::new(2);
    let wal = log_with(&vfs, 4);
    let name = wal.name.clone();
    drop(wal);
    let bytes = vfs.contents("db", &name).unwrap();
    let fourth = record_offset(&bytes, 4);
    let end = record_offset(&bytes, 5);
    // Record 4 torn halfway: its second half and the end mark are zeros.
    let file = vfs.open("db", &name, false).unwrap();
    let half = (fourth + end) / 2;
    file.write_at(half as u64, &vec![0; end + FRAME_HEADER_LEN - half])
        .unwrap();
    file.sync().unwrap();
    let (mut wal, rec, seen) = reopen(&vfs);
    assert_eq!((rec.replayed, rec.dropped, rec.synced_lost), (3, 1, false));
    assert_eq!(seen.len(), 3);
    assert_eq!(wal.next_lsn, 4, "the torn record's LSN is reused");
    assert_eq!(wal.file_len as usize, fourth);
    // The cut is durable and the log goes on from it.
    wal.append(&batch(9)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, rec, _) = reopen(&vfs);
    assert_eq!((rec.replayed, rec.dropped, rec.synced_lost), (4, 0, false));
}

#[test]
fn damage_followed_by_intact_records_in_preallocated_space_is_reported() {
    let vfs = FaultVfs::new(3);
    let wal = log_with(&vfs, 6);
    let name = wal.name.clone();
    drop(wal);
    let bytes = vfs.contents("db", &name).unwrap();
    let third = record_offset(&bytes, 3);
    vfs.flip_bit("db", &name, third as u64 + 20, 1).unwrap();
    let (wal, rec, _) = reopen(&vfs);
    assert_eq!(rec.replayed, 2);
    assert_eq!(rec.dropped, 4, "the damaged record and the three after it");
    assert!(rec.synced_lost);
    assert_eq!(wal.next_lsn, 3);
}

#[test]
fn unsynced_records_lost_in_a_crash_leave_a_clean_end() {
    for (seed, mode) in [
        (4, CrashMode::DropUnsynced),
        (5, CrashMode::KeepRandomPrefix),
        (6, CrashMode::KeepRandomPrefixTorn),
    ] {
        let vfs = FaultVfs::new(seed);
        vfs.set_crash_mode(mode);
        let mut wal = log_with(&vfs, 3);
        for i in 3..6 {
            wal.append(&batch(i)).unwrap();
        }
        // Written (buffer flushed past its limit would do the same) but
        // not synced.
        wal.write_buffer().unwrap();
        drop(wal);
        vfs.crash();
        let (wal, rec, seen) = reopen(&vfs);
        assert!(!rec.synced_lost, "{mode:?}: {rec:?}");
        assert!(
            rec.replayed >= 3 && rec.replayed + rec.dropped <= 6,
            "{mode:?}: {rec:?}"
        );
        assert_eq!(seen.len() as u64, rec.replayed);
        assert_eq!(wal.next_lsn, rec.replayed + 1);
    }
}

/// Issue 14: a bit flipped in the last synced record, with nothing after
/// it but the end mark, looked exactly like a torn unsynced tail: recovery
/// cut the record and kept the incarnation, so the store opened without a
/// record it had acknowledged as durable. The sync mark after it is the
/// evidence that it was synced.
#[test]
fn damage_in_the_last_synced_record_is_a_synced_loss_not_a_torn_tail() {
    for offset_in_record in [0, 5, 12, 20, 40] {
        let vfs = FaultVfs::new(7);
        let wal = log_with(&vfs, 4);
        let name = wal.name.clone();
        drop(wal);
        let bytes = vfs.contents("db", &name).unwrap();
        let fourth = record_offset(&bytes, 4);
        vfs.flip_bit("db", &name, (fourth + offset_in_record) as u64, 2)
            .unwrap();
        let (_, rec, seen) = reopen(&vfs);
        assert_eq!(seen.len(), 3, "flip at +{offset_in_record}");
        assert!(
            rec.synced_lost,
            "flip at +{offset_in_record}: a synced record was cut as a torn tail: {rec:?}"
        );
    }
}

/// A flip in the sync mark itself (or in the end mark after it) loses no
/// record: everything before it is intact, so the incarnation stays.
#[test]
fn damage_after_the_last_synced_record_loses_nothing() {
    for back in [3, -4] {
        let vfs = FaultVfs::new(8);
        let wal = log_with(&vfs, 4);
        let name = wal.name.clone();
        let at = wal.file_len as i64 - back;
        drop(wal);
        vfs.flip_bit("db", &name, at as u64, 0).unwrap();
        let (wal, rec, seen) = reopen(&vfs);
        assert_eq!(seen.len(), 4, "flip at {at}");
        assert!(!rec.synced_lost, "flip at {at}: {rec:?}");
        assert_eq!(wal.next_lsn, 5);
        drop(wal);
    }
}

/// Records a crash kept although they were never synced are part of the
/// store once recovery replays them (the node may act on them before it
/// next writes anything), so recovery seals them: a flip in the last of
/// them later is a synced loss, not a torn tail (found by the simulator's
/// check of flips on a crashed node's disk, append seed 132).
#[test]
fn records_recovery_keeps_are_sealed_against_later_damage() {
    let vfs = FaultVfs::new(11);
    let mut wal = log_with(&vfs, 3);
    for i in 3..5 {
        wal.append(&batch(i)).unwrap();
    }
    // Written and durable, but with no sync mark (a crash kept them).
    wal.write_buffer().unwrap();
    wal.file.sync().unwrap();
    let name = wal.name.clone();
    drop(wal);
    let (wal, rec, seen) = reopen(&vfs);
    assert_eq!((seen.len(), rec.synced_lost), (5, false));
    drop(wal);
    let bytes = vfs.contents("db", &name).unwrap();
    let fifth = record_offset(&bytes, 5);
    vfs.flip_bit("db", &name, fifth as u64 + 20, 4).unwrap();
    let (_, rec, seen) = reopen(&vfs);
    assert_eq!(seen.len(), 4);
    assert!(rec.synced_lost, "{rec:?}");
}

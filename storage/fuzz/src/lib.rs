//! The bodies of the storage fuzz targets. Each takes arbitrary bytes and
//! panics only on a real bug: a decoder that panics, loops or accepts bytes
//! it would not have written. The same functions run under libFuzzer
//! (`fuzz_targets/`) and in the stable corpus replay test
//! (`storage/tests/fuzz_replay.rs`, which includes this file).
//!
//! The ZeroEngine targets reach its WAL and page decoders through the public
//! API only: they write a store's files into a `FaultVfs` and open it. To
//! get past the checksums they frame WAL payloads and reseal edited pages
//! the way the engine does (CRC32C; layout in the engine's docs), so the
//! fuzzer spends its time on the decoders, not on the CRC check.

use std::sync::{Arc, OnceLock};

use zerodb_storage::{
    Direction, Engine, EngineOptions, FaultVfs, Record, ScanRange, SledEngine, Space, Version, Vfs,
    WriteBatch, ZeroEngine, PAGE_SIZE, ZERO_MAIN_FILE,
};

const DIR: &str = "db";
/// Bytes of a WAL segment header; frames follow it.
const WAL_SEGMENT_HEADER_LEN: usize = 32;
/// Bytes of a WAL frame header: payload length, CRC, LSN (little-endian).
const WAL_FRAME_HEADER_LEN: usize = 16;

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

fn options() -> EngineOptions {
    EngineOptions {
        cache_bytes: 64 * 1024,
        checkpoint_wal_bytes: 1 << 30,
        incarnation_seed: 3,
    }
}

fn version(n: u64) -> Version {
    Version {
        physical_ms: n,
        logical: (n % 3) as u32,
        node: 1,
    }
}

/// Reads everything an opened store holds, as a user would.
fn exercise(engine: &mut ZeroEngine) {
    for space in [Space::Data, Space::System] {
        for direction in [Direction::Forward, Direction::Reverse] {
            if let Ok(rows) = engine.scan(&ScanRange::all(space), direction, 10_000) {
                for (key, _) in rows.iter().take(8) {
                    let _ = engine.get(space, key);
                }
            }
        }
    }
    let _ = engine.validate();
    let _ = engine.sweep_expired(u64::MAX, 16);
}

fn wal_segments(vfs: &FaultVfs) -> Vec<String> {
    let mut names: Vec<String> = vfs
        .list(DIR)
        .expect("list the store")
        .into_iter()
        .filter(|n| n.starts_with("wal-"))
        .collect();
    names.sort();
    names
}

/// The payloads of every frame in a WAL segment.
fn frame_payloads(segment: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = WAL_SEGMENT_HEADER_LEN;
    while at + WAL_FRAME_HEADER_LEN <= segment.len() {
        let len = u32::from_le_bytes(segment[at..at + 4].try_into().expect("4 bytes")) as usize;
        let start = at + WAL_FRAME_HEADER_LEN;
        let Some(payload) = segment.get(start..start + len) else {
            break;
        };
        out.push(payload.to_vec());
        at = start + len;
    }
    out
}

/// A new empty store, closed, and the name and header of its WAL segment.
fn empty_store() -> (FaultVfs, String, Vec<u8>) {
    let vfs = FaultVfs::new(1);
    let (mut engine, _) = ZeroEngine::open(Arc::new(vfs.clone()), DIR, options()).expect("create");
    engine.close().expect("close");
    let name = wal_segments(&vfs)
        .pop()
        .expect("a new store has a WAL segment");
    let header = vfs.contents(DIR, &name).expect("read the WAL")[..WAL_SEGMENT_HEADER_LEN].to_vec();
    (vfs, name, header)
}

fn first_lsn(segment_name: &str) -> u64 {
    let hex = segment_name
        .trim_start_matches("wal-")
        .trim_end_matches(".log");
    u64::from_str_radix(hex, 16).expect("segment names carry their first LSN in hex")
}

/// Encodes WAL payloads as fuzz input: `[u16 length LE][payload]` each.
pub fn zero_wal_input(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        let len = p.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&p[..len]);
    }
    out
}

/// Seed inputs for [`zero_wal`]: the payloads of a WAL the engine wrote.
pub fn zero_wal_seeds() -> Vec<Vec<u8>> {
    let vfs = FaultVfs::new(2);
    let (mut engine, _) = ZeroEngine::open(Arc::new(vfs.clone()), DIR, options()).expect("create");
    let mut batch = WriteBatch::new();
    batch.put(
        Space::Data,
        b"alpha".to_vec(),
        Record::value(version(1), b"one".to_vec()),
    );
    batch.put(
        Space::System,
        b"lock".to_vec(),
        Record::tombstone(version(2)),
    );
    engine.write(batch).expect("write");
    let mut batch = WriteBatch::new();
    batch.put(
        Space::Data,
        b"ttl".to_vec(),
        Record {
            version: version(3),
            value: Some(vec![7; 300]),
            expires_at_ms: Some(99),
        },
    );
    batch.remove(Space::Data, b"alpha".to_vec());
    engine.write(batch).expect("write");
    engine.write(WriteBatch::new()).expect("write");
    engine.sync().expect("sync");
    let mut payloads = Vec::new();
    for name in wal_segments(&vfs) {
        payloads.extend(frame_payloads(
            &vfs.contents(DIR, &name).expect("read the WAL"),
        ));
    }
    assert!(!payloads.is_empty(), "the engine wrote no WAL frames");
    vec![zero_wal_input(&payloads), zero_wal_input(&payloads[..1])]
}

/// ZeroEngine's WAL recovery: the input is a sequence of
/// `[u16 length LE][payload]` chunks, each framed as a WAL record with a
/// valid CRC and the next LSN; a last chunk cut short is written raw as a
/// torn tail. Opening must replay or cut, never panic. Returns how many
/// records the open replayed (0 if it failed).
pub fn zero_wal(data: &[u8]) -> u64 {
    let (vfs, name, header) = empty_store();
    let mut segment = header;
    let mut lsn = first_lsn(&name);
    let mut rest = data;
    while rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        if rest.len() < len {
            segment.extend_from_slice(rest);
            rest = &[];
            break;
        }
        let (payload, tail) = rest.split_at(len);
        let len_bytes = (len as u32).to_le_bytes();
        let lsn_bytes = lsn.to_le_bytes();
        let crc = crc32c::crc32c_append(
            crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &lsn_bytes),
            payload,
        );
        segment.extend_from_slice(&len_bytes);
        segment.extend_from_slice(&crc.to_le_bytes());
        segment.extend_from_slice(&lsn_bytes);
        segment.extend_from_slice(payload);
        lsn += 1;
        rest = tail;
    }
    segment.extend_from_slice(rest);
    let file = vfs.open(DIR, &name, false).expect("open the WAL");
    file.set_len(0).expect("truncate");
    file.write_at(0, &segment).expect("write");
    file.sync().expect("sync");
    let Ok((mut engine, report)) = ZeroEngine::open(Arc::new(vfs.clone()), DIR, options()) else {
        return 0;
    };
    exercise(&mut engine);
    // Replayed records must survive a checkpoint and a reopen.
    if engine.checkpoint().is_ok() && engine.close().is_ok() {
        if let Ok((mut again, _)) = ZeroEngine::open(Arc::new(vfs), DIR, options()) {
            exercise(&mut again);
        }
    }
    report.wal_records_replayed
}

/// Records in the store the page target edits: enough for a two-level
/// tree, small enough to open, validate and repair many times a second.
const STORE_RECORDS: u64 = 300;

/// The main file of a store with a multi-level tree, overflow values,
/// tombstones, expiries and a free list, built once.
fn base_pages() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let vfs = FaultVfs::new(4);
        let (mut engine, _) =
            ZeroEngine::open(Arc::new(vfs.clone()), DIR, options()).expect("create");
        let mut batch = WriteBatch::new();
        for i in 0..STORE_RECORDS {
            let key = format!("key-{i:05}-{}", "k".repeat((i % 40) as usize)).into_bytes();
            let record = match i % 13 {
                0 => Record::tombstone(version(i)),
                1 => Record::value(version(i), vec![i as u8; 3_000]),
                2 => Record {
                    version: version(i),
                    value: Some(vec![1; 20]),
                    expires_at_ms: Some(i),
                },
                _ => Record::value(version(i), vec![i as u8; (i % 90) as usize]),
            };
            batch.put(Space::Data, key, record);
        }
        batch.put(
            Space::System,
            b"decision".to_vec(),
            Record::value(version(1), b"c".to_vec()),
        );
        engine.write(batch).expect("write");
        engine.checkpoint().expect("checkpoint");
        let mut batch = WriteBatch::new();
        for i in (0..STORE_RECORDS).step_by(3) {
            let key = format!("key-{i:05}-{}", "k".repeat((i % 40) as usize)).into_bytes();
            batch.remove(Space::Data, key);
        }
        engine.write(batch).expect("write");
        engine.checkpoint().expect("checkpoint");
        engine.close().expect("close");
        vfs.contents(DIR, ZERO_MAIN_FILE)
            .expect("read the main file")
    })
}

/// Seed inputs for [`zero_pages`]: no edit, and one small edit per page
/// kind region.
pub fn zero_pages_seeds() -> Vec<Vec<u8>> {
    let pages = base_pages().len() / PAGE_SIZE;
    let mut seeds = vec![Vec::new()];
    for page in 0..pages.min(12) {
        // Edit the first body bytes (entry count area) and one in the middle.
        seeds.push(vec![page as u8, 40, 0, 2, 0xff, 0x7f]);
        seeds.push(vec![page as u8, 0, 16, 1, 0x01]);
    }
    seeds
}

/// ZeroEngine's page decoders: the input is a list of edits
/// `[page u8][offset u16 LE][len u8][bytes]` applied to a valid main file;
/// edited pages get a fresh CRC unless the page byte's top bit is set.
/// Opening, reading, validating and repairing must fail cleanly or
/// succeed, never panic. Returns whether the edited store opened.
pub fn zero_pages(data: &[u8]) -> bool {
    let mut image = base_pages().to_vec();
    let pages = image.len() / PAGE_SIZE;
    let mut resealed = std::collections::BTreeSet::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let page = (rest[0] & 0x7f) as usize % pages;
        let reseal = rest[0] & 0x80 == 0;
        let offset = u16::from_le_bytes([rest[1], rest[2]]) as usize % PAGE_SIZE;
        let len = (rest[3] as usize).min(rest.len() - 4);
        let bytes = &rest[4..4 + len];
        let start = page * PAGE_SIZE + offset;
        let end = (start + len).min((page + 1) * PAGE_SIZE);
        image[start..end].copy_from_slice(&bytes[..end - start]);
        if reseal {
            resealed.insert(page);
        } else {
            resealed.remove(&page);
        }
        rest = &rest[4 + len..];
    }
    for page in resealed {
        let p = &mut image[page * PAGE_SIZE..(page + 1) * PAGE_SIZE];
        let crc = crc32c::crc32c(&p[4..]);
        p[..4].copy_from_slice(&crc.to_le_bytes());
    }
    let vfs = FaultVfs::new(5);
    vfs.create_dir_all(DIR).expect("mkdir");
    let file = vfs.open(DIR, ZERO_MAIN_FILE, true).expect("create");
    file.write_at(0, &image).expect("write");
    file.sync().expect("sync");
    let opened = match ZeroEngine::open(Arc::new(vfs.clone()), DIR, options()) {
        Ok((mut engine, _)) => {
            exercise(&mut engine);
            let _ = engine.close();
            true
        }
        Err(_) => false,
    };
    let _ = ZeroEngine::repair(
        Arc::new(vfs.clone()),
        DIR,
        Arc::new(vfs),
        "repaired",
        options(),
    );
    opened
}

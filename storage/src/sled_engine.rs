//! [`SledEngine`]: the [`Engine`] trait over sled 0.34, the second engine
//! behind the trait (DESIGN.md section 8).
//!
//! Both spaces share one sled tree; every key is stored as
//! `Space::tag() ++ key`, so a scan of one space never sees the other. The
//! store's incarnation lives in a separate `meta` tree. Records use the
//! compact layout in [`codec`].

mod codec;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{
    Direction, Engine, EngineStats, Incarnation, OpenReport, Record, ScanRange, Space,
    StorageError, StorageResult, WriteBatch, WriteOp,
};

/// Longest key the sled engine accepts, in bytes (the space tag not counted).
pub const SLED_KEY_MAX_BYTES: usize = 16 * 1024;
/// Longest value the sled engine accepts, in bytes.
pub const SLED_VALUE_MAX_BYTES: usize = 64 * 1024 * 1024;

const META_TREE: &[u8] = b"zerodb-meta";
/// How long `open` waits for the file lock of a handle that is still
/// closing. sled releases its lock when its background flusher thread lets
/// go of the database, which can be a few milliseconds after `close`.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const INCARNATION_KEY: &[u8] = b"incarnation";

/// An [`Engine`] kept in a sled database directory.
///
/// `sync` and `checkpoint` both flush sled's log to disk and then
/// `fdatasync` it: sled 0.34's own flush ends in `sync_file_range`, which
/// waits for the write but flushes neither the disk's write cache nor file
/// metadata, so on its own it does not survive a power cut. Batches go through
/// `sled::Tree::apply_batch`, which is atomic across a crash. After an I/O
/// error the engine refuses writes until it is reopened.
pub struct SledEngine {
    path: PathBuf,
    /// `None` once closed; dropping the handles releases sled's file lock.
    open: Option<Handles>,
    incarnation: Incarnation,
    syncs: u64,
    poisoned: Option<String>,
}

struct Handles {
    db: sled::Db,
    data: sled::Tree,
    /// sled's log file (`db` in its directory), synced after each flush.
    log: std::fs::File,
}

/// Name of sled 0.34's log file inside its directory.
const SLED_LOG_FILE: &str = "db";

/// Opens sled at `path`, waiting up to [`LOCK_WAIT`] for a lock held by a
/// handle of this process that is still shutting down. A lock held past
/// that (another live process) is reported as the I/O error it is.
fn open_db(path: &Path) -> StorageResult<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_busy(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(from_sled(path, e)),
        }
    }
}

fn is_lock_busy(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

impl std::fmt::Debug for SledEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledEngine")
            .field("path", &self.path)
            .field("open", &self.open.is_some())
            .field("incarnation", &self.incarnation)
            .finish()
    }
}

impl SledEngine {
    /// Opens the sled database in directory `path`, creating it when absent.
    /// A new store gets an incarnation derived from the wall clock (in
    /// microseconds), so a store wiped and recreated gets a different one;
    /// an existing store keeps the incarnation recorded in it.
    pub fn open(path: &Path) -> StorageResult<(SledEngine, OpenReport)> {
        let db = open_db(path)?;
        let data = (*db).clone();
        let meta = db.open_tree(META_TREE).map_err(|e| from_sled(path, e))?;
        let stored = meta.get(INCARNATION_KEY).map_err(|e| from_sled(path, e))?;
        let (incarnation, created) = match stored {
            Some(bytes) => (decode_incarnation(&bytes)?, false),
            None => {
                let incarnation = fresh_incarnation();
                meta.insert(INCARNATION_KEY, &incarnation.0.to_be_bytes())
                    .map_err(|e| from_sled(path, e))?;
                db.flush().map_err(|e| from_sled(path, e))?;
                (incarnation, true)
            }
        };
        let log = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path.join(SLED_LOG_FILE))
            .map_err(|source| StorageError::Io {
                path: path.join(SLED_LOG_FILE),
                source,
            })?;
        if created {
            log.sync_data().map_err(|source| StorageError::Io {
                path: path.join(SLED_LOG_FILE),
                source,
            })?;
        }
        let engine = SledEngine {
            path: path.to_path_buf(),
            open: Some(Handles { db, data, log }),
            incarnation,
            syncs: 0,
            poisoned: None,
        };
        let report = OpenReport {
            created,
            incarnation,
            ..OpenReport::default()
        };
        Ok((engine, report))
    }

    /// The bytes this engine stores for `record` (exposed for fuzzing and
    /// tests).
    pub fn encode_record(record: &Record) -> Vec<u8> {
        codec::encode(record)
    }

    /// Decodes bytes made by [`SledEngine::encode_record`]; anything else is
    /// [`StorageError::Corruption`].
    pub fn decode_record(bytes: &[u8]) -> StorageResult<Record> {
        codec::decode(bytes, || "sled record".to_string())
    }

    fn handles(&self) -> StorageResult<&Handles> {
        self.open.as_ref().ok_or(StorageError::Closed)
    }

    fn check_writable(&self) -> StorageResult<&Handles> {
        let handles = self.handles()?;
        if let Some(why) = &self.poisoned {
            return Err(StorageError::Poisoned(why.clone()));
        }
        Ok(handles)
    }

    /// Turns a sled error into a storage error, poisoning the engine when
    /// the disk failed.
    fn fail(&mut self, error: sled::Error) -> StorageError {
        let error = from_sled(&self.path, error);
        if matches!(error, StorageError::Io { .. }) {
            self.poisoned = Some(error.to_string());
        }
        error
    }
}

fn fresh_incarnation() -> Incarnation {
    // Two stores created in the same microsecond by one process still get
    // different incarnations; a clock before 1970 still yields a non-zero one.
    static LAST: AtomicU64 = AtomicU64::new(0);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64);
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(micros.max(last + 1))
        })
        .unwrap_or(0);
    Incarnation(micros.max(previous + 1))
}

fn decode_incarnation(bytes: &[u8]) -> StorageResult<Incarnation> {
    let raw: [u8; 8] = bytes.try_into().map_err(|_| StorageError::Corruption {
        what: "sled meta key `incarnation`".to_string(),
        detail: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(Incarnation(u64::from_be_bytes(raw)))
}

fn from_sled(path: &Path, error: sled::Error) -> StorageError {
    match error {
        sled::Error::Io(source) => StorageError::Io {
            path: path.to_path_buf(),
            source,
        },
        sled::Error::Corruption { at, .. } => StorageError::Corruption {
            what: format!("sled database {}", path.display()),
            detail: format!("sled found corruption at {at:?}"),
        },
        other => StorageError::Sled(other.to_string()),
    }
}

fn stored_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(space.tag());
    out.extend_from_slice(key);
    out
}

fn describe_key(space: Space, key: &[u8]) -> String {
    let shown: String = key
        .iter()
        .take(64)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    format!("sled record {space:?}/\"{shown}\" ({} bytes)", key.len())
}

fn check_sizes(key: &[u8], record: Option<&Record>) -> StorageResult<()> {
    if key.len() > SLED_KEY_MAX_BYTES {
        return Err(StorageError::TooLarge {
            what: "key",
            len: key.len(),
            max: SLED_KEY_MAX_BYTES,
        });
    }
    let value_len = record.and_then(|r| r.value.as_ref()).map_or(0, Vec::len);
    if value_len > SLED_VALUE_MAX_BYTES {
        return Err(StorageError::TooLarge {
            what: "value",
            len: value_len,
            max: SLED_VALUE_MAX_BYTES,
        });
    }
    Ok(())
}

fn stored_bound(space: Space, bound: &Bound<Vec<u8>>, unbounded: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(stored_key(space, k)),
        Bound::Excluded(k) => Bound::Excluded(stored_key(space, k)),
        Bound::Unbounded => unbounded,
    }
}

/// Whether the stored range is empty; sled panics on a range whose start
/// lies after its end, so such a range is answered without asking it.
fn range_is_empty(start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e))
        | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

impl Engine for SledEngine {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        let found = self.handles()?.data.get(stored_key(space, key));
        match found {
            Ok(Some(bytes)) => codec::decode(&bytes, || describe_key(space, key)).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn scan(
        &mut self,
        range: &ScanRange,
        direction: Direction,
        limit: usize,
    ) -> StorageResult<Vec<(Vec<u8>, Record)>> {
        let space = range.space;
        let start = stored_bound(space, &range.start, Bound::Included(vec![space.tag()]));
        let end = stored_bound(space, &range.end, Bound::Excluded(vec![space.tag() + 1]));
        if limit == 0 || range_is_empty(&start, &end) {
            return Ok(Vec::new());
        }
        let iter = self.handles()?.data.range((start, end));
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match direction
        {
            Direction::Forward => Box::new(iter),
            Direction::Reverse => Box::new(iter.rev()),
        };
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (stored, bytes) = match item {
                Ok(pair) => pair,
                Err(e) => return Err(self.fail(e)),
            };
            let key = stored[1..].to_vec();
            let record = codec::decode(&bytes, || describe_key(space, &key))?;
            out.push((key, record));
        }
        Ok(out)
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        let handles = self.check_writable()?;
        let mut sled_batch = sled::Batch::default();
        for (space, key, op) in &batch.ops {
            match op {
                WriteOp::Put(record) => {
                    check_sizes(key, Some(record))?;
                    sled_batch.insert(stored_key(*space, key), codec::encode(record));
                }
                WriteOp::Remove => {
                    check_sizes(key, None)?;
                    sled_batch.remove(stored_key(*space, key));
                }
            }
        }
        let applied = handles.data.apply_batch(sled_batch);
        applied.map_err(|e| self.fail(e))
    }

    fn sync(&mut self) -> StorageResult<()> {
        let handles = self.check_writable()?;
        let flushed = handles.db.flush();
        flushed.map_err(|e| self.fail(e))?;
        // sled's flush wrote and waited; this makes it durable (see the
        // type's documentation).
        let synced = self.check_writable()?.log.sync_data();
        synced.map_err(|e| self.fail(sled::Error::Io(e)))?;
        self.syncs += 1;
        Ok(())
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.sync()
    }

    /// `records` counts every key of both spaces, which walks the whole
    /// tree: call it for reports, not on a hot path.
    fn stats(&self) -> EngineStats {
        let Some(handles) = &self.open else {
            return EngineStats {
                syncs: self.syncs,
                ..EngineStats::default()
            };
        };
        let disk_bytes = handles.db.size_on_disk().unwrap_or(0);
        EngineStats {
            records: handles.data.len() as u64,
            // sled keeps data and log in the same segment files, and does
            // not say how much of them is live.
            disk_bytes,
            file_bytes: disk_bytes,
            syncs: self.syncs,
            ..EngineStats::default()
        }
    }

    fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    fn close(&mut self) -> StorageResult<()> {
        if self.open.is_none() {
            return Ok(());
        }
        let flushed = if self.poisoned.is_none() {
            self.sync()
        } else {
            Ok(())
        };
        // Drop the handles even when the flush failed: the engine is
        // unusable either way, and the file lock must be released.
        self.open = None;
        flushed
    }
}

impl Drop for SledEngine {
    fn drop(&mut self) {
        if let Some(handles) = &self.open {
            if let Err(e) = handles.db.flush() {
                tracing::warn!(path = %self.path.display(), error = %e, "sled flush on drop failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            let path = std::env::temp_dir()
                .join(format!("zerodb-sled-unit-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn record() -> Record {
        Record::value(
            Version {
                physical_ms: 1,
                logical: 0,
                node: 1,
            },
            b"v".to_vec(),
        )
    }

    #[test]
    fn foreign_bytes_in_the_tree_are_reported_as_corruption() {
        let dir = Dir::new("corrupt");
        let (mut engine, _) = SledEngine::open(&dir.0).unwrap();
        let data = engine.handles().unwrap().data.clone();
        data.insert(stored_key(Space::Data, b"bad"), &b"\x09garbage"[..])
            .unwrap();
        let err = engine.get(Space::Data, b"bad").unwrap_err();
        assert!(
            matches!(&err, StorageError::Corruption { what, .. } if what.contains("bad")),
            "{err}"
        );
        let err = engine
            .scan(&ScanRange::all(Space::Data), Direction::Forward, 10)
            .unwrap_err();
        assert!(matches!(err, StorageError::Corruption { .. }), "{err}");
    }

    #[test]
    fn oversized_keys_are_refused_and_nothing_is_written() {
        let dir = Dir::new("too-large");
        let (mut engine, _) = SledEngine::open(&dir.0).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(Space::Data, b"ok".to_vec(), record());
        batch.put(Space::Data, vec![0u8; SLED_KEY_MAX_BYTES + 1], record());
        let err = engine.write(batch).unwrap_err();
        assert!(
            matches!(err, StorageError::TooLarge { what: "key", .. }),
            "{err}"
        );
        assert_eq!(engine.get(Space::Data, b"ok").unwrap(), None);
    }

    #[test]
    fn new_stores_get_new_incarnations_and_keep_them() {
        let first = Dir::new("incarnation-a");
        let second = Dir::new("incarnation-b");
        let (mut a, report_a) = SledEngine::open(&first.0).unwrap();
        let (b, report_b) = SledEngine::open(&second.0).unwrap();
        assert!(report_a.created && report_b.created);
        assert_ne!(a.incarnation(), Incarnation(0));
        assert_ne!(a.incarnation(), b.incarnation());
        let kept = a.incarnation();
        a.close().unwrap();
        let (a, report) = SledEngine::open(&first.0).unwrap();
        assert!(!report.created);
        assert_eq!(a.incarnation(), kept);
    }
}

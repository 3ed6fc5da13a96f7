//! Removing the records of dropped namespaces from this node's engine.
//!
//! `zerodb ns drop` removes the namespace from the catalog and lists its
//! name as dropped ([`Catalog::dropped`]). Every node holding a catalog
//! that lists a name it has not purged in this life of the process
//! physically removes every record of that namespace (values and
//! tombstones of the data space) in the background: at most
//! [`PURGE_STEP_RECORDS`] records in one engine batch per node tick, one
//! namespace at a time, resuming after the last key it removed, so requests
//! are served between steps however large the namespace was. The records
//! cannot be read meanwhile: the gate refuses a dropped namespace as soon
//! as the catalog is installed. Lock and decision records (the system
//! space) are left alone: they resolve by the protocol.
//!
//! A write to the namespace still in flight when the drop reached a replica
//! can land after the purge. Such a straggler cannot be read (the gate
//! refuses the namespace and its name is never used again) and is removed
//! at the node's next start, when every dropped name is purged once more.
//!
//! [`Catalog::dropped`]: super::catalog::Catalog::dropped

use std::ops::Bound;
use zerodb_config::PartitionLevel;
use zerodb_ring::RecordKey;

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::NodeCore;

pub use zerodb_proto::api::LOCAL_COUNT_MAX;

/// Records removed per step of a background purge (one engine batch per
/// node tick: 51,200 records a second at the default 10 ms tick).
pub const PURGE_STEP_RECORDS: usize = 512;

/// A purge under way: the namespace, the last key removed, and how many
/// records were removed so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeCursor {
    /// The dropped namespace being purged.
    pub namespace: String,
    /// The last key removed (the next step starts after it).
    pub after: Option<Vec<u8>>,
    /// Records removed so far.
    pub removed: u64,
}

/// Removes up to `limit` records of `namespace` whose keys follow `after`
/// (not synced: the driver syncs the batch). Returns the records removed
/// and the last key removed; fewer than `limit` means the namespace is
/// empty past `after`.
pub fn purge_step<E: Engine>(
    engine: &mut E,
    namespace: &str,
    after: Option<&[u8]>,
    limit: usize,
) -> Result<(usize, Option<Vec<u8>>), StorageError> {
    let mut range = ScanRange::prefix(Space::Data, &namespace_prefix(namespace));
    if let Some(after) = after {
        range.start = Bound::Excluded(after.to_vec());
    }
    let records = engine.scan(&range, Direction::Forward, limit)?;
    let removed = records.len();
    let last = records.last().map(|(key, _)| key.clone());
    if removed > 0 {
        let mut batch = WriteBatch::new();
        for (key, _) in records {
            batch.remove(Space::Data, key);
        }
        engine.write(batch)?;
    }
    Ok((removed, last))
}

/// The key prefix shared by every record of `namespace` (its encoded
/// namespace component, and nothing of another namespace).
pub fn namespace_prefix(namespace: &str) -> Vec<u8> {
    // The partition key at database level is the namespace component then
    // the database component; an empty database component is the same two
    // bytes whatever the namespace, so cutting it off leaves the
    // namespace's own component.
    let empty = RecordKey::new("", "", "", Vec::new()).partition_key(PartitionLevel::Database);
    let component = empty.len() / 2;
    let mut prefix =
        RecordKey::new(namespace, "", "", Vec::new()).partition_key(PartitionLevel::Database);
    prefix.truncate(prefix.len() - component);
    prefix
}

/// Removes every record of `namespace` from `engine` at once (not synced);
/// returns how many were removed.
pub fn purge_namespace<E: Engine>(engine: &mut E, namespace: &str) -> Result<u64, StorageError> {
    let mut cursor = PurgeCursor::default();
    loop {
        let (removed, last) = purge_step(
            engine,
            namespace,
            cursor.after.as_deref(),
            PURGE_STEP_RECORDS,
        )?;
        cursor.removed += removed as u64;
        if removed < PURGE_STEP_RECORDS {
            return Ok(cursor.removed);
        }
        cursor.after = last;
    }
}

/// Counts the records of `namespace` this node holds, up to `limit`.
pub fn count_namespace<E: Engine>(
    engine: &mut E,
    namespace: &str,
    limit: usize,
) -> Result<u64, StorageError> {
    let range = ScanRange::prefix(Space::Data, &namespace_prefix(namespace));
    Ok(engine.scan(&range, Direction::Forward, limit)?.len() as u64)
}

impl<E: Engine> NodeCore<E> {
    /// One step of the background purge (called on every node tick): up
    /// to [`PURGE_STEP_RECORDS`] records of the first dropped namespace
    /// this process has not purged yet. A storage failure is logged and
    /// the step retried at the next tick.
    pub(super) fn purge_dropped(&mut self) {
        let Some(catalog) = self.metadata.catalog() else {
            return;
        };
        let Some(name) = catalog.dropped.difference(&self.purged).next().cloned() else {
            return;
        };
        let mut cursor = match self.purging.take() {
            Some(cursor) if cursor.namespace == name => cursor,
            _ => PurgeCursor {
                namespace: name,
                ..PurgeCursor::default()
            },
        };
        let step = purge_step(
            self.txn.engine_mut(),
            &cursor.namespace,
            cursor.after.as_deref(),
            PURGE_STEP_RECORDS,
        );
        match step {
            Ok((removed, last)) => {
                cursor.removed += removed as u64;
                if removed < PURGE_STEP_RECORDS {
                    if cursor.removed > 0 {
                        tracing::info!(node = %self.id, namespace = %cursor.namespace, removed = cursor.removed, "removed the records of a dropped namespace");
                    }
                    self.purged.insert(cursor.namespace);
                    return;
                }
                cursor.after = last;
            }
            Err(error) => {
                tracing::error!(node = %self.id, namespace = %cursor.namespace, %error, "removing the records of a dropped namespace failed; will retry");
            }
        }
        self.purging = Some(cursor);
    }

    /// The background purge under way, if any (see [`purge`](self)).
    pub fn purge_in_progress(&self) -> Option<&PurgeCursor> {
        self.purging.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_storage::{Incarnation, MemoryEngine, Record, Version};

    fn put(engine: &mut MemoryEngine, ns: &str, db: &str, id: &str) {
        let key = RecordKey::new(ns, db, "t", id.as_bytes().to_vec()).encode();
        let mut batch = WriteBatch::new();
        batch.put(
            Space::Data,
            key,
            Record::value(Version::ZERO, b"v".to_vec()),
        );
        engine.write(batch).unwrap();
    }

    #[test]
    fn a_purge_step_removes_at_most_its_limit_and_resumes_after_its_last_key() {
        let mut engine = MemoryEngine::new(Incarnation(1));
        for i in 0..25 {
            put(&mut engine, "a", "db", &format!("k{i:02}"));
        }
        put(&mut engine, "b", "db", "k");
        let (removed, last) = purge_step(&mut engine, "a", None, 10).unwrap();
        assert_eq!(removed, 10);
        assert_eq!(count_namespace(&mut engine, "a", 100).unwrap(), 15);
        let (removed, last) = purge_step(&mut engine, "a", last.as_deref(), 10).unwrap();
        assert_eq!(removed, 10);
        let (removed, last) = purge_step(&mut engine, "a", last.as_deref(), 10).unwrap();
        assert_eq!(removed, 5, "fewer than the limit: the namespace is done");
        assert!(last.is_some());
        assert_eq!(count_namespace(&mut engine, "a", 100).unwrap(), 0);
        assert_eq!(count_namespace(&mut engine, "b", 100).unwrap(), 1);
        let (removed, last) = purge_step(&mut engine, "a", None, 10).unwrap();
        assert_eq!((removed, last), (0, None));
    }

    #[test]
    fn a_purge_removes_exactly_the_namespace_records() {
        let mut engine = MemoryEngine::new(Incarnation(1));
        for i in 0..(2 * PURGE_STEP_RECORDS + 5) {
            put(&mut engine, "a", &format!("db{}", i % 3), &format!("k{i}"));
        }
        // Namespaces whose names extend or prefix "a" stay.
        put(&mut engine, "ab", "db", "k");
        put(&mut engine, "b", "db", "k");
        put(&mut engine, "", "a", "k");
        let removed = purge_namespace(&mut engine, "a").unwrap();
        assert_eq!(removed, (2 * PURGE_STEP_RECORDS + 5) as u64);
        assert_eq!(count_namespace(&mut engine, "a", 10).unwrap(), 0);
        assert_eq!(count_namespace(&mut engine, "ab", 10).unwrap(), 1);
        assert_eq!(count_namespace(&mut engine, "b", 10).unwrap(), 1);
        assert_eq!(count_namespace(&mut engine, "", 10).unwrap(), 1);
        assert_eq!(purge_namespace(&mut engine, "a").unwrap(), 0);
    }
}

//! Removing the records of dropped namespaces from this node's engine.
//!
//! `zerodb ns drop` removes the namespace from the catalog and lists its
//! name as dropped ([`Catalog::dropped`]). Every node, when it installs a
//! catalog listing a name it has not purged in this life of the process,
//! physically removes every record of that namespace (values and
//! tombstones of the data space) in one go, before the new catalog version
//! is advertised in gossip. Lock and decision records (the system space)
//! are left alone: they resolve by the protocol.
//!
//! A write to the namespace still in flight when the drop reached a replica
//! can land after the purge. Such a straggler cannot be read (the gate
//! refuses the namespace and its name is never used again) and is removed
//! at the node's next start, when every dropped name is purged once more.
//!
//! [`Catalog::dropped`]: super::catalog::Catalog::dropped

use zerodb_config::PartitionLevel;
use zerodb_ring::RecordKey;
use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::NodeCore;

pub use zerodb_proto::api::LOCAL_COUNT_MAX;

/// Records removed per engine batch while purging.
pub const PURGE_BATCH_RECORDS: usize = 1_024;

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

/// Removes every record of `namespace` from `engine` (not synced: the
/// driver syncs the batch); returns how many were removed.
pub fn purge_namespace<E: Engine>(engine: &mut E, namespace: &str) -> Result<u64, StorageError> {
    let range = ScanRange::prefix(Space::Data, &namespace_prefix(namespace));
    let mut removed = 0u64;
    loop {
        let records = engine.scan(&range, Direction::Forward, PURGE_BATCH_RECORDS)?;
        if records.is_empty() {
            return Ok(removed);
        }
        let mut batch = WriteBatch::new();
        for (key, _) in records {
            batch.remove(Space::Data, key);
            removed += 1;
        }
        engine.write(batch)?;
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
    /// Purges the namespaces the catalog copy lists as dropped that this
    /// process has not purged yet. A storage failure is logged and the
    /// name retried at the next catalog install.
    pub(super) fn purge_dropped(&mut self) {
        let Some(catalog) = self.metadata.catalog() else {
            return;
        };
        let names: Vec<String> = catalog.dropped.difference(&self.purged).cloned().collect();
        for name in names {
            match purge_namespace(self.txn.engine_mut(), &name) {
                Ok(removed) => {
                    if removed > 0 {
                        tracing::info!(node = %self.id, namespace = %name, removed, "removed the records of a dropped namespace");
                    }
                    self.purged.insert(name);
                }
                Err(error) => {
                    tracing::error!(node = %self.id, namespace = %name, %error, "removing the records of a dropped namespace failed; will retry");
                }
            }
        }
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
    fn a_purge_removes_exactly_the_namespace_records() {
        let mut engine = MemoryEngine::new(Incarnation(1));
        for i in 0..(PURGE_BATCH_RECORDS + 5) {
            put(&mut engine, "a", &format!("db{}", i % 3), &format!("k{i}"));
        }
        // Namespaces whose names extend or prefix "a" stay.
        put(&mut engine, "ab", "db", "k");
        put(&mut engine, "b", "db", "k");
        put(&mut engine, "", "a", "k");
        let removed = purge_namespace(&mut engine, "a").unwrap();
        assert_eq!(removed, (PURGE_BATCH_RECORDS + 5) as u64);
        assert_eq!(count_namespace(&mut engine, "a", 10).unwrap(), 0);
        assert_eq!(count_namespace(&mut engine, "ab", 10).unwrap(), 1);
        assert_eq!(count_namespace(&mut engine, "b", 10).unwrap(), 1);
        assert_eq!(count_namespace(&mut engine, "", 10).unwrap(), 1);
        assert_eq!(purge_namespace(&mut engine, "a").unwrap(), 0);
    }
}

//! redb behind the `Engine` trait, for the benchmark only. Keys are stored
//! as `Space::tag() ++ key` in one table and records in the sled engine's
//! codec, so both on-disk engines carry the same bytes. `write` commits with
//! `Durability::None`; `sync` commits an empty transaction with
//! `Durability::Immediate`, which makes the earlier commits durable too.

use std::ops::Bound;
use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use zerodb_storage::{
    Direction, Engine, EngineStats, Incarnation, Record, ScanRange, SledEngine, Space,
    StorageError, StorageResult, WriteBatch, WriteOp,
};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");

/// A redb database file.
pub struct RedbEngine {
    db: Option<Database>,
    syncs: u64,
}

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Sled(format!("redb: {e}"))
}

fn stored_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(space.tag());
    out.extend_from_slice(key);
    out
}

fn stored_bound(space: Space, b: &Bound<Vec<u8>>, unbounded: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(stored_key(space, k)),
        Bound::Excluded(k) => Bound::Excluded(stored_key(space, k)),
        Bound::Unbounded => unbounded,
    }
}

impl RedbEngine {
    /// Creates (or opens) the database file `path`.
    pub fn open(path: &Path) -> StorageResult<RedbEngine> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(TABLE).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(RedbEngine {
            db: Some(db),
            syncs: 0,
        })
    }

    fn db(&self) -> StorageResult<&Database> {
        self.db.as_ref().ok_or(StorageError::Closed)
    }
}

impl Engine for RedbEngine {
    fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Record>> {
        let txn = self.db()?.begin_read().map_err(err)?;
        let table = txn.open_table(TABLE).map_err(err)?;
        let found = table.get(stored_key(space, key).as_slice()).map_err(err)?;
        found
            .map(|bytes| SledEngine::decode_record(bytes.value()))
            .transpose()
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
        let txn = self.db()?.begin_read().map_err(err)?;
        let table = txn.open_table(TABLE).map_err(err)?;
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        let iter = table.range::<&[u8]>(bounds).map_err(err)?;
        let iter: Box<dyn Iterator<Item = _>> = match direction {
            Direction::Forward => Box::new(iter),
            Direction::Reverse => Box::new(iter.rev()),
        };
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (key, value) = item.map_err(err)?;
            let record = SledEngine::decode_record(value.value())?;
            out.push((key.value()[1..].to_vec(), record));
        }
        Ok(out)
    }

    fn write(&mut self, batch: WriteBatch) -> StorageResult<()> {
        let mut txn = self.db()?.begin_write().map_err(err)?;
        txn.set_durability(Durability::None).map_err(err)?;
        {
            let mut table = txn.open_table(TABLE).map_err(err)?;
            for (space, key, op) in &batch.ops {
                let key = stored_key(*space, key);
                match op {
                    WriteOp::Put(record) => {
                        let bytes = SledEngine::encode_record(record);
                        table
                            .insert(key.as_slice(), bytes.as_slice())
                            .map_err(err)?;
                    }
                    WriteOp::Remove => {
                        table.remove(key.as_slice()).map_err(err)?;
                    }
                }
            }
        }
        txn.commit().map_err(err)
    }

    fn sync(&mut self) -> StorageResult<()> {
        let mut txn = self.db()?.begin_write().map_err(err)?;
        txn.set_durability(Durability::Immediate).map_err(err)?;
        txn.commit().map_err(err)?;
        self.syncs += 1;
        Ok(())
    }

    fn checkpoint(&mut self) -> StorageResult<()> {
        self.sync()
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            syncs: self.syncs,
            ..EngineStats::default()
        }
    }

    fn incarnation(&self) -> Incarnation {
        Incarnation(1)
    }

    fn close(&mut self) -> StorageResult<()> {
        if self.db.is_some() {
            self.sync()?;
        }
        self.db = None;
        Ok(())
    }
}

//! What one attempt of a statement has read: the [`FetchedStore`] the
//! executor runs over, and the fetches that fill it (strong or eventual
//! gets, scans in pages).

use std::collections::{BTreeMap, BTreeSet};

use zerodb_query::exec::{Scanned, Stored, TxnStore};
use zerodb_query::keys::{KeyRange, StoreKey};

use super::{
    eventual, failure, range_to_scan, store_key_to_key, CoreCalls, Stop, FETCH_BATCH_KEYS_MAX,
};
use crate::api::{ClientRequest, ClientResponse, SCAN_LIMIT_MAX};
use zerodb_txn::{Request, Response, Ver, RANGE_ASSERT_RECORDS_MAX};

/// A scan as the executor asks it: the range and the most keys wanted.
type ScanAsk = (KeyRange, usize);

/// What one attempt of a statement has fetched, and what its last run
/// asked for that was not fetched yet.
#[derive(Default)]
pub struct FetchedStore {
    gets: BTreeMap<StoreKey, Option<Stored<Ver>>>,
    scans: BTreeMap<ScanAsk, Result<Vec<Scanned<Ver>>, String>>,
    missing_gets: BTreeSet<StoreKey>,
    missing_scans: BTreeSet<ScanAsk>,
}

impl FetchedStore {
    /// Forgets what the last run asked for, before the next run.
    pub(super) fn start_run(&mut self) {
        self.missing_gets.clear();
        self.missing_scans.clear();
    }

    /// Whether the last run asked for something not fetched yet.
    pub(super) fn needs_more(&self) -> bool {
        !self.missing_gets.is_empty() || !self.missing_scans.is_empty()
    }
}

impl TxnStore for FetchedStore {
    type Version = Ver;

    fn get(&mut self, key: &StoreKey) -> Result<Option<Stored<Ver>>, String> {
        match self.gets.get(key) {
            Some(found) => Ok(found.clone()),
            None => {
                self.missing_gets.insert(key.clone());
                Ok(None)
            }
        }
    }

    fn scan(&mut self, range: &KeyRange, limit: usize) -> Result<Vec<Scanned<Ver>>, String> {
        let ask = (range.clone(), limit);
        match self.scans.get(&ask) {
            Some(found) => found.clone(),
            None => {
                self.missing_scans.insert(ask);
                Ok(Vec::new())
            }
        }
    }
}

/// Whether a read is of the catalog (definitions live in reserved tables,
/// whose names start with `#`; index entries too, under `#ix`).
fn is_catalog(table: &str) -> bool {
    table.starts_with('#') && table != zerodb_query::keys::INDEX_ENTRIES
}

/// Fetches what the last run asked for and did not have: only its catalog
/// reads when it asked for any, else everything. A run that has not read
/// the definitions yet planned without them (a table scan where an index
/// would serve), so its data reads would be thrown away; the next run plans
/// with the definitions and asks for the right data.
pub(super) async fn fetch_missing<C: CoreCalls>(
    core: &C,
    store: &mut FetchedStore,
    eventual: &BTreeSet<String>,
) -> Result<(), Stop> {
    let latest = core.eventual_namespaces();
    let eventual = latest.as_ref().unwrap_or(eventual);
    let catalog_first = store.missing_gets.iter().any(|k| is_catalog(&k.table))
        || store
            .missing_scans
            .iter()
            .any(|(r, _)| is_catalog(&r.table));
    if catalog_first {
        store.missing_gets.retain(|k| is_catalog(&k.table));
        store.missing_scans.retain(|(r, _)| is_catalog(&r.table));
    }
    let keys: Vec<StoreKey> = std::mem::take(&mut store.missing_gets)
        .into_iter()
        .collect();
    for chunk in keys.chunks(FETCH_BATCH_KEYS_MAX) {
        // The calls are made before any is awaited: the node's own core
        // receives them together and serves them concurrently.
        let calls: Vec<_> = chunk
            .iter()
            .map(|key| {
                core.call(ClientRequest::Data(Request::Get {
                    key: store_key_to_key(key),
                    level: eventual::level(&key.namespace, eventual),
                }))
            })
            .collect();
        for (key, call) in chunk.iter().zip(calls) {
            let found = read_answer(call.await)?;
            store.gets.insert(key.clone(), found);
        }
    }
    fetch_scans(core, store).await
}

/// The value of a strong get's answer (`None`: absent or deleted).
fn read_answer(response: ClientResponse) -> Result<Option<Stored<Ver>>, Stop> {
    match response {
        ClientResponse::Data(Response::Value(found)) => Ok(found.and_then(|versioned| {
            versioned.value.map(|value| Stored {
                value,
                version: versioned.version,
            })
        })),
        other => Err(failure(other, "reading a key")),
    }
}

/// Fetches the ranges the last run asked for, each in pages of at most
/// [`SCAN_LIMIT_MAX`] records, up to [`RANGE_ASSERT_RECORDS_MAX`] records
/// (what one range assert takes).
async fn fetch_scans<C: CoreCalls>(core: &C, store: &mut FetchedStore) -> Result<(), Stop> {
    for (range, limit) in std::mem::take(&mut store.missing_scans) {
        let mut scanned = Vec::new();
        let mut page = range.clone();
        let answer = loop {
            let wanted = limit.saturating_sub(scanned.len());
            if wanted == 0 || page.is_empty() {
                break Ok(scanned);
            }
            if scanned.len() > RANGE_ASSERT_RECORDS_MAX {
                break Err(format!(
                    "the scan of {} holds more than {RANGE_ASSERT_RECORDS_MAX} records; one statement reads at most that many records of a range (add a LIMIT, a narrower WHERE or an index)",
                    range.table
                ));
            }
            // One record more than a range may hold tells a range of exactly
            // the most from a longer one.
            let room = RANGE_ASSERT_RECORDS_MAX + 1 - scanned.len();
            let asked = u32::try_from(wanted.min(room))
                .unwrap_or(u32::MAX)
                .min(SCAN_LIMIT_MAX);
            let request = ClientRequest::Scan(range_to_scan(&page, asked));
            let found = match core.call(request).await {
                ClientResponse::Scan(entries) => entries,
                other => return Err(failure(other, "scanning a range")),
            };
            let full_page = found.len() >= asked as usize;
            for entry in found {
                let Some(value) = entry.value.value else {
                    continue;
                };
                page.start = successor(&entry.id);
                let key = StoreKey {
                    namespace: range.namespace.clone(),
                    database: range.database.clone(),
                    table: range.table.clone(),
                    id: entry.id,
                };
                let stored = Stored {
                    value,
                    version: entry.value.version,
                };
                store
                    .gets
                    .entry(key.clone())
                    .or_insert_with(|| Some(stored.clone()));
                scanned.push((key, stored));
            }
            if !full_page {
                break Ok(scanned);
            }
        };
        store.scans.insert((range, limit), answer);
    }
    Ok(())
}

/// The smallest id after `id`.
fn successor(id: &[u8]) -> Vec<u8> {
    let mut next = id.to_vec();
    next.push(0);
    next
}

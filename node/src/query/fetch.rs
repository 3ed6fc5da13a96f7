//! What one attempt of a statement has read: the [`FetchedStore`] the
//! executor runs over, and the fetches that fill it (strong or eventual
//! gets, scans in pages).
//!
//! **Guesses.** The first attempt of a statement in a strong namespace
//! reads two kinds of key without asking the replicas: a table's schema
//! key is taken from the node's [`SchemaCache`], and the record a `CREATE`
//! of a given id needs absent is taken as absent. Both are reads like any
//! other for what follows: the commit asserts their versions (or a
//! read-only statement reads them again, [`super::validate`]), so a wrong
//! guess fails the attempt and the next one reads everything. A statement
//! that fails on its own (an error of the executor) after guessing runs
//! again without guesses, so that its error is the one the current data
//! gives.
//!
//! **Large scans take turns.** A statement whose scan runs past one page
//! ([`SCAN_LIMIT_MAX`] records) waits for one of the node's turns
//! ([`CoreCalls::large_scan_turn`]; the runtime gives one per node) before
//! it reads the second page, and keeps
//! the turn until its attempt ends (the commit, which has every replica
//! read the range again, included). Point statements and small scans never
//! wait for a turn. This bounds the large scans a node coordinates, not
//! the work they give the replicas: each page and each replica's read of a
//! range under its lock still runs inside that node's event loop (README,
//! what is not done).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use zerodb_query::exec::{Commit, Scanned, Stored, TxnStore};
use zerodb_query::keys::{is_schema_key, KeyRange, StoreKey};

use super::{
    eventual, failure, range_to_scan, store_key_to_key, CoreCalls, Deadline, Stop,
    FETCH_BATCH_KEYS_MAX,
};
use crate::api::{ClientRequest, ClientResponse, SCAN_LIMIT_MAX};
use zerodb_txn::{Request, Response, Ver, RANGE_ASSERT_RECORDS_MAX};

/// A scan as the executor asks it: the range and the most keys wanted.
type ScanAsk = (KeyRange, usize);

/// Most table schemas a node keeps in its [`SchemaCache`]; a full cache is
/// emptied and fills again from the statements that follow.
pub const SCHEMA_CACHE_ENTRIES_MAX: usize = 4_096;

/// The table schema keys this node read lately, with their value and
/// version (`None`: never written), shared by the node's query tasks.
/// Only ever a guess: what a statement takes from it is checked at its
/// commit.
#[derive(Clone, Default)]
pub struct SchemaCache(Arc<Mutex<BTreeMap<StoreKey, Option<Stored<Ver>>>>>);

impl SchemaCache {
    fn get(&self, key: &StoreKey) -> Option<Option<Stored<Ver>>> {
        self.0.lock().expect("schema cache").get(key).cloned()
    }

    pub(super) fn put(&self, key: &StoreKey, found: &Option<Stored<Ver>>) {
        let mut entries = self.0.lock().expect("schema cache");
        if entries.len() >= SCHEMA_CACHE_ENTRIES_MAX && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(key.clone(), found.clone());
    }

    /// Forgets `keys` (written by a commit, or found stale).
    pub(super) fn forget<'k>(&self, keys: impl IntoIterator<Item = &'k StoreKey>) {
        let mut entries = self.0.lock().expect("schema cache");
        for key in keys {
            entries.remove(key);
        }
    }

    /// The keys of the schemas cached.
    pub fn keys(&self) -> Vec<StoreKey> {
        self.0
            .lock()
            .expect("schema cache")
            .keys()
            .cloned()
            .collect()
    }

    /// How many schemas are cached.
    pub fn len(&self) -> usize {
        self.0.lock().expect("schema cache").len()
    }

    /// Whether no schema is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A turn for a large scan, held until dropped (what the node's
/// [`CoreCalls::large_scan_turn`] hands out).
pub type ScanTurn = Box<dyn Send + Sync>;

/// What one attempt of a statement has fetched, and what its last run
/// asked for that was not fetched yet.
#[derive(Default)]
pub struct FetchedStore {
    gets: BTreeMap<StoreKey, Option<Stored<Ver>>>,
    scans: BTreeMap<ScanAsk, Result<Vec<Scanned<Ver>>, String>>,
    missing_gets: BTreeSet<StoreKey>,
    missing_scans: BTreeSet<ScanAsk>,
    /// Where schemas are cached; read from only when `guess` is set.
    cache: Option<SchemaCache>,
    /// Whether this attempt may guess (see the module documentation).
    guess: bool,
    /// Namespaces where nothing is guessed (eventual ones: no commit checks
    /// their reads).
    eventual: BTreeSet<String>,
    /// Keys taken from the cache, and records taken as absent.
    pub(super) guessed: BTreeSet<StoreKey>,
    /// Keys read by a single-key read (a get, or from the cache).
    pub(super) by_get: BTreeSet<StoreKey>,
    /// The key of the last fetch round when that round fetched that key
    /// alone and nothing entered the store after it: every other read was
    /// made before it.
    pub(super) last_alone: Option<StoreKey>,
    /// Whether this attempt asked for a turn for a large scan.
    asked_turn: bool,
    /// The turn this attempt holds, once one of its scans ran past a page.
    turn: Option<ScanTurn>,
    /// When the node stops the statement.
    pub(super) deadline: Deadline,
}

impl FetchedStore {
    /// A store for one attempt: guessing from `cache` when `guess` is set,
    /// except in the `eventual` namespaces.
    pub(super) fn new(
        cache: Option<SchemaCache>,
        guess: bool,
        eventual: &BTreeSet<String>,
    ) -> Self {
        FetchedStore {
            cache,
            guess,
            eventual: eventual.clone(),
            ..FetchedStore::default()
        }
    }

    /// Whether this attempt took anything without reading it.
    pub(super) fn guessed(&self) -> bool {
        !self.guessed.is_empty()
    }

    /// Everything this attempt read, as a read-only commit: each key at the
    /// version fetched, each range as the scan covered it (up to its last
    /// record when it stopped at its limit). Committing it checks that all
    /// of it held at one point.
    pub(super) fn reads_commit(&self) -> Commit<Ver> {
        let reads = self
            .gets
            .iter()
            .map(|(key, found)| (key.clone(), found.as_ref().map(|s| s.version)))
            .collect();
        let ranges = self
            .scans
            .iter()
            .filter_map(|((range, limit), found)| {
                let found = found.as_ref().ok()?;
                let mut covered = range.clone();
                if found.len() >= *limit {
                    if let Some((last, _)) = found.last() {
                        covered.end = successor(&last.id);
                    }
                }
                Some(covered)
            })
            .filter(|range| !range.is_empty())
            .collect();
        Commit {
            reads,
            ranges,
            writes: Vec::new(),
        }
    }

    fn may_guess(&self, key: &StoreKey) -> bool {
        self.guess && !self.eventual.contains(&key.namespace)
    }

    /// Distinct ranges of strong namespaces this attempt scanned or asks
    /// to scan. Each becomes an operation of the commit, so once there are
    /// more than [`zerodb_txn::TXN_OPS_MAX`] the statement can never commit, however
    /// the rest of it goes (a traversal reads one range per adjacency list).
    /// Data scans a run asked for before it had read the definitions are
    /// not counted: the next run plans again and may not need them.
    pub(super) fn strong_ranges(&self, eventual: &BTreeSet<String>) -> usize {
        let asked = if self.wants_catalog() {
            None
        } else {
            Some(&self.missing_scans)
        };
        self.scans
            .keys()
            .chain(asked.into_iter().flatten())
            .map(|(range, _)| range)
            .filter(|range| !range.is_empty() && !eventual.contains(&range.namespace))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Whether the last run asked for a catalog read it has not got: then
    /// only those are fetched (see [`fetch_missing`]).
    fn wants_catalog(&self) -> bool {
        self.missing_gets.iter().any(is_catalog_key)
            || self.missing_scans.iter().any(|(r, _)| is_catalog(&r.table))
    }

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
        if let Some(found) = self.gets.get(key) {
            return Ok(found.clone());
        }
        let cached = match &self.cache {
            Some(cache) if is_schema_key(key) && self.may_guess(key) => cache.get(key),
            _ => None,
        };
        if let Some(found) = cached {
            // Taken once per attempt: every later run sees the same value.
            self.gets.insert(key.clone(), found.clone());
            self.guessed.insert(key.clone());
            self.by_get.insert(key.clone());
            self.last_alone = None;
            return Ok(found);
        }
        self.missing_gets.insert(key.clone());
        Ok(None)
    }

    fn get_expecting_absent(&mut self, key: &StoreKey) -> Result<Option<Stored<Ver>>, String> {
        if self.gets.contains_key(key) || !self.may_guess(key) {
            return self.get(key);
        }
        self.gets.insert(key.clone(), None);
        self.guessed.insert(key.clone());
        self.last_alone = None;
        Ok(None)
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

/// Whether a read is of the catalog: a table's schema key, or a
/// definition (in reserved tables, whose names start with `#`; index
/// entries too, under `#ix`).
fn is_catalog(table: &str) -> bool {
    use zerodb_query::keys::{INDEX_ENTRIES, IN_EDGES, OUT_EDGES};
    table.starts_with('#') && ![INDEX_ENTRIES, OUT_EDGES, IN_EDGES].contains(&table)
}

/// Whether a key read is of the catalog ([`is_catalog`]).
fn is_catalog_key(key: &StoreKey) -> bool {
    is_schema_key(key) || is_catalog(&key.table)
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
    if store.wants_catalog() {
        store.missing_gets.retain(is_catalog_key);
        store.missing_scans.retain(|(r, _)| is_catalog(&r.table));
    }
    let keys: Vec<StoreKey> = std::mem::take(&mut store.missing_gets)
        .into_iter()
        .collect();
    store.last_alone = match (&keys[..], store.missing_scans.is_empty()) {
        ([key], true) => Some(key.clone()),
        _ => None,
    };
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
            if is_schema_key(key) {
                if let Some(cache) = &store.cache {
                    cache.put(key, &found);
                }
            }
            store.by_get.insert(key.clone());
            store.gets.insert(key.clone(), found);
        }
    }
    fetch_scans(core, store).await
}

/// The value of a strong get's answer (`None`: absent or deleted).
pub(super) fn read_answer(response: ClientResponse) -> Result<Option<Stored<Ver>>, Stop> {
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
            store.deadline.check(core)?;
            if !scanned.is_empty() && !store.asked_turn {
                store.asked_turn = true;
                store.turn = core.large_scan_turn().await;
            }
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

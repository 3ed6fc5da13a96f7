//! The query loop against a core in memory: key mapping, the commit's
//! asserts, retries after a conflict, the system namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;

use zerodb_query::keys::{DatabaseName, KeyRange, StoreKey};
use zerodb_query::value::{codec, Value};
use zerodb_txn::{
    ClientError, Condition, Key, Op, OpResult, Request, Response, Ver, Versioned, TXN_OPS_MAX,
};

use super::*;
use crate::api::{ClientRequest, ClientResponse, QueryErrorKind, QueryRequest, ScanEntry};
use crate::core::catalog::SYSTEM_NAMESPACE;

/// The clock and pauses of a test core, inside its `impl CoreCalls`: the
/// wall clock (so that statements generate different record ids) and no
/// waiting between attempts.
macro_rules! test_clock {
    () => {
        fn pause(&self, _ms: u64) -> impl std::future::Future<Output = ()> + Send {
            std::future::ready(())
        }

        fn now_ns(&self) -> i64 {
            crate::runtime::query::wall_clock_ns()
        }
    };
}
pub(crate) use test_clock;

/// A core in memory: strong gets, scans and transactions with asserts,
/// each call yielding once so that concurrent queries interleave.
#[derive(Default)]
pub(crate) struct MemoryCore {
    records: Mutex<BTreeMap<Key, Versioned>>,
    clock: Mutex<u64>,
    pub(crate) commits: Mutex<u32>,
    /// Single-key puts and deletes (eventual namespaces).
    pub(crate) single_writes: Mutex<u32>,
    /// Tables scanned, one entry per scan request.
    scanned: Mutex<Vec<String>>,
}

impl MemoryCore {
    fn next_version(&self) -> Ver {
        let mut clock = self.clock.lock().unwrap();
        *clock += 1;
        Ver {
            physical_ms: *clock,
            logical: 0,
            node: 1,
        }
    }

    fn answer(&self, request: ClientRequest) -> ClientResponse {
        let mut records = self.records.lock().unwrap();
        match request {
            ClientRequest::Data(Request::Get { key, .. }) => ClientResponse::Data(Response::Value(
                records.get(&key).filter(|v| v.value.is_some()).cloned(),
            )),
            ClientRequest::Scan(query) => {
                self.scanned.lock().unwrap().push(query.table.clone());
                let end = query.end.unwrap_or_else(|| vec![0xff; 8]);
                let entries = records
                    .iter()
                    .filter(|(key, value)| {
                        key.namespace == query.namespace
                            && key.database == query.database
                            && key.table == query.table
                            && key.id >= query.start
                            && key.id < end
                            && value.value.is_some()
                    })
                    .take(query.limit as usize)
                    .map(|(key, value)| ScanEntry {
                        id: key.id.clone(),
                        value: value.clone(),
                    })
                    .collect();
                ClientResponse::Scan(entries)
            }
            // Eventual namespaces: each write on its own.
            ClientRequest::Data(Request::Put { key, value, .. }) => {
                let version = self.next_version();
                let value = Some(value);
                records.insert(
                    key,
                    Versioned {
                        version,
                        value,
                        expires_at_ms: None,
                    },
                );
                *self.single_writes.lock().unwrap() += 1;
                ClientResponse::Data(Response::Written { version })
            }
            ClientRequest::Data(Request::Delete { key, .. }) => {
                let version = self.next_version();
                records.insert(
                    key,
                    Versioned {
                        version,
                        value: None,
                        expires_at_ms: None,
                    },
                );
                *self.single_writes.lock().unwrap() += 1;
                ClientResponse::Data(Response::Written { version })
            }
            ClientRequest::Data(Request::Txn { ops }) => {
                for op in &ops {
                    if let Op::AssertRange(range) = op {
                        if let Some(error) = range_changed(&records, range) {
                            return ClientResponse::Data(Response::Error(error));
                        }
                    }
                    if let Op::Assert(key, Condition::VersionEquals(want)) = op {
                        let live = records.get(key).filter(|v| v.value.is_some());
                        if live.map_or(Ver::ZERO, |v| v.version) != *want {
                            let error = ClientError::ConditionFailed {
                                key: key.clone(),
                                condition: Condition::VersionEquals(*want),
                                found: live.cloned(),
                            };
                            return ClientResponse::Data(Response::Error(error));
                        }
                    }
                }
                let version = self.next_version();
                let mut results = Vec::new();
                for op in ops {
                    match op {
                        Op::Put(key, value) => {
                            records.insert(
                                key,
                                Versioned {
                                    version,
                                    value: Some(value),
                                    expires_at_ms: None,
                                },
                            );
                        }
                        Op::Delete(key) => {
                            records.insert(
                                key,
                                Versioned {
                                    version,
                                    value: None,
                                    expires_at_ms: None,
                                },
                            );
                        }
                        Op::Assert(..) | Op::AssertRange(_) => {}
                        other => panic!("a query sent {other:?}"),
                    }
                    results.push(OpResult::Checked);
                }
                *self.commits.lock().unwrap() += 1;
                ClientResponse::Data(Response::Committed { version, results })
            }
            other => panic!("a query sent {other:?}"),
        }
    }
}

/// The first record of `range` whose live version is not the expected one
/// (an insert, a delete or an update since the scan), as the transaction
/// layer reports it.
fn range_changed(
    records: &BTreeMap<Key, Versioned>,
    range: &zerodb_txn::RangeAssert,
) -> Option<ClientError> {
    let live: BTreeMap<Vec<u8>, &Versioned> = records
        .iter()
        .filter(|(key, value)| {
            key.namespace == range.start.namespace
                && key.database == range.start.database
                && key.table == range.start.table
                && range.contains_id(&key.id)
                && value.value.is_some()
        })
        .map(|(key, value)| (key.id.clone(), value))
        .collect();
    let expect: BTreeMap<Vec<u8>, Ver> = range.expect.iter().cloned().collect();
    let ids: BTreeSet<Vec<u8>> = live.keys().chain(expect.keys()).cloned().collect();
    ids.iter().find_map(|id| {
        let found = live.get(id).map(|v| v.version);
        let expected = expect.get(id).copied().unwrap_or(Ver::ZERO);
        let changed = found.unwrap_or(Ver::ZERO) != expected;
        changed.then(|| ClientError::RangeChanged {
            key: range.key_of(id),
            expected,
            found,
        })
    })
}

impl CoreCalls for MemoryCore {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        tokio::task::yield_now().await;
        self.answer(request)
    }
}

/// Runs `interference` (a whole query) against the same core just before
/// each of the first `times` commits: the commit then finds changed
/// versions.
struct Interfering<'a> {
    inner: &'a MemoryCore,
    interference: &'a str,
    times: Mutex<u32>,
}

impl CoreCalls for Interfering<'_> {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        let commit = matches!(request, ClientRequest::Data(Request::Txn { .. }));
        let interfere = commit && {
            let mut times = self.times.lock().unwrap();
            let go = *times > 0;
            *times = times.saturating_sub(1);
            go
        };
        if interfere {
            let answer = run_query(self.inner, query(self.interference), &BTreeSet::new()).await;
            assert_eq!(answer.error, None);
        }
        self.inner.call(request).await
    }
}

pub(crate) fn query(text: &str) -> QueryRequest {
    QueryRequest {
        namespace: "test".into(),
        database: "test".into(),
        text: text.into(),
        params: Vec::new(),
    }
}

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(future)
}

pub(crate) fn values(answer: &QueryAnswer) -> Vec<String> {
    answer
        .results
        .iter()
        .map(|bytes| codec::decode(bytes).unwrap().to_string())
        .collect()
}

async fn ok(core: &impl CoreCalls, text: &str) -> Vec<String> {
    let answer = run_query(core, query(text), &BTreeSet::new()).await;
    assert_eq!(answer.error, None, "{text}");
    values(&answer)
}

#[test]
fn query_keys_map_one_to_one_onto_node_keys() {
    let database = DatabaseName::new("ns", "db");
    let keys = [
        database.record_key("person", &Value::Str("tobie".into())),
        database.index_definition_key("person", "age"),
        database.table_definition_key("person"),
        zerodb_query::keys::namespace_definition_key("ns"),
    ];
    for key in &keys {
        let node_key = store_key_to_key(key);
        assert_eq!(node_key.namespace, key.namespace);
        assert_eq!(node_key.database, key.database);
        assert_eq!(node_key.table, key.table);
        assert_eq!(node_key.id, key.id);
        assert_eq!(&key_to_store_key(&node_key), key);
    }
    let range = database.table_range("person");
    let scan = range_to_scan(&range, 10);
    assert_eq!((scan.table.as_str(), scan.limit), ("person", 10));
    assert_eq!(scan.start, range.start);
    assert_eq!(scan.end, Some(range.end));
}

#[test]
fn every_read_is_asserted_at_its_version_and_absent_keys_at_version_zero() {
    let key = |id: &str| StoreKey {
        namespace: "ns".into(),
        database: "db".into(),
        table: "t".into(),
        id: id.as_bytes().to_vec(),
    };
    let seen = Ver {
        physical_ms: 7,
        logical: 1,
        node: 2,
    };
    let commit = exec::Commit {
        reads: vec![(key("a"), Some(seen)), (key("b"), None)],
        ranges: Vec::new(),
        writes: vec![(key("a"), Some(b"v".to_vec())), (key("c"), None)],
    };
    let ops = commit_ops(&commit).unwrap();
    assert_eq!(
        ops,
        vec![
            Op::Assert(store_key_to_key(&key("a")), Condition::VersionEquals(seen)),
            Op::Assert(
                store_key_to_key(&key("b")),
                Condition::VersionEquals(Ver::ZERO)
            ),
            Op::Put(store_key_to_key(&key("a")), b"v".to_vec()),
            Op::Delete(store_key_to_key(&key("c"))),
        ]
    );
    let too_many = exec::Commit {
        reads: (0..=TXN_OPS_MAX)
            .map(|i| (key(&i.to_string()), None))
            .collect(),
        ranges: Vec::new(),
        writes: Vec::new(),
    };
    assert!(commit_ops(&too_many).unwrap_err().contains("at most"));
}

#[test]
fn a_scanned_range_is_asserted_whole_and_its_reads_are_not_asserted_one_by_one() {
    let key = |table: &str, id: &str| StoreKey {
        namespace: "ns".into(),
        database: "db".into(),
        table: table.into(),
        id: id.as_bytes().to_vec(),
    };
    let seen = Ver {
        physical_ms: 7,
        logical: 1,
        node: 2,
    };
    let range = KeyRange {
        namespace: "ns".into(),
        database: "db".into(),
        table: "t".into(),
        start: b"a".to_vec(),
        end: b"m".to_vec(),
    };
    let commit = exec::Commit {
        reads: vec![
            (key("t", "c"), Some(seen)),
            (key("t", "b"), Some(seen)),
            (key("t", "d"), None),
            (key("t", "x"), Some(seen)),
            (key("u", "c"), Some(seen)),
        ],
        ranges: vec![range],
        writes: Vec::new(),
    };
    let ops = commit_ops(&commit).unwrap();
    assert_eq!(
        ops,
        vec![
            Op::AssertRange(zerodb_txn::RangeAssert {
                start: store_key_to_key(&key("t", "a")),
                end_id: b"m".to_vec(),
                expect: vec![(b"b".to_vec(), seen), (b"c".to_vec(), seen)],
            }),
            Op::Assert(
                store_key_to_key(&key("t", "x")),
                Condition::VersionEquals(seen)
            ),
            Op::Assert(
                store_key_to_key(&key("u", "c")),
                Condition::VersionEquals(seen)
            ),
        ]
    );
}

/// Runs `setup`, then `statement` with `interference` (a whole query) run
/// just before the statement's first commit; returns what `check` reads
/// afterwards.
fn interfered(setup: &str, interference: &str, statement: &str, check: &str) -> Vec<String> {
    let core = MemoryCore::default();
    block_on(async {
        ok(&core, setup).await;
        let interfering = Interfering {
            inner: &core,
            interference,
            times: Mutex::new(1),
        };
        ok(&interfering, statement).await;
        ok(&core, check).await
    })
}

#[test]
fn a_record_inserted_into_a_scanned_range_before_the_commit_makes_the_statement_run_again() {
    // The update scans the table; item:c appears between its scan and its
    // commit. Without the range assert it would be left out.
    let seen = interfered(
        "CREATE item:a SET v = 1; CREATE item:b SET v = 2",
        "CREATE item:c SET v = 3",
        "UPDATE item SET seen = true",
        "SELECT seen FROM item",
    );
    assert_eq!(
        seen,
        vec!["[{ seen: true }, { seen: true }, { seen: true }]"]
    );
}

#[test]
fn statements_run_against_the_core_with_indexes_and_rendered_errors() {
    let core = MemoryCore::default();
    block_on(async {
        ok(
            &core,
            "DEFINE TABLE person SCHEMALESS; DEFINE INDEX age ON person FIELDS age",
        )
        .await;
        ok(&core, "CREATE person:tobie SET name = 'Tobie', age = 33").await;
        ok(&core, "CREATE person:jaime SET name = 'Jaime', age = 40").await;
        assert_eq!(
            ok(&core, "SELECT name FROM person WHERE age > 35").await,
            vec!["[{ name: 'Jaime' }]"]
        );
        let answer = run_query(&core, query("SELECT * FROM"), &BTreeSet::new()).await;
        let error = answer.error.unwrap();
        assert_eq!(error.kind, QueryErrorKind::Invalid);
        assert!(error.message.contains("1:14"), "{}", error.message);
        assert!(error.message.contains('^'), "{}", error.message);
        let answer = run_query(
            &core,
            query("CREATE person:tobie SET age = 1"),
            &BTreeSet::new(),
        )
        .await;
        assert_eq!(answer.error.unwrap().kind, QueryErrorKind::Violation);
    });
}

#[test]
fn an_update_whose_reads_changed_before_its_commit_runs_again() {
    let counted = interfered(
        "CREATE counter:c SET n = 0",
        "UPDATE counter:c SET n += 1",
        "UPDATE counter:c SET n += 1",
        "SELECT n FROM counter:c",
    );
    assert_eq!(counted, vec!["[{ n: 2 }]"]);
}

#[test]
fn two_concurrent_updates_of_one_counter_both_count() {
    let core = MemoryCore::default();
    block_on(async {
        ok(&core, "CREATE counter:c SET n = 0").await;
        let update = "UPDATE counter:c SET n += 1";
        let strong = BTreeSet::new();
        let (a, b) = tokio::join!(
            run_query(&core, query(update), &strong),
            run_query(&core, query(update), &strong)
        );
        assert_eq!((a.error, b.error), (None, None));
        assert_eq!(
            ok(&core, "SELECT n FROM counter:c").await,
            vec!["[{ n: 2 }]"]
        );
    });
}

#[test]
fn a_statement_that_always_conflicts_stops_after_the_attempt_limit_writing_nothing() {
    let core = MemoryCore::default();
    block_on(async {
        ok(&core, "CREATE counter:c SET n = 0").await;
        let interfering = Interfering {
            inner: &core,
            interference: "UPDATE counter:c SET n += 1",
            times: Mutex::new(STATEMENT_ATTEMPTS_MAX),
        };
        let answer = run_query(
            &interfering,
            query("UPDATE counter:c SET n += 100"),
            &BTreeSet::new(),
        )
        .await;
        let error = answer.error.unwrap();
        assert_eq!(error.kind, QueryErrorKind::Conflict);
        assert!(error.message.contains("retry later"), "{}", error.message);
        let expected = format!("[{{ n: {STATEMENT_ATTEMPTS_MAX} }}]");
        assert_eq!(ok(&core, "SELECT n FROM counter:c").await, vec![expected]);
    });
}

#[test]
fn the_system_namespace_is_refused_with_a_clear_error() {
    let core = MemoryCore::default();
    let mut request = query("SELECT * FROM catalog");
    request.namespace = SYSTEM_NAMESPACE.into();
    let answer = block_on(run_query(&core, request, &BTreeSet::new()));
    assert_eq!(answer.error.unwrap().kind, QueryErrorKind::Refused);
    assert_eq!(*core.commits.lock().unwrap(), 0);
}

#[test]
fn parameters_arrive_in_the_value_codec() {
    let core = MemoryCore::default();
    let mut request = query("RETURN $a + 1");
    request.params = vec![("a".into(), codec::encode(&Value::Int(41)).unwrap())];
    let answer = block_on(run_query(&core, request, &BTreeSet::new()));
    assert_eq!(answer.error, None);
    assert_eq!(values(&answer), vec!["42"]);
}

#[test]
fn a_table_scan_reads_past_one_page_of_the_nodes_scan_limit() {
    let core = MemoryCore::default();
    let rows = crate::api::SCAN_LIMIT_MAX as usize + 800;
    block_on(async {
        for chunk in (0..rows).collect::<Vec<_>>().chunks(400) {
            let values: Vec<String> = chunk.iter().map(|n| format!("({n})")).collect();
            let text = format!("CREATE item SET (n) VALUES {}", values.join(", "));
            ok(&core, &text).await;
        }
        let last = rows - 3;
        let found = ok(&core, &format!("SELECT n FROM item WHERE n >= {last}")).await;
        let expected = format!(
            "[{{ n: {last} }}, {{ n: {} }}, {{ n: {} }}]",
            last + 1,
            last + 2
        );
        // Ids are random: compare as sets of rows.
        let sorted = |text: &str| {
            let mut parts: Vec<String> = text
                .trim_matches(['[', ']'])
                .split("}, ")
                .map(|p| p.trim_end_matches('}').to_string())
                .collect();
            parts.sort();
            parts
        };
        assert_eq!(found.len(), 1);
        assert_eq!(sorted(&found[0]), sorted(&expected));
    });
}

#[test]
fn two_concurrent_creates_of_one_unique_value_cannot_both_succeed() {
    let core = MemoryCore::default();
    block_on(async {
        ok(
            &core,
            "DEFINE TABLE person SCHEMALESS; DEFINE INDEX email ON person FIELDS email UNIQUE",
        )
        .await;
        // person:b takes the address between person:a's uniqueness scan
        // and its commit.
        let interfering = Interfering {
            inner: &core,
            interference: "CREATE person:b SET email = 'x@example.com'",
            times: Mutex::new(1),
        };
        let answer = run_query(
            &interfering,
            query("CREATE person:a SET email = 'x@example.com'"),
            &BTreeSet::new(),
        )
        .await;
        let error = answer.error.expect("the second create is refused");
        assert_eq!(error.kind, QueryErrorKind::Violation, "{}", error.message);
        assert!(error.message.contains("person:b"), "{}", error.message);
        assert_eq!(
            ok(&core, "SELECT id FROM person").await,
            vec!["[{ id: person:b }]"]
        );
    });
}

#[test]
fn an_indexed_lookup_reads_the_definitions_first_and_never_scans_the_table() {
    let core = MemoryCore::default();
    block_on(async {
        ok(
            &core,
            "DEFINE TABLE people SCHEMALESS; DEFINE INDEX by_k ON people FIELDS k",
        )
        .await;
        let values: Vec<String> = (0..300).map(|n| format!("({})", n % 30)).collect();
        ok(
            &core,
            &format!("CREATE people SET (k) VALUES {}", values.join(", ")),
        )
        .await;
        core.scanned.lock().unwrap().clear();
        let found = ok(&core, "SELECT k FROM people WHERE k = 7").await;
        assert_eq!(found[0].matches("k: 7").count(), 10, "{found:?}");
        let scanned = core.scanned.lock().unwrap().clone();
        assert!(
            !scanned.iter().any(|t| t == "people"),
            "the lookup scanned the table: {scanned:?}"
        );
    });
}

#[test]
fn a_range_of_exactly_the_most_records_reads_and_one_more_is_refused() {
    let core = MemoryCore::default();
    let rows = zerodb_txn::RANGE_ASSERT_RECORDS_MAX;
    block_on(async {
        for chunk in (0..rows).collect::<Vec<_>>().chunks(400) {
            let values: Vec<String> = chunk.iter().map(|n| format!("({n})")).collect();
            ok(
                &core,
                &format!("CREATE item SET (n) VALUES {}", values.join(", ")),
            )
            .await;
        }
        let last = format!("SELECT n FROM item WHERE n >= {}", rows - 1);
        assert_eq!(
            ok(&core, &last).await,
            vec![format!("[{{ n: {} }}]", rows - 1)]
        );
        ok(&core, "CREATE item SET n = -1").await;
        let answer = run_query(&core, query(&last), &BTreeSet::new()).await;
        let error = answer
            .error
            .expect("a range of one record too many is refused");
        assert!(error.message.contains("more than"), "{}", error.message);
        assert!(error.message.contains("100000"), "{}", error.message);
    });
}

#[test]
fn a_traversal_wider_than_one_transaction_is_refused_before_it_reads_the_next_hop() {
    let core = MemoryCore::default();
    let wide = TXN_OPS_MAX + 50;
    block_on(async {
        ok(&core, "CREATE v:hub; CREATE v:end").await;
        for chunk in (0..wide).collect::<Vec<_>>().chunks(150) {
            let creates: Vec<String> = chunk.iter().map(|n| format!("CREATE v:m{n}")).collect();
            ok(&core, &creates.join("; ")).await;
            let middle: Vec<String> = chunk.iter().map(|n| format!("v:m{n}")).collect();
            let middle = middle.join(", ");
            ok(&core, &format!("RELATE v:hub -> likes -> [{middle}]")).await;
            ok(&core, &format!("RELATE [{middle}] -> likes -> v:end")).await;
        }
        // One hop reads one adjacency list.
        let one = ok(&core, "RETURN array::len(v:hub -> likes -> v)").await;
        assert_eq!(one, vec![wide.to_string()]);
        let scans_before = core.scanned.lock().unwrap().len();
        let two = "RETURN v:hub -> likes -> v -> likes -> v";
        let answer = run_query(&core, query(two), &BTreeSet::new()).await;
        let error = answer
            .error
            .expect("a traversal of too many lists is refused");
        assert!(
            error
                .message
                .contains(&format!("reads {} ranges", wide + 1))
                && error.message.contains(&TXN_OPS_MAX.to_string()),
            "{}",
            error.message
        );
        // Refused before the second hop's lists were fetched.
        let scans = core.scanned.lock().unwrap().len() - scans_before;
        assert!(scans < 10, "{scans} scans for a refused traversal");
    });
}

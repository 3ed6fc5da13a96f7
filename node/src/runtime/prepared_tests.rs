//! Prepared statements against a core in memory: one parse, many
//! executions with their own parameters and plans; the cache's bounds; an
//! unknown handle; executions read as their caller, as queries do.

use std::collections::BTreeSet;

use zerodb_query::value::{codec, Value};

use super::*;
use crate::api::{ClientRequest, QueryRequest, ServiceError};
use crate::query::tests::{block_on, values, MemoryCore};
use crate::query::{run_query, CoreCalls};

fn prepare_request(text: &str) -> PrepareRequest {
    PrepareRequest {
        namespace: "test".into(),
        database: "test".into(),
        text: text.into(),
    }
}

fn execute_request(handle: u64, params: &[(&str, Value)]) -> ExecuteRequest {
    ExecuteRequest {
        handle,
        namespace: "test".into(),
        database: "test".into(),
        params: params
            .iter()
            .map(|(name, value)| (name.to_string(), codec::encode(value).unwrap()))
            .collect(),
    }
}

fn query_request(text: &str) -> QueryRequest {
    QueryRequest {
        namespace: "test".into(),
        database: "test".into(),
        text: text.into(),
        params: Vec::new(),
    }
}

/// Prepares `text`, which must parse; returns the handle.
fn prepared(cache: &Mutex<PreparedCache>, text: &str) -> u64 {
    match prepare(cache, prepare_request(text)) {
        ClientResponse::Prepared(statement) => statement.handle,
        other => panic!("{text}: {other:?}"),
    }
}

async fn run(core: &impl CoreCalls, text: &str) {
    let answer = run_query(core, query_request(text), &BTreeSet::new()).await;
    assert_eq!(answer.error, None, "{text}");
}

#[test]
fn one_prepared_statement_runs_with_each_set_of_parameters() {
    let core = MemoryCore::default();
    let cache = Mutex::new(PreparedCache::default());
    let text = "SELECT name FROM person WHERE age > $min ORDER BY age";
    let handle = prepared(&cache, text);
    assert_eq!(handle, statement_handle(text));
    assert_eq!(
        prepare(&cache, prepare_request(text)),
        ClientResponse::Prepared(PreparedStatement {
            handle,
            statements: 1
        }),
        "preparing again gives the same handle"
    );
    assert_eq!(cache.lock().unwrap().len(), 1);
    block_on(async {
        run(&core, "CREATE person:tobie SET name = 'Tobie', age = 33").await;
        run(&core, "CREATE person:jaime SET name = 'Jaime', age = 40").await;
        let strong = BTreeSet::new();
        let young = execute_request(handle, &[("min", Value::Int(30))]);
        let answer = execute(&core, &cache, young, &strong).await;
        assert_eq!(answer.error, None);
        assert_eq!(
            values(&answer),
            vec!["[{ name: 'Tobie' }, { name: 'Jaime' }]"]
        );
        let old = execute_request(handle, &[("min", Value::Int(35))]);
        let answer = execute(&core, &cache, old, &strong).await;
        assert_eq!(values(&answer), vec!["[{ name: 'Jaime' }]"]);
        // Without its parameter the statement fails as a query would.
        let answer = execute(&core, &cache, execute_request(handle, &[]), &strong).await;
        assert_eq!(answer.error.unwrap().kind, QueryErrorKind::Invalid);
    });
}

#[test]
fn names_are_resolved_at_each_execution_so_a_later_index_is_used() {
    let core = MemoryCore::default();
    let cache = Mutex::new(PreparedCache::default());
    let handle = prepared(&cache, "EXPLAIN SELECT * FROM person WHERE age > $min");
    let strong = BTreeSet::new();
    block_on(async {
        let min = [("min", Value::Int(1))];
        let answer = execute(&core, &cache, execute_request(handle, &min), &strong).await;
        assert!(values(&answer)[0].contains("TableScan"), "{answer:?}");
        run(&core, "DEFINE INDEX by_age ON person FIELDS age").await;
        let answer = execute(&core, &cache, execute_request(handle, &min), &strong).await;
        assert!(values(&answer)[0].contains("IndexScan"), "{answer:?}");
    });
}

#[test]
fn an_unknown_handle_fails_with_its_own_kind_and_runs_nothing() {
    let core = MemoryCore::default();
    let cache = Mutex::new(PreparedCache::default());
    let handle = statement_handle("CREATE t:1 SET a = 1");
    let answer = block_on(execute(
        &core,
        &cache,
        execute_request(handle, &[]),
        &BTreeSet::new(),
    ));
    let error = answer.error.unwrap();
    assert_eq!(error.kind, QueryErrorKind::UnknownStatement);
    assert!(
        error.message.contains("prepare its text again"),
        "{error:?}"
    );
    assert!(answer.results.is_empty());
    assert_eq!(*core.commits.lock().unwrap(), 0);
}

#[test]
fn a_text_that_does_not_parse_or_pair_its_blocks_is_not_kept() {
    let cache = Mutex::new(PreparedCache::default());
    for text in ["SELECT * FROM", "BEGIN; RETURN 1"] {
        let ClientResponse::Query(answer) = prepare(&cache, prepare_request(text)) else {
            panic!("{text} was prepared");
        };
        let error = answer.error.unwrap();
        assert_eq!(error.kind, QueryErrorKind::Invalid);
        assert!(error.message.contains('^'), "{}", error.message);
    }
    assert!(cache.lock().unwrap().is_empty());
}

fn kept(text: String) -> Prepared {
    Prepared {
        text,
        query: zerodb_query::parse("RETURN 1").unwrap(),
    }
}

#[test]
fn the_cache_is_bounded_and_drops_the_least_recently_used() {
    let mut cache = PreparedCache::default();
    let text = |i: usize| format!("RETURN {i}");
    let handles: Vec<u64> = (0..PREPARED_STATEMENTS_MAX)
        .map(|i| cache.insert(kept(text(i))).unwrap())
        .collect();
    assert_eq!(cache.len(), PREPARED_STATEMENTS_MAX);
    // Using the oldest makes the second the least recently used.
    assert!(cache.get(handles[0]).is_some());
    let newest = cache.insert(kept(text(PREPARED_STATEMENTS_MAX))).unwrap();
    assert_eq!(cache.len(), PREPARED_STATEMENTS_MAX);
    assert!(cache.get(handles[1]).is_none(), "the least recently used");
    assert!(cache.get(handles[0]).is_some());
    assert!(cache.get(newest).is_some());
    assert_eq!(cache.get(handles[2]).unwrap().text, "RETURN 2");
}

#[test]
fn the_texts_kept_are_bounded_in_bytes_too() {
    let mut cache = PreparedCache::default();
    let megabyte = 1 << 20;
    let count = PREPARED_TEXT_BYTES_MAX / megabyte + 4;
    for i in 0..count {
        let text = format!("{i:08}{}", " ".repeat(megabyte - 8));
        cache.insert(kept(text)).unwrap();
    }
    assert_eq!(cache.len(), PREPARED_TEXT_BYTES_MAX / megabyte);
    assert_eq!(cache.text_bytes, PREPARED_TEXT_BYTES_MAX);
}

/// A core that refuses its caller everything, as the catalog gate does for
/// a user without permissions.
struct RefusingCore;

impl CoreCalls for RefusingCore {
    crate::query::tests::test_clock!();

    async fn call(&self, _request: ClientRequest) -> ClientResponse {
        ClientResponse::Error(ServiceError::Refused {
            reason: "user \"vera\" may not read namespace \"test\"".into(),
        })
    }
}

#[test]
fn an_execution_reads_as_its_caller_exactly_as_the_query_does() {
    let cache = Mutex::new(PreparedCache::default());
    let text = "SELECT * FROM person";
    let handle = prepared(&cache, text);
    let strong = BTreeSet::new();
    let (queried, executed) = block_on(async {
        let queried = run_query(&RefusingCore, query_request(text), &strong).await;
        let executed = execute(&RefusingCore, &cache, execute_request(handle, &[]), &strong).await;
        (queried, executed)
    });
    let error = executed.error.clone().unwrap();
    assert_eq!(error.kind, QueryErrorKind::Refused);
    assert!(error.message.contains("may not read"), "{error:?}");
    assert_eq!(executed, queried);
}

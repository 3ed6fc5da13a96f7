//! zeroql in an eventual namespace against a core in memory: statements
//! run with eventual reads and single-key writes (never a transaction),
//! blocks and uniqueness rules are refused, a write failing midway says
//! how much of the statement was written, and a write refused for a stale
//! epoch is sent again a bounded number of times.

use std::collections::BTreeSet;
use std::sync::Mutex;

use zerodb_txn::{ClientError, Epoch, Level, PartitionId, Request};

use super::super::tests::{block_on, query, values, MemoryCore};
use super::super::{run_query, CoreCalls};
use super::WRITE_ATTEMPTS_MAX;
use crate::api::{ClientRequest, ClientResponse, QueryAnswer, QueryErrorKind};

/// Forwards to a core in memory and keeps every request.
#[derive(Default)]
struct Recording {
    inner: MemoryCore,
    requests: Mutex<Vec<ClientRequest>>,
}

impl CoreCalls for Recording {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        self.requests.lock().unwrap().push(request.clone());
        self.inner.call(request).await
    }
}

fn eventual() -> BTreeSet<String> {
    BTreeSet::from(["test".to_string()])
}

async fn run(core: &impl CoreCalls, text: &str) -> QueryAnswer {
    run_query(core, query(text), &eventual()).await
}

async fn ok(core: &impl CoreCalls, text: &str) -> Vec<String> {
    let answer = run(core, text).await;
    assert_eq!(answer.error, None, "{text}");
    values(&answer)
}

async fn refused(core: &impl CoreCalls, text: &str) -> String {
    let error = run(core, text).await.error.expect(text);
    assert_eq!(error.kind, QueryErrorKind::Refused, "{text}: {error:?}");
    assert!(
        error.message.contains("namespace \"test\" is eventual")
            && error.message.contains("without multi-key guarantees")
            && error.message.contains("use a strong namespace"),
        "{}",
        error.message
    );
    error.message
}

#[test]
fn statements_run_with_eventual_reads_and_one_write_per_key() {
    let core = Recording::default();
    block_on(async {
        ok(
            &core,
            "DEFINE TABLE person SCHEMALESS; DEFINE INDEX age ON person FIELDS age",
        )
        .await;
        ok(&core, "CREATE person:tobie SET name = 'Tobie', age = 33").await;
        ok(&core, "CREATE person:jaime SET name = 'Jaime', age = 40").await;
        let plan = ok(&core, "EXPLAIN SELECT name FROM person WHERE age > 35").await;
        assert!(plan[0].contains("IndexScan"), "{plan:?}");
        assert_eq!(
            ok(&core, "SELECT name FROM person WHERE age > 35").await,
            vec!["[{ name: 'Jaime' }]"]
        );
        ok(&core, "UPDATE person:tobie SET age += 10").await;
        assert_eq!(
            ok(
                &core,
                "SELECT name FROM person WHERE age > 35 ORDER BY name"
            )
            .await,
            vec!["[{ name: 'Jaime' }, { name: 'Tobie' }]"]
        );
        ok(&core, "DELETE person WHERE age > 42").await;
        assert_eq!(
            ok(&core, "SELECT name FROM person WHERE age > 0").await,
            vec!["[{ name: 'Jaime' }]"]
        );
    });
    assert_eq!(*core.inner.commits.lock().unwrap(), 0, "no transaction");
    let requests = core.requests.lock().unwrap();
    let writes = requests
        .iter()
        .filter(|request| {
            matches!(
                request,
                ClientRequest::Data(Request::Put { .. } | Request::Delete { .. })
            )
        })
        .count();
    // Each record and each index entry was written on its own.
    assert_eq!(writes, *core.inner.single_writes.lock().unwrap() as usize);
    assert!(writes >= 8, "{writes}");
    for request in requests.iter() {
        match request {
            ClientRequest::Data(Request::Get { level, .. })
            | ClientRequest::Data(Request::Put { level, .. })
            | ClientRequest::Data(Request::Delete { level, .. }) => {
                assert_eq!(*level, Level::Quorum)
            }
            ClientRequest::Scan(_) => {}
            other => panic!("an eventual statement sent {other:?}"),
        }
    }
}

#[test]
fn blocks_are_refused_and_write_nothing() {
    let core = MemoryCore::default();
    block_on(async {
        let message = refused(&core, "BEGIN; CREATE t:1 SET a = 1; COMMIT").await;
        assert!(message.contains("BEGIN ... COMMIT"), "{message}");
        // Even a block that touches nothing, and a cancelled one.
        refused(&core, "BEGIN; RETURN 1; COMMIT").await;
        refused(&core, "BEGIN; CREATE t:2 SET a = 1; CANCEL").await;
        assert_eq!(ok(&core, "SELECT * FROM t").await, vec!["[]"]);
    });
    assert_eq!(*core.single_writes.lock().unwrap(), 0);
    assert_eq!(*core.commits.lock().unwrap(), 0);
}

#[test]
fn uniqueness_rules_are_refused_and_not_defined() {
    let core = MemoryCore::default();
    block_on(async {
        for text in [
            "DEFINE INDEX email ON person FIELDS email UNIQUE",
            "DEFINE FIELD email ON person TYPE string UNIQUE",
            "DEFINE TABLE person SCHEMAFULL FIELDS email TYPE string UNIQUE",
        ] {
            let message = refused(&core, text).await;
            assert!(message.contains("UNIQUE"), "{message}");
        }
        // The same definitions without UNIQUE run.
        ok(&core, "DEFINE INDEX email ON person FIELDS email").await;
        ok(&core, "DEFINE FIELD email ON person TYPE string").await;
        let described = ok(&core, "DESCRIBE TABLE person").await;
        assert!(!described[0].contains("unique: true"), "{described:?}");
    });
}

#[test]
fn edges_are_refused_and_not_written() {
    let core = MemoryCore::default();
    block_on(async {
        ok(
            &core,
            "CREATE person:a SET name = 'A'; CREATE person:b SET name = 'B'",
        )
        .await;
        let message = refused(&core, "RELATE person:a -> knows -> person:b").await;
        assert!(message.contains("edge"), "{message}");
        assert_eq!(ok(&core, "SELECT * FROM knows").await, vec!["[]"]);
        // Records without edges are deleted as before.
        ok(&core, "DELETE person:a").await;
        assert_eq!(
            ok(&core, "SELECT name FROM person").await,
            vec!["[{ name: 'B' }]"]
        );
    });
}

/// A core whose catalog learned a moment ago that "test" is eventual: the
/// query started with an older view.
struct LateCatalog(MemoryCore);

impl CoreCalls for LateCatalog {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        self.0.call(request).await
    }

    fn eventual_namespaces(&self) -> Option<BTreeSet<String>> {
        Some(eventual())
    }
}

#[test]
fn the_consistency_is_taken_from_the_catalog_as_it_is_after_the_reads() {
    let core = LateCatalog(MemoryCore::default());
    let started_with = BTreeSet::new();
    let answer = block_on(run_query(
        &core,
        query("CREATE t:1 SET a = 1"),
        &started_with,
    ));
    assert_eq!(answer.error, None);
    assert_eq!(*core.0.commits.lock().unwrap(), 0);
    assert_eq!(*core.0.single_writes.lock().unwrap(), 1);
}

/// Answers the first `ok` single-key writes, then fails the rest as
/// unavailable.
struct FailingAfter {
    inner: MemoryCore,
    ok: Mutex<u32>,
}

impl CoreCalls for FailingAfter {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        let write = matches!(
            request,
            ClientRequest::Data(Request::Put { .. } | Request::Delete { .. })
        );
        if write {
            let mut ok = self.ok.lock().unwrap();
            if *ok == 0 {
                let error = ClientError::Unavailable {
                    partition: PartitionId {
                        namespace: "test".into(),
                        token: 7,
                    },
                    missing: vec![2, 3],
                    needed: 2,
                    replicas: 3,
                };
                return ClientResponse::Data(zerodb_txn::Response::Error(error));
            }
            *ok -= 1;
        }
        self.inner.call(request).await
    }
}

#[test]
fn a_write_failing_midway_says_how_much_of_the_statement_was_written() {
    block_on(async {
        let core = FailingAfter {
            inner: MemoryCore::default(),
            ok: Mutex::new(u32::MAX),
        };
        ok(&core, "DEFINE INDEX age ON person FIELDS age").await;
        *core.ok.lock().unwrap() = 1;
        // A record and its index entry: the first write lands, not the
        // second.
        let error = run(&core, "CREATE person:a SET age = 1")
            .await
            .error
            .unwrap();
        assert_eq!(error.kind, QueryErrorKind::OutcomeUnknown);
        assert!(
            error
                .message
                .contains("1 of the statement's 2 writes were applied"),
            "{}",
            error.message
        );
        // When none landed, nothing was written: the failure's own kind.
        let error = run(&core, "CREATE person:b SET age = 2")
            .await
            .error
            .unwrap();
        assert_eq!(error.kind, QueryErrorKind::Unavailable, "{error:?}");
    });
}

/// Refuses the first `stale` single-key writes for a stale epoch.
struct StaleEpoch {
    inner: MemoryCore,
    stale: Mutex<u32>,
}

impl CoreCalls for StaleEpoch {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        let write = matches!(
            request,
            ClientRequest::Data(Request::Put { .. } | Request::Delete { .. })
        );
        let refuse = write && {
            let mut stale = self.stale.lock().unwrap();
            let refuse = *stale > 0;
            *stale = stale.saturating_sub(1);
            refuse
        };
        if refuse {
            let epoch = |policy| Epoch { ring: 1, policy };
            let error = ClientError::WrongEpoch {
                coordinator: epoch(1),
                replica: epoch(2),
            };
            return ClientResponse::Data(zerodb_txn::Response::Error(error));
        }
        self.inner.call(request).await
    }
}

#[test]
fn a_write_refused_for_a_stale_epoch_is_sent_again_a_bounded_number_of_times() {
    block_on(async {
        let core = StaleEpoch {
            inner: MemoryCore::default(),
            stale: Mutex::new(WRITE_ATTEMPTS_MAX - 1),
        };
        ok(&core, "CREATE t:1 SET a = 1").await;
        assert_eq!(*core.inner.single_writes.lock().unwrap(), 1);
        *core.stale.lock().unwrap() = WRITE_ATTEMPTS_MAX;
        let error = run(&core, "CREATE t:2 SET a = 2").await.error.unwrap();
        assert_eq!(error.kind, QueryErrorKind::Unavailable, "{error:?}");
        assert_eq!(*core.inner.single_writes.lock().unwrap(), 1);
    });
}

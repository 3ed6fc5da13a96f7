//! Guesses and checks by reading again: a node's cached table schemas,
//! `CREATE` of a given id without a read, and read-only statements that
//! commit nothing. Each test counts the requests a statement sends and
//! shows that a wrong guess or a changed read is caught. Last, the turns
//! that large scans take.

use std::collections::BTreeSet;
use std::sync::Mutex;

use zerodb_txn::Request;

use std::future::Future;
use std::time::Duration;

use super::tests::{block_on, query, values, MemoryCore};
use super::*;
use crate::api::{ClientRequest, ClientResponse, QueryErrorKind};
use crate::runtime::query::{LargeScans, LARGE_SCANS_MAX};

/// A node over a shared [`MemoryCore`]: its own schema cache, a count of
/// what it sends, and a query of another node run before its n-th get.
struct Node<'a> {
    data: &'a MemoryCore,
    cache: SchemaCache,
    gets: Mutex<u32>,
    txns: Mutex<u32>,
    scans: Mutex<u32>,
    /// `(n, query)`: before answering the n-th get, run `query` elsewhere
    /// (once).
    before_get: Mutex<Option<(u32, String)>>,
}

impl<'a> Node<'a> {
    fn new(data: &'a MemoryCore) -> Self {
        Node {
            data,
            cache: SchemaCache::default(),
            gets: Mutex::new(0),
            txns: Mutex::new(0),
            scans: Mutex::new(0),
            before_get: Mutex::new(None),
        }
    }

    /// `(gets, transactions, scans)` sent since the last call.
    fn sent(&self) -> (u32, u32, u32) {
        let take = |count: &Mutex<u32>| std::mem::take(&mut *count.lock().unwrap());
        (take(&self.gets), take(&self.txns), take(&self.scans))
    }
}

impl CoreCalls for Node<'_> {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        let count = match &request {
            ClientRequest::Data(Request::Get { .. }) => &self.gets,
            ClientRequest::Data(Request::Txn { .. }) => &self.txns,
            _ => &self.scans,
        };
        let nth = {
            let mut count = count.lock().unwrap();
            *count += 1;
            *count
        };
        let is_get = matches!(request, ClientRequest::Data(Request::Get { .. }));
        let interfere = {
            let mut before = self.before_get.lock().unwrap();
            match &*before {
                Some((n, _)) if *n == nth && is_get => before.take().map(|(_, text)| text),
                _ => None,
            }
        };
        if let Some(text) = interfere {
            let answer = run_query(self.data, query(&text), &BTreeSet::new()).await;
            assert_eq!(answer.error, None, "{text}");
        }
        self.data.call(request).await
    }

    fn schema_cache(&self) -> Option<SchemaCache> {
        Some(self.cache.clone())
    }
}

async fn run(core: &impl CoreCalls, text: &str) -> Result<Vec<String>, String> {
    let answer = run_query(core, query(text), &BTreeSet::new()).await;
    match answer.error {
        None => Ok(values(&answer)),
        Some(error) => Err(error.message),
    }
}

const SCHEMA: &str =
    "DEFINE TABLE t SCHEMAFULL; DEFINE FIELD a ON t TYPE int; CREATE t:1 SET a = 1";

#[test]
fn a_select_by_id_is_one_get_or_two_and_a_create_by_id_one_commit() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Node::new(&data);
        run(&node, SCHEMA).await.unwrap();
        node.sent();
        // A statement that names no field does not need the schema: one
        // get, no transaction.
        assert_eq!(
            run(&node, "SELECT * FROM t:1").await.unwrap(),
            ["[{ a: 1, id: t:1 }]"]
        );
        assert_eq!(node.sent(), (1, 0, 0));
        assert_eq!(run(&node, "SELECT * FROM t:9").await.unwrap(), ["[]"]);
        assert_eq!(node.sent(), (1, 0, 0));
        // Naming a field of a schemafull table needs the schema: it is
        // taken from the cache (filled when the CREATE above read it) and
        // read again after the record.
        let named = "SELECT a FROM t:1";
        assert_eq!(run(&node, named).await.unwrap(), ["[{ a: 1 }]"]);
        assert_eq!(node.sent(), (2, 0, 0));
        // Without the cache, the schema is read first: three gets.
        node.cache.forget(node.cache.keys().iter());
        assert_eq!(run(&node, named).await.unwrap(), ["[{ a: 1 }]"]);
        assert_eq!(node.sent(), (3, 0, 0));
        assert_eq!(run(&node, "SELECT a FROM t:9").await.unwrap(), ["[]"]);
        assert_eq!(node.sent(), (2, 0, 0));
        let error = run(&node, "SELECT b FROM t:1").await.unwrap_err();
        assert!(error.contains("unknown field `b`"), "{error}");
        // The error came from a guessed schema: it was checked by running
        // the statement again with the schema read.
        assert_eq!(node.sent(), (1, 0, 0));
        // CREATE of a given id: no read at all, one commit asserting the
        // schema's version and the record's absence.
        assert_eq!(
            run(&node, "CREATE t:2 SET a = 2").await.unwrap(),
            ["[{ a: 2, id: t:2 }]"]
        );
        assert_eq!(node.sent(), (0, 1, 0));
        // The same id again: the guess that it is absent fails the commit,
        // and the statement reads it and says it exists.
        let error = run(&node, "CREATE t:2 SET a = 3").await.unwrap_err();
        assert!(error.contains("already exists"), "{error}");
        let (_, txns, _) = node.sent();
        assert_eq!(txns, 1);
        assert_eq!(
            run(&node, "SELECT a FROM t:2").await.unwrap(),
            ["[{ a: 2 }]"]
        );
    });
}

#[test]
fn a_schema_changed_by_another_node_is_never_trusted_from_the_cache() {
    block_on(async {
        let data = MemoryCore::default();
        let (a, b) = (Node::new(&data), Node::new(&data));
        run(&a, SCHEMA).await.unwrap();
        run(&a, "SELECT a FROM t:1").await.unwrap();
        assert!(!a.cache.is_empty());
        // Node b retypes field a; node a still caches the old schema.
        run(
            &b,
            "REMOVE FIELD a ON TABLE t; DEFINE FIELD a ON t TYPE string",
        )
        .await
        .unwrap();
        // Valid under the old schema only: refused.
        let error = run(&a, "CREATE t:2 SET a = 2").await.unwrap_err();
        assert!(error.contains("string"), "{error}");
        // Valid under the new schema only: written (the guess failed the
        // statement's own checks, so it ran again without guessing).
        run(
            &b,
            "REMOVE FIELD a ON TABLE t; DEFINE FIELD a ON t TYPE bool",
        )
        .await
        .unwrap();
        assert_eq!(
            run(&a, "CREATE t:3 SET a = true").await.unwrap(),
            ["[{ a: true, id: t:3 }]"]
        );
        // A read-only statement sees the change too: the table is gone.
        run(&b, "REMOVE TABLE t").await.unwrap();
        assert_eq!(run(&a, "SELECT a FROM t:3").await.unwrap(), ["[]"]);
    });
}

#[test]
fn a_schema_changed_between_a_read_and_its_check_runs_the_select_again() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Node::new(&data);
        run(&node, SCHEMA).await.unwrap();
        run(&node, "SELECT a FROM t:1").await.unwrap();
        node.sent();
        // Between the record's get (1st) and the schema's check (2nd),
        // another node changes the schema.
        *node.before_get.lock().unwrap() = Some((2, "DEFINE INDEX by_a ON t FIELDS a".into()));
        assert_eq!(
            run(&node, "SELECT a FROM t:1").await.unwrap(),
            ["[{ a: 1 }]"]
        );
        // The check failed; the second attempt read the schema, the record
        // and the schema again: 2 + 3 gets, still no transaction.
        assert_eq!(node.sent(), (5, 0, 0));
        // The cache now holds the new schema: the next select is 2 gets.
        run(&node, "SELECT a FROM t:1").await.unwrap();
        assert_eq!(node.sent(), (2, 0, 0));
    });
}

#[test]
fn read_only_statements_that_cannot_be_checked_by_reading_again_commit() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Node::new(&data);
        run(&node, SCHEMA).await.unwrap();
        run(&node, "SELECT * FROM t:1").await.unwrap();
        node.sent();
        // Two records read in one round, one of them absent: an absent
        // record may have come and gone between two reads, so this commits.
        assert_eq!(
            run(&node, "SELECT * FROM t:1, t:9").await.unwrap(),
            ["[{ a: 1, id: t:1 }]"]
        );
        assert_eq!(node.sent(), (2, 1, 0));
        // Both present: read again, no commit.
        run(&node, "CREATE t:2 SET a = 2").await.unwrap();
        node.sent();
        run(&node, "SELECT * FROM t:1, t:2").await.unwrap();
        assert_eq!(node.sent(), (4, 0, 0));
        // A scan: the range is asserted by a commit.
        run(&node, "SELECT * FROM t").await.unwrap();
        let (_, txns, scans) = node.sent();
        assert_eq!((txns, scans), (1, 1));
    });
}

#[test]
fn an_eventual_namespace_never_guesses() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Node::new(&data);
        let eventual: BTreeSet<String> = ["test".to_string()].into();
        let answer = run_query(&node, query("CREATE t:1 SET a = 1"), &eventual).await;
        assert_eq!(answer.error, None);
        run_query(&node, query("SELECT * FROM t:1"), &eventual).await;
        node.sent();
        // No commit checks an eventual write: the record is read, not
        // guessed absent, so the existing one is found.
        let answer = run_query(&node, query("CREATE t:1 SET a = 2"), &eventual).await;
        let error = answer.error.expect("the record exists");
        assert_eq!(error.kind, QueryErrorKind::Violation);
        let (gets, txns, _) = node.sent();
        assert_eq!((gets, txns), (2, 0));
    });
}

#[test]
fn a_select_following_a_link_never_sees_half_of_a_concurrent_transfer() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Node::new(&data);
        run(
            &node,
            "CREATE acct:b SET v = 5; CREATE acct:a SET v = 5, peer = acct:b",
        )
        .await
        .unwrap();
        let text = "SELECT v, peer.v AS pv FROM acct:a";
        assert_eq!(run(&node, text).await.unwrap(), ["[{ pv: 5, v: 5 }]"]);
        node.sent();
        // acct:a is read first, acct:b (through the link) after it; a
        // transfer commits between the two reads.
        *node.before_get.lock().unwrap() = Some((
            2,
            "BEGIN; UPDATE acct:a SET v = 3; UPDATE acct:b SET v = 7; COMMIT".into(),
        ));
        let found = run(&node, text).await.unwrap();
        assert_eq!(found, ["[{ pv: 7, v: 3 }]"], "a torn read");
        let (gets, txns, _) = node.sent();
        assert_eq!(txns, 0);
        assert!(gets > 3, "the statement ran again: {gets} gets");
    });
}

/// A node whose large scans take turns.
struct Turns<'a> {
    data: &'a MemoryCore,
    turns: LargeScans,
}

impl CoreCalls for Turns<'_> {
    crate::query::tests::test_clock!();

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        self.data.call(request).await
    }

    fn large_scan_turn(&self) -> impl Future<Output = Option<ScanTurn>> + Send {
        let turns = self.turns.clone();
        async move { turns.turn().await }
    }
}

#[test]
fn a_scan_longer_than_a_page_waits_for_a_turn_and_point_statements_never_do() {
    block_on(async {
        let data = MemoryCore::default();
        let node = Turns {
            data: &data,
            turns: LargeScans::default(),
        };
        let rows = crate::api::SCAN_LIMIT_MAX as usize + 10;
        for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
            let values: Vec<String> = chunk.iter().map(|n| format!("({n})")).collect();
            let text = format!("CREATE item SET (n) VALUES {}", values.join(", "));
            run(&node, &text).await.unwrap();
        }
        run(&node, "CREATE small:1 SET n = 1; CREATE small:2 SET n = 2")
            .await
            .unwrap();
        // Every turn is taken.
        let held = node
            .turns
            .0
            .clone()
            .acquire_many_owned(LARGE_SCANS_MAX as u32)
            .await
            .unwrap();
        let large = "SELECT n FROM item WHERE n < 0";
        let waited = tokio::time::timeout(Duration::from_millis(300), run(&node, large)).await;
        assert!(
            waited.is_err(),
            "the large scan did not wait for a turn: {waited:?}"
        );
        // Point statements and scans of one page go on meanwhile.
        assert_eq!(
            run(&node, "SELECT n FROM small:2").await.unwrap(),
            ["[{ n: 2 }]"]
        );
        assert_eq!(
            run(&node, "SELECT n FROM small WHERE n > 1").await.unwrap(),
            ["[{ n: 2 }]"]
        );
        drop(held);
        // Read past the first page, found nothing.
        assert_eq!(run(&node, large).await.unwrap(), ["[]"]);
        assert_eq!(
            node.turns.0.available_permits(),
            LARGE_SCANS_MAX,
            "the statement gave its turn back"
        );
    });
}

/// A node whose clock moves 1 ms at every request, and which stops a
/// statement after `limit_ms`.
struct Slow<'a> {
    data: &'a MemoryCore,
    now_ns: std::sync::atomic::AtomicI64,
    limit_ms: u64,
}

impl CoreCalls for Slow<'_> {
    fn pause(&self, _ms: u64) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    async fn call(&self, request: ClientRequest) -> ClientResponse {
        self.now_ns
            .fetch_add(1_000_000, std::sync::atomic::Ordering::SeqCst);
        self.data.call(request).await
    }

    fn now_ns(&self) -> i64 {
        self.now_ns.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn statement_time_max_ms(&self) -> Option<u64> {
        Some(self.limit_ms)
    }
}

#[test]
fn a_statement_that_runs_past_its_time_is_stopped_before_it_writes() {
    block_on(async {
        let data = MemoryCore::default();
        run(
            &data,
            "DEFINE INDEX by_k ON item FIELDS k; CREATE item:1 SET k = 1, n = 0; \
             CREATE item:2 SET k = 1, n = 0; CREATE item:3 SET k = 2, n = 0",
        )
        .await
        .unwrap();
        let update = "UPDATE item SET n = 7 WHERE k = 1";
        // Schema, index range, two records, then the commit: past 3 ms.
        let hurried = Slow {
            data: &data,
            now_ns: 0.into(),
            limit_ms: 3,
        };
        let error = run(&hurried, update).await.unwrap_err();
        assert!(error.contains("ran for more than 3 ms"), "{error}");
        assert_eq!(
            run(&data, "SELECT n FROM item WHERE k = 1").await.unwrap(),
            ["[{ n: 0 }, { n: 0 }]"],
            "nothing of the stopped statement was written"
        );
        let patient = Slow {
            data: &data,
            now_ns: 0.into(),
            limit_ms: 1_000,
        };
        run(&patient, update).await.unwrap();
        assert_eq!(
            run(&data, "SELECT n FROM item WHERE k = 1").await.unwrap(),
            ["[{ n: 7 }, { n: 7 }]"]
        );
    });
}

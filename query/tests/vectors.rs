//! Vectors on the in-memory store, which keeps HNSW graphs beside its
//! records: the shared examples (`common/vector_examples.rs`), exact
//! nearest neighbours against a brute-force computation, the recall of
//! `index::hnsw` against exact search, and answers while the index lags.

mod common;

use common::db::Db;
use common::upstream::ExampleDb;
use common::vector_examples;
use zerodb_query::exec::{execute, transactions, Environment};
use zerodb_query::value::Value;
use zerodb_query::vector::Metric;

impl ExampleDb for Db {
    fn run(&mut self, text: &str) -> Vec<String> {
        Db::run(self, text)
    }

    fn error(&mut self, text: &str) -> String {
        Db::error(self, text)
    }

    fn set_strict(&mut self, strict: bool) {
        self.session.strict = strict;
    }
}

/// SplitMix64 numbers in [-1, 1), so every run sees the same data.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn vector(&mut self, dimensions: usize) -> Vec<f64> {
        (0..dimensions).map(|_| self.next()).collect()
    }
}

fn literal(vector: &[f64]) -> String {
    let numbers: Vec<String> = vector.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", numbers.join(", "))
}

/// Creates `item:0 .. item:count-1` with random vectors in field `e`;
/// returns the vectors.
fn create_items(
    db: &mut Db,
    numbers: &mut Numbers,
    first: usize,
    count: usize,
    dimensions: usize,
) -> Vec<Vec<f64>> {
    let vectors: Vec<Vec<f64>> = (0..count).map(|_| numbers.vector(dimensions)).collect();
    for (chunk_at, chunk) in vectors.chunks(500).enumerate() {
        let rows: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(at, vector)| {
                let id = first + chunk_at * 500 + at;
                format!("{{ id: {id}, e: {} }}", literal(vector))
            })
            .collect();
        db.run(&format!("INSERT INTO item [{}]", rows.join(", ")));
    }
    vectors
}

/// The ids of the `k` nearest of `vectors` (item `first + i` is
/// `vectors[i]`), ties by id: what exact search must answer.
fn brute_force(vectors: &[(i64, Vec<f64>)], query: &[f64], k: usize, metric: Metric) -> Vec<i64> {
    let mut ranked: Vec<(f64, i64)> = vectors
        .iter()
        .map(|(id, vector)| (metric.distance(query, vector), *id))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().take(k).map(|(_, id)| id).collect()
}

/// The item ids of a `SELECT id FROM item ...` answer.
fn ids(db: &mut Db, text: &str) -> Vec<i64> {
    let values = db
        .try_run(text)
        .unwrap_or_else(|error| panic!("{}", error.render(text)));
    let Some(Value::Array(rows)) = values.last() else {
        panic!("{text}: {values:?}");
    };
    rows.iter()
        .map(|row| match row.field("id") {
            Value::RecordId(id) => match *id.key {
                Value::Int(key) => key,
                ref other => panic!("key {other}"),
            },
            other => panic!("id {other}"),
        })
        .collect()
}

/// How many keys the statement reads from the store.
fn keys_read(db: &mut Db, text: &str) -> usize {
    let query = zerodb_query::parse(text).unwrap();
    let units = transactions(&query).unwrap();
    let mut environment = Environment {
        now: db.now,
        ids: &mut db.ids,
    };
    let outcome = execute(&units[0], &mut db.session, &mut db.store, &mut environment).unwrap();
    outcome.commit.reads.len()
}

#[test]
fn nearest_points_worked_by_hand() {
    vector_examples::nearest_points(&mut Db::new());
}

#[test]
fn vector_errors_name_the_problem() {
    vector_examples::vector_errors(&mut Db::new());
}

#[test]
fn exact_search_agrees_with_brute_force_for_every_metric() {
    let mut db = Db::new();
    let mut numbers = Numbers(7);
    let vectors = create_items(&mut db, &mut numbers, 0, 300, 8);
    let items: Vec<(i64, Vec<f64>)> = vectors
        .into_iter()
        .enumerate()
        .map(|(id, v)| (id as i64, v))
        .collect();
    for round in 0..10 {
        let query = numbers.vector(8);
        let k = 1 + round * 3;
        for metric in [Metric::Euclidean, Metric::Cosine, Metric::Dot] {
            let expected = brute_force(&items, &query, k, metric);
            let knn = format!(
                "SELECT id FROM item WHERE e <|{k}, {}|> {}",
                metric.name(),
                literal(&query)
            );
            assert_eq!(ids(&mut db, &knn), expected, "{knn}");
            let function = match metric {
                Metric::Euclidean => "vector::distance::euclidean",
                Metric::Cosine => "vector::distance::cosine",
                Metric::Dot => "-vector::dot",
            };
            let ordered = format!(
                "SELECT id FROM item ORDER BY {function}(e, {}), id LIMIT {k}",
                literal(&query)
            );
            assert_eq!(ids(&mut db, &ordered), expected, "{ordered}");
        }
    }
}

#[test]
fn hnsw_recall_at_10_against_exact_search_is_at_least_95_percent() {
    const ITEMS: usize = 3_000;
    const DIMENSIONS: usize = 16;
    const QUERIES: usize = 40;
    let mut db = Db::new();
    let mut numbers = Numbers(2024);
    db.run("DEFINE INDEX item_e ON item FIELDS e WITH index::hnsw(m = 16, ef = 64)");
    create_items(&mut db, &mut numbers, 0, ITEMS, DIMENSIONS);
    assert_eq!(db.store.vector_indexes().pending_count(), 0);
    let explained = db.last("EXPLAIN SELECT id FROM item WHERE e <|10|> [0.5]");
    assert!(explained.contains("index: 'item_e'"), "{explained}");
    let mut found = 0;
    for _ in 0..QUERIES {
        let query = literal(&numbers.vector(DIMENSIONS));
        let approximate = ids(
            &mut db,
            &format!("SELECT id FROM item WHERE e <|10|> {query}"),
        );
        let exact = ids(
            &mut db,
            &format!("SELECT id FROM item WITH NO INDEX WHERE e <|10|> {query}"),
        );
        assert_eq!(approximate.len(), 10);
        found += approximate.iter().filter(|id| exact.contains(id)).count();
    }
    let recall = found as f64 / (QUERIES * 10) as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
    // The graph really answers: the index reads its candidates, not the table.
    let query = literal(&numbers.vector(DIMENSIONS));
    let indexed = keys_read(
        &mut db,
        &format!("SELECT id FROM item WHERE e <|10|> {query}"),
    );
    let scanned = keys_read(
        &mut db,
        &format!("SELECT id FROM item WITH NO INDEX WHERE e <|10|> {query}"),
    );
    assert!(indexed < 200 && scanned > ITEMS, "{indexed} {scanned}");
}

#[test]
fn records_committed_but_not_yet_indexed_are_still_found() {
    const DIMENSIONS: usize = 6;
    let mut db = Db::new();
    let mut numbers = Numbers(99);
    db.store.defer_vector_indexing(true);
    db.run(
        "DEFINE INDEX item_e ON item FIELDS e WITH index::hnsw(m = 8, ef = 32, distance = cosine)",
    );
    let first = create_items(&mut db, &mut numbers, 0, 400, DIMENSIONS);
    assert_eq!(db.store.index_vectors(250), 250);
    let second = create_items(&mut db, &mut numbers, 400, 100, DIMENSIONS);
    let mut items: Vec<(i64, Vec<f64>)> = first
        .into_iter()
        .chain(second)
        .enumerate()
        .map(|(id, v)| (id as i64, v))
        .collect();
    // An indexed record moves, and another goes: the graph still has
    // their old vectors.
    let query = numbers.vector(DIMENSIONS);
    let gone = brute_force(&items, &query, 1, Metric::Cosine)[0];
    assert!(gone < 250 && gone != 3, "an indexed record, {gone}");
    db.run(&format!("DELETE item:{gone}"));
    items.retain(|(id, _)| *id != gone);
    let moved: Vec<f64> = query.iter().map(|x| x * 2.0).collect();
    db.run(&format!("UPDATE item:3 SET e = {}", literal(&moved)));
    items.iter_mut().find(|(id, _)| *id == 3).expect("item 3").1 = moved;
    assert!(db.store.vector_indexes().pending_count() > 100);
    let check = |db: &mut Db, items: &[(i64, Vec<f64>)], query: &[f64]| {
        let expected = brute_force(items, query, 5, Metric::Cosine);
        let text = format!(
            "SELECT id FROM item WHERE e <|5, cosine|> {}",
            literal(query)
        );
        assert!(db
            .last(&format!("EXPLAIN {text}"))
            .contains("index: 'item_e'"));
        assert_eq!(ids(db, &text), expected, "{text}");
    };
    check(&mut db, &items, &query);
    assert_eq!(
        ids(
            &mut db,
            &format!(
                "SELECT id FROM item WHERE e <|1, cosine|> {}",
                literal(&query)
            )
        ),
        vec![3]
    );
    for _ in 0..5 {
        let query = numbers.vector(DIMENSIONS);
        check(&mut db, &items, &query);
    }
    // A record written earlier in the same transaction is a candidate too
    // (tied with item:3, which points the same way).
    let text = format!(
        "BEGIN; CREATE item:9000 SET e = {}; SELECT id FROM item WHERE e <|2, cosine|> {}; COMMIT",
        literal(&query),
        literal(&query)
    );
    assert!(db.last(&text).contains("item:9000"));
    db.store.index_vectors(usize::MAX);
    assert_eq!(db.store.vector_indexes().pending_count(), 0);
    items.push((9000, query.clone()));
    check(&mut db, &items, &query);
}

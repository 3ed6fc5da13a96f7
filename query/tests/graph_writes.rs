//! Graph writes on the in-memory store: `DEFINE EDGE`, `RELATE`, deleting
//! records with their edges, `DELETE` through a traversal, and what
//! concurrent graph writes do at commit. The adjacency keys are checked
//! against the store itself.

mod common;

use common::canonical;
use common::db::Db;
use common::graph::{adjacency, adjacency_count, id, prepare, social};
use zerodb_query::keys::Adjacency;
use zerodb_query::value::{RecordId, Value};

#[test]
fn relate_writes_the_edge_and_both_adjacency_entries() {
    let mut db = Db::new();
    db.run("CREATE person:alice; CREATE product:apple");
    assert_eq!(
        db.last("RELATE person:alice -> buys -> product:apple SET price = 3"),
        "[{ id: buys:'00000000000000000001', in: person:alice, out: product:apple, price: 3 }]"
    );
    let edge = Value::RecordId(RecordId::new("buys", Value::from("00000000000000000001")));
    let out = adjacency(&db, Adjacency::Out, &id("person", "alice"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].field("edge"), edge);
    assert_eq!(out[0].field("vertex").to_string(), "product:apple");
    let into = adjacency(&db, Adjacency::In, &id("product", "apple"));
    assert_eq!(into.len(), 1);
    assert_eq!(into[0].field("vertex").to_string(), "person:alice");
    // RELATE into an undefined table defines it as an edge table.
    assert!(db.last("DESCRIBE TABLE buys").contains("kind: 'edge'"));
    assert_eq!(
        db.last("SELECT price FROM buys WHERE price > 1"),
        "[{ price: 3 }]"
    );
}

#[test]
fn relate_takes_lists_on_either_side_and_the_reverse_arrow() {
    let mut db = Db::new();
    db.run("CREATE person:alice; CREATE person:bob; CREATE product:apple; CREATE product:pear");
    let created =
        db.last("RELATE [person:alice, person:bob] -> buys -> [product:apple, product:pear]");
    assert_eq!(created.matches("in: ").count(), 4, "{created}");
    assert_eq!(
        db.last("person:bob -> buys -> product"),
        "[product:apple, product:pear]"
    );
    db.run("RELATE product:apple <- likes <- person:alice");
    assert_eq!(db.last("person:alice -> likes -> *"), "[product:apple]");
    assert_eq!(db.last("product:apple <- likes <- *"), "[person:alice]");
    db.run(
        "LET $buyers = [person:alice]; RELATE $buyers -> returns -> (SELECT id FROM product:pear)",
    );
    assert_eq!(
        db.last("SELECT id FROM returns")
            .matches("returns:")
            .count(),
        1
    );
    assert_eq!(
        db.last("person:alice -> returns -> product"),
        "[product:pear]"
    );
}

#[test]
fn an_edge_its_adjacency_and_its_indexes_commit_together_or_not_at_all() {
    let mut db = Db::new();
    db.run(
        "CREATE person:alice; CREATE product:apple;
         DEFINE EDGE buys FIELDS price TYPE int, receipt TYPE string UNIQUE",
    );
    db.run("RELATE person:alice -> buys:one -> product:apple SET price = 3, receipt = 'r1'");
    let keys_before = db.store.len();
    // The second edge breaks the unique index: nothing of the statement
    // is written, neither edge nor adjacency entries.
    let error = db.error(
        "RELATE person:alice -> buys -> [product:apple, product:apple] SET price = 4, receipt = 'r2'",
    );
    assert!(error.contains("unique index"), "{error}");
    assert_eq!(db.store.len(), keys_before);
    assert_eq!(adjacency_count(&db), 2);
    let error =
        db.error("RELATE person:alice -> buys -> product:apple SET price = 'x', receipt = 'r3'");
    assert!(
        error.contains("field `price` of table `buys` must be int"),
        "{error}"
    );
    assert_eq!(adjacency_count(&db), 2);
    // The edge's index is kept: a select by receipt finds it.
    assert_eq!(
        db.last("SELECT id FROM buys WHERE receipt = 'r1'"),
        "[{ id: buys:one }]"
    );
}

#[test]
fn deleting_a_record_deletes_its_edges_and_the_other_ends_entries() {
    let mut db = Db::new();
    social(&mut db);
    let entries = adjacency_count(&db);
    assert_eq!(entries, 14, "7 edges, 2 entries each");
    // bob has likes:ab (in), plays:ab (in), likes:ba (out), likes:bd (out).
    db.run("DELETE person:bob");
    assert_eq!(db.last("person:bob"), "NONE");
    assert_eq!(adjacency_count(&db), entries - 2 * 4);
    for gone in ["likes:ab", "plays:ab", "likes:ba", "likes:bd"] {
        assert_eq!(db.last(gone), "NONE", "{gone}");
    }
    assert!(adjacency(&db, Adjacency::In, &id("person", "dave")).is_empty());
    assert_eq!(db.last("person:alice -> likes -> person"), "[person:carol]");
    assert_eq!(db.last("person:alice <- likes <- *"), "[]");
    // Deleting an edge record removes both of its adjacency entries.
    db.run("DELETE likes:ac");
    assert_eq!(db.last("person:alice -> likes -> *"), "[]");
    assert!(adjacency(&db, Adjacency::In, &id("person", "carol")).is_empty());
    // DELETE of a whole table cascades the same way.
    db.run("DELETE person");
    assert_eq!(adjacency_count(&db), 0);
    assert_eq!(db.last("SELECT * FROM likes"), "[]");
    assert_eq!(db.last("SELECT * FROM plays"), "[]");
}

#[test]
fn delete_through_a_traversal_deletes_the_last_steps_edges() {
    let mut db = Db::new();
    db.run(
        "CREATE person:alice; CREATE product:apple; CREATE product:pear; CREATE product:fig;
         RELATE person:alice -> buys:one -> product:apple SET price = 5;
         RELATE person:alice -> buys:two -> product:pear SET price = 20;
         RELATE person:alice -> buys:three -> product:fig SET price = 30;
         RELATE person:alice -> likes:one -> product:fig",
    );
    db.run("DELETE person:alice -> buys -> * WHERE price > 10");
    assert_eq!(db.last("SELECT id FROM buys"), "[{ id: buys:one }]");
    assert_eq!(db.last("person:alice -> buys -> *"), "[product:apple]");
    // The records at the other end stay; so do edges of other tables.
    assert_eq!(
        db.last("SELECT id FROM product")
            .matches("product:")
            .count(),
        3
    );
    assert_eq!(db.last("person:alice -> likes -> *"), "[product:fig]");
    assert!(adjacency(&db, Adjacency::In, &id("product", "pear")).is_empty());
    db.run("DELETE person:alice -> buys -> *");
    assert_eq!(db.last("SELECT * FROM buys"), "[]");
    assert_eq!(adjacency_count(&db), 2);
    let plan = db.last("EXPLAIN DELETE person:alice -> likes -> * WHERE since > 1");
    assert!(plan.contains("yields: 'edges'"), "{plan}");
}

#[test]
fn edges_keep_their_ends_and_are_made_only_by_relate() {
    let mut db = Db::new();
    social(&mut db);
    db.run("UPDATE likes:ab SET since = 1999");
    assert_eq!(
        db.last("likes:ab"),
        "{ id: likes:ab, in: person:alice, out: person:bob, since: 1999 }"
    );
    db.run("UPDATE likes:ab CONTENT { since: 2000 }");
    assert_eq!(
        db.last("likes:ab"),
        "{ id: likes:ab, in: person:alice, out: person:bob, since: 2000 }"
    );
    let error = db.error("UPDATE likes:ab SET out = person:dave");
    assert!(
        error.contains("the `out` of edge likes:ab cannot change"),
        "{error}"
    );
    let error = db.error("CREATE likes:x SET since = 1");
    assert!(error.contains("`likes` is an edge table"), "{error}");
    // REMOVE EDGE removes the edges and every adjacency entry of them.
    db.run("REMOVE EDGE likes");
    assert_eq!(db.last("person:alice -> likes -> *"), "[]");
    assert_eq!(adjacency_count(&db), 4, "the plays edges are left");
    assert_eq!(db.last("person:alice -> plays -> *"), "[person:bob]");
    // REMOVE TABLE of a vertex table takes its records' edges too.
    db.run("DEFINE TABLE person; REMOVE TABLE person");
    assert_eq!(adjacency_count(&db), 0);
    assert_eq!(db.last("SELECT * FROM plays"), "[]");
}

#[test]
fn define_edge_with_fields_describes_and_round_trips() {
    let mut db = Db::new();
    db.run("DEFINE EDGE buys FIELDS expiry TYPE time; DEFINE EDGE IF NOT EXISTS buys ON test FIELDS expiry TYPE time");
    assert_eq!(
        db.last("DESCRIBE EDGE buys"),
        db.last("DESCRIBE TABLE buys")
    );
    assert!(db.last("DESCRIBE EDGE buys").contains("kind: 'edge'"));
    db.run("CREATE person:alice; CREATE product:apple");
    // Schemafull: in and out are allowed, other fields are not.
    db.run("RELATE person:alice -> buys -> product:apple SET expiry = time::now() + 2w");
    let error = db.error(
        "RELATE person:alice -> buys -> product:apple SET expiry = time::now(), colour = 'red'",
    );
    assert!(error.contains("has no field `colour`"), "{error}");
    db.run("DEFINE TABLE person");
    let error = db.error("REMOVE EDGE person");
    assert!(
        error.contains("`person` is a table, not an edge table"),
        "{error}"
    );
    assert_eq!(db.last("DESCRIBE EDGE person IF EXISTS"), "NONE");
    for text in [
        "DEFINE EDGE buys FIELDS expiry TYPE time",
        "DEFINE EDGE IF NOT EXISTS buys ON DATABASE app FIELDS expiry TYPE time",
        "REMOVE EDGE IF EXISTS buys ON DATABASE app",
        "DESCRIBE EDGE buys",
    ] {
        canonical(text);
    }
}

#[test]
fn a_relate_and_a_delete_of_its_end_never_both_commit() {
    // Whichever commits first, the other finds what it read changed, so
    // no edge is left pointing at a deleted record.
    for relate_first in [true, false] {
        let mut db = Db::new();
        db.run("CREATE person:alice; CREATE product:apple; DEFINE EDGE buys");
        let relate = prepare(&mut db, "RELATE person:alice -> buys -> product:apple");
        let delete = prepare(&mut db, "DELETE product:apple");
        let (first, second) = if relate_first {
            (relate, delete)
        } else {
            (delete, relate)
        };
        db.store.apply(&first).unwrap();
        let conflict = db.store.apply(&second).unwrap_err();
        assert!(conflict.contains("conflict"), "{conflict}");
        let edges = db.last("SELECT * FROM buys");
        let apple = db.last("product:apple");
        if relate_first {
            assert_eq!(apple, "{ id: product:apple }", "the delete lost");
            assert!(edges.contains("out: product:apple"), "{edges}");
        } else {
            assert_eq!(apple, "NONE");
            assert_eq!(edges, "[]");
            assert_eq!(adjacency_count(&db), 0);
        }
    }
}

#[test]
fn a_traversal_reads_every_adjacency_list_it_walks() {
    // A read-only traversal conflicts with an edge added on its path
    // before it commits (its scanned ranges change).
    let mut db = Db::new();
    db.run(
        "CREATE person:a; CREATE person:b; CREATE person:c; RELATE person:a -> knows -> person:b",
    );
    let read = prepare(&mut db, "person:a -> knows -> person -> knows -> person");
    db.run("RELATE person:b -> knows -> person:c");
    let conflict = db.store.apply(&read).unwrap_err();
    assert!(
        conflict.contains("appeared in a scanned range"),
        "{conflict}"
    );
    assert_eq!(
        db.last("person:a -> knows -> person -> knows -> person"),
        "[person:c]"
    );
}

#[test]
fn the_simulators_statements_relate_by_parameter_and_delete_one_pair() {
    // The forms of `zerodb-sim --workload graph`: edge keys and ends from
    // parameters, a pair's edge deleted through a traversal.
    let mut db = Db::new();
    db.run("DEFINE TABLE person SCHEMALESS; DEFINE EDGE knows SCHEMALESS");
    db.run("CREATE person:a; CREATE person:b; CREATE person:c");
    for (from, to) in [("a", "b"), ("a", "c"), ("b", "c")] {
        db.session.params.insert("a".into(), Value::from(from));
        db.session.params.insert("b".into(), Value::from(to));
        db.session
            .params
            .insert("e".into(), Value::from(format!("{from}-{to}").as_str()));
        db.run("RELATE person:$a -> knows:$e -> person:$b");
    }
    assert_eq!(
        db.last("RETURN [person:a -> knows -> *, person:c <- knows <- *]"),
        "[[person:b, person:c], [person:a, person:b]]"
    );
    assert_eq!(
        db.last("person:a -> knows -> person -> knows -> person"),
        "[person:c]"
    );
    db.run("DELETE person:a -> knows -> person:c");
    assert_eq!(db.last("person:a -> knows -> *"), "[person:b]");
    db.session.params.insert("e".into(), Value::from("a-c"));
    assert_eq!(db.last("SELECT * FROM knows:$e"), "[]");
    db.session.params.insert("e".into(), Value::from("a-b"));
    db.run("DELETE knows:$e");
    assert_eq!(adjacency_count(&db), 2, "b-c's two entries are left");
    let missing = db.error("RELATE person:a -> knows:x -> person:zed");
    assert!(missing.contains("does not exist"), "{missing}");
}

#[test]
fn the_unsafe_skip_edge_cascade_switch_leaves_dangling_edges() {
    // What the simulator's graph checker must catch (sim/tests/simulation.rs).
    let mut db = Db::new();
    social(&mut db);
    db.session.unsafe_skip_edge_cascade = true;
    db.run("DELETE person:bob");
    assert_eq!(db.last("person:bob"), "NONE");
    assert_eq!(adjacency_count(&db), 14, "no adjacency entry went");
    assert_eq!(db.last("SELECT out FROM likes:ab"), "[{ out: person:bob }]");
    // Deleting an edge still removes its own entries.
    db.run("DELETE likes:ab");
    assert_eq!(adjacency_count(&db), 12);
}

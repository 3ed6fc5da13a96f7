//! Graphs on the in-memory store: `DEFINE EDGE`, `RELATE`, traversals,
//! deleting records with their edges, and the errors of bad input. Each
//! result is checked against the graph the test built; the adjacency keys
//! are checked against the store itself.

mod common;

use common::db::Db;
use common::{canonical, expression};
use zerodb_query::keys::{Adjacency, DatabaseName, IN_EDGES, OUT_EDGES};
use zerodb_query::value::{RecordId, Value};

fn id(table: &str, key: &str) -> RecordId {
    RecordId::new(table, Value::from(key))
}

/// The keys under one adjacency list of `vertex` in the test database.
fn adjacency(db: &Db, side: Adjacency, vertex: &RecordId) -> Vec<Value> {
    let database = DatabaseName::new("test", "test");
    let range = database.adjacency_range(side, vertex, None);
    db.store
        .keys_in(&range)
        .iter()
        .map(|key| db.store.value_of(key).expect("an entry decodes"))
        .collect()
}

/// Every adjacency entry in the test database (both sides).
fn adjacency_count(db: &Db) -> usize {
    [OUT_EDGES, IN_EDGES]
        .iter()
        .map(|table| {
            let range = zerodb_query::keys::KeyRange {
                namespace: "test".into(),
                database: "test".into(),
                table: table.to_string(),
                start: Vec::new(),
                end: vec![0xff],
            };
            db.store.keys_in(&range).len()
        })
        .sum()
}

/// alice -> likes -> bob, carol; bob -> likes -> alice, dave;
/// carol -> plays -> alice; dave -> likes -> post:one.
fn social(db: &mut Db) {
    db.run(
        "CREATE person:alice SET name = 'alice', age = 40;
         CREATE person:bob SET name = 'bob', age = 30;
         CREATE person:carol SET name = 'carol', age = 25;
         CREATE person:dave SET name = 'dave', age = 50;
         CREATE post:one SET title = 'hello';
         DEFINE EDGE likes;
         DEFINE EDGE plays;
         RELATE person:alice -> likes:ab -> person:bob SET since = 2020;
         RELATE person:alice -> likes:ac -> person:carol SET since = 2023;
         RELATE person:bob -> likes:ba -> person:alice SET since = 2021;
         RELATE person:bob -> likes:bd -> person:dave SET since = 2019;
         RELATE person:carol -> plays:ca -> person:alice;
         RELATE person:alice -> plays:ab -> person:bob;
         RELATE person:dave -> likes:dp -> post:one SET since = 2024",
    );
}

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
    let created = db.last("RELATE [person:alice, person:bob] -> buys -> [product:apple, product:pear]");
    assert_eq!(created.matches("in: ").count(), 4, "{created}");
    assert_eq!(
        db.last("person:bob -> buys -> product"),
        "[product:apple, product:pear]"
    );
    db.run("RELATE product:apple <- likes <- person:alice");
    assert_eq!(db.last("person:alice -> likes -> *"), "[product:apple]");
    assert_eq!(db.last("product:apple <- likes <- *"), "[person:alice]");
    db.run("LET $buyers = [person:alice]; RELATE $buyers -> returns -> (SELECT id FROM product:pear)");
    assert_eq!(db.last("SELECT id FROM returns").matches("returns:").count(), 1);
    assert_eq!(db.last("person:alice -> returns -> product"), "[product:pear]");
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
    let error = db.error("RELATE person:alice -> buys -> product:apple SET price = 'x', receipt = 'r3'");
    assert!(error.contains("field `price` of table `buys` must be int"), "{error}");
    assert_eq!(adjacency_count(&db), 2);
    // The edge's index is kept: a select by receipt finds it.
    assert_eq!(
        db.last("SELECT id FROM buys WHERE receipt = 'r1'"),
        "[{ id: buys:one }]"
    );
}

#[test]
fn traversals_follow_edges_out_in_and_both_ways() {
    let mut db = Db::new();
    social(&mut db);
    assert_eq!(
        db.last("person:alice -> likes -> person"),
        "[person:bob, person:carol]"
    );
    assert_eq!(db.last("person:alice <- likes <- person"), "[person:bob]");
    // Reflection: whom alice likes and who likes her back.
    assert_eq!(db.last("person:alice -> likes <- person"), "[person:bob]");
    // Chains.
    assert_eq!(
        db.last("person:alice -> likes -> person -> likes -> *"),
        "[person:alice, person:dave]"
    );
    assert_eq!(
        db.last("person:alice -> likes -> person -> likes -> person -> likes -> post"),
        "[post:one]"
    );
    // The vertex pattern filters by table or record.
    assert_eq!(db.last("person:bob -> likes -> post"), "[]");
    assert_eq!(db.last("person:bob -> likes -> person:dave"), "[person:dave]");
    assert_eq!(
        db.last("person:bob -> likes -> [person:dave, person:alice]"),
        "[person:alice, person:dave]"
    );
    // From a whole table.
    assert_eq!(
        db.last("person -> likes -> post"),
        "[post:one]"
    );
}

#[test]
fn edge_alternatives_combinations_and_negation() {
    let mut db = Db::new();
    social(&mut db);
    assert_eq!(
        db.last("person:alice -> likes OR plays -> person"),
        "[person:bob, person:carol]"
    );
    assert_eq!(
        db.last("person:carol -> likes OR plays -> person"),
        "[person:alice]"
    );
    // Both a likes and a plays edge reach bob; only likes reaches carol.
    assert_eq!(
        db.last("person:alice -> likes AND plays -> person"),
        "[person:bob]"
    );
    assert_eq!(db.last("person:alice -> NOT likes -> person"), "[person:bob]");
    assert_eq!(db.last("person:carol -> NOT plays -> *"), "[]");
    assert_eq!(
        db.last("[person:alice, person:carol] -> likes OR plays -> [person:alice, person:bob]"),
        "[person:bob, person:alice]"
    );
}

#[test]
fn filters_and_aliases_on_edges_and_vertices() {
    let mut db = Db::new();
    social(&mut db);
    assert_eq!(
        db.last("person:alice -> (likes WHERE since > 2021) -> person"),
        "[person:carol]"
    );
    assert_eq!(
        db.last("person:bob -> likes -> (person WHERE age > 45)"),
        "[person:dave]"
    );
    assert_eq!(
        db.last("SELECT p.name FROM person:alice -> likes -> (person AS p)"),
        "[{ p: { name: 'bob' } }, { p: { name: 'carol' } }]"
    );
    assert_eq!(
        db.last(
            "SELECT e.since AS since, name FROM person:alice -> likes AS e -> person ORDER BY since"
        ),
        "[{ name: 'bob', since: 2020 }, { name: 'carol', since: 2023 }]"
    );
    assert_eq!(
        db.last("SELECT name FROM (person WHERE age < 35 AS young) -> likes -> person"),
        "[{ name: 'alice' }, { name: 'dave' }]"
    );
}

#[test]
fn traversals_in_projections_from_and_where() {
    let mut db = Db::new();
    social(&mut db);
    assert_eq!(
        db.last("SELECT name, ->likes->person AS likes FROM person WHERE age >= 40"),
        "[{ likes: [person:bob, person:carol], name: 'alice' }, { likes: [], name: 'dave' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person WHERE ->likes->person CONTAINS person:alice"),
        "[{ name: 'bob' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person WHERE <-likes<-person CONTAINS person:alice"),
        "[{ name: 'bob' }, { name: 'carol' }]"
    );
    assert_eq!(
        db.last("SELECT * FROM person:alice -> likes -> person WHERE age < 30"),
        "[{ age: 25, id: person:carol, name: 'carol' }]"
    );
    // Field access through the records reached.
    assert_eq!(
        db.last("RETURN (person:alice -> likes -> person).name"),
        "['bob', 'carol']"
    );
    assert_eq!(
        db.last("RETURN person:alice -> likes -> person.name"),
        "['bob', 'carol']"
    );
    let plan = db.last("EXPLAIN SELECT * FROM person:alice -> likes -> person");
    assert!(plan.contains("operation: 'Traverse'"), "{plan}");
}

/// is_a: bird -> animal -> thing; sparrow -> bird; a cycle thing -> root -> thing.
fn taxonomy(db: &mut Db) {
    db.run(
        "CREATE kind:sparrow; CREATE kind:bird; CREATE kind:animal; CREATE kind:thing; CREATE kind:root;
         RELATE kind:sparrow -> is_a -> kind:bird;
         RELATE kind:bird -> is_a -> kind:animal;
         RELATE kind:animal -> is_a -> kind:thing;
         RELATE kind:thing -> is_a -> kind:root;
         RELATE kind:root -> is_a -> kind:thing",
    );
}

#[test]
fn depth_levels_walk_breadth_first_with_a_visited_set() {
    let mut db = Db::new();
    taxonomy(&mut db);
    // Level n is n + 1 hops (upstream: `bird -> is_a[1] -> thing` is
    // `bird -> is_a -> * -> is_a -> thing`).
    assert_eq!(db.last("kind:bird -> is_a[0] -> kind"), "[kind:animal]");
    assert_eq!(db.last("kind:bird -> is_a[1] -> kind"), "[kind:thing]");
    assert_eq!(
        db.last("kind:bird -> is_a -> * -> is_a -> kind:thing"),
        db.last("kind:bird -> is_a[1] -> kind:thing")
    );
    assert_eq!(
        db.last("kind:bird -> is_a[0..2] -> kind"),
        "[kind:animal, kind:thing]"
    );
    assert_eq!(
        db.last("kind:sparrow -> is_a[0..=15] -> kind"),
        "[kind:bird, kind:animal, kind:thing, kind:root]"
    );
    // The cycle thing <-> root ends: each record is reached once, at the
    // level of its shortest path.
    assert_eq!(db.last("kind:thing -> is_a[0..=9] -> kind"), "[kind:root]");
    assert_eq!(db.last("kind:sparrow -> is_a[5..=8] -> kind"), "[]");
    assert_eq!(
        db.last("kind:thing <- is_a[1..=2] <- kind"),
        "[kind:bird, kind:sparrow]"
    );
}

#[test]
fn a_wildcard_start_is_any_record_with_such_an_edge() {
    let mut db = Db::new();
    db.run(
        "CREATE category:person; CREATE category:thing; CREATE driver:james; CREATE car:tesla; CREATE dog:rex;
         RELATE driver:james -> is_a -> category:person;
         RELATE car:tesla -> is_a -> category:thing;
         RELATE dog:rex -> is_a -> category:thing;
         RELATE driver:james -> owns -> car:tesla;
         RELATE driver:james -> owns -> dog:rex",
    );
    // As a whole statement, `*` starts at every record with such an edge
    // and the result is what the walk reaches.
    assert_eq!(
        db.last("* -> is_a -> category"),
        "[category:person, category:thing]"
    );
    assert_eq!(
        db.last("category:thing <- is_a <- *"),
        "[car:tesla, dog:rex]"
    );
    // In parentheses as a vertex, a traversal from `*` is a predicate on
    // the record in place of the `*` (upstream: "any record that is a
    // person that owns any record that is a thing").
    assert_eq!(
        db.last("(* -> is_a -> category:person) -> owns -> (* -> is_a -> category:thing)"),
        "[car:tesla, dog:rex]"
    );
    db.run("CREATE car:ghost; RELATE driver:james -> owns -> car:ghost");
    assert_eq!(
        db.last("(* -> is_a -> category:person) -> owns -> (* -> is_a -> category:thing)"),
        "[car:tesla, dog:rex]"
    );
    assert_eq!(
        db.last("SELECT c FROM (* -> is_a -> category:person) -> owns -> (car AS c)"),
        "[{ c: car:tesla }, { c: car:ghost }]"
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
    assert_eq!(db.last("SELECT id FROM product").matches("product:").count(), 3);
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
    assert!(error.contains("the `out` of edge likes:ab cannot change"), "{error}");
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
    let error = db.error("RELATE person:alice -> buys -> product:apple SET expiry = time::now(), colour = 'red'");
    assert!(error.contains("has no field `colour`"), "{error}");
    db.run("DEFINE TABLE person");
    let error = db.error("REMOVE EDGE person");
    assert!(error.contains("`person` is a table, not an edge table"), "{error}");
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
fn graph_syntax_prints_canonically_and_parses_back() {
    for (source, printed) in [
        ("RELATE person:alice->buys->product:apple", "RELATE person:alice -> buys -> product:apple"),
        (
            "RELATE product:apple <- buys:1 <- [person:alice, person:bob] SET {n: 1}",
            "RELATE [person:alice, person:bob] -> buys:1 -> product:apple SET {n: 1}",
        ),
        (
            "RELATE $a -> e -> (SELECT * FROM t) CONTENT $c",
            "RELATE $a -> e -> (SELECT * FROM t) CONTENT $c",
        ),
        ("SELECT p.name FROM person:tobie->likes->(person AS p)", "SELECT p.name FROM person:tobie -> likes -> (person AS p)"),
        ("DELETE person:alice -> buys -> * WHERE price > 10", "DELETE person:alice -> buys -> * WHERE (price > 10)"),
        ("person:alice -> likes <- person", "person:alice -> likes <- person"),
        ("[person, animal] -> owns && plays -> [game, toy]", "[person, animal] -> owns AND plays -> [game, toy]"),
        ("a -> x OR NOT y AND z -> b", "a -> x OR NOT y AND z -> b"),
        ("bird -> is_a[0..2] -> thing", "bird -> is_a[0..=1] -> thing"),
        ("bird -> is_a[5..=8] AS e -> thing", "bird -> is_a[5..=8] AS e -> thing"),
        ("(* -> is_a -> person) -> owns -> (* -> is_a -> thing)", "(* -> is_a -> person) -> owns -> (* -> is_a -> thing)"),
        ("a -> (e WHERE w > 1 AS x) -> (b WHERE v AS y)", "a -> (e WHERE (w > 1) AS x) -> (b WHERE v AS y)"),
        ("(person WHERE age > 3) -> e -> *", "(person WHERE (age > 3)) -> e -> *"),
        ("SELECT ->likes->person AS l FROM person", "SELECT -> likes -> person AS l FROM person"),
        ("RETURN a.b -> e -> c.name", "RETURN (a.b) -> e -> c.name"),
    ] {
        assert_eq!(canonical(source), printed, "{source}");
    }
    assert_eq!(expression("x CONTAINS ->e->y"), "(x CONTAINS -> e -> y)");
    assert_eq!(expression("a -> e -> b = c"), "(a -> e -> b = c)");
}

#[test]
fn bad_graph_input_gets_a_clear_error() {
    let mut db = Db::new();
    db.run("CREATE person:alice; CREATE product:apple; DEFINE TABLE product");
    let cases = [
        ("RELATE person:alice -> product -> product:apple", "`product` is a table, not an edge table"),
        ("person:alice -> product -> *", "`product` is a table, not an edge table"),
        ("LET $apple = 'apple'; RELATE person:alice -> buys -> $apple", "a graph connects records (such as person:alice), found 'apple' (a string)"),
        ("RELATE person:alice -> buys -> product", "RELATE connects records (such as person:alice), found the table `product`"),
        ("RELATE person:alice -> buys -> product:pear", "cannot RELATE product:pear: the record does not exist"),
        ("RELATE person:alice -> buys -> 'apple'", "expected a vertex: a table, a record id, `*`, `[..]` or `(..)`, found `'apple'`"),
        ("RELATE person:alice -> buys -> product:apple <- x", "expected `;` or end of input"),
        ("RELATE person:alice -> buys <- product:apple", "both arrows the same way"),
        ("person:alice -> likes[3..1] -> *", "the depth range (3..1) holds no level"),
        ("person:alice -> likes[2..2] -> *", "holds no level"),
        ("person:alice -> likes[16] -> *", "depth level 16 is above the limit: a step walks at most 16 hops (levels 0 to 15)"),
        ("person:alice -> likes[-1] -> *", "a depth level is a non-negative integer"),
        ("person:alice -> likes['a'] -> *", "a depth level is a non-negative integer"),
        ("person:alice -> NOT likes[1] -> *", "`NOT` takes an edge table without depth levels"),
        ("person:alice -> likes", "expected `->` or `<-`, found end of input"),
        ("person:alice -> 'likes' -> *", "expected an edge table"),
        ("SELECT ->likes->person FROM [1]", "starts at the current record, and there is none here"),
        ("->likes->person", "starts at the current record, and there is none here"),
        ("* -> NOT likes -> person", "needs its first step to name its edge tables"),
        ("(person AS p)", "a vertex with WHERE or AS starts a traversal"),
    ];
    for (text, expected) in cases {
        let error = db.error(text);
        assert!(error.contains(expected), "{text}: {error}");
    }
    db.session.strict = true;
    let error = db.error("RELATE person:alice -> buys -> product:apple");
    assert!(error.contains("unknown edge table `buys`"), "{error}");
}

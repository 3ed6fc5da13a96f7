//! Graph reads on the in-memory store: traversals out, in and both ways,
//! edge combinations, depth levels, wildcards, filters and aliases, in
//! expressions, `FROM` and `WHERE`; the canonical printing of graph
//! syntax; and the errors of bad input. Each result is checked against
//! the graph the test built.

mod common;

use common::canonical;
use common::db::Db;
use common::expression;
use common::graph::social;

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
    assert_eq!(
        db.last("person:bob -> likes -> person:dave"),
        "[person:dave]"
    );
    assert_eq!(
        db.last("person:bob -> likes -> [person:dave, person:alice]"),
        "[person:alice, person:dave]"
    );
    // From a whole table.
    assert_eq!(db.last("person -> likes -> post"), "[post:one]");
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
    assert_eq!(
        db.last("person:alice -> NOT likes -> person"),
        "[person:bob]"
    );
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
        "[{ c: car:ghost }, { c: car:tesla }]"
    );
}

#[test]
fn graph_syntax_prints_canonically_and_parses_back() {
    for (source, printed) in [
        (
            "RELATE person:alice->buys->product:apple",
            "RELATE person:alice -> buys -> product:apple",
        ),
        (
            "RELATE product:apple <- buys:1 <- [person:alice, person:bob] SET {n: 1}",
            "RELATE [person:alice, person:bob] -> buys:1 -> product:apple SET {n: 1}",
        ),
        (
            "RELATE $a -> e -> (SELECT * FROM t) CONTENT $c",
            "RELATE $a -> e -> (SELECT * FROM t) CONTENT $c",
        ),
        (
            "SELECT p.name FROM person:tobie->likes->(person AS p)",
            "SELECT p.name FROM person:tobie -> likes -> (person AS p)",
        ),
        (
            "DELETE person:alice -> buys -> * WHERE price > 10",
            "DELETE person:alice -> buys -> * WHERE (price > 10)",
        ),
        (
            "person:alice -> likes <- person",
            "person:alice -> likes <- person",
        ),
        (
            "[person, animal] -> owns && plays -> [game, toy]",
            "[person, animal] -> owns AND plays -> [game, toy]",
        ),
        ("a -> x OR NOT y AND z -> b", "a -> x OR NOT y AND z -> b"),
        (
            "bird -> is_a[0..2] -> thing",
            "bird -> is_a[0..=1] -> thing",
        ),
        (
            "bird -> is_a[5..=8] AS e -> thing",
            "bird -> is_a[5..=8] AS e -> thing",
        ),
        (
            "(* -> is_a -> person) -> owns -> (* -> is_a -> thing)",
            "(* -> is_a -> person) -> owns -> (* -> is_a -> thing)",
        ),
        (
            "a -> (e WHERE w > 1 AS x) -> (b WHERE v AS y)",
            "a -> (e WHERE (w > 1) AS x) -> (b WHERE v AS y)",
        ),
        (
            "(person WHERE age > 3) -> e -> *",
            "(person WHERE (age > 3)) -> e -> *",
        ),
        (
            "SELECT ->likes->person AS l FROM person",
            "SELECT -> likes -> person AS l FROM person",
        ),
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
        (
            "RELATE person:alice -> product -> product:apple",
            "`product` is a table, not an edge table",
        ),
        (
            "person:alice -> product -> *",
            "`product` is a table, not an edge table",
        ),
        (
            "LET $apple = 'apple'; RELATE person:alice -> buys -> $apple",
            "a graph connects records (such as person:alice), found 'apple' (a string)",
        ),
        (
            "RELATE person:alice -> buys -> product",
            "RELATE connects records (such as person:alice), found the table `product`",
        ),
        (
            "RELATE person:alice -> buys -> product:pear",
            "cannot RELATE product:pear: the record does not exist",
        ),
        (
            "RELATE person:alice -> buys -> 'apple'",
            "expected a vertex: a table, a record id, `*`, `[..]` or `(..)`, found `'apple'`",
        ),
        (
            "RELATE person:alice -> buys -> product:apple <- x",
            "expected `;` or end of input",
        ),
        (
            "RELATE person:alice -> buys <- product:apple",
            "both arrows the same way",
        ),
        (
            "person:alice -> likes[3..1] -> *",
            "the depth range (3..1) holds no level",
        ),
        ("person:alice -> likes[2..2] -> *", "holds no level"),
        (
            "person:alice -> likes[16] -> *",
            "depth level 16 is above the limit: a step walks at most 16 hops (levels 0 to 15)",
        ),
        (
            "person:alice -> likes[-1] -> *",
            "a depth level is a non-negative integer",
        ),
        (
            "person:alice -> likes['a'] -> *",
            "a depth level is a non-negative integer",
        ),
        (
            "person:alice -> NOT likes[1] -> *",
            "`NOT` takes an edge table without depth levels",
        ),
        (
            "person:alice -> likes",
            "expected `->` or `<-`, found end of input",
        ),
        ("person:alice -> 'likes' -> *", "expected an edge table"),
        (
            "SELECT ->likes->person FROM [1]",
            "starts at the current record, and there is none here",
        ),
        (
            "->likes->person",
            "starts at the current record, and there is none here",
        ),
        (
            "* -> NOT likes -> person",
            "needs its first step to name its edge tables",
        ),
        (
            "(person AS p)",
            "a vertex with WHERE or AS starts a traversal",
        ),
    ];
    for (text, expected) in cases {
        let error = db.error(text);
        assert!(error.contains(expected), "{text}: {error}");
    }
    db.session.strict = true;
    let error = db.error("RELATE person:alice -> buys -> product:apple");
    assert!(error.contains("unknown edge table `buys`"), "{error}");
}

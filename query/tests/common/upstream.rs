//! Examples of upstream `zeroql-syntax.md` (zerocore-ai/zerodb) that
//! issue 17's statements cover, with their results checked, written once
//! against [`ExampleDb`] so that they run both on the in-memory store
//! (`query/tests/upstream_examples.rs`) and through `zerodb sql` on a
//! `zerodb dev` cluster (`cli/tests/upstream_examples_dev.rs`). Upstream
//! separates statements by newlines; here they take `;` (see GRAMMAR.md).

/// A database the examples run against: each call runs one query text
/// (statements separated by `;`) in the current namespace and database.
pub trait ExampleDb {
    /// Runs `text`; each statement's value as zeroql prints it. Panics,
    /// with the rendered error, when the query fails.
    fn run(&mut self, text: &str) -> Vec<String>;
    /// Runs `text`, which must fail; the rendered error.
    fn error(&mut self, text: &str) -> String;
    /// Unknown tables, namespaces and databases are errors (where the
    /// database offers it; a no-op elsewhere).
    fn set_strict(&mut self, strict: bool);
    /// The value of the last statement of `text`.
    fn last(&mut self, text: &str) -> String {
        self.run(text).pop().expect("a statement")
    }
}

pub fn create_forms(db: &mut impl ExampleDb) {
    assert_eq!(
        db.last(r#"CREATE person:alice SET age = 40, company = "Gigamono", weight = 70.5"#),
        "[{ age: 40, company: 'Gigamono', id: person:alice, weight: 70.5 }]"
    );
    db.run("DELETE person:alice");
    assert_eq!(
        db.last("CREATE person:alice SET {\n    age: 40,\n    company: \"Gigamono\",\n    weight: 70.5,\n}"),
        "[{ age: 40, company: 'Gigamono', id: person:alice, weight: 70.5 }]"
    );
    let created = db.last(
        "CREATE person SET (name, age, company, weight) VALUES \\\n    (\"alice\", 40, \"Gigamono\", 70.5),\n    (\"bob\", 30, \"Gigamono\", 80.5)",
    );
    assert!(
        created.contains("name: 'alice'") && created.contains("name: 'bob'"),
        "{created}"
    );
    db.run("CREATE person:*; CREATE person");
    assert_eq!(db.last("SELECT id FROM person").matches("id:").count(), 5);
}

pub fn variables(db: &mut impl ExampleDb) {
    db.run("LET $age = 40; CREATE person:alice SET age = $age; SET $age = 20; UPDATE person:alice SET age = $age");
    assert_eq!(db.last("SELECT age FROM person:alice"), "[{ age: 20 }]");
    db.run("LET $flag TYPE u8 = 0b0000_0001; LET $balance TYPE i8 = -40; LET $cost TYPE f64 = .75");
    db.run("LET $is_active TYPE bool = true; LET $name TYPE string = \"alice\"; LET $age TYPE u8? = 40");
    db.run("LET $cats TYPE [string] = [\"chubby\", \"fluffy\"]");
    let error = db.error("LET $flag TYPE u8 = 300");
    assert!(
        error.contains("$flag is declared u8, but the value is 300"),
        "{error}"
    );
}

fn people(db: &mut impl ExampleDb) {
    db.run(
        "CREATE person:alice SET name = 'alice', age = 40, main_address = {coords: [1, 2]}, addresses = [{coords: [3, 4]}];
         CREATE person:bob SET name = 'bob', age = 52, main_address = {coords: [5, 6]}, addresses = [];
         CREATE person:carol SET name = 'Carol', age = 30",
    );
}

pub fn select_forms(db: &mut impl ExampleDb) {
    people(db);
    let all = db.last("SELECT * FROM person");
    assert_eq!(db.last("person:*"), all);
    assert_eq!(db.last("person"), all);
    assert_eq!(
        db.last("SELECT * FROM person:alice"),
        format!("[{}]", db.last("person:alice"))
    );
    assert_eq!(
        db.last("SELECT main_address.coords FROM person"),
        "[{ main_address: { coords: [1, 2] } }, { main_address: { coords: [5, 6] } }, {}]"
    );
    assert_eq!(
        db.last("SELECT addresses[0].coords FROM person:alice"),
        "[{ 'addresses[0].coords': [3, 4] }]"
    );
    assert_eq!(
        db.last("SELECT * OMIT age, addresses, main_address FROM person:carol"),
        "[{ id: person:carol, name: 'Carol' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person WHERE age > 40"),
        "[{ name: 'bob' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person ORDER BY age DESC"),
        "[{ name: 'bob' }, { name: 'alice' }, { name: 'Carol' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person ORDER BY age DESC START AT 1"),
        "[{ name: 'alice' }, { name: 'Carol' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person START AT 1 LIMIT TO 1"),
        "[{ name: 'bob' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person WHERE age > 35 AND name ~ //^[aA].*//"),
        "[{ name: 'alice' }]"
    );
    db.run("DEFINE INDEX idx_name ON TABLE person FIELDS name");
    assert_eq!(
        db.last("SELECT name FROM person WITH INDICES idx_name WHERE name = 'bob'"),
        "[{ name: 'bob' }]"
    );
    assert_eq!(
        db.last("SELECT name FROM person WITH NO INDEX WHERE name = 'bob'"),
        "[{ name: 'bob' }]"
    );
}

pub fn record_links_and_subqueries(db: &mut impl ExampleDb) {
    db.run("CREATE person:alice SET name = \"alice\"; CREATE car:tesla SET owner = person:alice");
    assert_eq!(
        db.last("SELECT owner.name AS name FROM car:tesla"),
        "[{ name: 'alice' }]"
    );
    assert_eq!(
        db.last("SELECT owner.* AS owner FROM car:tesla"),
        "[{ owner: { id: person:alice, name: 'alice' } }]"
    );
    db.run("CREATE addresses:1 SET coords = [1, 2]");
    assert_eq!(
        db.last("SELECT (SELECT coords FROM addresses) AS coords FROM person"),
        "[{ coords: [{ coords: [1, 2] }] }]"
    );
}

pub fn update_delete_and_operations(db: &mut impl ExampleDb) {
    people(db);
    db.run("UPDATE person:alice SET age = 30");
    db.run("UPDATE person:alice SET {\n    age: 31\n}");
    db.run("UPDATE person:alice SET age += 1");
    assert_eq!(db.last("SELECT age FROM person:alice"), "[{ age: 32 }]");
    db.run("UPDATE person:alice SET age -= 1");
    db.run("UPDATE person WHERE age > 40 SET age = 30");
    assert_eq!(db.last("SELECT age FROM person:bob"), "[{ age: 30 }]");
    db.run("UPDATE person WHERE * SET age = none");
    assert_eq!(db.last("SELECT age FROM person WHERE age != NONE"), "[]");
    db.run("DELETE person:alice");
    assert_eq!(db.last("person:alice"), "NONE");
    db.run("DELETE person");
    assert_eq!(db.last("SELECT * FROM person"), "[]");
}

pub fn use_define_describe_remove(db: &mut impl ExampleDb) {
    db.set_strict(true);
    db.run("DEFINE NAMESPACE staging; DEFINE NAMESPACE IF NOT EXISTS staging; DEFINE NS IF NOT EXISTS staging");
    db.run("DEFINE DATABASE app ON staging; USE NS staging; DEFINE DATABASE IF NOT EXISTS app; DEFINE DB app2 ON NS staging");
    db.run("USE NS staging DB app");
    db.run("DEFINE TABLE person FIELDS \\\n    name TYPE string,\n    age TYPE u8");
    db.run(
        "DEFINE TABLE IF NOT EXISTS product ON app FIELDS \\\n    name TYPE string,\n    brand TYPE string VALUE \"Gigamono\",\n    weight_lbs TYPE f64 VALUE 0.5",
    );
    db.run("DEFINE INDEX idx_name ON TABLE person FIELDS name UNIQUE");
    assert_eq!(
        db.last("DESCRIBE NAMESPACE staging"),
        "{ databases: ['app', 'app2'], name: 'staging' }"
    );
    assert_eq!(
        db.last("DESCRIBE DATABASE app"),
        "{ name: 'app', tables: ['person', 'product'] }"
    );
    assert!(db
        .last("DESCRIBE TABLE person")
        .contains("schema: 'schemafull'"));
    assert_eq!(
        db.last("DESCRIBE INDEX idx_name IF EXISTS ON DB app ON TABLE person"),
        "{ fields: ['name'], name: 'idx_name', table: 'person', unique: true }"
    );
    assert_eq!(
        db.last("CREATE product:p SET name = 'pen'"),
        "[{ brand: 'Gigamono', id: product:p, name: 'pen', weight_lbs: 0.5 }]"
    );
    let error = db.error("CREATE person:x SET name = 'x', age = 256");
    assert!(
        error.contains("field `age` of table `person` must be u8, found 256"),
        "{error}"
    );
    assert!(db
        .error(
            "DEFINE INDEX idx_name ON TABLE person FIELDS name WITH index::hnsw(m = 16, ef = 64)"
        )
        .contains("not supported yet"));
    db.run("REMOVE INDEX idx_name ON TABLE person ON DB app; REMOVE INDEX idx_name IF EXISTS ON TABLE person");
    db.run("REMOVE TABLE person; REMOVE TABLE IF EXISTS person");
    db.run("REMOVE DATABASE app2; REMOVE DATABASE IF EXISTS app2");
    db.run("REMOVE NAMESPACE staging");
    assert_eq!(
        db.last("DESCRIBE NAMESPACE staging IF EXISTS"),
        "{ databases: ['app'], name: 'staging' }"
    );
}

pub fn transactions(db: &mut impl ExampleDb) {
    db.run(
        "BEGIN TRANSACTION;
         CREATE account:alice SET balance = 1000;
         CREATE account:bob SET balance = 1000;
         UPDATE account:alice SET balance += 500;
         UPDATE account:bob SET balance -= 500;
         COMMIT TRANSACTION",
    );
    assert_eq!(
        db.last("SELECT id, balance FROM account"),
        "[{ balance: 1500, id: account:alice }, { balance: 500, id: account:bob }]"
    );
}

/// Runs every example, each on a database `fresh(name)` returns.
pub fn run_all<D: ExampleDb>(mut fresh: impl FnMut(&str) -> D) {
    create_forms(&mut fresh("create_forms"));
    variables(&mut fresh("variables"));
    select_forms(&mut fresh("select_forms"));
    record_links_and_subqueries(&mut fresh("record_links_and_subqueries"));
    update_delete_and_operations(&mut fresh("update_delete_and_operations"));
    use_define_describe_remove(&mut fresh("use_define_describe_remove"));
    transactions(&mut fresh("transactions"));
}

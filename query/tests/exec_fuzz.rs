//! Random expressions through every statement kind: the executor never
//! panics, and after each statement (applied or refused) the index holds
//! exactly one entry per record, pointing at it.

mod common;

use common::db::Db;
use proptest::prelude::*;
use zerodb_query::keys::DatabaseName;
use zerodb_query::value::Value;

fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (-3i64..3).prop_map(|int| int.to_string()),
        Just("9223372036854775807".to_string()),
        Just("1.5".to_string()),
        Just("'x'".to_string()),
        Just("NONE".to_string()),
        Just("NULL".to_string()),
        Just("true".to_string()),
        Just("1h".to_string()),
        Just("a".to_string()),
        Just("b".to_string()),
        Just("id".to_string()),
        Just("$p".to_string()),
        Just("t:1".to_string()),
        Just("time::now()".to_string()),
        Just("//x//".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let ops = vec![
            "+", "-", "*", "/", "%", "**", "<", ">=", "=", "!=", "IN", "CONTAINS", "AND", "OR",
            "?:", "&", "<<", "~",
        ];
        prop_oneof![
            (inner.clone(), prop::sample::select(ops), inner.clone())
                .prop_map(|(left, op, right)| format!("({left} {op} {right})")),
            inner.clone().prop_map(|operand| format!("-({operand})")),
            inner.clone().prop_map(|operand| format!("NOT ({operand})")),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{k: {a}, m: {b}}}")),
            inner.clone().prop_map(|base| format!("({base}).k")),
            (inner.clone(), inner.clone()).prop_map(|(base, index)| format!("({base})[{index}]")),
            inner
                .clone()
                .prop_map(|text| format!("string::len({text})")),
            prop::collection::vec(inner, 0..3)
                .prop_map(|items| format!("math::max({})", items.join(", "))),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    (0u8..7, expression(), expression()).prop_map(|(kind, e, f)| match kind {
        0 => format!("RETURN {e}"),
        1 => format!("SELECT *, {e} AS v FROM t WHERE {f} ORDER BY {e} DESC LIMIT 3"),
        2 => format!("UPDATE t SET a = {e}, b += {f} WHERE {f}"),
        3 => format!("CREATE t SET a = {e}, b = {f}"),
        4 => format!("DELETE t WHERE {e}"),
        5 => format!("UPDATE t MERGE {{a: {e}}}"),
        _ => format!(
            "BEGIN; LET $q = {e}; CREATE t SET a = $q; UPDATE t SET a = {f} WHERE a = $q; COMMIT"
        ),
    })
}

/// Every record of `t` has exactly its entry in `by_a`, and nothing else is
/// in the index.
fn index_matches_records(db: &Db) -> Result<(), TestCaseError> {
    let database = DatabaseName::new("test", "test");
    let records = db.store.keys_in(&database.table_range("t"));
    let entries = db.store.keys_in(&database.index_entries_range("t", "by_a"));
    prop_assert_eq!(
        records.len(),
        entries.len(),
        "records {:?} entries {:?}",
        records,
        entries
    );
    let mut db = Db {
        store: db.store.clone(),
        session: db.session.clone(),
        ids: db.ids.clone(),
        now: db.now,
    };
    let documents = db
        .try_run("SELECT id, a FROM t")
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    let Value::Array(documents) = &documents[0] else {
        return Err(TestCaseError::fail("SELECT gave no array"));
    };
    for document in documents {
        let Value::RecordId(id) = document.field("id") else {
            return Err(TestCaseError::fail("a record without id"));
        };
        let key = database.index_entry_key("t", "by_a", &[document.field("a")], &id.key);
        prop_assert!(entries.contains(&key), "no index entry for {}", document);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_statements_never_panic_and_keep_the_index_exact(
        statements in prop::collection::vec(statement(), 1..8),
    ) {
        let mut db = Db::new();
        db.session.params.insert("p".into(), Value::Int(2));
        db.run("DEFINE INDEX by_a ON t FIELDS a; CREATE t:1 SET a = 1, b = 2; CREATE t:2 SET a = 'x'");
        for text in &statements {
            let _ = db.try_run(text);
            index_matches_records(&db)?;
        }
    }
}

//! The zeroql workloads of `zerodb bench`, and the raw requests each is
//! measured against on the same cluster, with the same clients, value size
//! and key distribution:
//!
//! | workload | one operation | measured against |
//! |---|---|---|
//! | `create` | `CREATE bench:$id SET v = $v`, a new id | `put`: a raw put of a new key |
//! | `select` | `SELECT * FROM bench:$id`, a loaded id | `get`: a raw get of a loaded key |
//! | `indexed` | `SELECT * FROM people_N WHERE k = $k` (index `by_k`) | `scan`: the same `WITH NO INDEX` |
//!
//! `$v` is a string of `--value-size` bytes, as the raw value is. Every
//! statement's answer is checked (one row for `create` and `select`, every
//! record holding `k` for `indexed` and `scan`), so a fast wrong answer
//! counts as an error, not as throughput.
//!
//! Loading writes many rows per statement (`CREATE t SET (..) VALUES (..),
//! ..`): one statement is one transaction, which takes at most
//! [`TXN_OPS_MAX`] operations.

use std::ops::Range;

use rand::rngs::StdRng;
use zerodb_client::Value;
use zerodb_node::api::ClientRequest;
use zerodb_txn::{Level, Request, TXN_OPS_MAX};

use super::{key_id, pick, BenchArgs, Operation, Workload, Zipfian};
use crate::connect::{ConnectArgs, Session};
use crate::exit::{self, CliError};
use crate::txn_text::KeySpace;

/// The table of `create` and `select`.
const BENCH_TABLE: &str = "bench";
/// Records holding each value of `k` in the table of `indexed` and `scan`,
/// so that an equality matches about this many.
const RECORDS_PER_VALUE: u64 = 10;
/// Operations the commit of a load statement spends on the catalog: an
/// assert on the table's definition and a range assert on each of its
/// field and index definitions.
const LOAD_CATALOG_OPS: usize = 3;
/// Operations per loaded row: the assert that its id is new, the record,
/// and its entry in the index `by_k` (rows of `bench` have no index entry,
/// so this bounds both tables).
const LOAD_OPS_PER_ROW: usize = 3;
/// Most bytes of values in one load statement: its transaction travels in
/// one frame.
const LOAD_STATEMENT_VALUE_BYTES_MAX: usize = 1 << 20;

const CREATE_TEXT: &str = "CREATE bench:$id SET v = $v";
const SELECT_TEXT: &str = "SELECT * FROM bench:$id";

/// One zeroql statement and the number of rows its answer must hold.
pub(super) struct Statement {
    text: String,
    params: Vec<(&'static str, Value)>,
    rows: u64,
}

impl Statement {
    /// Runs the statement; `Err` says what failed or what was wrong with
    /// the answer.
    pub(super) async fn send(self, session: &mut Session, space: &KeySpace) -> Result<(), String> {
        let results = session
            .client()
            .query_in(&space.namespace, &space.database, &self.text, &self.params)
            .await
            .map_err(|error| error.to_string())?;
        let rows = match results.as_slice() {
            [Value::Array(rows)] => rows.len() as u64,
            other => return Err(format!("`{}` answered {other:?}", self.text)),
        };
        if rows != self.rows {
            return Err(format!(
                "`{}` returned {rows} rows where {} were expected (was the table loaded?)",
                self.text, self.rows
            ));
        }
        Ok(())
    }
}

/// One client's source of operations for every workload but `kv`.
pub(super) struct Operations {
    workload: Workload,
    /// Over the loaded keys (`get`, `select`) or the values of `k`.
    zipf: Zipfian,
    value: Vec<u8>,
    text_value: Value,
    /// Names this client's new keys apart from every other client's and
    /// run's.
    new_id_prefix: String,
    new_ids: u64,
    /// The statement of `indexed` or `scan` (it names the table).
    lookup_text: String,
}

impl Operations {
    /// `run_tag` tells this run from earlier ones, `client` this client
    /// from the others.
    pub(super) fn new(args: &BenchArgs, run_tag: u64, client: u64) -> Operations {
        let table = people_table(args.records);
        let (zipf, lookup_text) = match args.workload {
            Workload::Indexed => (
                Zipfian::new(values_of_k(args.records)),
                format!("SELECT * FROM {table} WHERE k = $k"),
            ),
            Workload::Scan => (
                Zipfian::new(values_of_k(args.records)),
                format!("SELECT * FROM {table} WHERE k = $k WITH NO INDEX"),
            ),
            _ => (Zipfian::new(args.keys), String::new()),
        };
        Operations {
            workload: args.workload,
            zipf,
            value: vec![b'x'; args.value_size],
            text_value: Value::Str("x".repeat(args.value_size)),
            new_id_prefix: format!("new-{run_tag:x}-{client:x}-"),
            new_ids: 0,
            lookup_text,
        }
    }

    fn new_id(&mut self) -> String {
        self.new_ids += 1;
        format!("{}{}", self.new_id_prefix, self.new_ids)
    }

    /// The next operation.
    pub(super) fn next(
        &mut self,
        args: &BenchArgs,
        space: &KeySpace,
        rng: &mut StdRng,
    ) -> Operation {
        let query = |text: &str, params, rows| {
            Operation::Query(Statement {
                text: text.to_string(),
                params,
                rows,
            })
        };
        match self.workload {
            Workload::Kv => unreachable!("bench.rs builds the kv operations"),
            Workload::Put => Operation::Data(ClientRequest::Data(Request::Put {
                key: space.key(&self.new_id()),
                value: self.value.clone(),
                level: Level::One,
                ttl_ms: None,
            })),
            Workload::Get => {
                let index = pick(args.distribution, &self.zipf, args.keys, rng);
                Operation::Data(ClientRequest::Data(Request::Get {
                    key: space.key(&key_id(index)),
                    level: Level::One,
                }))
            }
            Workload::Create => {
                let params = vec![
                    ("id", Value::Str(self.new_id())),
                    ("v", self.text_value.clone()),
                ];
                query(CREATE_TEXT, params, 1)
            }
            Workload::Select => {
                let index = pick(args.distribution, &self.zipf, args.keys, rng);
                query(SELECT_TEXT, vec![("id", Value::Str(key_id(index)))], 1)
            }
            Workload::Indexed | Workload::Scan => {
                let values = values_of_k(args.records);
                let k = pick(args.distribution, &self.zipf, values, rng);
                let rows = records_holding(args.records, k);
                let params = vec![("k", Value::Int(k as i64))];
                query(&self.lookup_text, params, rows)
            }
        }
    }
}

/// What a workload runs, for the summary line.
pub(super) fn describe(workload: Workload) -> &'static str {
    match workload {
        Workload::Kv => "raw gets and puts",
        Workload::Put => "raw put of a new key",
        Workload::Get => "raw get of a loaded key",
        Workload::Create => "zeroql `CREATE bench:$id SET v = $v`, a new id",
        Workload::Select => "zeroql `SELECT * FROM bench:$id`, a loaded id",
        Workload::Indexed => "zeroql `SELECT * FROM people_N WHERE k = $k` by index",
        Workload::Scan => "zeroql `SELECT * FROM people_N WHERE k = $k WITH NO INDEX`",
    }
}

/// Which keys a workload touches, for the summary line.
pub(super) fn describe_keys(args: &BenchArgs, distribution: &str) -> String {
    match args.workload {
        Workload::Put | Workload::Create => "new keys".to_string(),
        Workload::Kv | Workload::Get | Workload::Select => {
            format!("{} keys ({distribution})", args.keys)
        }
        Workload::Indexed | Workload::Scan => format!(
            "{} ({} records, {} values of k, {distribution})",
            people_table(args.records),
            args.records,
            values_of_k(args.records)
        ),
    }
}

/// The table of `indexed` and `scan`: one per record count, so that
/// several sizes can live in one cluster.
fn people_table(records: u64) -> String {
    format!("people_{records}")
}

/// How many values `k` takes in a table of `records` records.
fn values_of_k(records: u64) -> u64 {
    (records / RECORDS_PER_VALUE).max(1)
}

/// How many of `records` records (record `i` holds `k = i % values`) hold
/// `k`.
fn records_holding(records: u64, k: u64) -> u64 {
    let values = values_of_k(records);
    records / values + u64::from(k < records % values)
}

/// Rows per load statement: as many as fit in one transaction with the
/// catalog's operations, and in [`LOAD_STATEMENT_VALUE_BYTES_MAX`].
fn rows_per_statement(value_size: usize) -> u64 {
    let by_ops = (TXN_OPS_MAX - LOAD_CATALOG_OPS) / LOAD_OPS_PER_ROW;
    let by_bytes = LOAD_STATEMENT_VALUE_BYTES_MAX / value_size.max(1);
    by_ops.min(by_bytes).max(1) as u64
}

/// The statement that creates records `rows` of `table`, each with id
/// [`key_id`] and `v = $v`; with `values_of_k`, record `i` also holds
/// `k = i % values_of_k`.
fn load_statement(table: &str, rows: Range<u64>, values_of_k: Option<u64>) -> String {
    let columns = if values_of_k.is_some() {
        "id, k, v"
    } else {
        "id, v"
    };
    let rows: Vec<String> = rows
        .map(|i| match values_of_k {
            Some(values) => format!("('{}', {}, $v)", key_id(i), i % values),
            None => format!("('{}', $v)", key_id(i)),
        })
        .collect();
    format!("CREATE {table} SET ({columns}) VALUES {}", rows.join(", "))
}

/// Loads the table `args.workload` reads: `--keys` records of `bench`
/// (`select`), or `--records` records of `people_N` with the index `by_k`
/// (`indexed`, `scan`).
pub(super) async fn load(
    connect: &ConnectArgs,
    space: &KeySpace,
    args: &BenchArgs,
) -> Result<(), CliError> {
    let (table, records, values) = match args.workload {
        Workload::Select => (BENCH_TABLE.to_string(), args.keys, None),
        Workload::Indexed | Workload::Scan => {
            let table = people_table(args.records);
            let define = format!(
                "DEFINE TABLE IF NOT EXISTS {table} SCHEMALESS; DEFINE INDEX IF NOT EXISTS by_k ON {table} FIELDS k"
            );
            let session = Session::new(connect)?;
            let defined = session
                .client()
                .query_in(&space.namespace, &space.database, &define, &[])
                .await;
            session.close().await;
            defined.map_err(exit::client_failure)?;
            (table, args.records, Some(values_of_k(args.records)))
        }
        other => unreachable!("{other:?} loads no zeroql table"),
    };
    let rows = rows_per_statement(args.value_size);
    let statements = records.div_ceil(rows);
    eprintln!("loading {records} records into {table}, {rows} per statement...");
    let clients = u64::from(args.clients.max(1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (connect, space, table) = (connect.clone(), space.clone(), table.clone());
        let value = Value::Str("x".repeat(args.value_size));
        tasks.push(tokio::spawn(async move {
            let session = Session::new(&connect)?;
            let mut statement = c;
            while statement < statements {
                let first = statement * rows;
                let text = load_statement(&table, first..records.min(first + rows), values);
                let params = [("v", value.clone())];
                let loaded = session
                    .client()
                    .query_in(&space.namespace, &space.database, &text, &params)
                    .await;
                if let Err(error) = loaded {
                    let message = format!(
                        "loading {table} failed: {error} (if it is loaded already, pass --no-load)"
                    );
                    return Err(CliError::new(exit::client_failure(error).code, message));
                }
                statement += clients;
            }
            session.close().await;
            Ok::<(), CliError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| CliError::new(exit::INTERNAL, e.to_string()))??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_query::exec::{self, Environment, MemoryStore, SequentialIds, Session};

    fn run(store: &mut MemoryStore, session: &mut Session, text: &str) -> Vec<Value> {
        let mut ids = SequentialIds::default();
        let mut environment = Environment {
            now: 0,
            ids: &mut ids,
        };
        exec::run_in_memory(store, session, &mut environment, text).unwrap()
    }

    fn row_count(value: &Value) -> usize {
        match value {
            Value::Array(rows) => rows.len(),
            other => panic!("not rows: {other}"),
        }
    }

    #[test]
    fn every_value_of_k_is_held_by_the_records_counted_for_it() {
        for records in [1, 9, 10, 11, 1_005, 100_000] {
            let values = values_of_k(records);
            let mut held = vec![0u64; values as usize];
            for i in 0..records {
                held[(i % values) as usize] += 1;
            }
            for (k, count) in held.iter().enumerate() {
                assert_eq!(records_holding(records, k as u64), *count, "{records} {k}");
            }
        }
        assert_eq!(values_of_k(100_000), 10_000);
        assert_eq!(records_holding(100_000, 9_999), 10);
    }

    #[test]
    fn a_load_statement_fits_one_transaction_and_its_frame() {
        assert_eq!(rows_per_statement(100), 340);
        assert_eq!(rows_per_statement(0), 340);
        assert_eq!(rows_per_statement(1 << 20), 1);
        assert_eq!(rows_per_statement(64 * 1024), 16);
        let rows = rows_per_statement(100);
        let text = load_statement("people_1000", 0..rows, Some(values_of_k(1_000)));
        let query = zerodb_query::parse(&text).unwrap();
        let units = exec::transactions(&query).unwrap();
        let mut store = MemoryStore::new();
        let mut session = Session::new("default", "default");
        run(
            &mut store,
            &mut session,
            "DEFINE TABLE people_1000 SCHEMALESS; DEFINE INDEX by_k ON people_1000 FIELDS k",
        );
        session.params.insert("v".into(), Value::Str("x".into()));
        let mut ids = SequentialIds::default();
        let mut environment = Environment {
            now: 0,
            ids: &mut ids,
        };
        let outcome = exec::execute(&units[0], &mut session, &mut store, &mut environment).unwrap();
        let commit = outcome.commit;
        // Every read outside a range becomes one assert: this bounds the
        // operations of the commit from above.
        let operations = commit.reads.len() + commit.ranges.len() + commit.writes.len();
        assert!(operations <= TXN_OPS_MAX, "{operations}");
        assert_eq!(commit.writes.len(), 2 * rows as usize);
    }

    #[test]
    fn a_loaded_table_answers_the_lookups_with_and_without_the_index() {
        let records = 1_005;
        let mut store = MemoryStore::new();
        let mut session = Session::new("default", "default");
        let table = people_table(records);
        run(
            &mut store,
            &mut session,
            &format!("DEFINE TABLE {table} SCHEMALESS; DEFINE INDEX by_k ON {table} FIELDS k"),
        );
        session.params.insert("v".into(), Value::Str("xyz".into()));
        let rows = 100;
        let mut first = 0;
        while first < records {
            let range = first..records.min(first + rows);
            let text = load_statement(&table, range, Some(values_of_k(records)));
            run(&mut store, &mut session, &text);
            first += rows;
        }
        for k in [0, 4, 5, 99] {
            session.params.insert("k".into(), Value::Int(k as i64));
            let want = records_holding(records, k) as usize;
            let indexed = format!("SELECT * FROM {table} WHERE k = $k");
            let scanned = format!("{indexed} WITH NO INDEX");
            assert_eq!(row_count(&run(&mut store, &mut session, &indexed)[0]), want);
            assert_eq!(row_count(&run(&mut store, &mut session, &scanned)[0]), want);
        }
        let explained = run(
            &mut store,
            &mut session,
            &format!("EXPLAIN SELECT * FROM {table} WHERE k = $k"),
        );
        assert!(
            explained[0].to_string().contains("IndexScan"),
            "{}",
            explained[0]
        );
    }

    #[test]
    fn the_point_statements_create_and_read_one_record_by_its_id() {
        let mut store = MemoryStore::new();
        let mut session = Session::new("default", "default");
        session.params.insert("v".into(), Value::Str("xyz".into()));
        run(
            &mut store,
            &mut session,
            &load_statement(BENCH_TABLE, 0..3, None),
        );
        session.params.insert("id".into(), Value::Str(key_id(2)));
        assert_eq!(row_count(&run(&mut store, &mut session, SELECT_TEXT)[0]), 1);
        session
            .params
            .insert("id".into(), Value::Str("new-1-0-1".into()));
        assert_eq!(row_count(&run(&mut store, &mut session, CREATE_TEXT)[0]), 1);
        assert_eq!(row_count(&run(&mut store, &mut session, SELECT_TEXT)[0]), 1);
        session.params.insert("id".into(), Value::Str(key_id(3)));
        assert_eq!(row_count(&run(&mut store, &mut session, SELECT_TEXT)[0]), 0);
    }
}

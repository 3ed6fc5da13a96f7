//! A database on the in-memory store for end-to-end tests.

use zerodb_query::exec::{
    run_in_memory, Environment, ExecError, MemoryStore, SequentialIds, Session,
};
use zerodb_query::value::Value;

/// A store, a session on `test/test`, and deterministic ids.
pub struct Db {
    pub store: MemoryStore,
    pub session: Session,
    pub ids: SequentialIds,
    pub now: i64,
}

impl Db {
    pub fn new() -> Db {
        Db {
            store: MemoryStore::new(),
            session: Session::new("test", "test"),
            ids: SequentialIds::default(),
            now: 1_700_000_000_000_000_000,
        }
    }

    pub fn try_run(&mut self, text: &str) -> Result<Vec<Value>, ExecError> {
        let mut environment = Environment {
            now: self.now,
            ids: &mut self.ids,
        };
        run_in_memory(&mut self.store, &mut self.session, &mut environment, text)
    }

    /// Runs and prints each statement's value.
    pub fn run(&mut self, text: &str) -> Vec<String> {
        match self.try_run(text) {
            Ok(values) => values.iter().map(ToString::to_string).collect(),
            Err(error) => panic!("{}", error.render(text)),
        }
    }

    /// The value of the last statement, printed.
    pub fn last(&mut self, text: &str) -> String {
        self.run(text).pop().expect("a statement")
    }

    pub fn error(&mut self, text: &str) -> String {
        match self.try_run(text) {
            Ok(values) => panic!("expected an error from {text}, got {values:?}"),
            Err(error) => error.render(text),
        }
    }
}

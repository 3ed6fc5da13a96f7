//! Changing the cluster catalog the way `zerodb ns/user/grant` does,
//! through a node's request path: read the catalog record with a strong
//! get, write `assert version == V; put catalog'`, and read again to learn
//! whether a write whose answer was lost took effect.
//!
//! [`CatalogSetup`] creates what a run's workload needs before clients
//! start (the namespaces and users); the mixed-ns workload changes the
//! catalog during faults with the same helpers.

use zerodb_node::core::catalog::{catalog_key, Catalog};
use zerodb_txn::{Condition, Level, Op, Request, Response, Ver, Versioned};

use super::Answer;

/// A strong read of the catalog record.
pub fn read_catalog() -> Request {
    Request::Get {
        key: catalog_key(),
        level: Level::One,
    }
}

/// The catalog and its record version from the answer to [`read_catalog`];
/// `None` when the read failed or the record does not decode.
pub fn decode_read(answer: &Answer) -> Option<(Catalog, Ver)> {
    match answer {
        Answer::Response(Response::Value(Some(Versioned {
            version,
            value: Some(bytes),
            ..
        }))) => Catalog::decode(bytes)
            .ok()
            .map(|catalog| (catalog, *version)),
        _ => None,
    }
}

/// The checked catalog write: `next` replaces the record read at `read`.
pub fn write_catalog(read: Ver, next: &Catalog) -> Request {
    let key = catalog_key();
    Request::Txn {
        ops: vec![
            Op::Assert(key.clone(), Condition::VersionEquals(read)),
            Op::Put(key, next.encode()),
        ],
    }
}

/// A change of the catalog: applied to a copy, it returns whether it
/// changed anything (false once the change is in place).
pub type Change = Box<dyn Fn(&mut Catalog) -> bool>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Read,
    Write,
    Done,
}

/// Applies one change to the catalog, retrying until a read shows it in
/// place.
pub struct CatalogSetup {
    change: Change,
    step: Step,
    /// Requests answered so far.
    pub tries: u32,
}

impl CatalogSetup {
    /// A setup that applies `change`.
    pub fn new(change: Change) -> CatalogSetup {
        CatalogSetup {
            change,
            step: Step::Read,
            tries: 0,
        }
    }

    /// True once a read showed the change in place.
    pub fn done(&self) -> bool {
        self.step == Step::Done
    }

    /// The first request (a read).
    pub fn start(&mut self) -> Request {
        self.step = Step::Read;
        read_catalog()
    }

    /// The answer to the last request; returns the next one, or `None`
    /// once done.
    pub fn complete(&mut self, answer: &Answer) -> Option<Request> {
        self.tries += 1;
        match self.step {
            Step::Read => {
                let Some((catalog, read)) = decode_read(answer) else {
                    return Some(read_catalog());
                };
                let mut next = catalog.clone();
                if !(self.change)(&mut next) {
                    self.step = Step::Done;
                    return None;
                }
                next.version = catalog.version + 1;
                self.step = Step::Write;
                Some(write_catalog(read, &next))
            }
            Step::Write | Step::Done => {
                self.step = Step::Read;
                Some(read_catalog())
            }
        }
    }
}

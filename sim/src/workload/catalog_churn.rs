//! Catalog changes during faults: the mixed-ns workload's catalog part.
//!
//! Each catalog process cycles through rounds, each on a namespace of its
//! own (`t<process>x<round>`): create it (pinned to region `r1`, so that
//! coordinators in `r2` forward its requests) and make [`SIM_USER`] its
//! editor; write to it as that user; revoke the role; write again (the
//! gate refuses once the node's catalog shows the revoke); drop it (every
//! node purges its records). Every change goes through a node's request
//! path as `zerodb ns/grant/revoke` would send it ([`super::catalog`]),
//! racing the other catalog processes and the nodes' own refreshes.
//!
//! The catalog record is a strong register, so its history is checked
//! like one ([`check_catalog`]): no two acknowledged changes produced the
//! same catalog version, a read sees every change acknowledged before it
//! began, and reads never go back in real time. After healing, the run
//! checks that every node holds at least the newest acknowledged version.

use std::collections::BTreeMap;

use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
use zerodb_node::core::catalog::{Catalog, Role};
use zerodb_node::core::metadata::Caller;
use zerodb_txn::{Key, Level, Op, Request, Response};

use super::catalog::{decode_read, CatalogSetup, Change};
use super::{failure_outcome, Answer, ADMIN};
use crate::history::{Micros, Operation, Outcome, ProcessId};

/// The user whose role the catalog processes grant and revoke.
pub const SIM_USER: &str = "sim-user";
/// Requests one catalog change may take (reads and writes) before the
/// process gives up on it and moves on (a refused change is not retried
/// forever).
pub const CHANGE_TRIES_MAX: u32 = 24;

/// What a catalog process asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogOp {
    /// A strong read of the catalog.
    Read,
    /// A checked write of catalog `version`.
    Write {
        /// The version the write installs.
        version: u64,
    },
    /// A put into `namespace` as [`SIM_USER`].
    Put {
        /// The namespace.
        namespace: String,
        /// Whether the process had granted the role (false after the
        /// revoke).
        granted: bool,
    },
}

/// What a catalog operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogResult {
    /// A read returned this catalog version.
    Version(u64),
    /// A write committed, or a put was written.
    Done,
}

/// One recorded catalog operation.
pub type CatalogOperation = Operation<CatalogOp, CatalogResult>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Create,
    Put,
    Revoke,
    PutRevoked,
    Drop,
}

impl Step {
    fn next(self) -> Step {
        match self {
            Step::Create => Step::Put,
            Step::Put => Step::Revoke,
            Step::Revoke => Step::PutRevoked,
            Step::PutRevoked => Step::Drop,
            Step::Drop => Step::Create,
        }
    }
}

/// One catalog process's place in its rounds.
struct Churner {
    round: u64,
    step: Step,
    change: Option<CatalogSetup>,
}

/// The catalog processes of a run.
pub struct CatalogChurn {
    policy: NamespacePolicy,
    processes: BTreeMap<ProcessId, Churner>,
    pending: BTreeMap<ProcessId, (Micros, CatalogOp)>,
    history: Vec<CatalogOperation>,
    stopped: bool,
}

fn namespace(process: ProcessId, round: u64) -> String {
    format!("t{}x{round}", process.0)
}

impl CatalogChurn {
    /// Catalog processes whose namespaces have replication factor `rf`
    /// (at most the nodes of region `r1`), pinned to `r1`.
    pub fn new(rf: usize) -> CatalogChurn {
        CatalogChurn {
            policy: NamespacePolicy {
                consistency: Consistency::Strong,
                replication_factor: rf.max(1),
                partition_level: PartitionLevel::Record,
                regions: vec!["r1".into()],
            },
            processes: BTreeMap::new(),
            pending: BTreeMap::new(),
            history: Vec::new(),
            stopped: false,
        }
    }

    /// The recorded history.
    pub fn history(&self) -> &[CatalogOperation] {
        &self.history
    }

    /// Whether `process` waits for an answer here.
    pub fn is_pending(&self, process: ProcessId) -> bool {
        self.pending.contains_key(&process)
    }

    /// No further operations are handed out.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// True once stopped with nothing outstanding.
    pub fn done(&self) -> bool {
        self.stopped && self.pending.is_empty()
    }

    /// The user `process` acts as for its next request.
    pub fn caller(&self, process: ProcessId) -> Caller {
        match self.processes.get(&process).map(|churner| churner.step) {
            Some(Step::Put | Step::PutRevoked) => Caller::User(SIM_USER.into()),
            _ => Caller::User(ADMIN.into()),
        }
    }

    /// The newest catalog version a client was told committed.
    pub fn acknowledged_version(&self) -> u64 {
        self.history
            .iter()
            .filter_map(|op| match (&op.op, &op.outcome) {
                (CatalogOp::Write { version }, Outcome::Ok(_)) => Some(*version),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn change(&self, step: Step, name: String) -> Change {
        let policy = self.policy.clone();
        match step {
            Step::Create => Box::new(move |catalog: &mut Catalog| {
                if catalog.policy(&name).is_some() || catalog.dropped.contains(&name) {
                    return false;
                }
                catalog.create_namespace(&name, policy.clone()).is_ok()
                    && catalog.grant(SIM_USER, &name, Role::Editor).is_ok()
            }),
            Step::Revoke => Box::new(move |catalog: &mut Catalog| {
                let held = catalog
                    .users
                    .get(SIM_USER)
                    .is_some_and(|user| user.roles.contains_key(&name));
                held && catalog.revoke(SIM_USER, &name).is_ok()
            }),
            _ => Box::new(move |catalog: &mut Catalog| {
                catalog.policy(&name).is_some() && catalog.drop_namespace(&name).is_ok()
            }),
        }
    }

    /// The next request of `process`.
    pub fn invoke(&mut self, process: ProcessId, now_us: Micros) -> Option<Request> {
        if self.stopped {
            return None;
        }
        let churner = self.processes.entry(process).or_insert(Churner {
            round: 0,
            step: Step::Create,
            change: None,
        });
        let (step, name) = (churner.step, namespace(process, churner.round));
        let request = match step {
            Step::Put | Step::PutRevoked => Request::Put {
                key: Key::new(&name, "sim", "churn", "k"),
                value: name.as_bytes().to_vec(),
                level: Level::One,
                ttl_ms: None,
            },
            Step::Create | Step::Revoke | Step::Drop => {
                let mut change = CatalogSetup::new(self.change(step, name));
                let request = change.start();
                if let Some(churner) = self.processes.get_mut(&process) {
                    churner.change = Some(change);
                }
                request
            }
        };
        self.record_invoke(process, now_us, &request);
        Some(request)
    }

    fn record_invoke(&mut self, process: ProcessId, now_us: Micros, request: &Request) {
        let op = match request {
            Request::Get { .. } => CatalogOp::Read,
            Request::Txn { ops } => CatalogOp::Write {
                version: ops
                    .iter()
                    .find_map(|op| match op {
                        Op::Put(_, bytes) => Catalog::decode(bytes).ok(),
                        _ => None,
                    })
                    .map_or(0, |catalog| catalog.version),
            },
            Request::Put { key, .. } | Request::Delete { key, .. } => CatalogOp::Put {
                namespace: key.namespace.clone(),
                granted: self.processes.get(&process).map(|c| c.step) == Some(Step::Put),
            },
        };
        self.pending.insert(process, (now_us, op));
    }

    /// The answer to `process`'s request; returns the follow-up to send at
    /// once (the next request of a catalog change).
    pub fn complete(
        &mut self,
        process: ProcessId,
        now_us: Micros,
        answer: Answer,
    ) -> Option<Request> {
        let (invoke_us, op) = self.pending.remove(&process)?;
        let outcome = match (&op, failure_outcome(&answer)) {
            (_, Some(failed)) => failed,
            (CatalogOp::Read, None) => match decode_read(&answer) {
                Some((catalog, _)) => Outcome::Ok(CatalogResult::Version(catalog.version)),
                None => Outcome::Fail(format!("no catalog in {answer:?}")),
            },
            (_, None) => match &answer {
                Answer::Response(Response::Committed { .. } | Response::Written { .. }) => {
                    Outcome::Ok(CatalogResult::Done)
                }
                other => Outcome::Fail(format!("unexpected answer {other:?}")),
            },
        };
        self.history.push(Operation {
            process,
            invoke_us,
            complete_us: now_us,
            op,
            outcome,
        });
        let churner = self.processes.get_mut(&process)?;
        let follow_up = match churner.change.as_mut() {
            Some(change) if change.tries < CHANGE_TRIES_MAX => change.complete(&answer),
            _ => None,
        };
        match follow_up {
            Some(request) if !self.stopped => {
                self.record_invoke(process, now_us, &request);
                Some(request)
            }
            _ => {
                churner.change = None;
                churner.step = churner.step.next();
                if churner.step == Step::Create {
                    churner.round += 1;
                }
                None
            }
        }
    }
}

/// Checks the catalog register's history: acknowledged changes have
/// distinct versions; a read returns at least the version of every change
/// acknowledged before it began, and of every read that ended before it
/// began.
pub fn check_catalog(history: &[CatalogOperation]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let writes: Vec<&CatalogOperation> = history
        .iter()
        .filter(|op| matches!(op.op, CatalogOp::Write { .. }) && op.outcome.is_ok())
        .collect();
    let mut by_version: BTreeMap<u64, usize> = BTreeMap::new();
    for write in &writes {
        if let CatalogOp::Write { version } = write.op {
            *by_version.entry(version).or_default() += 1;
        }
    }
    for (version, count) in by_version.iter().filter(|(_, count)| **count > 1) {
        anomalies.push(format!(
            "catalog: {count} acknowledged changes installed catalog version {version} (a lost update)"
        ));
    }
    let reads: Vec<(&CatalogOperation, u64)> = history
        .iter()
        .filter_map(|op| match op.outcome.ok() {
            Some(CatalogResult::Version(version)) => Some((op, *version)),
            _ => None,
        })
        .collect();
    for (read, seen) in &reads {
        for write in &writes {
            let CatalogOp::Write { version } = write.op else {
                continue;
            };
            if write.precedes(read) && version > *seen {
                anomalies.push(format!(
                    "catalog: a read invoked at {} us returned version {seen}, older than version {version} acknowledged at {} us",
                    read.invoke_us, write.complete_us
                ));
            }
        }
        for (earlier, earlier_seen) in &reads {
            if earlier.precedes(read) && earlier_seen > seen {
                anomalies.push(format!(
                    "catalog: a read invoked at {} us returned version {seen} after a read that ended at {} us returned {earlier_seen}",
                    read.invoke_us, earlier.complete_us
                ));
            }
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke_us: Micros, complete_us: Micros, op: CatalogOp, result: u64) -> CatalogOperation {
        let outcome = match op {
            CatalogOp::Read => Outcome::Ok(CatalogResult::Version(result)),
            _ => Outcome::Ok(CatalogResult::Done),
        };
        Operation {
            process: ProcessId(3),
            invoke_us,
            complete_us,
            op,
            outcome,
        }
    }

    #[test]
    fn a_serial_catalog_history_passes() {
        let history = vec![
            op(0, 1, CatalogOp::Read, 1),
            op(2, 3, CatalogOp::Write { version: 2 }, 0),
            op(4, 5, CatalogOp::Read, 2),
            op(6, 7, CatalogOp::Write { version: 3 }, 0),
        ];
        assert!(check_catalog(&history).is_empty());
    }

    #[test]
    fn two_acknowledged_writes_of_one_version_are_a_lost_update() {
        let history = vec![
            op(0, 5, CatalogOp::Write { version: 2 }, 0),
            op(1, 6, CatalogOp::Write { version: 2 }, 0),
        ];
        let anomalies = check_catalog(&history);
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert!(anomalies[0].contains("lost update"));
    }

    #[test]
    fn stale_and_backward_reads_are_caught_but_concurrent_ones_pass() {
        let history = vec![
            op(0, 2, CatalogOp::Write { version: 2 }, 0),
            // Concurrent with the write: either version is fine.
            op(1, 3, CatalogOp::Read, 1),
            // After the write was acknowledged: stale.
            op(4, 5, CatalogOp::Read, 1),
        ];
        let anomalies = check_catalog(&history);
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        let backward = vec![op(0, 1, CatalogOp::Read, 4), op(2, 3, CatalogOp::Read, 3)];
        assert_eq!(check_catalog(&backward).len(), 1);
    }
}

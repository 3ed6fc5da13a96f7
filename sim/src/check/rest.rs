//! End-of-run invariants over what every node holds once the cluster has
//! healed and the final reads are done (DESIGN.md 6.4): the cluster comes
//! to rest (no lock, waiting request, recovery or hint for a live node is
//! left), and no two replicas learned different decisions for one attempt.

use std::collections::BTreeMap;

use zerodb_txn::types::{Attempt, Decision, TxnId};
use zerodb_txn::Audit;

/// What keeps a node from being at rest, one line per kind; empty when it
/// is at rest. Every node is live once the run has healed, so any hint is
/// one that should have been handed off.
pub fn unrest(node: u32, audit: &Audit) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((txn, attempt)) = audit.locks.first() {
        found.push(format!(
            "node {node} still holds {} lock set(s), first {txn} attempt {attempt}",
            audit.locks.len()
        ));
    }
    if audit.waiting > 0 {
        found.push(format!(
            "node {node} still has {} lock request(s) waiting",
            audit.waiting
        ));
    }
    if audit.recoveries > 0 {
        found.push(format!(
            "node {node} still runs {} lock recovery(ies)",
            audit.recoveries
        ));
    }
    if let Some((target, key)) = audit.hints.first() {
        found.push(format!(
            "node {node} still keeps {} hint(s) for live nodes, first for node {target} key {:?}",
            audit.hints.len(),
            String::from_utf8_lossy(key)
        ));
    }
    if let Some(key) = audit.malformed.first() {
        found.push(format!(
            "node {node} stores {} system record(s) that do not decode, first key {key:?}",
            audit.malformed.len()
        ));
    }
    found
}

/// Decisions that disagree: two registers of one attempt decided
/// differently, two attempts of one transaction committed, or a finished
/// marker naming a committed attempt whose register decided otherwise.
pub fn check_decisions(audits: &[(u32, Audit)]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut decided: BTreeMap<(TxnId, Attempt), (u32, &Decision)> = BTreeMap::new();
    for (node, audit) in audits {
        for (txn, attempt, decision) in &audit.decided {
            match decided.get(&(*txn, *attempt)) {
                Some((first, seen)) if *seen != decision => anomalies.push(format!(
                    "decision register of {txn} attempt {attempt}: node {first} decided {}, node {node} decided {}",
                    describe(seen),
                    describe(decision)
                )),
                Some(_) => {}
                None => {
                    decided.insert((*txn, *attempt), (*node, decision));
                }
            }
        }
    }
    let mut committed: BTreeMap<TxnId, (u32, Attempt)> = BTreeMap::new();
    let decided_commits = decided
        .iter()
        .filter(|(_, (_, d))| d.is_committed())
        .map(|((txn, attempt), (node, _))| (*node, *txn, *attempt));
    let markers = audits.iter().flat_map(|(node, audit)| {
        audit
            .committed
            .iter()
            .map(move |(txn, attempt)| (*node, *txn, *attempt))
    });
    for (node, txn, attempt) in decided_commits.chain(markers) {
        match committed.get(&txn) {
            Some((first, seen)) if *seen != attempt => anomalies.push(format!(
                "{txn} committed twice: attempt {seen} (node {first}) and attempt {attempt} (node {node})"
            )),
            Some(_) => {}
            None => {
                committed.insert(txn, (node, attempt));
            }
        }
        if let Some((decider, d)) = decided.get(&(txn, attempt)) {
            if !d.is_committed() {
                anomalies.push(format!(
                    "{txn} attempt {attempt}: node {node} records it committed, node {decider} decided it aborted"
                ));
            }
        }
    }
    anomalies
}

fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Committed { version, .. } => format!("committed at {version}"),
        Decision::Aborted => "aborted".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use zerodb_txn::types::Ver;

    use super::*;

    fn txn(ms: u64) -> TxnId {
        TxnId {
            timestamp: Ver {
                physical_ms: ms,
                logical: 0,
                node: 1,
            },
            coordinator: 1,
        }
    }

    fn commit(ms: u64) -> Decision {
        Decision::Committed {
            version: Ver {
                physical_ms: ms,
                logical: 0,
                node: 1,
            },
            writes: Vec::new(),
            participants: Vec::new(),
        }
    }

    #[test]
    fn a_node_at_rest_has_nothing_to_report() {
        let audit = Audit {
            decided: vec![(txn(1), 1, commit(2))],
            committed: vec![(txn(1), 1)],
            ..Audit::default()
        };
        assert!(unrest(1, &audit).is_empty());
    }

    #[test]
    fn locks_waiters_recoveries_hints_and_garbage_are_each_reported() {
        let audit = Audit {
            locks: vec![(txn(1), 2)],
            waiting: 1,
            recoveries: 1,
            hints: vec![(3, b"k".to_vec())],
            malformed: vec![b"Dx".to_vec()],
            ..Audit::default()
        };
        let found = unrest(4, &audit);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].contains("node 4 still holds 1 lock set(s)"));
        assert!(found[3].contains("for node 3"));
    }

    #[test]
    fn agreeing_decisions_pass() {
        let a = Audit {
            decided: vec![(txn(1), 1, Decision::Aborted), (txn(1), 2, commit(5))],
            committed: vec![(txn(1), 2)],
            ..Audit::default()
        };
        assert!(check_decisions(&[(1, a.clone()), (2, a)]).is_empty());
    }

    #[test]
    fn two_values_in_one_register_are_caught() {
        let a = Audit {
            decided: vec![(txn(1), 1, commit(5))],
            ..Audit::default()
        };
        let b = Audit {
            decided: vec![(txn(1), 1, Decision::Aborted)],
            ..Audit::default()
        };
        let found = check_decisions(&[(1, a), (2, b)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("node 1 decided committed at 5.0.1, node 2 decided aborted"));
    }

    #[test]
    fn two_committed_attempts_and_a_marker_against_its_register_are_caught() {
        let a = Audit {
            decided: vec![(txn(1), 1, commit(5)), (txn(2), 1, Decision::Aborted)],
            ..Audit::default()
        };
        let b = Audit {
            committed: vec![(txn(1), 2), (txn(2), 1)],
            ..Audit::default()
        };
        let found = check_decisions(&[(1, a), (2, b)]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("committed twice: attempt 1 (node 1) and attempt 2 (node 2)"));
        assert!(found[1].contains("node 2 records it committed, node 1 decided it aborted"));
    }
}

//! Convergence of an eventual namespace: after faults heal, every replica of
//! a key holds the same newest version, and its value is one a client wrote.

use std::collections::{BTreeMap, BTreeSet};

use zerodb_ring::NodeId;
use zerodb_storage::Record;
use zerodb_txn::request::decode_int;

/// What each replica of one register stores, read from its engine.
pub type ReplicaRecords = Vec<(NodeId, Option<Record>)>;

/// Checks that the replicas of every key agree on one record whose value was
/// written by some client. `written` holds, per key, every value a client
/// tried to write (`None`: a delete, whose tombstone must then be on every
/// replica alike); `acknowledged` the keys with a write a client was told
/// succeeded. A key may be absent everywhere unless it is acknowledged (a
/// write with an unknown outcome may have reached no replica, or only one
/// that crashed before its sync). Returns one message per key that has not
/// converged.
pub fn check_convergence(
    stored: &BTreeMap<u64, ReplicaRecords>,
    written: &BTreeMap<u64, BTreeSet<Option<u64>>>,
    acknowledged: &BTreeSet<u64>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, replicas) in stored {
        let Some((first_node, first)) = replicas.first() else {
            problems.push(format!("register {key}: no replicas to compare"));
            continue;
        };
        for (node, record) in &replicas[1..] {
            if record != first {
                problems.push(format!(
                    "register {key}: replica {node:?} holds {record:?} but replica {first_node:?} holds {first:?}"
                ));
            }
        }
        let wrote = written.get(key);
        match first.as_ref().map(|r| r.value.as_deref()) {
            None if acknowledged.contains(key) => problems.push(format!(
                "register {key}: a write was acknowledged but the key is absent on replica {first_node:?}"
            )),
            None => {}
            Some(None) if wrote.is_some_and(|w| w.contains(&None)) => {}
            Some(None) => problems.push(format!(
                "register {key}: replicas hold a tombstone, but no client deleted it"
            )),
            Some(Some(bytes)) => {
                let decoded = decode_int(bytes).map(|v| Some(v as u64));
                if !decoded.is_some_and(|v| wrote.is_some_and(|w| w.contains(&v))) {
                    problems.push(format!(
                        "register {key}: replicas hold {bytes:?}, which no client wrote"
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_storage::Version;
    use zerodb_txn::request::encode_int;

    fn record(version: u64, value: u64) -> Option<Record> {
        let version = Version {
            physical_ms: version,
            logical: 0,
            node: 1,
        };
        Some(Record::value(version, encode_int(value as i64)))
    }

    fn written() -> BTreeMap<u64, BTreeSet<Option<u64>>> {
        BTreeMap::from([(0, BTreeSet::from([Some(1), Some(2)]))])
    }

    fn tombstone(version: u64) -> Option<Record> {
        let version = Version {
            physical_ms: version,
            logical: 0,
            node: 1,
        };
        Some(Record::tombstone(version))
    }

    fn acked() -> BTreeSet<u64> {
        BTreeSet::from([0])
    }

    #[test]
    fn a_key_absent_everywhere_is_flagged_only_after_an_acknowledged_write() {
        let stored = BTreeMap::from([(0, vec![(NodeId(1), None), (NodeId(2), None)])]);
        let unknown_outcomes_only = BTreeSet::new();
        assert!(check_convergence(&stored, &written(), &unknown_outcomes_only).is_empty());
        let problems = check_convergence(&stored, &written(), &acked());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("acknowledged"), "{problems:?}");
    }

    #[test]
    fn agreeing_replicas_with_a_written_value_pass() {
        let stored = BTreeMap::from([(0, (1..=3).map(|n| (NodeId(n), record(7, 2))).collect())]);
        assert_eq!(
            check_convergence(&stored, &written(), &acked()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_replica_with_an_older_version_is_flagged() {
        let stored = BTreeMap::from([(
            0,
            vec![
                (NodeId(1), record(7, 2)),
                (NodeId(2), record(5, 1)),
                (NodeId(3), record(7, 2)),
            ],
        )]);
        let problems = check_convergence(&stored, &written(), &acked());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("NodeId(2)"), "{problems:?}");
    }

    #[test]
    fn a_replica_missing_the_key_is_flagged() {
        let stored = BTreeMap::from([(0, vec![(NodeId(1), record(7, 2)), (NodeId(2), None)])]);
        assert_eq!(check_convergence(&stored, &written(), &acked()).len(), 1);
        let none_first = BTreeMap::from([(0, vec![(NodeId(2), None), (NodeId(1), record(7, 2))])]);
        assert_eq!(
            check_convergence(&none_first, &written(), &acked()).len(),
            2
        );
    }

    #[test]
    fn a_value_no_client_wrote_is_flagged() {
        let stored = BTreeMap::from([(
            0,
            vec![(NodeId(1), record(7, 9)), (NodeId(2), record(7, 9))],
        )]);
        assert_eq!(check_convergence(&stored, &written(), &acked()).len(), 1);
    }

    #[test]
    fn the_same_tombstone_everywhere_passes_only_after_a_delete() {
        let stored = BTreeMap::from([(0, (1..=3).map(|n| (NodeId(n), tombstone(8))).collect())]);
        let problems = check_convergence(&stored, &written(), &acked());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("no client deleted"), "{problems:?}");
        let mut deleted = written();
        deleted.get_mut(&0).unwrap().insert(None);
        assert!(check_convergence(&stored, &deleted, &acked()).is_empty());
    }

    #[test]
    fn a_replica_that_missed_a_delete_is_flagged() {
        // The resurrection a lost tombstone causes: one replica still
        // holds the value the delete removed.
        let stored = BTreeMap::from([(
            0,
            vec![
                (NodeId(1), tombstone(8)),
                (NodeId(2), record(7, 2)),
                (NodeId(3), tombstone(8)),
            ],
        )]);
        let mut deleted = written();
        deleted.get_mut(&0).unwrap().insert(None);
        let problems = check_convergence(&stored, &deleted, &acked());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("NodeId(2)"), "{problems:?}");
    }
}

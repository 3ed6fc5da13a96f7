//! The TTL checker: a strong record written with a TTL is deleted only
//! once a quorum of clocks passed its expiry (DESIGN.md 6.3).
//!
//! Each read records, with its answer, the highest clock reading every
//! node had been handed by the time the read completed. A read that finds
//! the key absent, invoked after the key's put was acknowledged, saw the
//! expiring delete committed; that delete needs every replica it read from
//! (a quorum) to have reported a clock at or past the expiry, and no
//! replica reports more than the highest reading it was handed. So fewer
//! than a quorum of nodes with such a reading means the record was deleted
//! early, or the acknowledged write was lost. Counting every node (not
//! only the key's replicas) keeps the check sound in clusters larger than
//! the replication factor, at the price of missing some violations there.
//!
//! Once a read found the key absent, the expiring delete committed: a read
//! invoked after that one completed must find it absent too (a strong
//! delete stays; a record that comes back was resurrected by a replica that
//! missed the delete).

use std::collections::BTreeMap;

use crate::history::{Micros, Operation, Outcome};

/// A TTL workload's operation on key number `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtlOp {
    /// Write the key with this TTL.
    Put {
        /// The key.
        key: u64,
        /// Its TTL.
        ttl_ms: u64,
    },
    /// Read the key (a strong single-key read).
    Read {
        /// The key.
        key: u64,
    },
}

/// What a TTL operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtlResult {
    /// The put committed; its record expires at this time (its version's
    /// time plus the TTL).
    Written {
        /// The record's `expires_at_ms`.
        expires_at_ms: u64,
    },
    /// The read found the key (`present`), with every node's highest clock
    /// reading when the read completed.
    Read {
        /// Whether the record was there.
        present: bool,
        /// Per node, the highest clock reading it had been handed.
        clock_highs: Vec<u64>,
    },
}

/// One operation of the TTL history.
pub type TtlOperation = Operation<TtlOp, TtlResult>;

/// Reads that found an acknowledged key absent although fewer than
/// `quorum` nodes' clocks had reached its expiry.
pub fn check_ttl(history: &[TtlOperation], quorum: usize) -> Vec<String> {
    let mut written: BTreeMap<u64, (Micros, u64)> = BTreeMap::new();
    for op in history {
        if let (TtlOp::Put { key, .. }, Outcome::Ok(TtlResult::Written { expires_at_ms })) =
            (&op.op, &op.outcome)
        {
            written.insert(*key, (op.complete_us, *expires_at_ms));
        }
    }
    let mut anomalies = Vec::new();
    let mut gone_at: BTreeMap<u64, Micros> = BTreeMap::new();
    for op in history {
        let (
            TtlOp::Read { key },
            Outcome::Ok(TtlResult::Read {
                present,
                clock_highs,
            }),
        ) = (&op.op, &op.outcome)
        else {
            continue;
        };
        let Some(&(acknowledged_us, expires_at_ms)) = written.get(key) else {
            continue;
        };
        if *present || op.invoke_us <= acknowledged_us {
            continue;
        }
        let gone = gone_at.entry(*key).or_insert(op.complete_us);
        *gone = (*gone).min(op.complete_us);
        let passed = clock_highs.iter().filter(|c| **c >= expires_at_ms).count();
        if passed < quorum {
            let behind: Vec<i128> = clock_highs
                .iter()
                .map(|c| i128::from(*c) - i128::from(expires_at_ms))
                .collect();
            anomalies.push(format!(
                "ttl: key k{key} read absent at {} us, but only {passed} node clocks had reached its expiry {expires_at_ms} (quorum {quorum}; clocks minus expiry, ms: {behind:?}): deleted early, or an acknowledged write lost",
                op.complete_us
            ));
        }
    }
    anomalies.extend(resurrections(history, &gone_at));
    anomalies
}

/// Reads that found a key present although an earlier read, completed
/// before they were invoked, had found it gone.
fn resurrections(history: &[TtlOperation], gone_at: &BTreeMap<u64, Micros>) -> Vec<String> {
    let mut anomalies = Vec::new();
    for op in history {
        let (TtlOp::Read { key }, Outcome::Ok(TtlResult::Read { present: true, .. })) =
            (&op.op, &op.outcome)
        else {
            continue;
        };
        if let Some(&gone_us) = gone_at.get(key) {
            if op.invoke_us > gone_us {
                anomalies.push(format!(
                    "ttl: key k{key} read present at {} us (invoked at {} us) after a read completed absent at {gone_us} us: an expired record came back",
                    op.complete_us, op.invoke_us
                ));
            }
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ProcessId;

    fn op(invoke_us: Micros, complete_us: Micros, op: TtlOp, result: TtlResult) -> TtlOperation {
        Operation {
            process: ProcessId(0),
            invoke_us,
            complete_us,
            op,
            outcome: Outcome::Ok(result),
        }
    }

    fn history(clock_highs: Vec<u64>) -> Vec<TtlOperation> {
        vec![
            op(
                0,
                10,
                TtlOp::Put {
                    key: 1,
                    ttl_ms: 100,
                },
                TtlResult::Written {
                    expires_at_ms: 1_000,
                },
            ),
            op(
                20,
                30,
                TtlOp::Read { key: 1 },
                TtlResult::Read {
                    present: false,
                    clock_highs,
                },
            ),
        ]
    }

    #[test]
    fn an_absent_read_needs_a_quorum_of_clocks_past_the_expiry() {
        assert!(check_ttl(&history(vec![1_000, 1_200, 900]), 2).is_empty());
        let anomalies = check_ttl(&history(vec![1_500, 999, 900]), 2);
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert!(anomalies[0].contains("only 1 node clocks"), "{anomalies:?}");
    }

    #[test]
    fn a_record_read_again_after_it_was_read_gone_is_a_resurrection() {
        let read = |invoke_us, complete_us, present| {
            op(
                invoke_us,
                complete_us,
                TtlOp::Read { key: 1 },
                TtlResult::Read {
                    present,
                    clock_highs: vec![2_000, 2_000, 2_000],
                },
            )
        };
        let mut ops = history(vec![2_000, 2_000, 2_000]);
        // Present while the absent read ran (concurrent): not judged.
        ops.push(read(25, 40, true));
        assert!(check_ttl(&ops, 2).is_empty(), "{:?}", check_ttl(&ops, 2));
        // Present after the absent read completed: back from the dead.
        ops.push(read(31, 50, true));
        let anomalies = check_ttl(&ops, 2);
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert!(anomalies[0].contains("came back"), "{anomalies:?}");
    }

    #[test]
    fn reads_present_or_concurrent_with_the_put_are_not_judged() {
        let mut ops = history(vec![0, 0, 0]);
        ops[1].invoke_us = 5;
        assert!(check_ttl(&ops, 2).is_empty(), "concurrent with the put");
        let mut ops = history(vec![0, 0, 0]);
        ops[1].outcome = Outcome::Ok(TtlResult::Read {
            present: true,
            clock_highs: vec![0, 0, 0],
        });
        assert!(check_ttl(&ops, 2).is_empty());
        let mut ops = history(vec![0, 0, 0]);
        ops[0].outcome = Outcome::Info("timeout".into());
        assert!(check_ttl(&ops, 2).is_empty(), "a put of unknown outcome");
    }
}

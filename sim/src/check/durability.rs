//! Durability: once faults have healed, a final read must still see every
//! acknowledged write (for registers: nothing older than the newest
//! acknowledged write).

use std::collections::BTreeMap;
use std::fmt;

use crate::history::{Micro, Outcome, RegisterOp, RegisterOperation, RegisterResult, TxnOperation};

/// An acknowledged write the final read no longer shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostWrite {
    /// The key.
    pub key: u64,
    /// History index of the acknowledged write that was lost.
    pub op: usize,
    /// What the final read saw instead.
    pub detail: String,
}

impl fmt::Display for LostWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acknowledged write #{} to key {} lost: {}",
            self.op, self.key, self.detail
        )
    }
}

/// Every append of a committed transaction must be in the final list of its
/// key.
pub fn check_append_durability(
    history: &[TxnOperation],
    final_lists: &BTreeMap<u64, Vec<u64>>,
) -> Vec<LostWrite> {
    let mut lost = Vec::new();
    for (index, txn) in history.iter().enumerate() {
        if !txn.outcome.is_ok() {
            continue;
        }
        for micro in &txn.op {
            let Micro::Append { key, value } = micro else {
                continue;
            };
            let list = final_lists.get(key).map(Vec::as_slice).unwrap_or(&[]);
            if !list.contains(value) {
                lost.push(LostWrite {
                    key: *key,
                    op: index,
                    detail: format!("value {value} missing from final list {list:?}"),
                });
            }
        }
    }
    lost
}

/// The final value of each register must come from a write that no
/// acknowledged write follows in real time: otherwise the newer acknowledged
/// write was lost. A key that had an acknowledged write must not read absent.
pub fn check_register_durability(
    history: &[RegisterOperation],
    final_values: &BTreeMap<u64, Option<u64>>,
) -> Vec<LostWrite> {
    // (key) -> acknowledged writes (index, invoke time).
    let mut acknowledged: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    // (key, value or None for a delete) -> writes that may have written it
    // (ok or indeterminate).
    let mut writers: BTreeMap<(u64, Option<u64>), Vec<usize>> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        // Some(value written), `Some(None)` for a delete.
        let written = match (&op.op, &op.outcome) {
            (_, Outcome::Fail(_)) => None,
            (RegisterOp::Put { value, .. }, _) => Some(Some(*value)),
            (RegisterOp::Delete { .. }, _) => Some(None),
            (
                RegisterOp::Cas { new, .. },
                Outcome::Ok(RegisterResult::Swapped(true)) | Outcome::Info(_),
            ) => Some(Some(*new)),
            _ => None,
        };
        let Some(value) = written else { continue };
        writers.entry((op.op.key(), value)).or_default().push(index);
        if op.outcome.is_ok() {
            acknowledged.entry(op.op.key()).or_default().push(index);
        }
    }
    let mut lost = Vec::new();
    for (key, acked) in acknowledged {
        let newest = *acked
            .iter()
            .max_by_key(|&&i| history[i].invoke_us)
            .expect("non-empty");
        let Some(value) = final_values.get(&key).copied() else {
            lost.push(LostWrite {
                key,
                op: newest,
                detail: "the key has no final read".to_string(),
            });
            continue;
        };
        let candidates = writers.get(&(key, value)).map(Vec::as_slice).unwrap_or(&[]);
        let superseded = |candidate: usize| {
            acked
                .iter()
                .any(|&a| history[candidate].precedes(&history[a]))
        };
        if candidates.iter().all(|&c| superseded(c)) {
            let newer = acked
                .iter()
                .copied()
                .filter(|&a| candidates.iter().any(|&c| history[c].precedes(&history[a])));
            let op = newer
                .max_by_key(|&a| history[a].invoke_us)
                .unwrap_or(newest);
            let reads = match value {
                Some(value) => format!("reads {value}"),
                None => "reads absent".to_string(),
            };
            lost.push(LostWrite {
                key,
                op,
                detail: format!(
                    "the key {reads}, written (or deleted) before this acknowledged write (or never)"
                ),
            });
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Operation, ProcessId};

    fn put(
        invoke: u64,
        complete: u64,
        value: u64,
        outcome: Outcome<RegisterResult>,
    ) -> RegisterOperation {
        Operation {
            process: ProcessId(0),
            invoke_us: invoke,
            complete_us: complete,
            op: RegisterOp::Put { key: 7, value },
            outcome,
        }
    }

    fn finals(value: Option<u64>) -> BTreeMap<u64, Option<u64>> {
        BTreeMap::from([(7, value)])
    }

    #[test]
    fn an_acknowledged_delete_must_read_absent_and_a_resurrection_is_lost() {
        let delete = Operation {
            process: ProcessId(0),
            invoke_us: 2,
            complete_us: 3,
            op: RegisterOp::Delete { key: 7 },
            outcome: Outcome::Ok(RegisterResult::Written),
        };
        let h = vec![put(0, 1, 1, Outcome::Ok(RegisterResult::Written)), delete];
        assert!(check_register_durability(&h, &finals(None)).is_empty());
        let lost = check_register_durability(&h, &finals(Some(1)));
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(lost[0].op, 1);
    }

    #[test]
    fn newest_register_write_survives() {
        let h = vec![
            put(0, 1, 1, Outcome::Ok(RegisterResult::Written)),
            put(2, 3, 2, Outcome::Ok(RegisterResult::Written)),
        ];
        assert!(check_register_durability(&h, &finals(Some(2))).is_empty());
    }

    #[test]
    fn rolled_back_register_is_a_lost_write() {
        let h = vec![
            put(0, 1, 1, Outcome::Ok(RegisterResult::Written)),
            put(2, 3, 2, Outcome::Ok(RegisterResult::Written)),
        ];
        let lost = check_register_durability(&h, &finals(Some(1)));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].op, 1);
        assert_eq!(check_register_durability(&h, &finals(None)).len(), 1);
    }

    #[test]
    fn indeterminate_or_concurrent_writes_may_win() {
        let h = vec![
            put(0, 10, 1, Outcome::Ok(RegisterResult::Written)),
            put(5, 8, 2, Outcome::Ok(RegisterResult::Written)),
            put(20, 21, 3, Outcome::Info("timeout".into())),
        ];
        assert!(check_register_durability(&h, &finals(Some(1))).is_empty());
        assert!(check_register_durability(&h, &finals(Some(2))).is_empty());
        assert!(check_register_durability(&h, &finals(Some(3))).is_empty());
    }

    #[test]
    fn missing_append_is_a_lost_write() {
        let txn = |value| Operation {
            process: ProcessId(0),
            invoke_us: 0,
            complete_us: 1,
            op: vec![Micro::Append { key: 3, value }],
            outcome: Outcome::Ok(vec![Micro::Append { key: 3, value }]),
        };
        let h = vec![txn(1), txn(2)];
        let finals = BTreeMap::from([(3, vec![1])]);
        let lost = check_append_durability(&h, &finals);
        assert_eq!(
            lost,
            vec![LostWrite {
                key: 3,
                op: 1,
                detail: "value 2 missing from final list [1]".into()
            }]
        );
        assert!(check_append_durability(&h, &BTreeMap::from([(3, vec![2, 1])])).is_empty());
    }
}

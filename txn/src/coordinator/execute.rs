//! Step 2 of a transaction (DESIGN.md 6.1): evaluate the operations over
//! the values read under lock. Pure: no I/O, so it is tested on its own.

use crate::types::KeyExt;
use std::collections::BTreeMap;

use crate::error::ClientError;
use crate::request::{decode_int, encode_int, Condition, Op, OpResult, RangeAssert};
use crate::types::{Ver, Versioned};

/// The outcome of evaluating a transaction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Executed {
    /// One result per operation.
    pub(crate) results: Vec<OpResult>,
    /// Final value per written storage key (`None`: delete).
    pub(crate) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// The records read under each range lock, by the index of the operation
/// that asserts the range: storage key -> latest version and whether it is
/// live (tombstones included).
pub(crate) type RangeReads = BTreeMap<usize, BTreeMap<Vec<u8>, (Ver, bool)>>;

/// Evaluates `ops` in order over `reads` (storage key -> latest record)
/// and `ranges`.
/// Writes of earlier operations are visible to later ones, reported with
/// `commit_version`. A failed `Assert` (or an `Incr` of a non-integer)
/// returns the error the client gets; nothing is written then.
pub(crate) fn execute(
    ops: &[Op],
    reads: &BTreeMap<Vec<u8>, Option<Versioned>>,
    ranges: &RangeReads,
    commit_version: Ver,
) -> Result<Executed, ClientError> {
    let mut overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut results = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        if let Op::AssertRange(range) = op {
            let read = ranges.get(&index).cloned().unwrap_or_default();
            check_range(range, &read, &overlay, commit_version)?;
            results.push(OpResult::Checked);
            continue;
        }
        let skey = op.key().storage_key();
        let current: Option<Versioned> = match overlay.get(&skey) {
            Some(value) => Some(Versioned {
                version: commit_version,
                value: value.clone(),
            }),
            None => reads.get(&skey).cloned().flatten(),
        };
        // Tombstones read as absent.
        let live = current.clone().filter(|v| v.value.is_some());
        match op {
            Op::Get(_) => results.push(OpResult::Value(live)),
            Op::Put(_, value) => {
                overlay.insert(skey, Some(value.clone()));
                results.push(OpResult::Written);
            }
            Op::Delete(_) => {
                overlay.insert(skey, None);
                results.push(OpResult::Written);
            }
            Op::Incr(key, by) => {
                let old = int_of(live.as_ref()).ok_or_else(|| ClientError::BadRequest {
                    reason: format!("incr of {key}: the value is not an 8-byte integer"),
                })?;
                let new = old
                    .checked_add(*by)
                    .ok_or_else(|| ClientError::BadRequest {
                        reason: format!("incr of {key} by {by} overflows {old}"),
                    })?;
                overlay.insert(skey, Some(encode_int(new)));
                results.push(OpResult::Int(new));
            }
            Op::Assert(key, condition) => {
                if !holds(condition, live.as_ref()) {
                    return Err(ClientError::ConditionFailed {
                        key: key.clone(),
                        condition: condition.clone(),
                        found: live,
                    });
                }
                results.push(OpResult::Checked);
            }
            Op::AssertRange(_) => unreachable!("checked above"),
        }
    }
    Ok(Executed {
        results,
        writes: overlay,
    })
}

/// Checks that the live records of `range` (what the range locks read,
/// under the transaction's own earlier writes) are exactly the expected
/// ones, with the expected versions. The first difference, in key order,
/// is reported as [`ClientError::RangeChanged`].
fn check_range(
    range: &RangeAssert,
    read: &BTreeMap<Vec<u8>, (Ver, bool)>,
    overlay: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    commit_version: Ver,
) -> Result<(), ClientError> {
    let start = range.start.storage_key();
    let end = range.end_key().storage_key();
    let mut live: BTreeMap<Vec<u8>, Ver> = read
        .iter()
        .filter(|(_, (_, is_live))| *is_live)
        .map(|(k, (version, _))| (k.clone(), *version))
        .collect();
    for (key, value) in overlay.range(start..end) {
        match value {
            Some(_) => live.insert(key.clone(), commit_version),
            None => live.remove(key),
        };
    }
    let expected: BTreeMap<Vec<u8>, Ver> = range
        .expect
        .iter()
        .map(|(id, version)| (range.key_of(id).storage_key(), *version))
        .collect();
    let keys: std::collections::BTreeSet<&Vec<u8>> = live.keys().chain(expected.keys()).collect();
    for key in keys {
        let found = live.get(key).copied();
        let want = expected.get(key).copied().unwrap_or(Ver::ZERO);
        if found.unwrap_or(Ver::ZERO) != want {
            let record = zerodb_ring::RecordKey::decode(key).ok();
            let id = record.map(|r| r.id).unwrap_or_default();
            return Err(ClientError::RangeChanged {
                key: range.key_of(&id),
                expected: want,
                found,
            });
        }
    }
    Ok(())
}

/// The integer of a live value; absent counts as 0; `None` if not an int.
fn int_of(live: Option<&Versioned>) -> Option<i64> {
    match live.and_then(|v| v.value.as_deref()) {
        None => Some(0),
        Some(bytes) => decode_int(bytes),
    }
}

fn holds(condition: &Condition, live: Option<&Versioned>) -> bool {
    match condition {
        Condition::Exists => live.is_some(),
        Condition::NotExists => live.is_none(),
        Condition::ValueEquals(want) => live.and_then(|v| v.value.as_ref()) == Some(want),
        Condition::VersionEquals(want) => live.map_or(Ver::ZERO, |v| v.version) == *want,
        Condition::IntCompare { op, value } => {
            int_of(live).is_some_and(|stored| op.holds(stored, *value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::CompareOp;
    use crate::types::Key;

    fn k(id: &str) -> Key {
        Key::new("ns", "db", "t", id)
    }

    fn ver(n: u64) -> Ver {
        Ver {
            physical_ms: n,
            logical: 0,
            node: 1,
        }
    }

    fn reads(entries: &[(&str, i64)]) -> BTreeMap<Vec<u8>, Option<Versioned>> {
        entries
            .iter()
            .map(|(id, n)| {
                (
                    k(id).storage_key(),
                    Some(Versioned {
                        version: ver(1),
                        value: Some(encode_int(*n)),
                    }),
                )
            })
            .collect()
    }

    #[test]
    fn a_transfer_moves_money_when_the_balance_suffices() {
        let ops = vec![
            Op::Assert(
                k("a"),
                Condition::IntCompare {
                    op: CompareOp::Ge,
                    value: 30,
                },
            ),
            Op::Incr(k("a"), -30),
            Op::Incr(k("b"), 30),
        ];
        let out = execute(
            &ops,
            &reads(&[("a", 50), ("b", 5)]),
            &RangeReads::new(),
            ver(9),
        )
        .unwrap();
        assert_eq!(out.results[1], OpResult::Int(20));
        assert_eq!(out.results[2], OpResult::Int(35));
        assert_eq!(
            out.writes.get(&k("a").storage_key()),
            Some(&Some(encode_int(20)))
        );
    }

    #[test]
    fn a_failed_assert_names_the_condition_and_what_was_found() {
        let ops = vec![Op::Assert(
            k("a"),
            Condition::IntCompare {
                op: CompareOp::Ge,
                value: 100,
            },
        )];
        let err = execute(&ops, &reads(&[("a", 50)]), &RangeReads::new(), ver(9)).unwrap_err();
        match err {
            ClientError::ConditionFailed { key, found, .. } => {
                assert_eq!(key, k("a"));
                assert_eq!(found.unwrap().value, Some(encode_int(50)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn later_operations_see_earlier_writes_and_deletes() {
        let ops = vec![
            Op::Put(k("x"), b"v".to_vec()),
            Op::Get(k("x")),
            Op::Delete(k("x")),
            Op::Assert(k("x"), Condition::NotExists),
            Op::Get(k("x")),
        ];
        let out = execute(&ops, &BTreeMap::new(), &RangeReads::new(), ver(3)).unwrap();
        assert_eq!(
            out.results[1],
            OpResult::Value(Some(Versioned {
                version: ver(3),
                value: Some(b"v".to_vec())
            }))
        );
        assert_eq!(out.results[4], OpResult::Value(None));
        assert_eq!(out.writes.get(&k("x").storage_key()), Some(&None));
    }

    #[test]
    fn version_and_existence_conditions() {
        let r = reads(&[("a", 1)]);
        assert!(execute(
            &[Op::Assert(k("a"), Condition::VersionEquals(ver(1)))],
            &r,
            &RangeReads::new(),
            ver(5)
        )
        .is_ok());
        assert!(execute(
            &[Op::Assert(k("b"), Condition::VersionEquals(Ver::ZERO))],
            &r,
            &RangeReads::new(),
            ver(5)
        )
        .is_ok());
        assert!(execute(
            &[Op::Assert(k("a"), Condition::NotExists)],
            &r,
            &RangeReads::new(),
            ver(5)
        )
        .is_err());
        assert!(execute(
            &[Op::Assert(k("a"), Condition::ValueEquals(encode_int(1)))],
            &r,
            &RangeReads::new(),
            ver(5)
        )
        .is_ok());
    }

    #[test]
    fn incr_of_text_is_a_bad_request() {
        let mut r = BTreeMap::new();
        r.insert(
            k("a").storage_key(),
            Some(Versioned {
                version: ver(1),
                value: Some(b"hello".to_vec()),
            }),
        );
        assert!(matches!(
            execute(&[Op::Incr(k("a"), 1)], &r, &RangeReads::new(), ver(2)),
            Err(ClientError::BadRequest { .. })
        ));
    }
}

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
    /// Final write per written storage key.
    pub(crate) writes: BTreeMap<Vec<u8>, Staged>,
}

/// The final write of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Staged {
    /// New value (`None`: delete).
    pub(crate) value: Option<Vec<u8>>,
    /// Expiry of a value written with a TTL: the commit version's physical
    /// time plus the TTL.
    pub(crate) expires_at_ms: Option<u64>,
}

/// Per storage key read, the lowest clock (ms) among the replicas whose
/// grants the reads came from: an `Assert(_, Expired)` holds only once
/// every one of them had passed the record's expiry.
pub(crate) type ReadClocks = BTreeMap<Vec<u8>, u64>;

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
    clocks: &ReadClocks,
    ranges: &RangeReads,
    commit_version: Ver,
) -> Result<Executed, ClientError> {
    let mut overlay: BTreeMap<Vec<u8>, Staged> = BTreeMap::new();
    let stage = |value: Option<Vec<u8>>| Staged {
        value,
        expires_at_ms: None,
    };
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
            Some(staged) => Some(Versioned {
                version: commit_version,
                value: staged.value.clone(),
                expires_at_ms: staged.expires_at_ms,
            }),
            None => reads.get(&skey).cloned().flatten(),
        };
        // Tombstones read as absent.
        let live = current.clone().filter(|v| v.value.is_some());
        match op {
            Op::Get(_) => results.push(OpResult::Value(live)),
            Op::Put(_, value) => {
                overlay.insert(skey, stage(Some(value.clone())));
                results.push(OpResult::Written);
            }
            Op::PutTtl(_, value, ttl_ms) => {
                let staged = Staged {
                    value: Some(value.clone()),
                    expires_at_ms: Some(commit_version.physical_ms.saturating_add(*ttl_ms)),
                };
                overlay.insert(skey, staged);
                results.push(OpResult::Written);
            }
            Op::Delete(_) => {
                overlay.insert(skey, stage(None));
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
                overlay.insert(skey, stage(Some(encode_int(new))));
                results.push(OpResult::Int(new));
            }
            Op::Assert(key, condition) => {
                let clock = clocks.get(&skey).copied().unwrap_or(0);
                if !holds(condition, live.as_ref(), clock) {
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
    overlay: &BTreeMap<Vec<u8>, Staged>,
    commit_version: Ver,
) -> Result<(), ClientError> {
    let start = range.start.storage_key();
    let end = range.end_key().storage_key();
    let mut live: BTreeMap<Vec<u8>, Ver> = read
        .iter()
        .filter(|(_, (_, is_live))| *is_live)
        .map(|(k, (version, _))| (k.clone(), *version))
        .collect();
    for (key, staged) in overlay.range(start..end) {
        match staged.value {
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

/// Whether `condition` holds for `live`; `clock` is the lowest clock of
/// the replicas the read came from (see [`ReadClocks`]).
fn holds(condition: &Condition, live: Option<&Versioned>, clock: u64) -> bool {
    match condition {
        Condition::Expired => live.is_some_and(|v| v.expired_at(clock)),
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

    /// `execute` with no read clocks and no range reads.
    fn run(
        ops: &[Op],
        reads: &BTreeMap<Vec<u8>, Option<Versioned>>,
        at: Ver,
    ) -> Result<Executed, ClientError> {
        execute(ops, reads, &ReadClocks::new(), &RangeReads::new(), at)
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
                        expires_at_ms: None,
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
        let out = run(&ops, &reads(&[("a", 50), ("b", 5)]), ver(9)).unwrap();
        assert_eq!(out.results[1], OpResult::Int(20));
        assert_eq!(out.results[2], OpResult::Int(35));
        assert_eq!(
            out.writes.get(&k("a").storage_key()),
            Some(&Staged {
                value: Some(encode_int(20)),
                expires_at_ms: None
            })
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
        let err = run(&ops, &reads(&[("a", 50)]), ver(9)).unwrap_err();
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
        let out = run(&ops, &BTreeMap::new(), ver(3)).unwrap();
        assert_eq!(
            out.results[1],
            OpResult::Value(Some(Versioned {
                version: ver(3),
                value: Some(b"v".to_vec()),
                expires_at_ms: None,
            }))
        );
        assert_eq!(out.results[4], OpResult::Value(None));
        assert_eq!(out.writes[&k("x").storage_key()].value, None);
    }

    #[test]
    fn version_and_existence_conditions() {
        let r = reads(&[("a", 1)]);
        assert!(run(
            &[Op::Assert(k("a"), Condition::VersionEquals(ver(1)))],
            &r,
            ver(5)
        )
        .is_ok());
        assert!(run(
            &[Op::Assert(k("b"), Condition::VersionEquals(Ver::ZERO))],
            &r,
            ver(5)
        )
        .is_ok());
        assert!(run(&[Op::Assert(k("a"), Condition::NotExists)], &r, ver(5)).is_err());
        assert!(run(
            &[Op::Assert(k("a"), Condition::ValueEquals(encode_int(1)))],
            &r,
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
                expires_at_ms: None,
            }),
        );
        assert!(matches!(
            run(&[Op::Incr(k("a"), 1)], &r, ver(2)),
            Err(ClientError::BadRequest { .. })
        ));
    }

    /// TTLs: the expiry a write carries and the `Expired` condition.
    mod ttl {
        use super::*;

        fn expiring(expires_at_ms: u64) -> BTreeMap<Vec<u8>, Option<Versioned>> {
            let record = Versioned {
                version: ver(100),
                value: Some(b"v".to_vec()),
                expires_at_ms: Some(expires_at_ms),
            };
            BTreeMap::from([(k("a").storage_key(), Some(record))])
        }

        fn expired(reads: &BTreeMap<Vec<u8>, Option<Versioned>>, clock: u64) -> bool {
            let clocks = ReadClocks::from([(k("a").storage_key(), clock)]);
            let ops = [Op::Assert(k("a"), Condition::Expired), Op::Delete(k("a"))];
            execute(&ops, reads, &clocks, &RangeReads::new(), ver(5_000)).is_ok()
        }

        #[test]
        fn a_ttl_write_expires_at_its_commit_time_plus_the_ttl() {
            let ops = [Op::PutTtl(k("a"), b"v".to_vec(), 1_500), Op::Get(k("a"))];
            let out = run(&ops, &BTreeMap::new(), ver(7_000)).unwrap();
            assert_eq!(out.writes[&k("a").storage_key()].expires_at_ms, Some(8_500));
            let OpResult::Value(Some(read)) = &out.results[1] else {
                panic!("the transaction reads its own write: {:?}", out.results[1]);
            };
            assert_eq!(read.expires_at_ms, Some(8_500));
        }

        #[test]
        fn expired_holds_only_once_the_lowest_read_clock_passed_the_expiry() {
            let reads = expiring(1_000);
            assert!(!expired(&reads, 999), "one ms early: the record stays");
            assert!(expired(&reads, 1_000));
            assert!(expired(&reads, 4_000));
            let never = BTreeMap::from([(
                k("a").storage_key(),
                Some(Versioned::new(ver(100), Some(b"v".to_vec()))),
            )]);
            assert!(!expired(&never, u64::MAX), "no TTL: never expired");
            assert!(
                !expired(&BTreeMap::new(), u64::MAX),
                "absent: nothing to expire"
            );
            assert!(
                !expired(&reads, 0) && !expired(&reads, 500),
                "no clock reported (0) or an early one: not expired"
            );
        }
    }
}

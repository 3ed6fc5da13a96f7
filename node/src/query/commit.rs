//! The transaction that commits a statement: its asserts and writes.

use std::collections::BTreeMap;

use zerodb_query::exec;
use zerodb_query::keys::{KeyRange, StoreKey};
use zerodb_txn::{Condition, Key, Op, RangeAssert, Ver, RANGE_ASSERT_RECORDS_MAX, TXN_OPS_MAX};

use super::store_key_to_key;

/// The operations that commit `commit`: an [`Op::AssertRange`] per range
/// scanned (the live records it held, with their versions; the range is
/// share-locked until the commit, so nothing can be inserted into it
/// meanwhile), an assert per key read outside every range, then the
/// writes.
/// Refused (with the message for the caller) when the transaction would
/// have more operations than the transaction layer takes.
pub fn commit_ops(commit: &exec::Commit<Ver>) -> Result<Vec<Op>, String> {
    let ranges: Vec<&KeyRange> = commit.ranges.iter().filter(|r| !r.is_empty()).collect();
    let inside = |key: &StoreKey| ranges.iter().any(|r| range_contains(r, key));
    let lone_reads: Vec<&(StoreKey, Option<Ver>)> = commit
        .reads
        .iter()
        .filter(|(key, _)| !inside(key))
        .collect();
    let count = ranges.len() + lone_reads.len() + commit.writes.len();
    if count > TXN_OPS_MAX {
        return Err(format!(
            "the statement reads {} keys in {} ranges and writes {} keys: one transaction takes at most {TXN_OPS_MAX} operations (split it, or add a LIMIT)",
            commit.reads.len(),
            commit.ranges.len(),
            commit.writes.len()
        ));
    }
    let mut ops = Vec::with_capacity(count);
    for range in ranges {
        let expect: Vec<(Vec<u8>, Ver)> = commit
            .reads
            .iter()
            .filter(|(key, _)| range_contains(range, key))
            .filter_map(|(key, version)| version.map(|v| (key.id.clone(), v)))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        if expect.len() > RANGE_ASSERT_RECORDS_MAX {
            return Err(format!(
                "the statement reads {} records of {} in one range: at most {RANGE_ASSERT_RECORDS_MAX} (add a LIMIT or a narrower WHERE)",
                expect.len(),
                range.table
            ));
        }
        ops.push(Op::AssertRange(RangeAssert {
            start: Key::new(
                &range.namespace,
                &range.database,
                &range.table,
                range.start.clone(),
            ),
            end_id: range.end.clone(),
            expect,
        }));
    }
    for (key, version) in lone_reads {
        let version = version.unwrap_or(Ver::ZERO);
        ops.push(Op::Assert(
            store_key_to_key(key),
            Condition::VersionEquals(version),
        ));
    }
    for (key, value) in &commit.writes {
        let key = store_key_to_key(key);
        ops.push(match value {
            Some(value) => Op::Put(key, value.clone()),
            None => Op::Delete(key),
        });
    }
    Ok(ops)
}

/// Whether `key` lies in `range` (same table, `start <= id < end`).
fn range_contains(range: &KeyRange, key: &StoreKey) -> bool {
    key.namespace == range.namespace
        && key.database == range.database
        && key.table == range.table
        && range.start <= key.id
        && key.id < range.end
}

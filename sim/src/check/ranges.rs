//! The range checker: strict serializability of inserts that count their
//! group and of range reads (see [`crate::workload::ranges`]).
//!
//! Which inserts committed is decided by the final state: after healing,
//! each group is read whole under a range lock, and a record present means
//! its insert committed; an insert with an unknown outcome that is absent
//! never did. Then, per group, the committed inserts ordered by their
//! counts are the only possible serial order, and everything else must fit
//! it:
//!
//! - counts exactly `0..n`, each once: two inserts with one count each saw
//!   the same records and neither saw the other (a phantom); a missing
//!   count is a hole;
//! - the insert counted `c` saw exactly the committed inserts counted
//!   below `c`;
//! - every acknowledged insert is in the final state, no definitely failed
//!   one is, and every record there was inserted with the value it holds;
//! - real time: an insert acknowledged before another was invoked has the
//!   smaller count;
//! - a committed range read saw exactly the committed inserts counted below
//!   `k` for some `k`, at least every insert acknowledged before it was
//!   invoked, none invoked after it was acknowledged, and no fewer than a
//!   range read acknowledged before it was invoked.
//!
//! A group with no final state cannot be decided: it is reported
//! inconclusive, which fails a run like an anomaly.

use std::collections::{BTreeMap, BTreeSet};

use super::CheckError;
use crate::history::{Micros, Outcome};
use crate::workload::ranges::{RangeOp, RangeOperation};

/// What the range checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeReport {
    /// Broken invariants, one line each, naming the group and the ops.
    pub anomalies: Vec<String>,
    /// Groups that could not be decided.
    pub inconclusive: Vec<String>,
}

/// An insert of the history.
struct Insert<'a> {
    op: &'a RangeOperation,
    id: &'a str,
    seen: &'a [String],
}

impl Insert<'_> {
    fn count(&self) -> usize {
        self.seen.len()
    }
}

impl std::fmt::Display for Insert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "insert {} counted {} ({})",
            self.id,
            self.count(),
            span(self.op)
        )
    }
}

/// Who ran an operation, when, and how it ended.
fn span(op: &RangeOperation) -> String {
    let end = match &op.outcome {
        Outcome::Ok(()) => format!("acknowledged at {}", ms(op.complete_us)),
        Outcome::Fail(why) => format!("failed at {}: {why}", ms(op.complete_us)),
        Outcome::Info(why) => format!("outcome unknown at {}: {why}", ms(op.complete_us)),
    };
    format!("{}, invoked at {}, {end}", op.process, ms(op.invoke_us))
}

fn ms(us: Micros) -> String {
    format!("{}.{:03} ms", us / 1_000, us % 1_000)
}

fn list<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.into_iter().collect();
    format!("[{}]", ids.join(", "))
}

/// Checks `history` over `groups` groups against `final_state` (group ->
/// id -> value, for each group whose final read committed).
pub fn check_ranges(
    history: &[RangeOperation],
    final_state: &BTreeMap<u32, BTreeMap<String, i64>>,
    groups: u32,
) -> Result<RangeReport, CheckError> {
    let mut inserts: BTreeMap<u32, Vec<Insert<'_>>> = BTreeMap::new();
    let mut reads: BTreeMap<u32, Vec<&RangeOperation>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for (index, op) in history.iter().enumerate() {
        match &op.op {
            RangeOp::Insert { group, id, seen } => {
                if !ids.insert(id.as_str()) {
                    return Err(CheckError::Malformed {
                        index,
                        reason: format!("id {id} inserted twice"),
                    });
                }
                inserts.entry(*group).or_default().push(Insert {
                    op,
                    id: id.as_str(),
                    seen,
                });
            }
            RangeOp::Read { group, .. } => reads.entry(*group).or_default().push(op),
            RangeOp::Put { .. } => {}
        }
    }
    let mut report = RangeReport::default();
    for group in 0..groups {
        let Some(state) = final_state.get(&group) else {
            report.inconclusive.push(format!(
                "group {group}: no final read committed, so which inserts of unknown outcome committed cannot be decided"
            ));
            continue;
        };
        let group_inserts = inserts.remove(&group).unwrap_or_default();
        let group_reads = reads.remove(&group).unwrap_or_default();
        let mut found = Vec::new();
        check_group(&group_inserts, &group_reads, state, &mut found);
        report
            .anomalies
            .extend(found.into_iter().map(|a| format!("group {group}: {a}")));
    }
    Ok(report)
}

/// The checks of one group; anomalies are pushed onto `found`.
fn check_group(
    inserts: &[Insert<'_>],
    reads: &[&RangeOperation],
    state: &BTreeMap<String, i64>,
    found: &mut Vec<String>,
) {
    let by_id: BTreeMap<&str, &Insert<'_>> = inserts.iter().map(|i| (i.id, i)).collect();
    for (id, value) in state {
        match by_id.get(id.as_str()) {
            None => found.push(format!(
                "the final state holds record {id} = {value}, which no client inserted"
            )),
            Some(insert) if matches!(insert.op.outcome, Outcome::Fail(_)) => found.push(format!(
                "{insert} definitely failed, yet its record is in the final state"
            )),
            Some(insert) if *value != insert.count() as i64 => found.push(format!(
                "record {id} holds {value}, but {insert} wrote {}",
                insert.count()
            )),
            Some(_) => {}
        }
    }
    for insert in inserts {
        if insert.op.outcome.is_ok() && !state.contains_key(insert.id) {
            found.push(format!(
                "{insert} is missing from the final state (a lost acknowledged insert)"
            ));
        }
    }
    let committed: Vec<&Insert<'_>> = inserts
        .iter()
        .filter(|i| state.contains_key(i.id) && !matches!(i.op.outcome, Outcome::Fail(_)))
        .collect();
    check_counts(&committed, found);
    check_seen(&committed, found);
    check_insert_order(&committed, found);
    for read in reads {
        check_read(read, inserts, &committed, found);
    }
    check_read_order(reads, found);
}

/// Counts exactly `0..n`, each once.
fn check_counts(committed: &[&Insert<'_>], found: &mut Vec<String>) {
    let mut by_count: BTreeMap<usize, Vec<&Insert<'_>>> = BTreeMap::new();
    for insert in committed {
        by_count.entry(insert.count()).or_default().push(insert);
    }
    for (count, same) in &by_count {
        if same.len() > 1 {
            let names: Vec<String> = same.iter().map(|i| i.to_string()).collect();
            found.push(format!(
                "phantom: {} committed inserts counted {count}, each saw {} and not the others: {}",
                same.len(),
                list(same[0].seen.iter().map(String::as_str)),
                names.join("; ")
            ));
        }
    }
    let missing: Vec<usize> = (0..committed.len())
        .filter(|c| !by_count.contains_key(c))
        .collect();
    if !missing.is_empty() {
        found.push(format!(
            "hole: {} inserts committed but none counted {missing:?} (expected each of 0..{} once)",
            committed.len(),
            committed.len()
        ));
    }
}

/// The ids of the committed inserts counted below `count`.
fn below<'a>(committed: &[&Insert<'a>], count: usize) -> BTreeSet<&'a str> {
    committed
        .iter()
        .filter(|i| i.count() < count)
        .map(|i| i.id)
        .collect()
}

/// The difference between what an operation saw and what it should have.
fn difference(seen: &BTreeSet<&str>, expected: &BTreeSet<&str>) -> String {
    format!(
        "saw {} that it should not have and missed {}",
        list(seen.difference(expected).copied()),
        list(expected.difference(seen).copied())
    )
}

/// The insert counted `c` saw exactly the committed inserts counted below
/// `c`.
fn check_seen(committed: &[&Insert<'_>], found: &mut Vec<String>) {
    for insert in committed {
        let seen: BTreeSet<&str> = insert.seen.iter().map(String::as_str).collect();
        let expected = below(committed, insert.count());
        if seen != expected {
            found.push(format!(
                "{insert} {}: the serial order by count puts exactly {} before it",
                difference(&seen, &expected),
                list(expected.iter().copied())
            ));
        }
    }
}

/// An insert acknowledged before another was invoked has the smaller
/// count.
fn check_insert_order(committed: &[&Insert<'_>], found: &mut Vec<String>) {
    for first in committed {
        for then in committed {
            if first.op.precedes(then.op) && first.count() >= then.count() {
                found.push(format!(
                    "real-time order: {first} was acknowledged before {then} was invoked, so its count must be smaller"
                ));
            }
        }
    }
}

/// A committed read saw a prefix of the serial order that includes every
/// insert acknowledged before it and none invoked after it.
fn check_read(
    read: &RangeOperation,
    inserts: &[Insert<'_>],
    committed: &[&Insert<'_>],
    found: &mut Vec<String>,
) {
    let RangeOp::Read { seen, .. } = &read.op else {
        return;
    };
    if !read.outcome.is_ok() {
        return;
    }
    let seen_set: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    let expected = below(committed, seen.len());
    let name = format!("range read of {} records ({})", seen.len(), span(read));
    if seen_set != expected {
        found.push(format!(
            "{name} {}: the committed inserts counted below {} are {}",
            difference(&seen_set, &expected),
            seen.len(),
            list(expected.iter().copied())
        ));
    }
    for insert in committed {
        if insert.op.precedes(read) && !seen_set.contains(insert.id) {
            found.push(format!(
                "real-time order: {name} missed {insert}, acknowledged before the read was invoked"
            ));
        }
    }
    for insert in inserts {
        if read.precedes(insert.op) && seen_set.contains(insert.id) {
            found.push(format!(
                "real-time order: {name} saw {insert}, invoked after the read was acknowledged"
            ));
        }
    }
}

/// A read acknowledged before another was invoked saw no more records.
fn check_read_order(reads: &[&RangeOperation], found: &mut Vec<String>) {
    let size = |op: &RangeOperation| match &op.op {
        RangeOp::Read { seen, .. } => seen.len(),
        _ => 0,
    };
    let committed: Vec<&&RangeOperation> = reads.iter().filter(|r| r.outcome.is_ok()).collect();
    for first in &committed {
        for then in &committed {
            if first.precedes(then) && size(first) > size(then) {
                found.push(format!(
                    "real-time order: range read of {} records ({}) was acknowledged before the range read of {} records ({}) was invoked",
                    size(first),
                    span(first),
                    size(then),
                    span(then)
                ));
            }
        }
    }
}

#[cfg(test)]
#[path = "ranges_tests.rs"]
mod tests;

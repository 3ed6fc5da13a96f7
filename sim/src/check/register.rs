//! Linearizability of single-key registers (get / put / cas).
//!
//! Wing and Gong's search with Lowe's memoisation, as in Porcupine: walk the
//! history's call and return events in time order, try to linearize any
//! pending call before the first unmatched return, and backtrack when a
//! return is reached whose call could not be linearized. A cache of
//! (set of linearized operations, register state) prunes configurations
//! already explored. Registers compose (P-compositionality), so every key is
//! searched on its own.
//!
//! Indeterminate (`Info`) operations have no return event: they may be
//! linearized at any point after their call, or never. A search succeeds once
//! every operation with a known outcome is linearized. `Fail` operations and
//! indeterminate reads have no effect and are dropped.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::CheckError;
use crate::history::{Outcome, RegisterOp, RegisterOperation, RegisterResult};

/// Default budget: search steps per key before giving up with `Unknown`.
pub const SEARCH_STEPS_PER_KEY_MAX: u64 = 200_000_000;

/// Why a key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterViolation {
    /// The key.
    pub key: u64,
    /// Number of operations on the key.
    pub operations: usize,
    /// The most operations any explored order managed to linearize.
    pub longest_prefix: usize,
    /// History index of an operation that could not be linearized after that
    /// longest prefix (the first return reached with its call pending).
    pub blocked_op: usize,
    /// The register value at that point.
    pub state_at_block: Option<u64>,
}

impl fmt::Display for RegisterViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {} not linearizable: {} of {} operations linearized, then op #{} \
             cannot take effect with the register holding {:?}",
            self.key, self.longest_prefix, self.operations, self.blocked_op, self.state_at_block
        )
    }
}

/// The checker's verdict over a whole register history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterReport {
    /// Keys checked.
    pub keys: usize,
    /// Keys whose history is not linearizable.
    pub violations: Vec<RegisterViolation>,
    /// Keys whose search exceeded the step budget (neither proven nor refuted).
    pub unknown: Vec<u64>,
}

impl RegisterReport {
    /// True when every key was proven linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.violations.is_empty() && self.unknown.is_empty()
    }
}

/// Checks every key of `history`, with the default step budget.
pub fn check_registers(history: &[RegisterOperation]) -> Result<RegisterReport, CheckError> {
    check_registers_with_budget(history, SEARCH_STEPS_PER_KEY_MAX)
}

/// Checks every key of `history`; a key whose search takes more than
/// `steps_max` steps is reported as unknown.
pub fn check_registers_with_budget(
    history: &[RegisterOperation],
    steps_max: u64,
) -> Result<RegisterReport, CheckError> {
    let mut by_key: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        validate(index, op)?;
        by_key.entry(op.op.key()).or_default().push(index);
    }
    let mut report = RegisterReport {
        keys: by_key.len(),
        ..RegisterReport::default()
    };
    for (key, indices) in by_key {
        match check_key(history, key, &indices, steps_max) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Violation(violation) => report.violations.push(violation),
            KeyVerdict::Unknown => report.unknown.push(key),
        }
    }
    Ok(report)
}

fn validate(index: usize, op: &RegisterOperation) -> Result<(), CheckError> {
    let consistent = matches!(
        (&op.op, &op.outcome),
        (_, Outcome::Fail(_) | Outcome::Info(_))
            | (
                RegisterOp::Get { .. },
                Outcome::Ok(RegisterResult::Value(_))
            )
            | (
                RegisterOp::Put { .. } | RegisterOp::Delete { .. },
                Outcome::Ok(RegisterResult::Written)
            )
            | (
                RegisterOp::Cas { .. },
                Outcome::Ok(RegisterResult::Swapped(_))
            )
    );
    if !consistent {
        return Err(CheckError::Malformed {
            index,
            reason: format!("result {:?} does not answer {:?}", op.outcome, op.op),
        });
    }
    if op.complete_us < op.invoke_us && !op.outcome.is_info() {
        return Err(CheckError::Malformed {
            index,
            reason: format!(
                "completes at {} before its invocation at {}",
                op.complete_us, op.invoke_us
            ),
        });
    }
    Ok(())
}

enum KeyVerdict {
    Linearizable,
    Violation(RegisterViolation),
    Unknown,
}

/// What linearizing one operation requires and does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Requires the state to equal the value; no change.
    ReadEquals(Option<u64>),
    /// Requires the state to differ from the value; no change.
    ReadDiffers(Option<u64>),
    /// Sets the state (`None` deletes).
    Write(Option<u64>),
    /// Requires the state to equal `expected`, then sets `new`.
    Swap(Option<u64>, u64),
}

impl Effect {
    fn step(self, state: Option<u64>) -> Option<Option<u64>> {
        match self {
            Effect::ReadEquals(value) => (state == value).then_some(state),
            Effect::ReadDiffers(value) => (state != value).then_some(state),
            Effect::Write(value) => Some(value),
            Effect::Swap(expected, new) => (state == expected).then_some(Some(new)),
        }
    }
}

/// The effect of an operation, or `None` when it cannot matter.
fn effect(op: &RegisterOperation) -> Option<Effect> {
    match (&op.op, &op.outcome) {
        (_, Outcome::Fail(_)) => None,
        (RegisterOp::Get { .. }, Outcome::Info(_)) => None,
        (RegisterOp::Get { .. }, Outcome::Ok(RegisterResult::Value(value))) => {
            Some(Effect::ReadEquals(*value))
        }
        (RegisterOp::Put { value, .. }, _) => Some(Effect::Write(Some(*value))),
        (RegisterOp::Delete { .. }, _) => Some(Effect::Write(None)),
        (RegisterOp::Cas { expected, .. }, Outcome::Ok(RegisterResult::Swapped(false))) => {
            Some(Effect::ReadDiffers(*expected))
        }
        (RegisterOp::Cas { expected, new, .. }, _) => Some(Effect::Swap(*expected, *new)),
        (RegisterOp::Get { .. }, Outcome::Ok(_)) => None,
    }
}

/// A state no operation tells apart from another: what a written value
/// becomes when no read returns it and no cas expects it.
const UNSEEN: u64 = u64::MAX - 1;

/// Maps every written value that no operation observes (no read returns
/// it, no cas expects it) to [`UNSEEN`]: no precondition can tell those
/// values apart, and one state instead of many lets the search's cache
/// merge orders that differ only in which unobserved write came last.
/// Unchanged when some operation does observe [`UNSEEN`] itself.
fn canonical(ops: Vec<(usize, Effect)>) -> Vec<(usize, Effect)> {
    let observed: HashSet<Option<u64>> = ops
        .iter()
        .filter_map(|(_, effect)| match *effect {
            Effect::ReadEquals(v) | Effect::ReadDiffers(v) | Effect::Swap(v, _) => Some(v),
            Effect::Write(_) => None,
        })
        .collect();
    if observed.contains(&Some(UNSEEN)) {
        return ops;
    }
    let map = |value: u64| {
        if observed.contains(&Some(value)) {
            value
        } else {
            UNSEEN
        }
    };
    ops.into_iter()
        .map(|(index, effect)| {
            let effect = match effect {
                Effect::Write(Some(v)) => Effect::Write(Some(map(v))),
                Effect::Swap(expected, new) => Effect::Swap(expected, map(new)),
                other => other,
            };
            (index, effect)
        })
        .collect()
}

/// The class of each operation: operations with the same effect share
/// one. Of two operations of one class that could both take effect next,
/// the one that returns first (an indeterminate one never returns) is as
/// good as the other: in any linearization that places the other first,
/// the two can swap places without breaking real time or changing a
/// state. So the search tries only that one ([`Search::preferred`]).
fn effect_classes(ops: &[(usize, Effect)]) -> Vec<usize> {
    let mut classes: Vec<Effect> = Vec::new();
    ops.iter()
        .map(|&(_, effect)| {
            classes
                .iter()
                .position(|c| *c == effect)
                .unwrap_or_else(|| {
                    classes.push(effect);
                    classes.len() - 1
                })
        })
        .collect()
}

/// An entry of the doubly linked event list; index 0 is the head sentinel.
#[derive(Clone, Copy)]
struct Entry {
    /// Local operation number.
    op: usize,
    /// Call or return.
    is_call: bool,
    /// For a call, the entry of its return (if it has one).
    matching_return: Option<usize>,
    prev: usize,
    next: Option<usize>,
}

struct Search {
    entries: Vec<Entry>,
}

impl Search {
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Some(ret) = self.entries[call].matching_return {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: usize) {
        if let Some(ret) = self.entries[call].matching_return {
            self.relink(ret);
        }
        self.relink(call);
    }

    /// Whether the call `local` is the one of its class to try next: no
    /// other call of the class among those that could take effect now
    /// (the calls before the first pending return) returns earlier.
    fn preferred(&self, local: usize, class: &[usize], deadline: &[(u64, usize)]) -> bool {
        let mut cursor = self.entries[0].next;
        while let Some(id) = cursor {
            let entry = self.entries[id];
            if !entry.is_call {
                break;
            }
            if class[entry.op] == class[local] && deadline[entry.op] < deadline[local] {
                return false;
            }
            cursor = entry.next;
        }
        true
    }

    fn unlink(&mut self, entry: usize) {
        let Entry { prev, next, .. } = self.entries[entry];
        self.entries[prev].next = next;
        if let Some(next) = next {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, entry: usize) {
        let Entry { prev, next, .. } = self.entries[entry];
        self.entries[prev].next = Some(entry);
        if let Some(next) = next {
            self.entries[next].prev = entry;
        }
    }
}

fn check_key(
    history: &[RegisterOperation],
    key: u64,
    indices: &[usize],
    steps_max: u64,
) -> KeyVerdict {
    // Local operations: those that can matter.
    let ops: Vec<(usize, Effect)> = indices
        .iter()
        .filter_map(|&index| effect(&history[index]).map(|e| (index, e)))
        .collect();
    let ops = canonical(ops);
    let class = effect_classes(&ops);
    // When each operation must have taken effect (never, if indeterminate),
    // with its number to break ties.
    let deadline: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .map(|(local, &(index, _))| {
            let op = &history[index];
            let at = if op.outcome.is_info() {
                u64::MAX
            } else {
                op.complete_us
            };
            (at, local)
        })
        .collect();
    // Events sorted by time; at equal times calls come first, so that
    // operations that touch in time count as concurrent.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (local, &(index, _)) in ops.iter().enumerate() {
        let op = &history[index];
        events.push((op.invoke_us, 0, local));
        if !op.outcome.is_info() {
            events.push((op.complete_us, 1, local));
        }
    }
    events.sort_unstable();
    let mut entries = vec![Entry {
        op: usize::MAX,
        is_call: false,
        matching_return: None,
        prev: 0,
        next: None,
    }];
    let mut call_entry = vec![0usize; ops.len()];
    for (position, &(_, kind, local)) in events.iter().enumerate() {
        let id = position + 1;
        entries[id - 1].next = Some(id);
        entries.push(Entry {
            op: local,
            is_call: kind == 0,
            matching_return: None,
            prev: id - 1,
            next: None,
        });
        if kind == 0 {
            call_entry[local] = id;
        } else {
            entries[call_entry[local]].matching_return = Some(id);
        }
    }
    let mut returns_left = events.iter().filter(|e| e.1 == 1).count();
    let mut search = Search { entries };
    let words = ops.len().div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let mut state: Option<u64> = None;
    let mut cursor = search.entries[0].next;
    let mut steps = 0u64;
    let mut deepest = (0usize, 0usize, None::<u64>);
    while returns_left > 0 {
        steps += 1;
        if steps > steps_max {
            return KeyVerdict::Unknown;
        }
        let Some(entry_id) = cursor else {
            // Only indeterminate calls remain before the end; nothing left to
            // match, which `returns_left > 0` rules out.
            unreachable!("a pending return always follows its call");
        };
        let entry = search.entries[entry_id];
        if entry.is_call {
            let local = entry.op;
            if !search.preferred(local, &class, &deadline) {
                cursor = entry.next;
                continue;
            }
            if let Some(next_state) = ops[local].1.step(state) {
                linearized[local / 64] |= 1 << (local % 64);
                if cache.insert((linearized.clone(), next_state)) {
                    stack.push((entry_id, state));
                    state = next_state;
                    search.lift(entry_id);
                    if entry.matching_return.is_some() {
                        returns_left -= 1;
                    }
                    cursor = search.entries[0].next;
                    continue;
                }
                linearized[local / 64] &= !(1 << (local % 64));
            }
            cursor = entry.next;
        } else {
            // A return whose call is still pending: this order fails here.
            if stack.len() >= deepest.0 {
                deepest = (stack.len(), ops[entry.op].0, state);
            }
            let Some((call_id, previous_state)) = stack.pop() else {
                let (longest_prefix, blocked_op, state_at_block) = deepest;
                return KeyVerdict::Violation(RegisterViolation {
                    key,
                    operations: indices.len(),
                    longest_prefix,
                    blocked_op,
                    state_at_block,
                });
            };
            let local = search.entries[call_id].op;
            linearized[local / 64] &= !(1 << (local % 64));
            state = previous_state;
            search.unlift(call_id);
            if search.entries[call_id].matching_return.is_some() {
                returns_left += 1;
            }
            cursor = search.entries[call_id].next;
        }
    }
    KeyVerdict::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Operation, ProcessId};

    fn op(
        process: u32,
        invoke: u64,
        complete: u64,
        op: RegisterOp,
        outcome: Outcome<RegisterResult>,
    ) -> RegisterOperation {
        Operation {
            process: ProcessId(process),
            invoke_us: invoke,
            complete_us: complete,
            op,
            outcome,
        }
    }
    fn put(p: u32, i: u64, c: u64, value: u64) -> RegisterOperation {
        op(
            p,
            i,
            c,
            RegisterOp::Put { key: 1, value },
            Outcome::Ok(RegisterResult::Written),
        )
    }
    fn get(p: u32, i: u64, c: u64, value: Option<u64>) -> RegisterOperation {
        op(
            p,
            i,
            c,
            RegisterOp::Get { key: 1 },
            Outcome::Ok(RegisterResult::Value(value)),
        )
    }
    fn cas(
        p: u32,
        i: u64,
        c: u64,
        expected: Option<u64>,
        new: u64,
        swapped: bool,
    ) -> RegisterOperation {
        op(
            p,
            i,
            c,
            RegisterOp::Cas {
                key: 1,
                expected,
                new,
            },
            Outcome::Ok(RegisterResult::Swapped(swapped)),
        )
    }
    fn info_put(p: u32, i: u64, value: u64) -> RegisterOperation {
        op(
            p,
            i,
            i + 1,
            RegisterOp::Put { key: 1, value },
            Outcome::Info("timeout".into()),
        )
    }

    fn delete(p: u32, i: u64, c: u64) -> RegisterOperation {
        op(
            p,
            i,
            c,
            RegisterOp::Delete { key: 1 },
            Outcome::Ok(RegisterResult::Written),
        )
    }

    #[test]
    fn a_delete_empties_the_register_and_a_read_of_the_old_value_after_it_is_caught() {
        let ok = vec![
            put(0, 0, 1, 5),
            delete(0, 2, 3),
            get(1, 4, 5, None),
            cas(1, 6, 7, None, 6, true),
        ];
        assert!(check_registers(&ok).unwrap().is_linearizable());
        let resurrected = vec![put(0, 0, 1, 5), delete(0, 2, 3), get(1, 4, 5, Some(5))];
        assert!(!check_registers(&resurrected).unwrap().is_linearizable());
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            get(0, 0, 1, None),
            put(0, 2, 3, 5),
            get(1, 4, 5, Some(5)),
            cas(1, 6, 7, Some(5), 6, true),
        ];
        assert!(check_registers(&h).unwrap().is_linearizable());
    }

    #[test]
    fn stale_read_after_completed_write_is_caught() {
        let h = vec![put(0, 0, 10, 1), put(0, 20, 30, 2), get(1, 40, 50, Some(1))];
        let report = check_registers(&h).unwrap();
        assert_eq!(report.violations.len(), 1, "{report:?}");
        assert_eq!(report.violations[0].key, 1);
    }

    #[test]
    fn concurrent_reads_may_see_either_value() {
        // Reads overlapping a write may see old or new, but not new then old
        // by real-time order.
        let ok = vec![
            put(0, 0, 100, 1),
            get(1, 10, 20, Some(1)),
            get(2, 30, 40, None),
        ];
        // get(None) at 30..40 after get(Some(1)) completed at 20: the write
        // had taken effect by 20, so None later is stale.
        assert!(!check_registers(&ok).unwrap().is_linearizable());
        let fine = vec![
            put(0, 0, 100, 1),
            get(1, 10, 20, None),
            get(2, 30, 40, Some(1)),
        ];
        assert!(check_registers(&fine).unwrap().is_linearizable());
    }

    #[test]
    fn indeterminate_write_may_take_effect_late_or_never() {
        // The timed-out put of 2 shows up long after it was invoked.
        let late = vec![
            put(0, 0, 1, 1),
            info_put(1, 2, 2),
            get(0, 100, 101, Some(1)),
            get(0, 200, 201, Some(2)),
        ];
        assert!(check_registers(&late).unwrap().is_linearizable());
        let never = vec![
            put(0, 0, 1, 1),
            info_put(1, 2, 2),
            get(0, 100, 101, Some(1)),
        ];
        assert!(check_registers(&never).unwrap().is_linearizable());
        // But once it is seen, the older value cannot come back.
        let flip = vec![
            put(0, 0, 1, 1),
            info_put(1, 2, 2),
            get(0, 100, 101, Some(2)),
            get(0, 200, 201, Some(1)),
        ];
        assert!(!check_registers(&flip).unwrap().is_linearizable());
    }

    #[test]
    fn failed_operations_have_no_effect() {
        let failed = op(
            1,
            2,
            3,
            RegisterOp::Put { key: 1, value: 9 },
            Outcome::Fail("conflict".into()),
        );
        let h = vec![put(0, 0, 1, 1), failed, get(0, 10, 11, Some(9))];
        assert!(!check_registers(&h).unwrap().is_linearizable());
    }

    #[test]
    fn lost_update_through_cas_is_caught() {
        // Two increments from 0 both claim to have swapped 0 -> 1 and 0 -> 2:
        // only one of them can have found 0.
        let h = vec![
            put(0, 0, 1, 0),
            cas(1, 10, 20, Some(0), 1, true),
            cas(2, 10, 20, Some(0), 2, true),
        ];
        assert!(!check_registers(&h).unwrap().is_linearizable());
        // A failed cas must not have seen the expected value.
        let h = vec![put(0, 0, 1, 0), cas(1, 10, 20, Some(0), 1, false)];
        assert!(!check_registers(&h).unwrap().is_linearizable());
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut h = vec![put(0, 0, 10, 1), get(1, 20, 30, Some(1))];
        h.push(op(
            2,
            0,
            10,
            RegisterOp::Put { key: 2, value: 7 },
            Outcome::Ok(RegisterResult::Written),
        ));
        h.push(op(
            2,
            20,
            30,
            RegisterOp::Get { key: 2 },
            Outcome::Ok(RegisterResult::Value(None)),
        ));
        let report = check_registers(&h).unwrap();
        assert_eq!(report.keys, 2);
        assert_eq!(
            report.violations.iter().map(|v| v.key).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[test]
    fn malformed_result_is_an_error_not_a_panic() {
        let h = vec![op(
            0,
            0,
            1,
            RegisterOp::Get { key: 1 },
            Outcome::Ok(RegisterResult::Written),
        )];
        assert!(matches!(
            check_registers(&h),
            Err(CheckError::Malformed { index: 0, .. })
        ));
    }

    #[test]
    fn unobserved_writes_are_searched_as_one_class() {
        // 30 concurrent writes nobody reads, then a read of one more
        // write: without the reduction the search tries every subset of
        // the 30; with it, one order per class.
        let mut h: Vec<_> = (0..30).map(|v| put(v as u32, 0, 1000 + v, v)).collect();
        h.extend((0..30).map(|v| info_put(40 + v as u32, 5, 100 + v)));
        h.push(put(98, 2000, 2100, 500));
        h.push(get(99, 2200, 2300, Some(500)));
        let report = check_registers_with_budget(&h, 20_000).unwrap();
        assert!(report.is_linearizable(), "{report:?}");
        // The same shape with a read no order explains is still refuted.
        h.push(get(99, 2400, 2500, Some(7)));
        let report = check_registers_with_budget(&h, 20_000).unwrap();
        assert_eq!(report.violations.len(), 1, "{report:?}");
    }

    #[test]
    fn an_observed_write_is_not_merged_with_unobserved_ones() {
        // Writes 1 and 2 are concurrent; a read sees 1 after both
        // returned, so 1 must be last. Merging 1 with 2 would hide the
        // second read's impossible 2.
        let h = vec![
            put(0, 0, 10, 1),
            put(1, 0, 10, 2),
            get(2, 20, 30, Some(1)),
            get(3, 40, 50, Some(2)),
        ];
        assert!(!check_registers(&h).unwrap().is_linearizable());
    }

    #[test]
    fn search_budget_reports_unknown() {
        // Many concurrent writes and a read that matches none: the search
        // must explore many orders before refuting it.
        let mut h: Vec<_> = (0..40).map(|v| put(v as u32, 0, 1000, v)).collect();
        h.push(get(99, 0, 1000, Some(1000)));
        let report = check_registers_with_budget(&h, 50).unwrap();
        assert_eq!(report.unknown, vec![1]);
    }

    #[test]
    fn many_concurrent_writes_check_quickly() {
        // 12 processes, 600 operations, overlapping windows: memoisation keeps
        // this fast.
        let mut h = Vec::new();
        for round in 0..50u64 {
            let base = round * 100;
            // The writes overlap, so any of them may be linearized last.
            let last = Some(round * 100 + 6);
            for p in 0..12u32 {
                let value = round * 100 + u64::from(p);
                if p % 3 == 0 {
                    h.push(put(p, base + u64::from(p), base + 50 + u64::from(p), value));
                } else {
                    h.push(get(p, base + 70 + u64::from(p), base + 99, last));
                }
            }
        }
        let report = check_registers(&h).unwrap();
        assert!(report.is_linearizable(), "{report:?}");
    }
}

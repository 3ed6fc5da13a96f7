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
#[path = "register_tests.rs"]
mod tests;

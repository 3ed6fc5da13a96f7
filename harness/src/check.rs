//! The verdict of a run: the simulator's checkers over the recorded
//! histories, plus the harness's own failures (a node that exited by
//! itself, a final read that never answered).
//!
//! A register key whose linearizability search runs out of budget is an
//! anomaly, not a pass: an inconclusive check proves nothing.

use std::collections::BTreeMap;
use std::fmt;

use zerodb_sim::check::bank::check_bank;
use zerodb_sim::check::durability::check_register_durability;
use zerodb_sim::check::register::check_registers_with_budget;
use zerodb_sim::history::{BankOperation, Outcome, RegisterOperation};

/// Search steps per register key before the search gives up (fewer for
/// a key with a long history: see [`steps_for`]).
pub const REGISTER_STEPS_PER_KEY_MAX: u64 = 20_000_000;

/// Memory the search of one key may use for its cache, in bytes. Each
/// step can cache one bit set over the key's operations, so a long run's
/// key (tens of thousands of operations) gets fewer steps instead of
/// exhausting the machine; out of budget is still reported, never passed.
const REGISTER_CACHE_BYTES_MAX: u64 = 4 << 30;

/// The step budget of a key with `operations` operations, within both
/// `steps_max` and [`REGISTER_CACHE_BYTES_MAX`].
pub fn steps_for(operations: usize, steps_max: u64) -> u64 {
    // A cached entry: the bit set's words, its Vec and the state, plus the
    // hash set's own overhead.
    let entry_bytes = (operations as u64).div_ceil(64) * 8 + 64;
    steps_max.min(REGISTER_CACHE_BYTES_MAX / entry_bytes).max(1)
}

/// Operation counts by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Took effect.
    pub ok: u64,
    /// Certainly did not take effect.
    pub failed: u64,
    /// May or may not have taken effect.
    pub indeterminate: u64,
}

impl OutcomeCounts {
    /// Counts the outcomes of `history`.
    pub fn add<O, R>(&mut self, history: &[zerodb_sim::history::Operation<O, R>]) {
        for op in history {
            match op.outcome {
                Outcome::Ok(_) => self.ok += 1,
                Outcome::Fail(_) => self.failed += 1,
                Outcome::Info(_) => self.indeterminate += 1,
            }
        }
    }

    /// All operations.
    pub fn total(&self) -> u64 {
        self.ok + self.failed + self.indeterminate
    }
}

impl fmt::Display for OutcomeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} ok, {} failed, {} indeterminate)",
            self.total(),
            self.ok,
            self.failed,
            self.indeterminate
        )
    }
}

/// What the checkers found.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// One line per anomaly or inconclusive check.
    pub anomalies: Vec<String>,
}

/// Checks the register history: linearizability of every key (within
/// `steps_max` search steps per key) and, when `final_values` is given,
/// that the newest acknowledged write of every key survived.
pub fn check_register_history(
    history: &[RegisterOperation],
    final_values: Option<&BTreeMap<u64, Option<u64>>>,
    keys: u64,
    steps_max: u64,
) -> Verdict {
    let mut verdict = Verdict::default();
    // Keys are independent (registers compose), so each is searched on its
    // own with a budget sized to its history; the checker's indices are
    // mapped back to the whole history's.
    let mut by_key: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        by_key.entry(op.op.key()).or_default().push(index);
    }
    for (key, indices) in by_key {
        let sub: Vec<RegisterOperation> = indices.iter().map(|&i| history[i].clone()).collect();
        let budget = steps_for(sub.len(), steps_max);
        match check_registers_with_budget(&sub, budget) {
            Ok(report) => {
                for mut violation in report.violations {
                    violation.blocked_op = indices[violation.blocked_op];
                    verdict.anomalies.push(format!("register: {violation}"));
                }
                if !report.unknown.is_empty() {
                    verdict.anomalies.push(format!(
                        "register: key {key}: linearizability search of {} operations ran out \
                         of its budget of {budget} steps; inconclusive counts as a failure",
                        sub.len()
                    ));
                }
            }
            Err(error) => verdict
                .anomalies
                .push(format!("register: key {key}: {error}")),
        }
    }
    if let Some(final_values) = final_values {
        for key in 0..keys {
            if !final_values.contains_key(&key) {
                verdict.anomalies.push(format!(
                    "register: the final read of key {key} never answered after healing"
                ));
            }
        }
        for lost in check_register_durability(history, final_values) {
            verdict.anomalies.push(format!("register: {lost}"));
        }
    }
    verdict
}

/// Checks the bank history: every committed read sums to the total with
/// no negative balance.
pub fn check_bank_history(history: &[BankOperation], accounts: u64, total: i64) -> Verdict {
    let mut verdict = Verdict::default();
    let ids: Vec<u64> = (0..accounts).collect();
    match check_bank(history, &ids, total) {
        Ok(violations) => {
            for violation in violations {
                verdict.anomalies.push(format!("bank: {violation}"));
            }
        }
        Err(error) => verdict.anomalies.push(format!("bank: {error}")),
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodb_sim::history::{
        BankOp, BankResult, Operation, ProcessId, RegisterOp, RegisterResult,
    };

    fn reg(
        process: u32,
        invoke_us: u64,
        complete_us: u64,
        op: RegisterOp,
        outcome: Outcome<RegisterResult>,
    ) -> RegisterOperation {
        Operation {
            process: ProcessId(process),
            invoke_us,
            complete_us,
            op,
            outcome,
        }
    }

    fn good_register_history() -> Vec<RegisterOperation> {
        vec![
            reg(
                0,
                0,
                10,
                RegisterOp::Put { key: 0, value: 1 },
                Outcome::Ok(RegisterResult::Written),
            ),
            reg(
                1,
                20,
                30,
                RegisterOp::Get { key: 0 },
                Outcome::Ok(RegisterResult::Value(Some(1))),
            ),
            reg(
                0,
                40,
                50,
                RegisterOp::Cas {
                    key: 0,
                    expected: Some(1),
                    new: 2,
                },
                Outcome::Ok(RegisterResult::Swapped(true)),
            ),
        ]
    }

    #[test]
    fn a_linearizable_history_with_its_final_read_passes() {
        let history = good_register_history();
        let finals = BTreeMap::from([(0, Some(2))]);
        let verdict =
            check_register_history(&history, Some(&finals), 1, REGISTER_STEPS_PER_KEY_MAX);
        assert!(verdict.anomalies.is_empty(), "{:?}", verdict.anomalies);
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_caught() {
        let mut history = good_register_history();
        // Corrupt the read: it returns the value from before the put that
        // completed before it started.
        history[1].outcome = Outcome::Ok(RegisterResult::Value(None));
        let verdict = check_register_history(&history, None, 1, REGISTER_STEPS_PER_KEY_MAX);
        assert_eq!(verdict.anomalies.len(), 1, "{:?}", verdict.anomalies);
        assert!(verdict.anomalies[0].contains("not linearizable"));
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught_by_the_final_read() {
        let history = good_register_history();
        let finals = BTreeMap::from([(0, Some(1))]);
        let verdict =
            check_register_history(&history, Some(&finals), 1, REGISTER_STEPS_PER_KEY_MAX);
        assert!(!verdict.anomalies.is_empty());
    }

    #[test]
    fn a_key_never_read_after_healing_is_an_anomaly() {
        let history = good_register_history();
        let verdict = check_register_history(
            &history,
            Some(&BTreeMap::new()),
            1,
            REGISTER_STEPS_PER_KEY_MAX,
        );
        assert!(verdict
            .anomalies
            .iter()
            .any(|a| a.contains("never answered")));
    }

    #[test]
    fn a_search_out_of_budget_is_a_failure_not_a_pass() {
        // Many concurrent indeterminate writes make the search branch; a
        // budget of one step cannot conclude.
        let mut history: Vec<RegisterOperation> = (0..6)
            .map(|i| {
                reg(
                    i,
                    0,
                    0,
                    RegisterOp::Put {
                        key: 0,
                        value: u64::from(i) + 1,
                    },
                    Outcome::Info("timeout".into()),
                )
            })
            .collect();
        history.push(reg(
            9,
            100,
            110,
            RegisterOp::Get { key: 0 },
            Outcome::Ok(RegisterResult::Value(Some(3))),
        ));
        let verdict = check_register_history(&history, None, 1, 1);
        assert!(
            verdict.anomalies.iter().any(|a| a.contains("inconclusive")),
            "{:?}",
            verdict.anomalies
        );
    }

    #[test]
    fn a_bank_read_that_lost_money_is_caught() {
        let read = |balances: &[(u64, i64)]| Operation {
            process: ProcessId(0),
            invoke_us: 0,
            complete_us: 1,
            op: BankOp::ReadAll,
            outcome: Outcome::Ok(BankResult::Balances(balances.iter().copied().collect())),
        };
        let good = vec![read(&[(0, 100), (1, 100)])];
        assert!(check_bank_history(&good, 2, 200).anomalies.is_empty());
        let bad = vec![read(&[(0, 93), (1, 100)])];
        let verdict = check_bank_history(&bad, 2, 200);
        assert_eq!(verdict.anomalies.len(), 1);
        assert!(verdict.anomalies[0].contains("sums to 193"));
    }

    #[test]
    fn long_histories_get_fewer_steps_within_the_memory_bound() {
        assert_eq!(steps_for(100, 1000), 1000);
        let long = steps_for(1_000_000, REGISTER_STEPS_PER_KEY_MAX);
        assert!(long < REGISTER_STEPS_PER_KEY_MAX);
        assert!(long * (1_000_000u64.div_ceil(64) * 8) <= REGISTER_CACHE_BYTES_MAX);
    }

    #[test]
    fn a_violation_names_the_operation_by_its_index_in_the_whole_history() {
        let mut history = vec![reg(
            5,
            0,
            1,
            RegisterOp::Put { key: 7, value: 9 },
            Outcome::Ok(RegisterResult::Written),
        )];
        history.extend(good_register_history());
        history[2].outcome = Outcome::Ok(RegisterResult::Value(None));
        let verdict = check_register_history(&history, None, 8, REGISTER_STEPS_PER_KEY_MAX);
        assert_eq!(verdict.anomalies.len(), 1, "{:?}", verdict.anomalies);
        assert!(
            verdict.anomalies[0].contains("op #2 "),
            "{:?}",
            verdict.anomalies
        );
    }

    #[test]
    fn outcomes_are_counted_by_kind() {
        let mut history = good_register_history();
        history[0].outcome = Outcome::Fail("conflict".into());
        history[1].outcome = Outcome::Info("timeout".into());
        let mut counts = OutcomeCounts::default();
        counts.add(&history);
        assert_eq!(counts.to_string(), "3 (1 ok, 1 failed, 1 indeterminate)");
    }
}

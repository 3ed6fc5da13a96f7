//! Register and bank workloads through the client library, recorded as the
//! simulator's histories (`zerodb_sim::history`) so that its checkers judge
//! them unchanged.
//!
//! Each worker is one history process with one client of its own (so the
//! workers spread over coordinators) and one outstanding operation. Times
//! are true microseconds since the run started, read from the harness's
//! monotonic clock; node clock offsets never reach the history.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use zerodb_client::{
    Client, CompareOp, Condition, Error, Key, Op, OpResult, QueryErrorKind, Versioned,
};
use zerodb_sim::check::ttl::TtlOperation;
use zerodb_sim::history::{
    BankOp, BankOperation, BankResult, Operation, Outcome, ProcessId, RegisterOp,
    RegisterOperation, RegisterResult,
};
use zerodb_sim::workload::ranges::RangeOperation;

/// The namespace every workload writes to (strong by the node's default
/// policy) and its database.
pub(crate) const NAMESPACE: &str = "default";
pub(crate) const DATABASE: &str = "harness";

/// Initial balance of every bank account.
pub const INITIAL_BALANCE: i64 = 100;

/// Largest amount one transfer moves.
const TRANSFER_MAX: i64 = 30;

/// Pause between a worker's operations, so a small machine keeps up and
/// the register search stays within its budget.
const THINK_MS: u64 = 20;

/// Tries of a final read after healing before it counts as a failure.
pub const FINAL_READ_TRIES_MAX: u32 = 60;

/// When the run stops handing out operations: a deadline and a budget.
#[derive(Clone)]
pub struct Limits {
    /// No operation is invoked after this instant.
    pub deadline: Instant,
    /// Operations left over all workers; none is invoked at zero.
    pub budget: Arc<AtomicU64>,
}

impl Limits {
    /// Takes one operation from the budget, if the run is not over.
    pub(crate) fn take(&self) -> bool {
        Instant::now() < self.deadline
            && self
                .budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// The shared recording of one run.
pub struct Recorder {
    start: Instant,
    /// Register operations, in completion order.
    pub registers: Mutex<Vec<RegisterOperation>>,
    /// Bank operations, in completion order.
    pub bank: Mutex<Vec<BankOperation>>,
    /// Range operations, in completion order.
    pub ranges: Mutex<Vec<RangeOperation>>,
    /// TTL operations, in completion order.
    pub ttl: Mutex<Vec<TtlOperation>>,
    pub(crate) next_value: AtomicU64,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            registers: Mutex::new(Vec::new()),
            bank: Mutex::new(Vec::new()),
            ranges: Mutex::new(Vec::new()),
            ttl: Mutex::new(Vec::new()),
            next_value: AtomicU64::new(1),
        })
    }

    pub(crate) fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// The history outcome of a client error: definite failures had no
/// effect; a timeout whose outcome is unknown, or an answer the client
/// could not interpret, may have taken effect.
pub fn error_outcome<R>(error: &Error) -> Outcome<R> {
    match error {
        Error::Timeout {
            outcome_unknown: true,
            ..
        }
        | Error::Internal(_)
        | Error::Config(_)
        | Error::Query {
            kind: QueryErrorKind::OutcomeUnknown | QueryErrorKind::Internal,
            ..
        } => Outcome::Info(error.to_string()),
        Error::Query { .. } => Outcome::Fail(error.to_string()),
        Error::Timeout { .. }
        | Error::Conflict { .. }
        | Error::ConditionFailed { .. }
        | Error::RangeChanged(_)
        | Error::Unavailable(_)
        | Error::BadRequest(_) => Outcome::Fail(error.to_string()),
    }
}

fn register_key(key: u64) -> Key {
    Key::new(NAMESPACE, DATABASE, "reg", format!("k{key}"))
}

fn account_key(account: u64) -> Key {
    Key::new(NAMESPACE, DATABASE, "bank", format!("a{account}"))
}

pub(crate) fn encode(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// An integer value; anything else becomes a value no client wrote, so
/// the checkers flag it.
pub(crate) fn decode(found: Option<Versioned>) -> Option<i64> {
    let bytes = found?.value?;
    Some(
        <[u8; 8]>::try_from(bytes.as_slice())
            .map(i64::from_be_bytes)
            .unwrap_or(i64::MIN),
    )
}

/// Runs one register operation and returns its outcome.
pub async fn register_call(client: &Client, op: &RegisterOp) -> Outcome<RegisterResult> {
    let key = register_key(op.key());
    match op {
        RegisterOp::Get { .. } => match client.get(&key).await {
            Ok(found) => Outcome::Ok(RegisterResult::Value(decode(found).map(|v| v as u64))),
            Err(error) => error_outcome(&error),
        },
        RegisterOp::Put { value, .. } => match client.put(&key, encode(*value as i64)).await {
            Ok(_) => Outcome::Ok(RegisterResult::Written),
            Err(error) => error_outcome(&error),
        },
        RegisterOp::Delete { .. } => match client.delete(&key).await {
            Ok(_) => Outcome::Ok(RegisterResult::Written),
            Err(error) => error_outcome(&error),
        },
        RegisterOp::Cas { expected, new, .. } => {
            let condition = match expected {
                None => Condition::NotExists,
                Some(value) => Condition::ValueEquals(encode(*value as i64)),
            };
            let ops = vec![
                Op::Assert(key.clone(), condition),
                Op::Put(key, encode(*new as i64)),
            ];
            match client.transaction(ops).await {
                Ok(_) => Outcome::Ok(RegisterResult::Swapped(true)),
                Err(Error::ConditionFailed { .. }) => Outcome::Ok(RegisterResult::Swapped(false)),
                Err(error) => error_outcome(&error),
            }
        }
    }
}

/// One register worker: gets, puts, deletes and cas on `keys` keys until the
/// limits say stop.
pub async fn register_worker(
    client: Client,
    process: ProcessId,
    keys: u64,
    seed: u64,
    limits: Limits,
    recorder: Arc<Recorder>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut last_seen: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    while limits.take() {
        let key = rng.random_range(0..keys);
        let roll = rng.random_range(0..10);
        let op = if roll < 4 {
            RegisterOp::Get { key }
        } else if roll == 7 {
            RegisterOp::Delete { key }
        } else {
            let value = recorder.next_value.fetch_add(1, Ordering::SeqCst);
            if roll < 7 {
                RegisterOp::Put { key, value }
            } else {
                RegisterOp::Cas {
                    key,
                    expected: last_seen.get(&key).copied().flatten(),
                    new: value,
                }
            }
        };
        let invoke_us = recorder.now_us();
        let outcome = register_call(&client, &op).await;
        let complete_us = recorder.now_us();
        match (&op, &outcome) {
            (RegisterOp::Get { key }, Outcome::Ok(RegisterResult::Value(value))) => {
                last_seen.insert(*key, *value);
            }
            (RegisterOp::Delete { key }, Outcome::Ok(_)) => {
                last_seen.insert(*key, None);
            }
            (RegisterOp::Put { key, value }, Outcome::Ok(_))
            | (
                RegisterOp::Cas {
                    key, new: value, ..
                },
                Outcome::Ok(RegisterResult::Swapped(true)),
            ) => {
                last_seen.insert(*key, Some(*value));
            }
            _ => {}
        }
        record(
            &recorder.registers,
            process,
            invoke_us,
            complete_us,
            op,
            outcome,
        );
        tokio::time::sleep(Duration::from_millis(THINK_MS)).await;
    }
    client.close().await;
}

/// Reads every register after healing, retrying each until it answers;
/// the reads join the history and their values are returned (a key that
/// never answered is missing from the map and reported by the caller).
pub async fn final_register_reads(
    client: &Client,
    process: ProcessId,
    keys: u64,
    recorder: &Recorder,
) -> BTreeMap<u64, Option<u64>> {
    let mut values = BTreeMap::new();
    for key in 0..keys {
        for _ in 0..FINAL_READ_TRIES_MAX {
            let op = RegisterOp::Get { key };
            let invoke_us = recorder.now_us();
            let outcome = register_call(client, &op).await;
            let complete_us = recorder.now_us();
            let value = match &outcome {
                Outcome::Ok(RegisterResult::Value(value)) => Some(*value),
                _ => None,
            };
            record(
                &recorder.registers,
                process,
                invoke_us,
                complete_us,
                op,
                outcome,
            );
            if let Some(value) = value {
                values.insert(key, value);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    values
}

/// Writes every account's initial balance, retrying until it commits
/// (before any transfer runs, so a retry after an unknown outcome only
/// writes the same balances again). Returns false if it never did.
pub async fn fund_bank(client: &Client, accounts: u64, deadline: Instant) -> bool {
    let ops: Vec<Op> = (0..accounts)
        .map(|a| Op::Put(account_key(a), encode(INITIAL_BALANCE)))
        .collect();
    while Instant::now() < deadline {
        if client.transaction(ops.clone()).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// Runs one bank operation and returns its outcome.
pub async fn bank_call(client: &Client, op: &BankOp, accounts: u64) -> Outcome<BankResult> {
    match op {
        BankOp::Transfer { from, to, amount } => {
            let ops = vec![
                Op::Assert(
                    account_key(*from),
                    Condition::IntCompare {
                        op: CompareOp::Ge,
                        value: *amount,
                    },
                ),
                Op::Incr(account_key(*from), -amount),
                Op::Incr(account_key(*to), *amount),
            ];
            match client.transaction(ops).await {
                Ok(_) => Outcome::Ok(BankResult::Transferred),
                Err(error) => error_outcome(&error),
            }
        }
        BankOp::ReadAll => {
            let ops = (0..accounts).map(|a| Op::Get(account_key(a))).collect();
            match client.transaction(ops).await {
                Ok((_, results)) => {
                    let mut balances = BTreeMap::new();
                    for (account, result) in results.into_iter().enumerate() {
                        // An absent account reads 0 (as `Incr` counts it);
                        // an answer of the wrong kind is a value no
                        // client wrote, so the checker flags it.
                        let balance = match result {
                            OpResult::Value(found) => decode(found).unwrap_or(0),
                            _ => i64::MIN,
                        };
                        balances.insert(account as u64, balance);
                    }
                    Outcome::Ok(BankResult::Balances(balances))
                }
                Err(error) => error_outcome(&error),
            }
        }
    }
}

/// One bank worker: transfers and whole-bank reads until the limits say
/// stop.
pub async fn bank_worker(
    client: Client,
    process: ProcessId,
    accounts: u64,
    seed: u64,
    limits: Limits,
    recorder: Arc<Recorder>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while limits.take() {
        let op = if rng.random_bool(0.3) {
            BankOp::ReadAll
        } else {
            let from = rng.random_range(0..accounts);
            let to = (from + rng.random_range(1..accounts)) % accounts;
            BankOp::Transfer {
                from,
                to,
                amount: rng.random_range(1..=TRANSFER_MAX),
            }
        };
        let invoke_us = recorder.now_us();
        let outcome = bank_call(&client, &op, accounts).await;
        let complete_us = recorder.now_us();
        record(&recorder.bank, process, invoke_us, complete_us, op, outcome);
        tokio::time::sleep(Duration::from_millis(THINK_MS)).await;
    }
    client.close().await;
}

/// Reads the whole bank after healing, retrying until it answers; the
/// read joins the history. False when it never answered.
pub async fn final_bank_read(
    client: &Client,
    process: ProcessId,
    accounts: u64,
    recorder: &Recorder,
) -> bool {
    for _ in 0..FINAL_READ_TRIES_MAX {
        let invoke_us = recorder.now_us();
        let outcome = bank_call(client, &BankOp::ReadAll, accounts).await;
        let complete_us = recorder.now_us();
        let ok = outcome.is_ok();
        record(
            &recorder.bank,
            process,
            invoke_us,
            complete_us,
            BankOp::ReadAll,
            outcome,
        );
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

pub(crate) fn record<O, R>(
    history: &Mutex<Vec<Operation<O, R>>>,
    process: ProcessId,
    invoke_us: u64,
    complete_us: u64,
    op: O,
    outcome: Outcome<R>,
) {
    history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Operation {
            process,
            invoke_us,
            complete_us,
            op,
            outcome,
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_may_have_applied_are_indeterminate() {
        let unknown = Error::Timeout {
            outcome_unknown: true,
            detail: "lost".into(),
        };
        let known = Error::Timeout {
            outcome_unknown: false,
            detail: "gave up".into(),
        };
        assert!(error_outcome::<()>(&unknown).is_info());
        assert!(error_outcome::<()>(&Error::Internal("?".into())).is_info());
        assert!(matches!(error_outcome::<()>(&known), Outcome::Fail(_)));
        assert!(matches!(
            error_outcome::<()>(&Error::Unavailable("no quorum".into())),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn values_round_trip_and_foreign_bytes_are_flagged() {
        let found = |bytes: Vec<u8>| Some(Versioned::new(zerodb_client::Ver::ZERO, Some(bytes)));
        assert_eq!(decode(found(encode(42))), Some(42));
        assert_eq!(decode(found(b"abc".to_vec())), Some(i64::MIN));
        assert_eq!(decode(None), None);
    }

    #[test]
    fn the_budget_and_the_deadline_both_stop_a_run() {
        let limits = Limits {
            deadline: Instant::now() + Duration::from_secs(60),
            budget: Arc::new(AtomicU64::new(2)),
        };
        assert!(limits.take());
        assert!(limits.take());
        assert!(!limits.take());
        let late = Limits {
            deadline: Instant::now(),
            budget: Arc::new(AtomicU64::new(10)),
        };
        assert!(!late.take());
    }
}

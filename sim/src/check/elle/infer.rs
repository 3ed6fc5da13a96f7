//! What the reads of a list-append history reveal: writers of each value,
//! each key's version order, and anomalies visible without a graph
//! (aborted, intermediate, garbage and internally inconsistent reads).

use std::collections::{BTreeMap, HashMap};

use super::{ElleAnomaly, ElleKind};
use crate::check::CheckError;
use crate::history::{Micro, Outcome, TxnOperation};

/// Who appended a value.
#[derive(Copy, Clone, Debug)]
pub(super) struct Writer {
    /// History index of the appending transaction.
    pub txn: usize,
    /// True when it is that transaction's last append to the key.
    pub is_final: bool,
}

/// One read of a committed transaction, reduced to what it observed of
/// other transactions.
#[derive(Clone, Debug)]
pub(super) struct Observation {
    /// History index of the reader.
    pub txn: usize,
    /// The key.
    pub key: u64,
    /// How many versions of the key's order it saw (its own trailing appends
    /// removed).
    pub seen: usize,
}

/// The result of inference.
#[derive(Default)]
pub(super) struct Inference {
    /// Writers by (key, value).
    pub writers: HashMap<(u64, u64), Writer>,
    /// Version order of each key whose reads agree.
    pub orders: BTreeMap<u64, Vec<u64>>,
    /// Reads of committed transactions.
    pub observations: Vec<Observation>,
    /// Anomalies found without the graph.
    pub anomalies: Vec<ElleAnomaly>,
}

pub(super) fn infer(history: &[TxnOperation]) -> Result<Inference, CheckError> {
    let mut inference = Inference {
        writers: writers(history)?,
        ..Inference::default()
    };
    let mut reads: BTreeMap<u64, Vec<(usize, &[u64])>> = BTreeMap::new();
    for (index, txn) in history.iter().enumerate() {
        let Outcome::Ok(result) = &txn.outcome else {
            continue;
        };
        validate_result(index, &txn.op, result)?;
        check_internal(index, result, &mut inference.anomalies);
        for micro in result {
            if let Micro::Read {
                key,
                values: Some(values),
            } = micro
            {
                reads.entry(*key).or_default().push((index, values));
            }
        }
    }
    for (key, key_reads) in reads {
        infer_key(history, key, &key_reads, &mut inference);
    }
    Ok(inference)
}

fn writers(history: &[TxnOperation]) -> Result<HashMap<(u64, u64), Writer>, CheckError> {
    let mut writers = HashMap::new();
    for (index, txn) in history.iter().enumerate() {
        let mut last_append: BTreeMap<u64, u64> = BTreeMap::new();
        for micro in &txn.op {
            if let Micro::Append { key, value } = micro {
                last_append.insert(*key, *value);
            }
        }
        for micro in &txn.op {
            let Micro::Append { key, value } = micro else {
                continue;
            };
            let writer = Writer {
                txn: index,
                is_final: last_append.get(key) == Some(value),
            };
            if let Some(other) = writers.insert((*key, *value), writer) {
                return Err(CheckError::Malformed {
                    index,
                    reason: format!(
                        "appends value {value} to key {key}, already appended by operation #{}; \
                         list-append values must be unique per key",
                        other.txn
                    ),
                });
            }
        }
    }
    Ok(writers)
}

fn validate_result(index: usize, request: &[Micro], result: &[Micro]) -> Result<(), CheckError> {
    let malformed = |reason: String| Err(CheckError::Malformed { index, reason });
    if request.len() != result.len() {
        return malformed(format!(
            "{} steps requested but {} in the result",
            request.len(),
            result.len()
        ));
    }
    for (step, (asked, got)) in request.iter().zip(result).enumerate() {
        let fits = match (asked, got) {
            (Micro::Append { key: k1, value: v1 }, Micro::Append { key: k2, value: v2 }) => {
                k1 == k2 && v1 == v2
            }
            (
                Micro::Read { key: k1, .. },
                Micro::Read {
                    key: k2,
                    values: Some(_),
                },
            ) => k1 == k2,
            _ => false,
        };
        if !fits {
            return malformed(format!(
                "step {step}: result {got:?} does not answer {asked:?}"
            ));
        }
    }
    Ok(())
}

/// What a transaction knows of a key from its own earlier steps.
enum Known {
    /// It read the whole list (plus what it appended since).
    Whole(Vec<u64>),
    /// It appended these and has not read the key yet.
    Suffix(Vec<u64>),
}

fn check_internal(index: usize, result: &[Micro], anomalies: &mut Vec<ElleAnomaly>) {
    let mut known: BTreeMap<u64, Known> = BTreeMap::new();
    for micro in result {
        match micro {
            Micro::Append { key, value } => match known.get_mut(key) {
                Some(Known::Whole(list) | Known::Suffix(list)) => list.push(*value),
                None => {
                    known.insert(*key, Known::Suffix(vec![*value]));
                }
            },
            Micro::Read { key, values } => {
                let values = values.clone().unwrap_or_default();
                let consistent = match known.get(key) {
                    Some(Known::Whole(list)) => *list == values,
                    Some(Known::Suffix(suffix)) => values.ends_with(suffix),
                    None => true,
                };
                if !consistent {
                    anomalies.push(ElleAnomaly {
                        kind: ElleKind::Internal,
                        txns: vec![index],
                        explanation: format!(
                            "T{index} read key {key} as {values:?}, inconsistent with its own earlier reads and appends"
                        ),
                    });
                }
                known.insert(*key, Known::Whole(values));
            }
        }
    }
}

fn infer_key(
    history: &[TxnOperation],
    key: u64,
    reads: &[(usize, &[u64])],
    inference: &mut Inference,
) {
    let mut consistent = true;
    for &(reader, values) in reads {
        consistent &= check_read_values(history, key, reader, values, inference);
    }
    let Some(&(longest_reader, longest)) = reads.iter().max_by_key(|(_, values)| values.len())
    else {
        return;
    };
    for &(reader, values) in reads {
        if !longest.starts_with(values) {
            consistent = false;
            inference.anomalies.push(ElleAnomaly {
                kind: ElleKind::IncompatibleOrder,
                txns: vec![reader, longest_reader],
                explanation: format!(
                    "key {key}: T{reader} read {values:?}, not a prefix of {longest:?} read by T{longest_reader}"
                ),
            });
        }
    }
    if !consistent {
        return;
    }
    for &(reader, values) in reads {
        // Drop the reader's own trailing appends: they say nothing about
        // other transactions.
        let mut seen = values.len();
        while seen > 0
            && inference
                .writers
                .get(&(key, values[seen - 1]))
                .is_some_and(|w| w.txn == reader)
        {
            seen -= 1;
        }
        if seen > 0 {
            let last = values[seen - 1];
            if let Some(writer) = inference.writers.get(&(key, last)) {
                if !writer.is_final {
                    inference.anomalies.push(ElleAnomaly {
                        kind: ElleKind::G1b,
                        txns: vec![reader, writer.txn],
                        explanation: format!(
                            "T{reader} read key {key} ending in {last}, an intermediate append of T{}",
                            writer.txn
                        ),
                    });
                }
            }
        }
        inference.observations.push(Observation {
            txn: reader,
            key,
            seen,
        });
    }
    inference.orders.insert(key, longest.to_vec());
}

/// Checks each value of one read; returns false when the read is unusable
/// for ordering (garbage or duplicates).
fn check_read_values(
    history: &[TxnOperation],
    key: u64,
    reader: usize,
    values: &[u64],
    inference: &mut Inference,
) -> bool {
    let mut usable = true;
    let mut seen_values = std::collections::HashSet::new();
    for &value in values {
        if !seen_values.insert(value) {
            usable = false;
            inference.anomalies.push(ElleAnomaly {
                kind: ElleKind::GarbageRead,
                txns: vec![reader],
                explanation: format!(
                    "T{reader} read key {key} as {values:?}, which holds {value} twice"
                ),
            });
        }
        match inference.writers.get(&(key, value)) {
            None => {
                usable = false;
                inference.anomalies.push(ElleAnomaly {
                    kind: ElleKind::GarbageRead,
                    txns: vec![reader],
                    explanation: format!(
                        "T{reader} read value {value} of key {key}, which nobody appended"
                    ),
                });
            }
            Some(writer) if matches!(history[writer.txn].outcome, Outcome::Fail(_)) => {
                inference.anomalies.push(ElleAnomaly {
                    kind: ElleKind::G1a,
                    txns: vec![reader, writer.txn],
                    explanation: format!(
                        "T{reader} read value {value} of key {key}, appended by T{} which failed",
                        writer.txn
                    ),
                });
            }
            Some(_) => {}
        }
    }
    usable
}

//! A strong and an eventual namespace side by side under one fault
//! schedule: even client processes run registers on the strong namespace,
//! odd ones on the eventual namespace.
//!
//! The strong registers must pass every register checker (linearizability
//! and durability of acknowledged writes). The eventual registers promise no
//! ordering, so they are checked for convergence instead: after faults heal,
//! every replica of each key holds the same record, whose value some client
//! wrote ([`crate::check::convergence`], driven by the run with the
//! replicas' engines).

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use zerodb_txn::{Key, Request};

use super::register::RegisterWorkload;
use super::{Answer, OutcomeCounts, Verdict, Workload, EVENTUAL_NAMESPACE, STRONG_NAMESPACE};
use crate::history::{Micros, ProcessId};

/// Registers on a strong and an eventual namespace at once.
pub struct MixedNsWorkload {
    strong: RegisterWorkload,
    eventual: RegisterWorkload,
}

impl MixedNsWorkload {
    /// `strong_keys` registers on the strong namespace (with cas) and
    /// `eventual_keys` on the eventual one (puts and gets only).
    pub fn new(strong_keys: u64, eventual_keys: u64) -> MixedNsWorkload {
        MixedNsWorkload {
            strong: RegisterWorkload::new(STRONG_NAMESPACE, strong_keys, true),
            eventual: RegisterWorkload::new(EVENTUAL_NAMESPACE, eventual_keys, false),
        }
    }

    fn part(&mut self, process: ProcessId) -> &mut RegisterWorkload {
        if process.0 % 2 == 0 {
            &mut self.strong
        } else {
            &mut self.eventual
        }
    }
}

fn prefixed(into: &mut Vec<String>, prefix: &str, from: Vec<String>) {
    into.extend(from.into_iter().map(|text| format!("{prefix}: {text}")));
}

impl Workload for MixedNsWorkload {
    fn invoke(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Request> {
        // A register part only runs dry in the final phase, once its final
        // reads are all handed out; the process then helps the other part,
        // so that a run with a single client still finishes.
        let own = self.part(process).invoke(process, now_us, rng);
        own.or_else(|| {
            self.part(ProcessId(process.0 ^ 1))
                .invoke(process, now_us, rng)
        })
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        if self.strong.is_pending(process) {
            self.strong.complete(process, now_us, answer)
        } else {
            self.eventual.complete(process, now_us, answer)
        }
    }

    fn recorded(&self) -> usize {
        self.strong.recorded() + self.eventual.recorded()
    }

    fn begin_final(&mut self) {
        self.strong.begin_final();
        // No final reads of the eventual registers: an eventual read
        // repairs stale replicas in the background, which would make them
        // converge without anti-entropy (and hide its absence). Replicas
        // must converge with nobody reading.
        self.eventual.stop();
    }

    fn final_done(&self) -> bool {
        self.strong.final_done() && self.eventual.final_done()
    }

    fn check(&self) -> Verdict {
        let strong = self.strong.check();
        let eventual = self.eventual.check_answers();
        let mut verdict = Verdict::default();
        prefixed(&mut verdict.anomalies, "strong namespace", strong.anomalies);
        prefixed(&mut verdict.unknown, "strong namespace", strong.unknown);
        prefixed(
            &mut verdict.anomalies,
            "eventual namespace",
            eventual.anomalies,
        );
        verdict
    }

    fn outcomes(&self) -> OutcomeCounts {
        let mut counts = self.strong.outcomes();
        counts.add(self.eventual.outcomes());
        counts
    }

    fn history_text(&self) -> String {
        format!(
            "strong\n{}eventual\n{}",
            self.strong.history_text(),
            self.eventual.history_text()
        )
    }

    fn converging_keys(&self) -> Vec<(u64, Key, BTreeSet<u64>)> {
        let mut written = self.eventual.attempted_writes();
        (0..self.eventual.keys())
            .map(|key| {
                let values = written.remove(&key).unwrap_or_default();
                (key, self.eventual.key(key), values)
            })
            .collect()
    }
}

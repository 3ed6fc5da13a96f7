//! A strong and an eventual namespace side by side under one fault
//! schedule, and the catalog changing under them: even client processes
//! run registers on the strong namespace, odd ones on the eventual
//! namespace, except every fourth process (3, 7, ...), which changes the
//! catalog ([`super::catalog_churn`]: creates and drops namespaces, grants
//! and revokes a role, writes as the user whose role changes).
//!
//! The strong registers must pass every register checker (linearizability
//! and durability of acknowledged writes). The eventual registers promise no
//! ordering, so they are checked for convergence instead: after faults heal,
//! every replica of each key holds the same record, whose value some client
//! wrote ([`crate::check::convergence`], driven by the run with the
//! replicas' engines). The catalog's history is checked as a strong
//! register ([`super::catalog_churn::check_catalog`]).

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use zerodb_node::core::metadata::Caller;
use zerodb_txn::{Key, Request};

use super::catalog_churn::{check_catalog, CatalogChurn, SIM_USER};
use super::register::RegisterWorkload;
use super::{Answer, Call, OutcomeCounts, Verdict, Workload, EVENTUAL_NAMESPACE, STRONG_NAMESPACE};
use crate::history::{Micros, ProcessId};

/// Registers on a strong and an eventual namespace at once, and catalog
/// changes.
pub struct MixedNsWorkload {
    strong: RegisterWorkload,
    eventual: RegisterWorkload,
    catalog: CatalogChurn,
}

/// Whether `process` is one of the catalog processes.
fn changes_catalog(process: ProcessId) -> bool {
    process.0 % 4 == 3
}

impl MixedNsWorkload {
    /// `strong_keys` registers on the strong namespace (with cas),
    /// `eventual_keys` on the eventual one (puts, deletes and gets), and
    /// catalog changes whose namespaces have replication factor
    /// `churn_rf`.
    pub fn new(strong_keys: u64, eventual_keys: u64, churn_rf: usize) -> MixedNsWorkload {
        MixedNsWorkload {
            strong: RegisterWorkload::new(STRONG_NAMESPACE, strong_keys, true),
            eventual: RegisterWorkload::new(EVENTUAL_NAMESPACE, eventual_keys, false),
            catalog: CatalogChurn::new(churn_rf),
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
        if changes_catalog(process) {
            if let Some(request) = self.catalog.invoke(process, now_us) {
                return Some(request);
            }
        }
        // A register part only runs dry in the final phase, once its final
        // reads are all handed out; the process then helps the other part,
        // so that a run with a single client still finishes.
        let own = self.part(process).invoke(process, now_us, rng);
        own.or_else(|| {
            self.part(ProcessId(process.0 ^ 1))
                .invoke(process, now_us, rng)
        })
    }

    fn call(&mut self, process: ProcessId, now_us: Micros, rng: &mut StdRng) -> Option<Call> {
        if changes_catalog(process) {
            if let Some(request) = self.catalog.invoke(process, now_us) {
                return Some(Call::Data(request));
            }
        }
        // As in `invoke`, with the strong part's scans.
        let own = self.part(process).call(process, now_us, rng);
        own.or_else(|| {
            self.part(ProcessId(process.0 ^ 1))
                .call(process, now_us, rng)
        })
    }

    fn complete(&mut self, process: ProcessId, now_us: Micros, answer: Answer) -> Option<Request> {
        if self.catalog.is_pending(process) {
            self.catalog.complete(process, now_us, answer)
        } else if self.strong.is_pending(process) {
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
        self.catalog.stop();
    }

    fn final_done(&self) -> bool {
        self.strong.final_done() && self.eventual.final_done() && self.catalog.done()
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
            .anomalies
            .extend(check_catalog(self.catalog.history()));
        verdict
    }

    fn outcomes(&self) -> OutcomeCounts {
        let mut counts = self.strong.outcomes();
        counts.add(self.eventual.outcomes());
        counts.add(OutcomeCounts::of(self.catalog.history()));
        counts
    }

    fn history_text(&self) -> String {
        format!(
            "strong\n{}eventual\n{}catalog\n{}",
            self.strong.history_text(),
            self.eventual.history_text(),
            super::render(self.catalog.history())
        )
    }

    fn caller(&self, process: ProcessId) -> Caller {
        if changes_catalog(process) && self.catalog.is_pending(process) {
            return self.catalog.caller(process);
        }
        Caller::User(super::ADMIN.into())
    }

    fn users(&self) -> Vec<String> {
        vec![SIM_USER.to_string()]
    }

    fn acknowledged_catalog_version(&self) -> u64 {
        self.catalog.acknowledged_version()
    }

    fn acknowledged_registers(&self) -> BTreeSet<u64> {
        self.eventual.acknowledged_writes()
    }

    fn converging_keys(&self) -> Vec<(u64, Key, BTreeSet<Option<u64>>)> {
        let mut written = self.eventual.attempted_writes();
        (0..self.eventual.keys())
            .map(|key| {
                let values = written.remove(&key).unwrap_or_default();
                (key, self.eventual.key(key), values)
            })
            .collect()
    }
}

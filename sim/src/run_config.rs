//! What defines a run: its seed, cluster, workload, faults, engine and
//! test-only switches ([`RunConfig`]), and the command that reproduces it.

use crate::faults::{FaultKind, FaultLevel};
use crate::membership_gossip::MembershipKind;
use crate::workload::WorkloadKind;

/// The test-only switches of the transaction layer (each deliberately
/// breaks a safety mechanism so that the checkers can be shown to catch it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnsafeSwitches {
    /// Locks live only in memory.
    pub skip_lock_durability: bool,
    /// Strong reads skip read-time repair (learned commits and write-back).
    pub skip_read_repair: bool,
    /// A replica with lost state votes at once.
    pub skip_lost_state_recovery: bool,
    /// Strong reads ignore write locks.
    pub ignore_read_locks: bool,
    /// Replicas of eventual namespaces never run anti-entropy.
    pub skip_anti_entropy: bool,
    /// A node's low for the released watermark ignores its locks.
    pub watermark_ignores_locks: bool,
    /// Hints are kept but never replayed.
    pub skip_hint_replay: bool,
    /// Range locks are taken but conflict with nothing (phantoms).
    pub skip_range_locks: bool,
    /// The driver syncs a batch only before an answer to a client: messages
    /// to peers (votes, grants, accepts) leave before the writes they rest
    /// on are durable.
    pub release_votes_before_sync: bool,
    /// A node counts its own votes inside the batch that wrote them, before
    /// their sync, while its requests leave before that sync.
    pub count_own_answers_in_batch: bool,
    /// A replica prepares a blind write whose version is not above the
    /// one it stores (I8).
    pub blind_ignores_stored_version: bool,
    /// Termination takes "not prepared here" as a refusal without making
    /// it durable (I5).
    pub abort_blind_without_refusal: bool,
    /// The fast path commits with a quorum of prepares (I3).
    pub fast_path_on_quorum: bool,
    /// Reads skip a blind prepare whose register is empty (I7).
    pub read_skips_blind_prepare: bool,
    /// A replica drops a prepare whose lease expired, without an outcome
    /// (I4).
    pub drop_expired_prepares: bool,
    /// A strong record's expiry is judged by the coordinator's clock alone
    /// (DESIGN.md 6.3).
    pub expire_on_coordinator_clock: bool,
    /// zeroql deletes a vertex without its edges (the graph workload's
    /// statements; `Session::unsafe_skip_edge_cascade`).
    pub skip_edge_cascade: bool,
}

impl UnsafeSwitches {
    /// Command-line flags that reproduce these switches.
    pub fn flags(&self) -> String {
        let mut flags = String::new();
        for (on, flag) in [
            (self.skip_lock_durability, " --unsafe-skip-lock-durability"),
            (self.skip_read_repair, " --unsafe-skip-read-repair"),
            (
                self.skip_lost_state_recovery,
                " --unsafe-skip-lost-state-recovery",
            ),
            (self.ignore_read_locks, " --unsafe-ignore-read-locks"),
            (self.skip_anti_entropy, " --unsafe-skip-anti-entropy"),
            (
                self.watermark_ignores_locks,
                " --unsafe-watermark-ignores-locks",
            ),
            (self.skip_hint_replay, " --unsafe-skip-hint-replay"),
            (self.skip_range_locks, " --unsafe-skip-range-locks"),
            (
                self.release_votes_before_sync,
                " --unsafe-release-votes-before-sync",
            ),
            (
                self.count_own_answers_in_batch,
                " --unsafe-count-own-answers-in-batch",
            ),
            (
                self.blind_ignores_stored_version,
                " --unsafe-blind-ignores-stored-version",
            ),
            (
                self.abort_blind_without_refusal,
                " --unsafe-abort-blind-without-refusal",
            ),
            (self.fast_path_on_quorum, " --unsafe-fast-path-on-quorum"),
            (
                self.read_skips_blind_prepare,
                " --unsafe-read-skips-blind-prepare",
            ),
            (
                self.drop_expired_prepares,
                " --unsafe-drop-expired-prepares",
            ),
            (
                self.expire_on_coordinator_clock,
                " --unsafe-expire-on-coordinator-clock",
            ),
            (self.skip_edge_cascade, " --unsafe-skip-edge-cascade"),
        ] {
            if on {
                flags.push_str(flag);
            }
        }
        flags
    }
}

/// Which storage engine the simulated nodes run on (`--engine`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// The in-memory engine (fast; crashes lose unsynced batches).
    #[default]
    Memory,
    /// ZeroDB's WAL + B+Tree engine over a fault-injecting file system
    /// (crashes keep a random, possibly torn, prefix of unsynced writes).
    Zero,
}

impl EngineKind {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Memory => "memory",
            EngineKind::Zero => "zero",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    fn from_str(text: &str) -> Result<EngineKind, String> {
        match text {
            "memory" => Ok(EngineKind::Memory),
            "zero" => Ok(EngineKind::Zero),
            other => Err(format!("unknown engine {other:?}; use memory or zero")),
        }
    }
}

/// Everything that defines a run; the same config gives the same history.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The seed.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Replication factor of the workload's namespaces (capped at `nodes`).
    pub rf: usize,
    /// Client operations to record before healing.
    pub ops: usize,
    /// The workload.
    pub workload: WorkloadKind,
    /// Fault level.
    pub faults: FaultLevel,
    /// Run the register workload on an eventual namespace.
    pub eventual: bool,
    /// Concurrent client processes.
    pub clients: u32,
    /// Test-only switches of the transaction layer.
    pub unsafe_switches: UnsafeSwitches,
    /// Keep the rendered history in the summary (for debugging a seed).
    pub keep_history: bool,
    /// Fault kinds switched off.
    pub without: Vec<FaultKind>,
    /// The nodes' storage engine.
    pub engine: EngineKind,
    /// The nodes' failure detector.
    pub membership: MembershipKind,
    /// Inject disk faults (failed syncs, writes and reads, bit flips) on
    /// ZeroDB's engine at the mixed and heavy levels. Off by default while
    /// the failures they find are open (`sim/FAILING.md`).
    pub disk_faults: bool,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            seed: 0,
            nodes: 5,
            rf: 3,
            ops: 300,
            workload: WorkloadKind::Register,
            faults: FaultLevel::Mixed,
            eventual: false,
            clients: 8,
            unsafe_switches: UnsafeSwitches::default(),
            keep_history: false,
            without: Vec::new(),
            engine: EngineKind::Memory,
            membership: MembershipKind::default(),
            disk_faults: false,
        }
    }
}

impl RunConfig {
    /// The command that reproduces this run.
    pub fn command(&self) -> String {
        format!(
            "zerodb-sim --seed {} --nodes {}{} --ops {} --clients {} --workload {} --engine {} --membership {} --faults {}{}{}{}{}",
            self.seed,
            self.nodes,
            if self.rf == 3 { String::new() } else { format!(" --rf {}", self.rf) },
            self.ops,
            self.clients,
            self.workload.name(),
            self.engine.name(),
            self.membership.name(),
            match self.faults {
                FaultLevel::None => "none",
                FaultLevel::Light => "light",
                FaultLevel::Heavy => "heavy",
                FaultLevel::Mixed => "mixed",
            },
            if self.disk_faults { " --disk-faults" } else { "" },
            if self.eventual { " --eventual" } else { "" },
            self.unsafe_switches.flags(),
            self.without
                .iter()
                .map(|k| format!(" --without {}", k.name()))
                .collect::<String>()
        )
    }
}

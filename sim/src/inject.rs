//! Fault injection: which fault strikes next, where, and for how long.

use rand::seq::SliceRandom;
use rand::RngExt;

use crate::cluster::{Cluster, SimDisk, SimEvent};
use crate::faults::FaultKind;
use crate::history::Micros;
use crate::net::NetConfig;

/// Largest clock jump, either way.
pub(crate) const CLOCK_JUMP_MS_MAX: i64 = 2_000;

impl<D: SimDisk> Cluster<D> {
    /// Schedules the next fault injection (none when the run has no faults).
    pub fn schedule_next_fault(&mut self) {
        if self.rates.fault_interval_ms == 0 {
            return;
        }
        let mean_us = self.rates.fault_interval_ms as f64 * 1_000.0;
        let uniform: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let delay = (-uniform.ln() * mean_us) as Micros + 1;
        self.queue.push(self.now_us + delay, SimEvent::Fault);
    }

    fn outage_us(&mut self) -> Micros {
        let max_ms = self.rates.outage_ms_max.max(1);
        self.rng.random_range(1..=max_ms) * 1_000
    }

    /// Schedules the restart of a crashed node after an outage.
    pub(crate) fn schedule_restart(&mut self, index: usize) {
        let at = self.now_us + self.outage_us();
        self.queue.push(at, SimEvent::Restart { node: index });
    }

    /// Injects one fault, then schedules the next.
    pub fn inject_fault(&mut self) {
        // The disk weights come last and are zero on the memory engine, so
        // that its runs draw exactly what they drew before disk faults.
        let weights: Vec<u32> = self
            .rates
            .weights
            .iter()
            .chain(self.rates.disk_weights.iter())
            .copied()
            .collect();
        let total: u32 = weights.iter().sum();
        if total > 0 {
            let mut pick = self.rng.random_range(0..total);
            let mut kind = 0;
            while pick >= weights[kind] {
                pick -= weights[kind];
                kind += 1;
            }
            match kind {
                0 => self.inject_crash(),
                1 => self.inject_partition(),
                2 => self.inject_pause(),
                3 => self.inject_clock_jump(),
                4 => self.inject_one_way_cut(),
                disk => self.inject_disk_fault(FaultKind::DISK[disk - 5]),
            }
        }
        self.schedule_next_fault();
    }

    fn random_up_node(&mut self) -> Option<usize> {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_up())
            .collect();
        if up.is_empty() {
            return None;
        }
        Some(up[self.rng.random_range(0..up.len())])
    }

    fn inject_crash(&mut self) {
        // Keep a majority of the nodes up, so that the run makes progress.
        let down = self.nodes.len() - self.nodes.iter().filter(|s| s.is_up()).count();
        if down + 1 > (self.nodes.len() - 1) / 2 {
            return;
        }
        let Some(index) = self.random_up_node() else {
            return;
        };
        // Fewer than a quorum of any partition may lose state at a time:
        // one node, and only once the previous one has recovered.
        let wipe = !self.lost_state_in_progress() && self.rng.random_bool(self.rates.wipe);
        if !wipe && self.rng.random_bool(self.rates.crash_mid_batch) {
            self.crash_at_next_input(index);
            return;
        }
        self.crash_now(index, wipe);
        self.schedule_restart(index);
    }

    fn inject_partition(&mut self) {
        let mut order: Vec<u32> = self.nodes.iter().map(|slot| slot.id.0).collect();
        order.shuffle(&mut self.rng);
        let minority = self.rng.random_range(1..=(order.len() / 2).max(1));
        let (side_a, side_b) = order.split_at(minority);
        self.net.partition(side_a, side_b);
        if self.trace {
            eprintln!("{} PARTITION {side_a:?} | {side_b:?}", self.now_us);
        }
        self.counts.partitions += 1;
        let at = self.now_us + self.outage_us();
        self.queue.push(at, SimEvent::Heal);
    }

    fn inject_one_way_cut(&mut self) {
        let count = self.nodes.len();
        if count < 2 {
            return;
        }
        let from = self.rng.random_range(0..count);
        let to = (from + self.rng.random_range(1..count)) % count;
        let (from, to) = (self.nodes[from].id.0, self.nodes[to].id.0);
        self.net.cut_one_way(from, to);
        if self.trace {
            eprintln!("{} CUT {from} -> {to}", self.now_us);
        }
        self.counts.partitions += 1;
        let at = self.now_us + self.outage_us();
        self.queue.push(at, SimEvent::Heal);
    }

    fn inject_pause(&mut self) {
        let Some(index) = self.random_up_node() else {
            return;
        };
        let until = self.now_us + self.outage_us() / 2;
        self.pause(index, until);
        self.counts.pauses += 1;
    }

    fn inject_clock_jump(&mut self) {
        let index = self.rng.random_range(0..self.nodes.len());
        let jump = self
            .rng
            .random_range(-CLOCK_JUMP_MS_MAX..=CLOCK_JUMP_MS_MAX);
        self.nodes[index].clock.skew_ms += jump;
        self.counts.clock_jumps += 1;
    }

    /// Ends every fault: stops injecting, heals the network, restarts
    /// crashed nodes and resumes paused ones.
    pub fn heal_all(&mut self) {
        self.rates.fault_interval_ms = 0;
        self.disarm_disk_faults();
        self.net.heal();
        self.net.config = NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            straggler: 0.0,
            ..self.net.config.clone()
        };
        for index in 0..self.nodes.len() {
            self.nodes[index].crash_mid_batch = false;
            self.restart(index);
            self.pause(index, self.now_us);
        }
    }
}

//! Disk faults (ZeroDB's engine only): failed syncs, writes and reads, and
//! bits flipped in durable files.
//!
//! - An I/O fault is armed on a running node's disk and strikes after a
//!   few operations of its kind. The engine then poisons itself, so the
//!   sync that ends the batch fails, the batch's outputs are never
//!   released, and the node crashes. The operator restarts it once the
//!   transient error is gone: the restart clears the fault, and the
//!   reopened engine must still hold everything that was synced.
//! - A bit is flipped at a random offset of the durable contents of one of
//!   a node's files, while the node is down or just as it crashes. The
//!   restart reopens the engine and checks every page: if the engine
//!   refuses (or cuts synced WAL records under a new incarnation) the disk
//!   is lost and the node comes back as a new incarnation that recovers
//!   before it votes; otherwise every synced record must be intact, which
//!   the simulator checks against a copy read before the flip.
//!
//! At most one node at a time may have a flip pending or be recovering
//! lost state (as with wiped disks), so fewer than a quorum of any replica
//! set lose state at once.

use rand::RngExt;
use zerodb_storage::{Direction, Engine, Incarnation, Record, ScanRange, Space, StorageResult};

use crate::cluster::{Cluster, SimDisk};
use crate::disk::IoFault;
use crate::faults::{DiskFaultCounts, FaultKind};

/// Operations of its kind an armed fault lets pass before it strikes, at
/// most (the count is drawn below it).
const SYNCS_BEFORE_FAULT_MAX: u64 = 4;
const WRITES_BEFORE_FAULT_MAX: u64 = 16;
const READS_BEFORE_FAULT_MAX: u64 = 32;

/// Every record of an engine, both spaces, in key order.
type Contents = Vec<(Space, Vec<u8>, Record)>;

fn contents<E: Engine>(engine: &mut E) -> StorageResult<Contents> {
    let mut all = Vec::new();
    for space in [Space::Data, Space::System] {
        let range = ScanRange::all(space);
        for (key, record) in engine.scan(&range, Direction::Forward, usize::MAX)? {
            all.push((space, key, record));
        }
    }
    Ok(all)
}

/// A node's disk faults in progress.
#[derive(Debug, Default)]
pub(crate) struct DiskFaultState {
    /// The I/O fault armed on the node's disk, until the node crashes.
    pub(crate) armed: Option<IoFault>,
    /// A bit was flipped on the node's disk: the restart checks it.
    pub(crate) flip_pending: bool,
    /// Where the bit was flipped on a crashed node's disk, and what the
    /// disk held before (what the engine must reopen with, unless it
    /// refuses the disk).
    before_flip: Option<(String, Contents)>,
    /// The disk's incarnation before the flip (a crash right after the
    /// flip may already have reopened it as a new one).
    incarnation_before_flip: Option<Incarnation>,
}

impl DiskFaultState {
    /// Crashes `disk` (reopening its engine over what survived). The
    /// operator restarts the node once a transient I/O error is gone, so
    /// armed faults are cleared first; a flipped bit stays, and the restart
    /// checks it, so a reopen that fails here is left to that check.
    pub(crate) fn crash<D: SimDisk>(&mut self, disk: &mut D, wipe: bool) -> StorageResult<()> {
        disk.clear_faults();
        self.armed = None;
        let incarnation = disk.incarnation();
        let result = disk.crash();
        if self.flip_pending {
            self.incarnation_before_flip.get_or_insert(incarnation);
            return Ok(());
        }
        if result.is_ok() && !wipe && disk.incarnation() != incarnation {
            // Recovery cut records it judged synced: with no flip, that is
            // a false alarm of the WAL's torn-tail check, and a node that
            // loses state without the simulator's bound on lost disks.
            return Err(zerodb_storage::StorageError::Corruption {
                what: "simulated disk".into(),
                detail: "an ordinary crash lost synced records (new incarnation)".into(),
            });
        }
        result
    }
}

impl<D: SimDisk> Cluster<D> {
    /// Injects the disk fault `kind` (one of [`FaultKind::DISK`]).
    pub(crate) fn inject_disk_fault(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::SyncFail => self.arm_io_fault(IoFault::Sync, SYNCS_BEFORE_FAULT_MAX),
            FaultKind::WriteError => self.arm_io_fault(IoFault::Write, WRITES_BEFORE_FAULT_MAX),
            FaultKind::ReadError => self.arm_io_fault(IoFault::Read, READS_BEFORE_FAULT_MAX),
            FaultKind::BitFlip => self.inject_bit_flip(),
            other => unreachable!("{other:?} is not a disk fault"),
        }
    }

    fn disk_counts(&mut self) -> &mut DiskFaultCounts {
        self.counts
            .disk
            .get_or_insert_with(DiskFaultCounts::default)
    }

    /// Whether one more node may go down and leave a majority up.
    fn may_crash_one_more(&self) -> bool {
        let down = self.nodes.len() - self.nodes.iter().filter(|s| s.is_up()).count();
        down < (self.nodes.len() - 1) / 2
    }

    fn random_up_node_without_fault(&mut self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_up() && self.nodes[i].disk_faults.armed.is_none())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.random_range(0..candidates.len())])
    }

    fn arm_io_fault(&mut self, fault: IoFault, before_max: u64) {
        if !self.may_crash_one_more() {
            return;
        }
        let Some(index) = self.random_up_node_without_fault() else {
            return;
        };
        let after = self.rng.random_range(0..before_max);
        if self.trace {
            eprintln!("{} n{} ARM {fault:?} after {after}", self.now_us, index + 1);
        }
        let slot = &mut self.nodes[index];
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        if let Err(error) = node.engine_mut().arm(fault, after) {
            let id = slot.id;
            self.errors
                .push(format!("node {id}: preparing a {fault:?} fault: {error}"));
            return;
        }
        slot.disk_faults.armed = Some(fault);
    }

    /// Called when node `index` failed to sync: if a fault armed on its
    /// disk struck, counts it, crashes the node (the batch's outputs are
    /// lost with it) and schedules its restart, and returns true; false
    /// means the failure was not injected (an anomaly).
    pub(crate) fn disk_fault_struck(&mut self, index: usize, error: &str) -> bool {
        let Some(fault) = self.nodes[index].disk_faults.armed else {
            return false;
        };
        if self.trace {
            eprintln!("{} n{} {fault:?} STRUCK: {error}", self.now_us, index + 1);
        }
        let counts = self.disk_counts();
        match fault {
            IoFault::Sync => counts.sync_failures += 1,
            IoFault::Write => counts.write_errors += 1,
            IoFault::Read => counts.read_errors += 1,
        }
        self.crash_now(index, false);
        self.schedule_restart(index);
        true
    }

    /// Disarms every armed fault (healing); a fault that already struck
    /// still stops its node at its next sync, and is still counted then.
    pub(crate) fn disarm_disk_faults(&mut self) {
        for slot in &mut self.nodes {
            if let Some(node) = slot.node.as_mut() {
                node.engine_mut().clear_faults();
            }
        }
    }

    /// Flips a bit on a crashed node's disk, or on a running node's disk
    /// as it crashes.
    fn inject_bit_flip(&mut self) {
        if self.lost_state_in_progress() {
            return;
        }
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].disk.is_some())
            .collect();
        let on_down_node = !down.is_empty() && self.rng.random_bool(0.5);
        if on_down_node {
            let index = down[self.rng.random_range(0..down.len())];
            self.flip_on_down_disk(index);
            return;
        }
        if !self.may_crash_one_more() {
            return;
        }
        let Some(index) = self.random_up_node_without_fault() else {
            return;
        };
        let slot = &mut self.nodes[index];
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        let Some(site) = node.engine_mut().flip_random_bit(&mut self.rng) else {
            return;
        };
        if self.trace {
            eprintln!("{} n{} FLIP (up) {site}", self.now_us, index + 1);
        }
        slot.disk_faults.flip_pending = true;
        self.disk_counts().bit_flips += 1;
        self.crash_now(index, false);
        self.schedule_restart(index);
    }

    fn flip_on_down_disk(&mut self, index: usize) {
        let slot = &mut self.nodes[index];
        let Some(disk) = slot.disk.as_mut() else {
            return;
        };
        let before = match contents(disk) {
            Ok(before) => before,
            Err(error) => {
                let id = slot.id;
                self.errors.push(format!(
                    "node {id}: reading its disk before a flip: {error}"
                ));
                return;
            }
        };
        let Some(site) = disk.flip_random_bit(&mut self.rng) else {
            return;
        };
        if self.trace {
            eprintln!("{} n{} FLIP (down) {site}", self.now_us, index + 1);
        }
        slot.disk_faults.flip_pending = true;
        slot.disk_faults.before_flip = Some((site, before));
        slot.disk_faults.incarnation_before_flip = Some(disk.incarnation());
        self.disk_counts().bit_flips += 1;
    }

    /// At a restart after a flip: reopens the disk and checks it. A disk
    /// the engine refuses, or reopens as a new incarnation, is lost (wiped:
    /// the node recovers as a new incarnation); one it accepts must hold
    /// exactly what it held before the flip.
    pub(crate) fn check_flipped_disk(&mut self, index: usize) {
        if !std::mem::take(&mut self.nodes[index].disk_faults.flip_pending) {
            return;
        }
        let disk_seed = self.disk_seed();
        let slot = &mut self.nodes[index];
        let before = slot.disk_faults.before_flip.take();
        let id = slot.id;
        let Some(disk) = slot.disk.as_mut() else {
            return;
        };
        let incarnation = slot
            .disk_faults
            .incarnation_before_flip
            .take()
            .unwrap_or_else(|| disk.incarnation());
        let checked = disk.reopen_checked();
        let caught = checked.is_err() || disk.incarnation() != incarnation;
        if self.trace {
            eprintln!(
                "{} n{} REOPEN after flip: {checked:?}",
                self.now_us,
                index + 1
            );
        }
        if caught {
            slot.lost_state = true;
            if checked.is_err() {
                if let Err(error) = disk.wipe(disk_seed) {
                    self.errors
                        .push(format!("node {id} could not replace its disk: {error}"));
                }
            }
            self.disk_counts().flips_caught += 1;
            return;
        }
        let Some((site, before)) = before else {
            return;
        };
        match contents(disk) {
            Ok(after) if after == before => {}
            Ok(after) => self.errors.push(format!(
                "node {id}: after a flip at {site} the engine reopened as the same incarnation \
                 with {} records instead of {} (synced data changed silently)",
                after.len(),
                before.len()
            )),
            Err(error) => self.errors.push(format!(
                "node {id}: after a flip at {site} the engine reopened and checked clean, \
                 then failed a read: {error}"
            )),
        }
    }
}

//! The released watermark (DESIGN.md 6.1 "Recovery"): below it every
//! transaction is over everywhere, so its finished markers and decision
//! registers can be dropped, and an unknown transaction counts as finished.
//!
//! Each node reports a *low* to every ring member every `watermark_ms`: a
//! bound below every transaction it still has a stake in (the ones it
//! coordinates, the locks it holds, the lock requests waiting at it) and
//! below every transaction id it will issue (its HLC minus
//! `watermark_margin_ms`). From the moment it reports a low, the node refuses
//! every lock request of an older transaction (`Refusal::TooOld`; the
//! coordinator starts over under a fresh id above it). The low is stored
//! before it is sent, so a restart keeps refusing.
//!
//! The watermark is the smallest low last reported by every ring member,
//! and only grows. Take a transaction `t` below it: at each member's report
//! the member held no lock of `t`, no request of `t` waited and `t` was not
//! in flight there; after the report, no member grants `t` a lock again. So
//! every lock of `t` is released (after its decision), and its markers and
//! registers are never needed again: they are deleted, a page per tick.
//!
//! Lost state: a node copying lost state reports a low of zero, and a peer
//! that serves it a lock counts that lock's transaction in its own low until
//! the copier reports as a normal node again (its low then counts the locks
//! it copied). Without that, a lock copied just before the peer released it
//! would be counted by nobody: the watermark could pass it and its decision
//! record be deleted while the copy still needs it.
//!
//! A member that never reports (down since the start, or gone for good)
//! holds the watermark where it is; nothing is deleted wrongly, the records
//! just wait.

use crate::types::ver;
use crate::types::version;
use std::collections::BTreeMap;

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, Version, WriteBatch};

use crate::codec;
use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::Message;
use crate::node::TxnNode;
use crate::replica::{keys, system_record};
use crate::types::{TxnId, Ver};

/// System key of the low this node last reported.
const REPORTED_KEY: &[u8] = b"Mo";
/// System key of the watermark this node computed (served to recovering
/// peers, which adopt it).
pub(crate) const RELEASED_KEY: &[u8] = b"Mw";
/// Finished markers and registers deleted per tick, at most.
const GC_PAGE: usize = 512;

/// Watermark state of one node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watermark {
    /// Last low heard from each node (this one included).
    lows: BTreeMap<NodeId, Version>,
    /// The highest low this node reported: lock requests of older
    /// transactions are refused. (A later low can be lower, e.g. a lock
    /// copied from a peer during lost-state recovery; it is reported as it
    /// is, while refusals keep the highest bound.)
    pub(crate) reported: Version,
    /// Every transaction below this is over everywhere.
    pub(crate) released: Version,
    /// Records below `released` may remain (deletion is paged).
    collect: bool,
    next_report_ms: u64,
    /// Finished markers and registers deleted since start.
    pub(crate) collected: u64,
    /// Oldest transaction whose lock this node served to each recovering
    /// peer, until that peer reports as a normal node.
    served: BTreeMap<NodeId, Version>,
}

fn load_version<E: Engine>(engine: &mut E, key: &[u8]) -> Result<Version, StorageError> {
    Ok(engine
        .get(Space::System, key)?
        .and_then(|r| r.value)
        .and_then(|v| codec::decode::<Ver>(&v).ok())
        .map_or(Version::ZERO, version))
}

fn put_version(batch: &mut WriteBatch, key: &[u8], version: Version) {
    batch.put(
        Space::System,
        key.to_vec(),
        system_record(codec::encode_stored(&ver(version))),
    );
}

impl<E: Engine> TxnNode<E> {
    /// Loads the reported low and the watermark (on open).
    pub(crate) fn load_watermark(&mut self) -> Result<(), StorageError> {
        self.watermark.reported = load_version(&mut self.engine, REPORTED_KEY)?;
        self.watermark.released = load_version(&mut self.engine, RELEASED_KEY)?;
        self.watermark.collect = self.watermark.released > Version::ZERO;
        Ok(())
    }

    /// Whether lock requests of `txn` are refused (it is older than the low
    /// this node reported).
    pub(crate) fn too_old(&self, txn: TxnId) -> bool {
        version(txn.timestamp) < self.lock_floor()
    }

    /// Lock requests of transactions below this are refused: the low this
    /// node reported, and the released watermark (every transaction below
    /// it is over everywhere, and its finished markers may be deleted, so
    /// a late request of one would otherwise be granted a lock no decision
    /// can release). The second matters after a lost disk, when the node
    /// adopted its peers' watermark but has reported no low of its own.
    pub(crate) fn lock_floor(&self) -> Version {
        self.watermark.reported.max(self.watermark.released)
    }

    /// Why nothing is answered about `txn` any more, if it is below the
    /// released watermark: it is over everywhere, and its decision record
    /// may be deleted here or at any other home replica. An empty register
    /// below the watermark is not "never accepted" (DESIGN.md I6), and a
    /// Paxos message must not make a register exist again.
    pub(crate) fn forgotten(&self, txn: TxnId) -> Option<Refusal> {
        (version(txn.timestamp) < self.watermark.released).then(|| Refusal::Forgotten {
            released: ver(self.watermark.released),
        })
    }

    /// Asserts what makes forgetting safe: no lock of a transaction below
    /// the released watermark is held here (each member held none of it
    /// when it reported, and refuses it from then on).
    pub(crate) fn assert_no_lock_below_watermark(&self) {
        if self.options.unsafe_watermark_ignores_locks {
            return;
        }
        for txn in self.replica.held.keys() {
            assert!(
                version(txn.timestamp) >= self.watermark.released,
                "txn {txn}: a lock held below the released watermark {:?}",
                self.watermark.released
            );
        }
    }

    /// The released watermark (every transaction below it is over).
    pub fn released_watermark(&self) -> Version {
        self.watermark.released
    }

    /// The watermark's state, for liveness reports: the released
    /// watermark, this node's low now, the lows last heard, the oldest
    /// lock served to each recovering peer, the locks held and the runs
    /// coordinated, and the vote fence's answers if it is fencing.
    pub fn watermark_report(&self) -> String {
        let held: Vec<String> = self
            .replica
            .held
            .values()
            .map(|h| format!("{}#{}", h.record.txn, h.record.attempt))
            .collect();
        let coordinated: Vec<String> = self.coord.txns.keys().map(|t| t.to_string()).collect();
        format!(
            "released {:?}, reported {:?}, low now {:?}, lows {:?}, served {:?}, held {held:?}, coordinating {coordinated:?}, fence {:?}",
            self.watermark.released,
            self.watermark.reported,
            self.local_low(),
            self.watermark.lows,
            self.watermark.served,
            self.replica.fence,
        )
    }

    /// Finished markers and decision registers deleted since start.
    pub fn decision_records_collected(&self) -> u64 {
        self.watermark.collected
    }

    /// Number of finished markers and decision registers stored.
    pub fn decision_records(&mut self) -> usize {
        [keys::FINISHED, keys::REGISTER]
            .iter()
            .map(|prefix| {
                self.engine
                    .scan(
                        &ScanRange::prefix(Space::System, &[*prefix]),
                        Direction::Forward,
                        usize::MAX,
                    )
                    .map_or(0, |r| r.len())
            })
            .sum()
    }

    /// This node's low now.
    fn local_low(&self) -> Version {
        // Every id this node issues from now on is at or above both.
        let clock_ms = self.hlc.last().physical_ms.max(self.now_ms);
        let mut low = Version {
            physical_ms: clock_ms.saturating_sub(self.options.watermark_margin_ms),
            logical: 0,
            node: 0,
        };
        let ignore_locks = self.options.unsafe_watermark_ignores_locks;
        let stakes = self.coord.txns.keys().chain(
            self.replica
                .held
                .keys()
                .chain(self.replica.waiting.iter().map(|w| &w.req.txn))
                .filter(|_| !ignore_locks),
        );
        for txn in stakes {
            low = low.min(version(txn.timestamp));
        }
        for served in self.watermark.served.values() {
            low = low.min(*served);
        }
        low
    }

    /// A lock of `txn` was served to the recovering `peer`.
    pub(crate) fn note_lock_served(&mut self, peer: NodeId, txn: TxnId) {
        let at = self
            .watermark
            .served
            .entry(peer)
            .or_insert(version(txn.timestamp));
        *at = (*at).min(version(txn.timestamp));
    }

    /// Reports the low, recomputes the watermark and deletes a page of
    /// records below it.
    pub(crate) fn watermark_tick(&mut self) {
        let period = self.options.watermark_ms;
        if period == 0 {
            return;
        }
        if self.now_ms >= self.watermark.next_report_ms {
            self.watermark.next_report_ms = self.now_ms.saturating_add(period);
            self.report_low();
        }
        if self.watermark.collect && self.votes() {
            self.collect_page();
        }
    }

    fn report_low(&mut self) {
        let recovering = self.copying_lost_state();
        let low = if recovering {
            Version::ZERO
        } else {
            self.local_low()
        };
        if low > self.watermark.reported {
            let mut batch = WriteBatch::new();
            put_version(&mut batch, REPORTED_KEY, low);
            if let Err(e) = self.engine.write(batch) {
                tracing::warn!(error = %e, "could not store the reported low; not reporting");
                return;
            }
            self.watermark.reported = low;
        }
        let members: Vec<NodeId> = self.view.ring.members().map(|m| m.id).collect();
        for member in members {
            if member != self.id {
                self.send(
                    member,
                    Message::Low {
                        low: ver(low),
                        recovering,
                    },
                );
            }
        }
        self.note_low(self.id, low);
    }

    /// A member's low.
    pub(crate) fn handle_low(&mut self, from: NodeId, low: Ver, recovering: bool) {
        if !recovering {
            self.watermark.served.remove(&from);
        }
        self.note_low(from, version(low));
    }

    fn note_low(&mut self, from: NodeId, low: Version) {
        self.watermark.lows.insert(from, low);
        let view = &self.view;
        let mut min: Option<Version> = None;
        for member in view.ring.members() {
            let Some(low) = self.watermark.lows.get(&member.id) else {
                return;
            };
            min = Some(min.map_or(*low, |m| m.min(*low)));
        }
        let Some(min) = min else { return };
        if min <= self.watermark.released {
            return;
        }
        let mut batch = WriteBatch::new();
        put_version(&mut batch, RELEASED_KEY, min);
        if let Err(e) = self.engine.write(batch) {
            tracing::warn!(error = %e, "could not store the watermark; keeping the old one");
            return;
        }
        self.watermark.released = min;
        self.watermark.collect = true;
        if cfg!(debug_assertions) {
            self.assert_no_lock_below_watermark();
        }
    }

    /// Adopts a peer's released watermark as this node's floor (lost-state
    /// copy, DESIGN.md I6: a node that comes back forgets what its peers
    /// may have deleted before it answers). The watermark only grows.
    pub(crate) fn adopt_released(&mut self, released: Version) -> Result<(), StorageError> {
        if released <= self.watermark.released {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        put_version(&mut batch, RELEASED_KEY, released);
        self.engine.write(batch)?;
        self.watermark.released = released;
        self.watermark.collect = true;
        Ok(())
    }

    /// Deletes up to a page of finished markers and decision registers of
    /// transactions below the watermark.
    fn collect_page(&mut self) {
        let bound = self.watermark.released.to_bytes();
        let mut batch = WriteBatch::new();
        let mut deleted = 0;
        for prefix in [keys::FINISHED, keys::REGISTER] {
            let mut end = vec![prefix];
            end.extend_from_slice(&bound);
            let range = ScanRange {
                space: Space::System,
                start: std::ops::Bound::Included(vec![prefix]),
                end: std::ops::Bound::Excluded(end),
            };
            match self
                .engine
                .scan(&range, Direction::Forward, GC_PAGE - deleted)
            {
                Ok(page) => {
                    deleted += page.len();
                    for (key, _) in page {
                        batch.remove(Space::System, key);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not scan decision records; will retry");
                    return;
                }
            }
            if deleted >= GC_PAGE {
                break;
            }
        }
        if let Err(e) = self.engine.write(batch) {
            tracing::warn!(error = %e, "could not delete decision records; will retry");
            return;
        }
        self.watermark.collected += deleted as u64;
        if deleted < GC_PAGE {
            self.watermark.collect = false;
        }
    }
}

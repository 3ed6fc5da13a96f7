//! Fetch-and-lock at a replica (DESIGN.md 6.1 step 1): all-or-nothing
//! grants, wait-die, refusal of late attempts, and learning a decision
//! (apply the writes, then release).

use std::ops::Bound;

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::{keys, system_record, Finished, LockRecord};
use crate::codec;
use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::{LockRead, Message, RangeEntry};
use crate::node::TxnNode;
use crate::types::{ver, Attempt, Decision, LockMode, TxnId, Versioned};
use crate::RANGE_ASSERT_RECORDS_MAX;

/// An older transaction's lock request waiting for younger holders.
#[derive(Clone, Debug)]
pub(crate) struct Waiting {
    pub(crate) from: NodeId,
    pub(crate) req: LockRead,
    pub(crate) until_ms: u64,
}

/// What a lock request can do now.
enum Verdict {
    Grant,
    Wait,
    Die { key: Vec<u8>, holder: TxnId },
}

impl<E: Engine> TxnNode<E> {
    pub(crate) fn handle_lock_read(&mut self, from: NodeId, req: LockRead) {
        if let Err(reason) = self.check_lock_read(&req) {
            self.refuse(from, &req, reason);
            return;
        }
        // A duplicate of a request already granted: answer again. A lock of
        // this attempt copied from peers during lost-state recovery may
        // cover only some of the keys (a peer locks only its partitions'
        // keys); then the rest is locked like a new request. Bank seed 67
        // of `--faults heavy`: the copied lock covered k3 only, the answer
        // claimed k0 too, a younger transfer held k0 at the same time, and
        // both committed: money was created.
        if self
            .replica
            .held
            .get(&req.txn)
            .is_some_and(|h| h.record.attempt == req.attempt && covers(&h.record, &req))
        {
            self.reply_granted(from, &req);
            return;
        }
        if self
            .replica
            .waiting
            .iter()
            .any(|w| w.req.txn == req.txn && w.req.attempt == req.attempt)
        {
            return;
        }
        if let Err(e) = self.supersede_older_attempts(&req) {
            self.refuse(from, &req, Refusal::Storage(e.to_string()));
            return;
        }
        self.try_lock(from, req);
    }

    /// A newer attempt means the coordinator abandoned (aborted) the older
    /// ones before retrying: a replica holds at most one attempt of a
    /// transaction (DESIGN.md 6.1 step 1, I1), so the older attempt's lock
    /// is released and its queued request refused.
    fn supersede_older_attempts(&mut self, req: &LockRead) -> Result<(), StorageError> {
        if let Some(old) = self.replica.held.get(&req.txn).map(|h| h.record.attempt) {
            if old < req.attempt {
                // Only `Aborted` can be decided for an abandoned attempt, but
                // this replica did not learn it: release without recording
                // it in the register. On failure the old lock stays, and so
                // the new attempt must not be granted over it.
                self.try_learn(req.txn, old, None, &Decision::Aborted)?;
            }
        }
        if self.options.unsafe_grant_woken_without_recheck {
            // Before the fix, older queued requests stayed queued.
            return Ok(());
        }
        let (older, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.replica.waiting)
            .into_iter()
            .partition(|w| w.req.txn == req.txn && w.req.attempt < req.attempt);
        self.replica.waiting = kept.into();
        for w in older {
            self.refuse(w.from, &w.req, Refusal::Finished);
        }
        Ok(())
    }

    /// Refuses a lock request. A blind attempt refused for good (not for
    /// a passing state of this replica: recovering, a storage error) is
    /// refused durably first, so the answer is evidence
    /// that it took no fast path (DESIGN.md 6.1 step 4).
    fn refuse(&mut self, from: NodeId, req: &LockRead, reason: Refusal) {
        let for_good = matches!(
            reason,
            Refusal::Finished
                | Refusal::TooOld { .. }
                | Refusal::StaleVersion { .. }
                | Refusal::WrongEpoch { .. }
        );
        let refused = req.blind.is_some() && for_good && self.refuse_durably(req.txn, req.attempt);
        self.send(
            from,
            Message::LockRefused {
                txn: req.txn,
                attempt: req.attempt,
                reason,
                refused,
            },
        );
    }

    /// Makes sure this replica never prepares `(txn, attempt)`: writes a
    /// `Finished` marker through `attempt` unless one is there. Returns
    /// whether the refusal holds: false when the replica does not vote,
    /// holds the attempt's prepare, resolved it `Committed`, or could not
    /// write (then nothing is claimed).
    pub(crate) fn refuse_durably(&mut self, txn: TxnId, attempt: Attempt) -> bool {
        if !self.votes() || self.holds_attempt(txn, attempt) {
            return false;
        }
        let Ok(mut finished) = self.load_finished(txn) else {
            return false;
        };
        if finished.committed == Some(attempt) {
            return false;
        }
        if finished.refuses(attempt) {
            return true;
        }
        finished.merge(Finished {
            through: attempt,
            committed: None,
        });
        let mut batch = WriteBatch::new();
        batch.put(
            Space::System,
            keys::finished(txn),
            system_record(codec::encode_stored(&finished)),
        );
        self.engine.write(batch).is_ok()
    }

    /// Whether this replica holds the prepare of `(txn, attempt)`.
    pub(crate) fn holds_attempt(&self, txn: TxnId, attempt: Attempt) -> bool {
        self.replica
            .held
            .get(&txn)
            .is_some_and(|h| h.record.attempt == attempt)
    }

    pub(super) fn check_lock_read(&mut self, req: &LockRead) -> Result<(), Refusal> {
        if !self.votes() {
            return Err(Refusal::Recovering);
        }
        let view = &self.view;
        if req.epoch != view.epoch() {
            return Err(Refusal::WrongEpoch {
                replica: view.epoch(),
            });
        }
        for k in &req.keys {
            view.check_strong(&k.key)?;
        }
        for r in &req.ranges {
            view.check_strong(&r.start)?;
        }
        if self.too_old(req.txn) {
            return Err(Refusal::TooOld {
                low: crate::types::ver(self.lock_floor()),
            });
        }
        let finished = self
            .load_finished(req.txn)
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        if finished.refuses(req.attempt) {
            return Err(Refusal::Finished);
        }
        // A replica holds at most one attempt of a transaction: a request
        // of an older attempt than one granted or queued here is late (the
        // coordinator abandoned that attempt), and granting it would replace
        // the newer attempt's lock (issue 14 case 1).
        let newest = if self.options.unsafe_grant_woken_without_recheck {
            // The check before the fix: granted attempts only.
            self.replica.held.get(&req.txn).map(|h| h.record.attempt)
        } else {
            self.newest_attempt_here(req.txn)
        };
        if newest > Some(req.attempt) {
            return Err(Refusal::Finished);
        }
        Ok(())
    }

    /// The newest attempt of `txn` this replica holds a lock for or has a
    /// request of in its queue.
    fn newest_attempt_here(&self, txn: TxnId) -> Option<Attempt> {
        let held = self.replica.held.get(&txn).map(|h| h.record.attempt);
        let queued = self
            .replica
            .waiting
            .iter()
            .filter(|w| w.req.txn == txn)
            .map(|w| w.req.attempt)
            .max();
        held.max(queued)
    }

    /// Grants, queues or refuses a checked request.
    fn try_lock(&mut self, from: NodeId, req: LockRead) {
        match self.verdict(&req) {
            Verdict::Grant => self.grant(from, req),
            Verdict::Wait if self.replica.waiting.len() < self.options.wait_queue_max => {
                // Duplicates returned early and older attempts were
                // superseded: the queue holds one request per transaction.
                assert!(
                    self.options.unsafe_grant_woken_without_recheck
                        || !self.replica.waiting.iter().any(|w| w.req.txn == req.txn),
                    "txn {} attempt {}: a second request of the transaction would be queued",
                    req.txn,
                    req.attempt
                );
                let until_ms = self.now_ms + self.options.wait_max_ms;
                self.replica.waiting.push_back(Waiting {
                    from,
                    req,
                    until_ms,
                });
            }
            Verdict::Wait => {
                let (key, holder) = self.first_conflict(&req).unwrap_or_default_conflict(&req);
                self.send_busy(from, &req, key, holder);
            }
            Verdict::Die { key, holder } => self.send_busy(from, &req, key, holder),
        }
    }

    /// Wait-die said die (or the wait is over). A blind attempt is
    /// refused durably with it: its coordinator may then end it through
    /// the register and retry (DESIGN.md 6.1 step 4).
    fn send_busy(&mut self, from: NodeId, req: &LockRead, key: Vec<u8>, holder: TxnId) {
        let refused = req.blind.is_some() && self.refuse_durably(req.txn, req.attempt);
        self.send(
            from,
            Message::LockBusy {
                txn: req.txn,
                attempt: req.attempt,
                key,
                holder,
                refused,
            },
        );
    }

    fn first_conflict(&self, req: &LockRead) -> Option<(Vec<u8>, TxnId)> {
        self.conflicts(req).into_iter().next()
    }

    /// Every `(key, holder)` whose lock conflicts with the request: a key
    /// held in a conflicting mode, a key the request writes inside a range
    /// another transaction share-locked, and a key another transaction
    /// holds exclusively inside a range the request share-locks.
    pub(super) fn conflicts(&self, req: &LockRead) -> Vec<(Vec<u8>, TxnId)> {
        let mut conflicts = Vec::new();
        for k in &req.keys {
            if let Some(holders) = self.replica.by_key.get(&k.key) {
                for (holder, mode) in holders {
                    if *holder != req.txn && mode.conflicts(k.mode) {
                        conflicts.push((k.key.clone(), *holder));
                    }
                }
            }
        }
        if self.options.unsafe_skip_range_locks {
            return conflicts;
        }
        for holder in &self.replica.ranged {
            if *holder == req.txn {
                continue;
            }
            let ranges = &self.replica.held[holder].record.ranges;
            for k in req.keys.iter().filter(|k| k.mode == LockMode::Exclusive) {
                if ranges.iter().any(|r| r.contains(&k.key)) {
                    conflicts.push((k.key.clone(), *holder));
                }
            }
        }
        for range in &req.ranges {
            let inside = self.replica.by_key.range::<[u8], _>((
                Bound::Included(&range.start[..]),
                Bound::Excluded(&range.end[..]),
            ));
            for (key, holders) in inside {
                for (holder, mode) in holders {
                    if *holder != req.txn && *mode == LockMode::Exclusive {
                        conflicts.push((key.clone(), *holder));
                    }
                }
            }
        }
        conflicts
    }

    /// Wait-die over every conflicting holder, after learning any decision
    /// this replica already knows for them.
    fn verdict(&mut self, req: &LockRead) -> Verdict {
        let conflicts = self.conflicts(req);
        let mut remaining = Vec::new();
        for (key, holder) in conflicts {
            if self.learn_known_decision(holder) {
                continue;
            }
            if self.replica.held.contains_key(&holder) {
                remaining.push((key, holder));
            }
        }
        // Die if any conflicting holder is older than the requester. Two
        // blind prepares are ordered by commit version instead: the one
        // with the lower version could only be refused `StaleVersion` once
        // the other applies, so it dies now and the higher one waits.
        let dies_to = |holder: &TxnId| match (&req.blind, self.blind_version_of(*holder)) {
            (Some(mine), Some(theirs)) => theirs >= mine.version,
            _ => *holder < req.txn,
        };
        if let Some((key, holder)) = remaining
            .iter()
            .filter(|(_, h)| dies_to(h))
            .min_by_key(|(_, h)| *h)
        {
            return Verdict::Die {
                key: key.clone(),
                holder: *holder,
            };
        }
        if remaining.is_empty() {
            Verdict::Grant
        } else {
            Verdict::Wait
        }
    }

    /// The commit version of `holder`'s prepare, if it is blind.
    fn blind_version_of(&self, holder: TxnId) -> Option<crate::types::Ver> {
        let held = self.replica.held.get(&holder)?;
        held.record.blind.as_ref().map(|b| b.version)
    }

    /// If this replica knows the decision of `holder`'s attempt (it is a
    /// home replica that learned it), applies it. Returns whether it did.
    fn learn_known_decision(&mut self, holder: TxnId) -> bool {
        let Some(held) = self.replica.held.get(&holder) else {
            return true;
        };
        let (attempt, home) = (held.record.attempt, held.record.home.clone());
        match self.load_register(holder, attempt) {
            Ok(state) => match state.decided {
                Some(decision) => {
                    self.learn(holder, attempt, &home, &decision);
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    fn grant(&mut self, from: NodeId, req: LockRead) {
        // One attempt per transaction (I1): a request reaches here only
        // after older attempts were superseded and newer ones refused it,
        // so any lock this transaction holds is of the same attempt (a
        // duplicate, or a copy from lost-state recovery). Replacing another
        // attempt's lock is the bug of issue 14 case 1.
        // Strong messages about a namespace this catalog holds eventual were
        // refused (issue 14 case 5): a lock is never taken in one.
        debug_assert!(
            req.keys
                .iter()
                .all(|k| self.view.check_strong(&k.key).is_ok()),
            "txn {}: a lock in a namespace held eventual here",
            req.txn
        );
        let held_attempt = self.replica.held.get(&req.txn).map(|h| h.record.attempt);
        assert!(
            self.options.unsafe_grant_woken_without_recheck
                || held_attempt.is_none_or(|a| a == req.attempt),
            "txn {}: granting attempt {} over attempt {:?}",
            req.txn,
            req.attempt,
            held_attempt
        );
        match self.stored_version_above(&req) {
            Ok(None) => {}
            Ok(Some(stored)) => {
                self.refuse(from, &req, Refusal::StaleVersion { stored });
                return;
            }
            Err(e) => {
                self.refuse(from, &req, Refusal::Storage(e.to_string()));
                return;
            }
        }
        let mut record = LockRecord {
            txn: req.txn,
            attempt: req.attempt,
            home: req.home.clone(),
            lease_ms: req.lease_ms,
            keys: req.keys.clone(),
            ranges: req.ranges.clone(),
            blind: req.blind.clone(),
            copied: false,
        };
        // Keep the keys and ranges of a copied lock of this attempt (see
        // `handle_lock_read`).
        if let Some(held) = self.replica.held.get(&req.txn) {
            if held.record.attempt == req.attempt {
                record.absorb(&held.record);
            }
        }
        if !self.options.unsafe_skip_lock_durability {
            let mut batch = WriteBatch::new();
            batch.put(
                Space::System,
                keys::lock(req.txn),
                system_record(codec::encode_stored(&record)),
            );
            if let Err(e) = self.engine.write(batch) {
                self.refuse(from, &req, Refusal::Storage(e.to_string()));
                return;
            }
        }
        self.remove_held(req.txn);
        self.insert_held(record, self.now_ms);
        self.reply_granted(from, &req);
    }

    /// For a blind request: the highest stored version of its keys here,
    /// if that is not below its commit version (I8).
    pub(super) fn stored_version_above(
        &mut self,
        req: &LockRead,
    ) -> Result<Option<crate::types::Ver>, StorageError> {
        let Some(blind) = &req.blind else {
            return Ok(None);
        };
        let mut highest = None;
        for w in &blind.writes {
            if !self.is_replica_of(&w.partition) {
                continue;
            }
            if let Some(record) = self.engine.get(Space::Data, &w.key)? {
                let stored = ver(record.version);
                if stored >= blind.version && highest.is_none_or(|h| h < stored) {
                    highest = Some(stored);
                }
            }
        }
        if self.options.unsafe_blind_ignores_stored_version {
            return Ok(None);
        }
        Ok(highest)
    }

    fn reply_granted(&mut self, from: NodeId, req: &LockRead) {
        let self_granted = self
            .replica
            .held
            .get(&req.txn)
            .is_some_and(|h| !h.record.copied);
        match self.read_locked(req) {
            Ok((values, ranges)) => self.send(
                from,
                Message::LockGranted {
                    txn: req.txn,
                    attempt: req.attempt,
                    values,
                    ranges,
                    self_granted,
                    clock_ms: self.now_ms,
                },
            ),
            Err(reason) => self.refuse(from, req, reason),
        }
    }

    /// The current record of each requested key, and every record (deleted
    /// ones included) of each requested range.
    #[allow(clippy::type_complexity)]
    fn read_locked(
        &mut self,
        req: &LockRead,
    ) -> Result<(Vec<(Vec<u8>, Option<Versioned>)>, Vec<Vec<RangeEntry>>), Refusal> {
        let storage = |e: StorageError| Refusal::Storage(e.to_string());
        let versioned = crate::types::versioned;
        let mut values = Vec::with_capacity(req.keys.len());
        // A blind prepare's coordinator reads nothing: its writes and
        // version are fixed (the version was checked against the stored
        // one before the grant).
        let reads = if req.blind.is_some() {
            &[][..]
        } else {
            &req.keys[..]
        };
        for k in reads {
            let record = self.engine.get(Space::Data, &k.key).map_err(storage)?;
            values.push((k.key.clone(), record.map(versioned)));
        }
        let mut ranges = Vec::with_capacity(req.ranges.len());
        for range in &req.ranges {
            let scan = ScanRange {
                space: Space::Data,
                start: Bound::Included(range.start.clone()),
                end: Bound::Excluded(range.end.clone()),
            };
            let records = self
                .engine
                .scan(&scan, Direction::Forward, RANGE_ASSERT_RECORDS_MAX + 1)
                .map_err(storage)?;
            if records.len() > RANGE_ASSERT_RECORDS_MAX {
                return Err(Refusal::RangeTooLarge {
                    records_max: RANGE_ASSERT_RECORDS_MAX as u64,
                });
            }
            ranges.push(
                records
                    .into_iter()
                    .map(|(key, record)| RangeEntry {
                        key,
                        version: ver(record.version),
                        live: record.value.is_some(),
                    })
                    .collect(),
            );
        }
        Ok((values, ranges))
    }

    /// Re-evaluates waiting requests in arrival order.
    pub(crate) fn wake_waiting(&mut self) {
        let queue = std::mem::take(&mut self.replica.waiting);
        for w in queue {
            // What the request was checked against on arrival may have
            // changed while it waited (the epoch, the watermark, a decision
            // of its attempt, a newer attempt granted): check it again.
            if !self.options.unsafe_grant_woken_without_recheck {
                if let Err(reason) = self.check_lock_read(&w.req) {
                    self.refuse(w.from, &w.req, reason);
                    continue;
                }
            }
            match self.verdict(&w.req) {
                Verdict::Grant => self.grant(w.from, w.req),
                Verdict::Wait => self.replica.waiting.push_back(w),
                Verdict::Die { key, holder } => self.send_busy(w.from, &w.req, key, holder),
            }
        }
    }

    /// Waiting requests past their time get `LockBusy`.
    pub(crate) fn expire_waiting(&mut self) {
        let now = self.now_ms;
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.replica.waiting)
            .into_iter()
            .partition(|w| w.until_ms <= now);
        self.replica.waiting = kept.into();
        for w in expired {
            let (key, holder) = self
                .first_conflict(&w.req)
                .unwrap_or_default_conflict(&w.req);
            self.send_busy(w.from, &w.req, key, holder);
        }
    }
}

trait ConflictDefault {
    fn unwrap_or_default_conflict(self, req: &LockRead) -> (Vec<u8>, TxnId);
}

impl ConflictDefault for Option<(Vec<u8>, TxnId)> {
    /// When the conflict vanished meanwhile, name the first key and the
    /// requester itself (the coordinator just retries).
    fn unwrap_or_default_conflict(self, req: &LockRead) -> (Vec<u8>, TxnId) {
        self.unwrap_or_else(|| {
            (
                req.keys.first().map(|k| k.key.clone()).unwrap_or_default(),
                req.txn,
            )
        })
    }
}

/// Whether `held` locks every key of `req` at least as strongly, and
/// every range of it.
fn covers(held: &LockRecord, req: &LockRead) -> bool {
    req.keys.iter().all(|k| {
        held.keys.iter().any(|h| {
            h.key == k.key && (h.mode == LockMode::Exclusive || k.mode == LockMode::Shared)
        })
    }) && req.ranges.iter().all(|r| held.ranges.contains(r))
}

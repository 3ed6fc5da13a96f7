//! Fetch-and-lock at a replica (DESIGN.md 6.1 step 1): all-or-nothing
//! grants, wait-die, refusal of late attempts, and learning a decision
//! (apply the writes, then release).

use zerodb_storage::{Engine, Space, StorageError, WriteBatch};

use super::{keys, system_record, Finished, LockRecord};
use crate::codec;
use crate::error::Refusal;
use crate::membership::NodeId;
use crate::message::{LockRead, Message};
use crate::node::TxnNode;
use crate::types::{Attempt, Decision, PartitionId, TxnId, Versioned};

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
            self.send(
                from,
                Message::LockRefused {
                    txn: req.txn,
                    attempt: req.attempt,
                    reason,
                },
            );
            return;
        }
        // A duplicate of a request already granted: answer again.
        if self
            .replica
            .held
            .get(&req.txn)
            .is_some_and(|h| h.record.attempt == req.attempt)
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
        // A newer attempt means the coordinator abandoned (aborted) the older
        // one before retrying: its locks here can go.
        if let Some(old) = self.replica.held.get(&req.txn).map(|h| h.record.attempt) {
            if old < req.attempt {
                // Only `Aborted` can be decided for an abandoned attempt, but
                // this replica did not learn it: release without recording
                // it in the register.
                if let Err(e) = self.try_learn(req.txn, old, None, &Decision::Aborted) {
                    tracing::warn!(txn = %req.txn, error = %e, "could not release a superseded attempt");
                }
            }
        }
        self.try_lock(from, req);
    }

    fn check_lock_read(&mut self, req: &LockRead) -> Result<(), Refusal> {
        if !self.votes() {
            return Err(Refusal::Recovering);
        }
        let view = self.view.as_ref().ok_or(Refusal::NotOwner)?;
        if req.epoch != view.epoch() {
            return Err(Refusal::WrongEpoch {
                replica: view.epoch(),
            });
        }
        let finished = self
            .load_finished(req.txn)
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        if finished.refuses(req.attempt) {
            return Err(Refusal::Finished);
        }
        if self
            .replica
            .held
            .get(&req.txn)
            .is_some_and(|h| h.record.attempt > req.attempt)
        {
            return Err(Refusal::Finished);
        }
        Ok(())
    }

    /// Grants, queues or refuses a checked request.
    fn try_lock(&mut self, from: NodeId, req: LockRead) {
        match self.verdict(&req) {
            Verdict::Grant => self.grant(from, req),
            Verdict::Wait if self.replica.waiting.len() < self.options.wait_queue_max => {
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

    fn send_busy(&mut self, from: NodeId, req: &LockRead, key: Vec<u8>, holder: TxnId) {
        self.send(
            from,
            Message::LockBusy {
                txn: req.txn,
                attempt: req.attempt,
                key,
                holder,
            },
        );
    }

    fn first_conflict(&self, req: &LockRead) -> Option<(Vec<u8>, TxnId)> {
        for k in &req.keys {
            if let Some(holders) = self.replica.by_key.get(&k.key) {
                for (holder, mode) in holders {
                    if *holder != req.txn && mode.conflicts(k.mode) {
                        return Some((k.key.clone(), *holder));
                    }
                }
            }
        }
        None
    }

    /// Wait-die over every conflicting holder, after learning any decision
    /// this replica already knows for them.
    fn verdict(&mut self, req: &LockRead) -> Verdict {
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
        let mut remaining = Vec::new();
        for (key, holder) in conflicts {
            if self.learn_known_decision(holder) {
                continue;
            }
            if self.replica.held.contains_key(&holder) {
                remaining.push((key, holder));
            }
        }
        // Die if any conflicting holder is older than the requester.
        if let Some((key, holder)) = remaining
            .iter()
            .filter(|(_, h)| *h < req.txn)
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
        let record = LockRecord {
            txn: req.txn,
            attempt: req.attempt,
            home: req.home.clone(),
            lease_ms: req.lease_ms,
            keys: req.keys.clone(),
        };
        if !self.options.unsafe_skip_lock_durability {
            let mut batch = WriteBatch::new();
            batch.put(
                Space::System,
                keys::lock(req.txn),
                system_record(codec::encode_stored(&record)),
            );
            if let Err(e) = self.engine.write(batch) {
                self.send(
                    from,
                    Message::LockRefused {
                        txn: req.txn,
                        attempt: req.attempt,
                        reason: Refusal::Storage(e.to_string()),
                    },
                );
                return;
            }
        }
        self.insert_held(record, self.now_ms);
        self.reply_granted(from, &req);
    }

    fn reply_granted(&mut self, from: NodeId, req: &LockRead) {
        let mut values = Vec::with_capacity(req.keys.len());
        for k in &req.keys {
            match self.engine.get(Space::Data, &k.key) {
                Ok(record) => values.push((
                    k.key.clone(),
                    record.map(|r| Versioned {
                        version: r.version.into(),
                        value: r.value,
                    }),
                )),
                Err(e) => {
                    self.send(
                        from,
                        Message::LockRefused {
                            txn: req.txn,
                            attempt: req.attempt,
                            reason: Refusal::Storage(e.to_string()),
                        },
                    );
                    return;
                }
            }
        }
        self.send(
            from,
            Message::LockGranted {
                txn: req.txn,
                attempt: req.attempt,
                values,
            },
        );
    }

    /// Learns the decision of `(txn, attempt)`: records it in the register
    /// when this node is a home replica, applies committed writes of the
    /// partitions it replicates, marks the attempt finished and releases its
    /// locks, all in one batch. Then wakes waiting requests.
    pub(crate) fn learn(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        home: &PartitionId,
        decision: &Decision,
    ) {
        if let Err(e) = self.try_learn(txn, attempt, Some(home), decision) {
            // The engine refused the batch: keep the locks (never drop a
            // lock without recording the decision); recovery will retry.
            tracing::warn!(%txn, attempt, error = %e, "could not apply decision");
            return;
        }
        self.replica
            .recoveries
            .retain(|(t, a), _| !(*t == txn && *a <= attempt));
        self.wake_waiting();
    }

    fn try_learn(
        &mut self,
        txn: TxnId,
        attempt: Attempt,
        home: Option<&PartitionId>,
        decision: &Decision,
    ) -> Result<(), StorageError> {
        if let Decision::Committed { version, .. } = decision {
            self.hlc.observe(version.0);
        }
        if home.is_some_and(|home| self.is_replica_of(home)) {
            let mut state = self.load_register(txn, attempt)?;
            if state.decided.is_none() {
                state.decided = Some(decision.clone());
                self.store_register(txn, attempt, &state)?;
            }
        }
        let mut batch = WriteBatch::new();
        if let Decision::Committed {
            version, writes, ..
        } = decision
        {
            for w in writes {
                if self.is_replica_of(&w.partition) {
                    let record = Versioned {
                        version: *version,
                        value: w.value.clone(),
                    };
                    self.put_if_newer(&mut batch, &w.key, &record)?;
                }
            }
        }
        let mut finished = self.load_finished(txn)?;
        finished.merge(Finished {
            through: attempt,
            committed: decision.is_committed().then_some(attempt),
        });
        batch.put(
            Space::System,
            keys::finished(txn),
            system_record(codec::encode_stored(&finished)),
        );
        let releases = self
            .replica
            .held
            .get(&txn)
            .is_some_and(|h| h.record.attempt <= attempt);
        if releases {
            batch.remove(Space::System, keys::lock(txn));
        }
        self.engine.write(batch)?;
        if releases {
            self.remove_held(txn);
        }
        // Late requests of this or older attempts waiting here are refused.
        let refused: Vec<_> = self
            .replica
            .waiting
            .iter()
            .filter(|w| w.req.txn == txn && finished.refuses(w.req.attempt))
            .map(|w| (w.from, w.req.attempt))
            .collect();
        self.replica
            .waiting
            .retain(|w| !(w.req.txn == txn && finished.refuses(w.req.attempt)));
        for (from, attempt) in refused {
            self.send(
                from,
                Message::LockRefused {
                    txn,
                    attempt,
                    reason: Refusal::Finished,
                },
            );
        }
        Ok(())
    }

    /// Re-evaluates waiting requests in arrival order.
    fn wake_waiting(&mut self) {
        let queue = std::mem::take(&mut self.replica.waiting);
        for w in queue {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use zerodb_storage::{Engine, Incarnation, MemoryEngine, Version};

    use crate::membership::{NodeId, Policies};
    use crate::message::{LockKey, LockRead, Message};
    use crate::node::{Action, TxnNode};
    use crate::options::TxnOptions;
    use crate::testing::test_ring;
    use crate::types::{Decision, Epoch, Key, LockMode, PartitionId, TxnId, Ver};

    fn node() -> TxnNode<MemoryEngine> {
        let mut n = TxnNode::open(
            NodeId(1),
            MemoryEngine::new(Incarnation(1)),
            7,
            TxnOptions::default(),
            true,
        )
        .unwrap();
        n.set_view(test_ring(3), BTreeSet::new(), Policies::default());
        n
    }

    fn txn(age: u64) -> TxnId {
        TxnId {
            timestamp: Ver(Version {
                physical_ms: age,
                logical: 0,
                node: 2,
            }),
            coordinator: 2,
        }
    }

    fn lock_read(txn: TxnId, attempt: u32, keys: &[(&str, LockMode)]) -> LockRead {
        let home = PartitionId {
            namespace: "ns".into(),
            token: 1,
        };
        LockRead {
            txn,
            attempt,
            home: home.clone(),
            epoch: Epoch { ring: 1, policy: 0 },
            lease_ms: 1_000,
            keys: keys
                .iter()
                .map(|(id, mode)| LockKey {
                    key: Key::new("ns", "db", "t", *id).storage_key(),
                    partition: home.clone(),
                    mode: *mode,
                })
                .collect(),
        }
    }

    fn sent(actions: &[Action]) -> Vec<&Message> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { msg, .. } => Some(msg),
                _ => None,
            })
            .collect()
    }

    fn ask(n: &mut TxnNode<MemoryEngine>, req: LockRead) -> Vec<Message> {
        let actions = n.handle_message(10, NodeId(2), Message::LockRead(req));
        sent(&actions).into_iter().cloned().collect()
    }

    fn apply(n: &mut TxnNode<MemoryEngine>, txn: TxnId, attempt: u32, d: Decision) -> Vec<Message> {
        let home = PartitionId {
            namespace: "ns".into(),
            token: 1,
        };
        let msg = Message::Apply {
            txn,
            attempt,
            home,
            decision: d,
        };
        let actions = n.handle_message(20, NodeId(2), msg);
        sent(&actions).into_iter().cloned().collect()
    }

    use LockMode::{Exclusive as X, Shared as S};

    #[test]
    fn shared_locks_share_and_exclusive_ones_do_not() {
        let mut n = node();
        assert!(matches!(
            ask(&mut n, lock_read(txn(5), 1, &[("a", S)]))[..],
            [Message::LockGranted { .. }]
        ));
        assert!(matches!(
            ask(&mut n, lock_read(txn(6), 1, &[("a", S)]))[..],
            [Message::LockGranted { .. }]
        ));
        let out = ask(&mut n, lock_read(txn(7), 1, &[("a", X)]));
        assert!(
            matches!(&out[..], [Message::LockBusy { holder, .. }] if *holder == txn(5) || *holder == txn(6))
        );
    }

    #[test]
    fn a_request_is_granted_all_or_nothing() {
        let mut n = node();
        ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        // Younger: dies on `a`, and must not keep `b`.
        let out = ask(&mut n, lock_read(txn(9), 1, &[("b", X), ("a", X)]));
        assert!(matches!(&out[..], [Message::LockBusy { holder, .. }] if *holder == txn(5)));
        let out = ask(&mut n, lock_read(txn(10), 1, &[("b", X)]));
        assert!(
            matches!(out[..], [Message::LockGranted { .. }]),
            "b was not left locked"
        );
    }

    #[test]
    fn an_older_requester_waits_and_is_granted_on_release() {
        let mut n = node();
        ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
        let out = ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        assert!(out.is_empty(), "the older transaction waits: {out:?}");
        let out = apply(&mut n, txn(9), 1, Decision::Aborted);
        assert!(
            out.iter()
                .any(|m| matches!(m, Message::LockGranted { txn: t, .. } if *t == txn(5))),
            "release wakes the waiter: {out:?}"
        );
        assert_eq!(n.locks_held(), 1);
    }

    #[test]
    fn a_waiter_gives_up_after_the_wait_limit() {
        let mut n = node();
        ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
        assert!(ask(&mut n, lock_read(txn(5), 1, &[("a", X)])).is_empty());
        let at = 10 + TxnOptions::default().wait_max_ms;
        let actions = n.handle_timer(at, crate::node::Timer::Tick);
        assert!(sent(&actions)
            .iter()
            .any(|m| matches!(m, Message::LockBusy { txn: t, .. } if *t == txn(5))));
    }

    #[test]
    fn late_duplicates_of_a_finished_attempt_are_refused() {
        let mut n = node();
        ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        apply(&mut n, txn(5), 1, Decision::Aborted);
        assert_eq!(n.locks_held(), 0);
        let out = ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        assert!(matches!(
            &out[..],
            [Message::LockRefused {
                reason: crate::error::Refusal::Finished,
                ..
            }]
        ));
        assert_eq!(n.locks_held(), 0, "no orphan lock");
        // An Apply that overtakes its LockRead also fences it.
        apply(&mut n, txn(6), 1, Decision::Aborted);
        let out = ask(&mut n, lock_read(txn(6), 1, &[("b", X)]));
        assert!(matches!(out[..], [Message::LockRefused { .. }]));
        // A new attempt of an aborted transaction is welcome.
        let out = ask(&mut n, lock_read(txn(5), 2, &[("a", X)]));
        assert!(matches!(out[..], [Message::LockGranted { .. }]));
    }

    #[test]
    fn a_wrong_epoch_is_refused_with_the_replica_epoch() {
        let mut n = node();
        let mut req = lock_read(txn(5), 1, &[("a", X)]);
        req.epoch.ring = 99;
        let out = ask(&mut n, req);
        assert!(matches!(
            &out[..],
            [Message::LockRefused { reason: crate::error::Refusal::WrongEpoch { replica }, .. }] if replica.ring == 1
        ));
    }

    #[test]
    fn granted_locks_survive_a_crash_once_synced() {
        let mut n = node();
        ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        n.engine_mut().sync().unwrap();
        let mut engine = n.into_engine();
        engine.crash();
        let mut n = TxnNode::open(NodeId(1), engine, 7, TxnOptions::default(), false).unwrap();
        n.set_view(test_ring(3), BTreeSet::new(), Policies::default());
        assert_eq!(n.locks_held(), 1);
        let out = ask(&mut n, lock_read(txn(9), 1, &[("a", X)]));
        assert!(matches!(out[..], [Message::LockBusy { .. }]));
    }

    #[test]
    fn the_durability_switch_keeps_locks_only_in_memory() {
        let options = TxnOptions {
            unsafe_skip_lock_durability: true,
            ..TxnOptions::default()
        };
        let mut n = TxnNode::open(
            NodeId(1),
            MemoryEngine::new(Incarnation(1)),
            7,
            options.clone(),
            true,
        )
        .unwrap();
        n.set_view(test_ring(3), BTreeSet::new(), Policies::default());
        ask(&mut n, lock_read(txn(5), 1, &[("a", X)]));
        n.engine_mut().sync().unwrap();
        let n = TxnNode::open(NodeId(1), n.into_engine(), 7, options, false).unwrap();
        assert_eq!(n.locks_held(), 0);
    }
}

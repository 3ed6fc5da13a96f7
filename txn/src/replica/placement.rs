//! A namespace's placement outlives its drop (issue 14 case 7).
//!
//! A strong transaction's decision register lives on the replica ring of
//! its home partition, and its locks on the rings of its participants;
//! both rings come from the namespace's policy. Dropping a namespace takes
//! its policy out of the view, and [`Policies::get`] then answers with the
//! default policy: a lock of the dropped namespace still held here would
//! be recovered on the default policy's ring, whose quorum may miss every
//! replica that accepted the coordinator's `Committed` (a ring of RF 5
//! asked as RF 3), and decided `Aborted` a second time. Resolving such a
//! lock as aborted is no better: the transaction may have committed, and
//! it may have written to namespaces that are still live.
//!
//! So a node remembers, durably, the policy of every namespace a view has
//! shown it (`P namespace` in the system space), and a view that no longer
//! names a namespace gets the remembered policy back. A live namespace's
//! policy always comes from the view; the memory only fills in names the
//! view lacks. Lost-state copy carries these records with the locks, so a
//! replica that copied a dropped namespace's lock also knows its ring.
//! Policies that change placement are never altered in place, and a
//! dropped name is never reused, so a remembered placement stays right.

use zerodb_storage::{Direction, Engine, ScanRange, Space, StorageError, WriteBatch};

use super::{keys, system_record};
use crate::codec;
use crate::membership::{NamespacePolicy, Policies};
use crate::node::TxnNode;

/// Most namespace placements a node remembers. The catalog allows 1,000
/// live and 10,000 dropped names; past this limit a new name is not
/// remembered (and a warning says so), which only matters if it is later
/// dropped while locks of it are held.
pub(crate) const PLACEMENTS_MAX: usize = 16_384;

impl<E: Engine> TxnNode<E> {
    /// Loads the remembered placements (on open).
    pub(crate) fn load_placements(&mut self) -> Result<(), StorageError> {
        let records = self.engine.scan(
            &ScanRange::prefix(Space::System, &[keys::PLACEMENT]),
            Direction::Forward,
            PLACEMENTS_MAX,
        )?;
        for (key, record) in records {
            let Some(bytes) = record.value else { continue };
            let namespace = keys::placement_namespace(&key).ok_or_else(|| corrupt(&key))?;
            let policy: NamespacePolicy =
                codec::decode(&bytes).map_err(|e| StorageError::Corruption {
                    what: format!("placement of namespace {namespace:?}"),
                    detail: e.to_string(),
                })?;
            self.replica.placements.insert(namespace, policy);
        }
        Ok(())
    }

    /// Remembers the policy of every namespace `policies` names (durably,
    /// synced with the driver's next batch), then gives back the
    /// remembered policy of every namespace it no longer names.
    pub(crate) fn remember_placements(&mut self, policies: &mut Policies) {
        let new: Vec<(String, NamespacePolicy)> = policies
            .namespaces
            .iter()
            .filter(|(name, policy)| self.replica.placements.get(*name) != Some(*policy))
            .map(|(name, policy)| (name.clone(), policy.clone()))
            .collect();
        if let Err(e) = self.store_placements(new) {
            // Not fatal while the namespace is live: the view has its
            // policy, and the next view tries again.
            tracing::warn!(error = %e, "could not remember namespace placements");
        }
        for (name, policy) in &self.replica.placements {
            if !policies.namespaces.contains_key(name) {
                policies.namespaces.insert(name.clone(), policy.clone());
            }
        }
    }

    /// Remembers a placement copied from a peer during lost-state recovery,
    /// unless this node already knows the namespace.
    pub(crate) fn merge_placement(&mut self, key: &[u8], bytes: &[u8]) -> Result<(), StorageError> {
        let (Some(namespace), Ok(policy)) = (
            keys::placement_namespace(key),
            codec::decode::<NamespacePolicy>(bytes),
        ) else {
            return Ok(());
        };
        if self.replica.placements.contains_key(&namespace) {
            return Ok(());
        }
        self.store_placements(vec![(namespace.clone(), policy.clone())])?;
        self.view
            .policies
            .namespaces
            .entry(namespace)
            .or_insert(policy);
        Ok(())
    }

    fn store_placements(
        &mut self,
        new: Vec<(String, NamespacePolicy)>,
    ) -> Result<(), StorageError> {
        let mut room = PLACEMENTS_MAX.saturating_sub(self.replica.placements.len());
        let mut kept = Vec::with_capacity(new.len());
        let mut left_out = 0usize;
        for (name, policy) in new {
            if self.replica.placements.contains_key(&name) {
                kept.push((name, policy));
            } else if room > 0 {
                room -= 1;
                kept.push((name, policy));
            } else {
                left_out += 1;
            }
        }
        if left_out > 0 {
            tracing::warn!(
                namespaces = left_out,
                max = PLACEMENTS_MAX,
                "too many namespace placements to remember; these fall back to the default policy if dropped"
            );
        }
        if kept.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (name, policy) in &kept {
            batch.put(
                Space::System,
                keys::placement(name),
                system_record(codec::encode_stored(policy)),
            );
        }
        self.engine.write(batch)?;
        self.replica.placements.extend(kept);
        Ok(())
    }
}

fn corrupt(key: &[u8]) -> StorageError {
    StorageError::Corruption {
        what: "placement key".to_string(),
        detail: format!("{key:?} does not hold a UTF-8 namespace name"),
    }
}

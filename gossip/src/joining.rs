//! Joining through seeds, publishing this node's metadata and renewing its
//! identity past a later life the cluster remembers.

use crate::codec::{self, Control};
use crate::error::{GossipError, GossipResult};
use crate::gossip::Gossip;
use crate::identity::GossipId;
use crate::metadata::NodeMetadata;
use crate::output::GossipTimer;

impl Gossip {
    pub(crate) fn send_join_requests(&mut self, now_ms: u64) -> GossipResult<()> {
        if self.active || self.left || self.seeds.is_empty() {
            return Ok(());
        }
        let request = Control::JoinRequest { from: self.id };
        for seed in self.seeds.clone() {
            self.send_control(seed, None, &request)?;
        }
        // Seeds whose identity we learned may have missed our announce.
        let known: Vec<GossipId> = self.seed_ids.values().copied().collect();
        for seed in known {
            self.foca.announce(seed, &mut self.collector)?;
        }
        if !self.join_retry_armed {
            self.join_retry_armed = true;
            let at_ms = now_ms + self.jitter(self.config.join_retry_ms);
            self.set_timer(at_ms, GossipTimer::JoinRetry);
        }
        Ok(())
    }

    pub(crate) fn publish_local(&mut self) -> GossipResult<()> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        self.counter += 1;
        let record = NodeMetadata::from_local(self.id, self.counter, local);
        let bytes = codec::encode_metadata(&record)?;
        let limit = self.config.metadata_budget_bytes();
        if bytes.len() > limit {
            self.counter -= 1;
            return Err(GossipError::MetadataTooLarge {
                node: self.id.node,
                len: bytes.len(),
                limit,
            });
        }
        self.store.lock().set_own(record);
        self.foca.add_broadcast(&bytes)?;
        Ok(())
    }

    /// Adopts a new identity (renewed by foca or by us) and republishes the
    /// metadata under its generation.
    pub(crate) fn adopt_identity(&mut self, id: GossipId) -> GossipResult<()> {
        self.id = id;
        let mut tap = self.tap.lock().unwrap_or_else(|poison| poison.into_inner());
        tap.local = Some(id);
        drop(tap);
        self.publish_local()
    }

    /// If the cluster remembers a later life of this node (a restart that
    /// reused an old generation), jump past it.
    pub(crate) fn renew_past_later_lives(&mut self, now_ms: u64) -> GossipResult<()> {
        if self.left {
            return Ok(());
        }
        let seen_by_codec = self
            .tap
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .highest_local_generation_seen;
        let (own_version, seen_in_metadata) = {
            let store = self.store.lock();
            let own = store.get(self.id.node).map(NodeMetadata::version);
            (own, store.newest_local_version_seen())
        };
        let later_life = seen_by_codec > self.id.generation;
        let newer_record = match (seen_in_metadata, own_version) {
            (Some(seen), Some(own)) => seen > own,
            (Some(seen), None) => seen.generation >= self.id.generation,
            (None, _) => false,
        };
        if !later_life && !newer_record {
            return Ok(());
        }
        let highest = seen_by_codec
            .max(seen_in_metadata.map_or(0, |seen| seen.generation))
            .max(self.id.generation);
        let renewed = GossipId {
            generation: highest.saturating_add(1),
            ..self.id
        };
        tracing::info!(old = %self.id, new = %renewed, "renewing past a later life of this node");
        self.foca.change_identity(renewed, &mut self.collector)?;
        self.active = false;
        self.adopt_identity(renewed)?;
        // Rejoin through the seeds with the new identity.
        self.send_join_requests(now_ms)
    }
}

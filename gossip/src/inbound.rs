//! ZeroDB's control messages (join handshake, digest exchange, metadata
//! pushes) and the suspicion notices of Lifeguard's buddy system.

use std::net::SocketAddr;

use zerodb_ring::NodeId;

use crate::codec::Control;
use crate::error::GossipResult;
use crate::gossip::{Gossip, Suspicion};
use crate::identity::GossipId;
use crate::output::{GossipTimer, Output};

impl Gossip {
    pub(crate) fn handle_control(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        control: Control,
    ) -> GossipResult<()> {
        if self.left {
            return Ok(());
        }
        match control {
            Control::JoinRequest { from: joiner } => {
                let reply = Control::JoinAccept { from: self.id };
                self.send_control(from, Some(joiner.node), &reply)
            }
            Control::JoinAccept { from: seed } => {
                self.seed_ids.insert(from, seed);
                if !self.active {
                    self.foca.announce(seed, &mut self.collector)?;
                }
                Ok(())
            }
            Control::DigestSummary { from, hashes } => self.on_digest_summary(from, &hashes),
            Control::DigestEntries {
                from,
                buckets,
                entries,
            } => self.on_digest_entries(from, &buckets, &entries),
            Control::MetadataPush { records, .. } => {
                let mut store = self.store.lock();
                for record in records {
                    store.offer(record);
                }
                Ok(())
            }
            Control::MetadataRequest { from, nodes } => self.push_metadata(from, &nodes),
            Control::SuspectNotice {
                from,
                target,
                incarnation,
            } => self.on_suspect_notice(now_ms, from, target, incarnation),
            Control::Refute { from, incarnation } => {
                self.suspicions.remove(&from.node);
                let alive = foca::Member::new(from, incarnation, foca::State::Alive);
                self.foca
                    .apply_many(std::iter::once(alive), true, &mut self.collector)?;
                Ok(())
            }
        }
    }

    pub(crate) fn on_suspect_notice(
        &mut self,
        _now_ms: u64,
        from: GossipId,
        target: GossipId,
        incarnation: u16,
    ) -> GossipResult<()> {
        if target != self.id {
            return Ok(());
        }
        let suspicion = foca::Member::new(self.id, incarnation, foca::State::Suspect);
        self.foca
            .apply_many(std::iter::once(suspicion), true, &mut self.collector)?;
        // Spread the refutation at once; the headers also tell the codec
        // tap which incarnation foca moved to.
        self.foca.gossip(&mut self.collector)?;
        let incarnation = self
            .tap
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .local_incarnation;
        let refute = Control::Refute {
            from: self.id,
            incarnation,
        };
        self.send_control(from.addr, Some(from.node), &refute)
    }

    pub(crate) fn broadcast_tick(&mut self, now_ms: u64) -> GossipResult<()> {
        let at_ms = now_ms + self.jitter(self.config.gossip_period_ms);
        self.set_timer(at_ms, GossipTimer::BroadcastTick);
        if self.left || self.foca.custom_broadcast_backlog() == 0 {
            return Ok(());
        }
        self.foca.broadcast(&mut self.collector)?;
        Ok(())
    }

    pub(crate) fn start_suspicion(
        &mut self,
        now_ms: u64,
        id: GossipId,
        incarnation: u16,
        after_ms: u64,
    ) {
        let deadline_ms = now_ms + after_ms;
        self.suspicions.insert(
            id.node,
            Suspicion {
                id,
                incarnation,
                deadline_ms,
            },
        );
        let event = self.liveness.suspect(id);
        self.emit(event);
        self.outputs.push(Output::SetTimer {
            at_ms: now_ms,
            timer: GossipTimer::SuspectNotice(id.node),
        });
    }

    pub(crate) fn repeat_suspect_notice(&mut self, now_ms: u64, node: NodeId) -> GossipResult<()> {
        let Some(suspicion) = self.suspicions.get(&node).copied() else {
            return Ok(());
        };
        let still_suspect = self.foca.iter_membership_state().any(|member| {
            member.id() == &suspicion.id
                && member.state() == foca::State::Suspect
                && member.incarnation() == suspicion.incarnation
        });
        if !still_suspect || now_ms >= suspicion.deadline_ms {
            self.suspicions.remove(&node);
            return Ok(());
        }
        let notice = Control::SuspectNotice {
            from: self.id,
            target: suspicion.id,
            incarnation: suspicion.incarnation,
        };
        self.send_control(suspicion.id.addr, Some(node), &notice)?;
        let at_ms = now_ms + self.config.suspect_notice_period_ms;
        self.set_timer(at_ms, GossipTimer::SuspectNotice(node));
        Ok(())
    }
}

//! Turning what foca asked for during one call (sends, timers,
//! notifications) and the metadata changes it caused into [`Output`]s.

use crate::codec::{self, FrameKind};
use crate::error::GossipResult;
use crate::gossip::Gossip;
use crate::identity::GossipId;
use crate::output::{deadline_ms, GossipEvent, GossipTimer, Output};
use crate::view::Liveness;

/// Bound on the rounds of follow-up work one input may trigger (foca output
/// leading to new identities leading to foca input, and so on).
const ABSORB_ROUNDS_MAX: usize = 16;

impl Gossip {
    pub(crate) fn finish(
        &mut self,
        now_ms: u64,
        result: GossipResult<()>,
    ) -> GossipResult<Vec<Output>> {
        let absorbed = self.absorb(now_ms);
        result?;
        absorbed?;
        Ok(std::mem::take(&mut self.outputs))
    }

    pub(crate) fn absorb(&mut self, now_ms: u64) -> GossipResult<()> {
        for _ in 0..ABSORB_ROUNDS_MAX {
            self.absorb_collector(now_ms)?;
            self.absorb_metadata_changes()?;
            self.renew_past_later_lives(now_ms)?;
            if self.collector.is_empty() {
                return Ok(());
            }
        }
        // Work is still pending: it stays in the collector and goes out with
        // the next call, so nothing is lost, only delayed.
        tracing::warn!("gossip absorb bound reached; deferring work to the next input");
        Ok(())
    }

    pub(crate) fn absorb_collector(&mut self, now_ms: u64) -> GossipResult<()> {
        let collector = std::mem::take(&mut self.collector);
        for (to, data) in collector.sends {
            if to.node == self.id.node {
                // foca may remember an earlier life of this node as a down
                // member and announce to it; that would only reach us.
                continue;
            }
            self.outputs.push(Output::Send {
                to: to.addr,
                node: Some(to.node),
                bytes: codec::frame(FrameKind::Swim, &data),
            });
        }
        for (timer, after) in collector.timers {
            if let foca::Timer::ChangeSuspectToDown {
                member_id,
                incarnation,
                ..
            } = &timer
            {
                let after_ms = deadline_ms(0, after);
                self.start_suspicion(now_ms, *member_id, *incarnation, after_ms);
            }
            self.outputs.push(Output::SetTimer {
                at_ms: deadline_ms(now_ms, after),
                timer: GossipTimer::Swim(timer),
            });
        }
        for notification in collector.notifications {
            self.on_notification(now_ms, notification)?;
        }
        Ok(())
    }

    pub(crate) fn on_notification(
        &mut self,
        now_ms: u64,
        notification: foca::OwnedNotification<GossipId>,
    ) -> GossipResult<()> {
        use foca::OwnedNotification as N;
        match notification {
            N::MemberUp(id) => {
                self.suspicions.remove(&id.node);
                let event = self.liveness.set(id, Liveness::Up);
                self.emit(event);
            }
            N::MemberDown(id) => {
                self.suspicions.remove(&id.node);
                let event = self.liveness.set(id, Liveness::Down);
                self.emit(event);
            }
            N::Rename(_, new) => self.liveness.rename(new),
            N::Active => self.active = true,
            N::Idle => {
                self.active = false;
                self.send_join_requests(now_ms)?;
            }
            // After a graceful leave the others declare this node down, as
            // they should; otherwise only at generation u64::MAX (renew
            // refused).
            N::Defunct if self.left => {
                tracing::debug!(id = %self.id, "declared down after leaving");
            }
            N::Defunct => {
                tracing::error!(id = %self.id, "declared down and cannot renew");
            }
            N::Rejoin(id) => self.adopt_identity(id)?,
        }
        Ok(())
    }

    /// Emits `MetadataChanged` and makes sure foca probes every node that
    /// metadata tells us about (the digest exchange may be the only way a
    /// node hears of another).
    pub(crate) fn absorb_metadata_changes(&mut self) -> GossipResult<()> {
        let changed = self.store.lock().take_changed();
        for node in changed {
            self.outputs
                .push(Output::Event(GossipEvent::MetadataChanged(node)));
            if node == self.id.node {
                continue;
            }
            let Some(id) = self.store.lock().identity(node) else {
                continue;
            };
            let unknown = self
                .liveness
                .get(node)
                .is_none_or(|(held, _)| held.generation < id.generation);
            if unknown && !self.left {
                let alive = foca::Member::new(id, 0, foca::State::Alive);
                self.foca
                    .apply_many(std::iter::once(alive), false, &mut self.collector)?;
            }
        }
        Ok(())
    }
}

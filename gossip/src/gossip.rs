//! The gossip state machine: foca (SWIM) plus metadata broadcasts, the join
//! handshake, suspicion notices and the digest exchange, behind a sans-IO
//! `handle_*` interface.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use foca::Foca;
use rand::rngs::StdRng;
use rand::SeedableRng;
use zerodb_ring::{NodeId, NodeStatus, Ring};

use crate::codec::{self, CodecTap, Control, FrameKind, SwimCodec};
use crate::config::GossipConfig;
use crate::digest::RingOrder;
use crate::error::{GossipError, GossipResult};
use crate::identity::GossipId;
use crate::metadata::{LocalMetadata, MetadataVersion, NodeMetadata};
use crate::output::{deadline_ms, Collector, GossipEvent, GossipTimer, Output};
use crate::store::{MetadataBroadcasts, SharedStore};
use crate::view::{Liveness, LivenessView, MemberView};

/// Bound on the rounds of follow-up work one input may trigger (foca output
/// leading to new identities leading to foca input, and so on).
const ABSORB_ROUNDS_MAX: usize = 16;

/// Seed added to the instance seed for the state machine's own RNG (jitter),
/// so it does not replay foca's random choices.
const JITTER_SEED_SALT: u64 = 0x6f73_7369_705f_6a69;

type SwimFoca = Foca<GossipId, SwimCodec, StdRng, MetadataBroadcasts>;

/// A suspicion this node raised and is telling the suspect about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Suspicion {
    pub(crate) id: GossipId,
    pub(crate) incarnation: u16,
    pub(crate) deadline_ms: u64,
}

/// Progress of the digest exchange with the clockwise successor.
#[derive(Debug, Default)]
pub(crate) struct DigestState {
    /// Clockwise steps skipped past the successor (it did not answer).
    pub(crate) skip: usize,
    /// Node a summary was sent to and that has not answered yet.
    pub(crate) awaiting: Option<NodeId>,
    /// Ticks so far (the true successor is retried every few ticks).
    pub(crate) ticks: u64,
}

/// One node's membership and failure detection.
///
/// Every `handle_*`, `join`, `leave` and `set_local_metadata` call returns
/// the outputs it produced (datagrams, timers, events). If a call fails, the
/// outputs produced before the failure stay queued and come with the next
/// call. Time is the driver's millisecond clock (`now_ms`); the crate never
/// reads a clock, and foca itself only deals in durations, which become
/// `SetTimer { at_ms }` deadlines here.
pub struct Gossip {
    pub(crate) foca: SwimFoca,
    pub(crate) config: GossipConfig,
    pub(crate) id: GossipId,
    pub(crate) store: SharedStore,
    tap: Arc<Mutex<CodecTap>>,
    pub(crate) rng: StdRng,
    pub(crate) collector: Collector,
    pub(crate) liveness: LivenessView,
    pub(crate) outputs: Vec<Output>,
    local: Option<LocalMetadata>,
    counter: u64,
    seeds: Vec<SocketAddr>,
    seed_ids: BTreeMap<SocketAddr, GossipId>,
    active: bool,
    join_retry_armed: bool,
    left: bool,
    ticking: bool,
    pub(crate) digest: DigestState,
    pub(crate) ring_order: RingOrder,
    pub(crate) suspicions: BTreeMap<NodeId, Suspicion>,
}

impl Gossip {
    /// A node with identity `id`. `seed` seeds all randomness. The
    /// generation in `id` must be higher than in any previous life of this
    /// node id (persist it and add one on every start); a node that finds a
    /// later life of itself in the cluster renews past it anyway.
    pub fn new(id: GossipId, config: GossipConfig, seed: u64) -> GossipResult<Gossip> {
        let foca_config = config.foca_config()?;
        let store = SharedStore::default();
        store.lock().set_local(id.node);
        let tap = Arc::new(Mutex::new(CodecTap {
            local: Some(id),
            ..CodecTap::default()
        }));
        let foca = Foca::with_custom_broadcast(
            id,
            foca_config,
            StdRng::seed_from_u64(seed),
            SwimCodec::new(tap.clone()),
            MetadataBroadcasts {
                store: store.clone(),
            },
        );
        Ok(Gossip {
            foca,
            config,
            id,
            store,
            tap,
            rng: StdRng::seed_from_u64(seed ^ JITTER_SEED_SALT),
            collector: Collector::default(),
            liveness: LivenessView::default(),
            outputs: Vec::new(),
            local: None,
            counter: 0,
            seeds: Vec::new(),
            seed_ids: BTreeMap::new(),
            active: false,
            join_retry_armed: false,
            left: false,
            ticking: false,
            digest: DigestState::default(),
            ring_order: RingOrder::default(),
            suspicions: BTreeMap::new(),
        })
    }

    /// Current identity (the generation grows when the node renews).
    pub fn id(&self) -> GossipId {
        self.id
    }

    /// The settings in use.
    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// True once at least one member knows this node's current identity.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Joins the cluster through `seeds` (transport addresses). The first
    /// node of a cluster calls it with no seeds (others join through it).
    /// The join is retried every `join_retry_ms` until the node is active,
    /// and again whenever it loses every peer.
    pub fn join(&mut self, now_ms: u64, seeds: &[SocketAddr]) -> GossipResult<Vec<Output>> {
        if self.left {
            return Err(GossipError::Left);
        }
        self.seeds = seeds
            .iter()
            .copied()
            .filter(|seed| *seed != self.id.addr)
            .collect();
        if !self.ticking {
            self.ticking = true;
            let at_ms = now_ms + self.jitter(self.config.digest_period_ms);
            self.set_timer(at_ms, GossipTimer::DigestTick);
            let at_ms = now_ms + self.jitter(self.config.gossip_period_ms);
            self.set_timer(at_ms, GossipTimer::BroadcastTick);
        }
        // The first round goes out even if a restored view made foca
        // believe it is connected already: the seeds must learn this life.
        let active = std::mem::replace(&mut self.active, false);
        let sent = self.send_join_requests(now_ms);
        self.active = active;
        self.finish(now_ms, sent)
    }

    /// Seeds the view with known members, as a configured initial cluster
    /// or a view persisted before a restart would: their metadata is stored
    /// and foca starts probing them, without broadcasting anything. Records
    /// about this node are ignored. Call before [`Gossip::join`]; stale
    /// records are corrected by probing and the digest exchange.
    pub fn restore_view(
        &mut self,
        now_ms: u64,
        records: Vec<NodeMetadata>,
    ) -> GossipResult<Vec<Output>> {
        if self.left {
            return Err(GossipError::Left);
        }
        let mut identities = Vec::new();
        {
            let mut store = self.store.lock();
            for record in records {
                if record.node() != self.id.node {
                    identities.push(record.id);
                    store.offer(record);
                }
            }
        }
        let members = identities
            .into_iter()
            .map(|id| foca::Member::new(id, 0, foca::State::Alive));
        let result = self.foca.apply_many(members, false, &mut self.collector);
        self.finish(now_ms, result.map_err(GossipError::from))
    }

    /// Leaves the cluster gracefully: the members learn at once that this
    /// node is gone instead of detecting it. Status changes (leaving, left)
    /// are separate, explicit metadata updates.
    pub fn leave(&mut self, now_ms: u64) -> GossipResult<Vec<Output>> {
        if self.left {
            return Ok(Vec::new());
        }
        let result = self.foca.leave_cluster(&mut self.collector);
        self.left = true;
        self.active = false;
        self.finish(now_ms, result.map_err(GossipError::from))
    }

    /// Publishes new metadata for this node; it replaces the previous record
    /// everywhere (the version counter is bumped here).
    pub fn set_local_metadata(
        &mut self,
        now_ms: u64,
        local: LocalMetadata,
    ) -> GossipResult<Vec<Output>> {
        self.local = Some(local);
        let result = self.publish_local();
        self.finish(now_ms, result)
    }

    /// Handles one datagram received from `from`. Malformed input is an
    /// error and changes nothing.
    pub fn handle_datagram(
        &mut self,
        now_ms: u64,
        from: SocketAddr,
        bytes: &[u8],
    ) -> GossipResult<Vec<Output>> {
        if bytes.len() > self.config.datagram_limit_bytes {
            return Err(GossipError::TooLarge {
                from,
                len: bytes.len(),
                limit: self.config.datagram_limit_bytes,
            });
        }
        let (kind, payload) = codec::unframe(from, bytes)?;
        let result = match kind {
            FrameKind::Swim => self
                .foca
                .handle_data(payload, &mut self.collector)
                .map_err(GossipError::from),
            FrameKind::Control => {
                let control = codec::decode_control(payload)?;
                self.handle_control(now_ms, from, control)
            }
        };
        self.finish(now_ms, result)
    }

    /// Handles a timer set earlier through [`Output::SetTimer`].
    pub fn handle_timer(&mut self, now_ms: u64, timer: GossipTimer) -> GossipResult<Vec<Output>> {
        let result = match timer {
            GossipTimer::Swim(timer) => self
                .foca
                .handle_timer(timer, &mut self.collector)
                .map_err(GossipError::from),
            GossipTimer::JoinRetry => {
                self.join_retry_armed = false;
                self.send_join_requests(now_ms)
            }
            GossipTimer::DigestTick => self.digest_tick(now_ms),
            GossipTimer::BroadcastTick => self.broadcast_tick(now_ms),
            GossipTimer::SuspectNotice(node) => self.repeat_suspect_notice(now_ms, node),
        };
        self.finish(now_ms, result)
    }

    /// Every member with known metadata, this node included, with health.
    pub fn members(&self) -> Vec<MemberView> {
        let store = self.store.lock();
        store
            .records()
            .map(|record| MemberView {
                member: record.to_member(),
                addr: record.id.addr,
                generation: record.id.generation,
                liveness: self.liveness_of(record.node()),
                metadata_version: record.version(),
                cluster_metadata_version: record.cluster_metadata_version,
            })
            .collect()
    }

    /// Health of `node` (this node is always up; unknown nodes are down).
    pub fn liveness_of(&self, node: NodeId) -> Liveness {
        if node == self.id.node {
            return if self.left {
                Liveness::Down
            } else {
                Liveness::Up
            };
        }
        self.liveness
            .get(node)
            .map_or(Liveness::Down, |(_, liveness)| liveness)
    }

    /// Nodes currently considered down (for coordinators' failover).
    pub fn down_nodes(&self) -> BTreeSet<NodeId> {
        self.liveness
            .iter()
            .filter(|(_, _, liveness)| *liveness == Liveness::Down)
            .map(|(node, _, _)| node)
            .collect()
    }

    /// The metadata record held for `node`.
    pub fn metadata(&self, node: NodeId) -> Option<NodeMetadata> {
        self.store.lock().get(node).cloned()
    }

    /// The version of the metadata record held for `node`.
    pub fn metadata_version(&self, node: NodeId) -> Option<MetadataVersion> {
        self.store.lock().get(node).map(NodeMetadata::version)
    }

    /// The ring of the `Normal` members at `epoch`. Health plays no part: a
    /// down node keeps its place until an operator removes it.
    pub fn ring(&self, epoch: u64) -> Ring {
        let store = self.store.lock();
        let members: Vec<_> = store
            .records()
            .filter(|record| record.status == NodeStatus::Normal)
            .map(NodeMetadata::to_member)
            .collect();
        Ring::new(epoch, members)
    }

    // -----------------------------------------------------------------
    // Internals shared with the digest module.

    pub(crate) fn send_control(
        &mut self,
        to: SocketAddr,
        node: Option<NodeId>,
        control: &Control,
    ) -> GossipResult<()> {
        let bytes = codec::encode_control(control)?;
        if bytes.len() > self.config.datagram_limit_bytes {
            return Err(GossipError::Encode {
                reason: format!(
                    "control datagram of {} bytes exceeds the {}-byte limit",
                    bytes.len(),
                    self.config.datagram_limit_bytes
                ),
            });
        }
        self.outputs.push(Output::Send { to, node, bytes });
        Ok(())
    }

    pub(crate) fn set_timer(&mut self, at_ms: u64, timer: GossipTimer) {
        self.outputs.push(Output::SetTimer { at_ms, timer });
    }

    /// `period` with up to ±10% jitter so that nodes do not synchronise.
    pub(crate) fn jitter(&mut self, period: u64) -> u64 {
        use rand::RngExt;
        let spread = period / 10;
        if spread == 0 {
            return period;
        }
        period - spread + self.rng.random_range(0..=2 * spread)
    }

    pub(crate) fn is_left(&self) -> bool {
        self.left
    }

    fn emit(&mut self, event: Option<GossipEvent>) {
        if let Some(event) = event {
            self.outputs.push(Output::Event(event));
        }
    }

    // -----------------------------------------------------------------
    // Join, identity and metadata.

    fn send_join_requests(&mut self, now_ms: u64) -> GossipResult<()> {
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

    fn publish_local(&mut self) -> GossipResult<()> {
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
    fn adopt_identity(&mut self, id: GossipId) -> GossipResult<()> {
        self.id = id;
        let mut tap = self.tap.lock().unwrap_or_else(|poison| poison.into_inner());
        tap.local = Some(id);
        drop(tap);
        self.publish_local()
    }

    /// If the cluster remembers a later life of this node (a restart that
    /// reused an old generation), jump past it.
    fn renew_past_later_lives(&mut self, now_ms: u64) -> GossipResult<()> {
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

    // -----------------------------------------------------------------
    // Control messages.

    fn handle_control(
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

    fn on_suspect_notice(
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

    fn broadcast_tick(&mut self, now_ms: u64) -> GossipResult<()> {
        let at_ms = now_ms + self.jitter(self.config.gossip_period_ms);
        self.set_timer(at_ms, GossipTimer::BroadcastTick);
        if self.left || self.foca.custom_broadcast_backlog() == 0 {
            return Ok(());
        }
        self.foca.broadcast(&mut self.collector)?;
        Ok(())
    }

    fn start_suspicion(&mut self, now_ms: u64, id: GossipId, incarnation: u16, after_ms: u64) {
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

    fn repeat_suspect_notice(&mut self, now_ms: u64, node: NodeId) -> GossipResult<()> {
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

    // -----------------------------------------------------------------
    // Turning foca's requests into outputs.

    fn finish(&mut self, now_ms: u64, result: GossipResult<()>) -> GossipResult<Vec<Output>> {
        let absorbed = self.absorb(now_ms);
        result?;
        absorbed?;
        Ok(std::mem::take(&mut self.outputs))
    }

    fn absorb(&mut self, now_ms: u64) -> GossipResult<()> {
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

    fn absorb_collector(&mut self, now_ms: u64) -> GossipResult<()> {
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

    fn on_notification(
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
            N::Defunct => {
                // Only reachable at generation u64::MAX (renew refused).
                tracing::error!(id = %self.id, "declared down and cannot renew");
            }
            N::Rejoin(id) => self.adopt_identity(id)?,
        }
        Ok(())
    }

    /// Emits `MetadataChanged` and makes sure foca probes every node that
    /// metadata tells us about (the digest exchange may be the only way a
    /// node hears of another).
    fn absorb_metadata_changes(&mut self) -> GossipResult<()> {
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

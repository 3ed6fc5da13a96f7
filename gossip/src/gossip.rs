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
use crate::output::{Collector, GossipEvent, GossipTimer, Output};
use crate::store::{MetadataBroadcasts, SharedStore};
use crate::view::{Liveness, LivenessView, MemberView};

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
    pub(crate) tap: Arc<Mutex<CodecTap>>,
    pub(crate) rng: StdRng,
    pub(crate) collector: Collector,
    pub(crate) liveness: LivenessView,
    pub(crate) outputs: Vec<Output>,
    pub(crate) local: Option<LocalMetadata>,
    pub(crate) counter: u64,
    pub(crate) seeds: Vec<SocketAddr>,
    pub(crate) seed_ids: BTreeMap<SocketAddr, GossipId>,
    pub(crate) active: bool,
    pub(crate) join_retry_armed: bool,
    pub(crate) left: bool,
    pub(crate) ticking: bool,
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

    pub(crate) fn emit(&mut self, event: Option<GossipEvent>) {
        if let Some(event) = event {
            self.outputs.push(Output::Event(event));
        }
    }
}

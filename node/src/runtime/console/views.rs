//! What the console's JSON API answers, and how the event loop builds it
//! from the node core: the ring (members, tokens, health), a key's
//! placement, the namespaces and their roles, and each node's figures.
//!
//! Tokens are 64-bit: JSON numbers lose precision past 2^53 in a browser,
//! so a token travels as a decimal string beside its `position`, its
//! fraction of the ring in `[0, 1)` for drawing.

use std::collections::BTreeMap;

use serde::Serialize;
use zerodb_ring::{NodeId, NodeStatus, Token};

use crate::api::{InfoReport, StatusReport};
use crate::core::catalog::Catalog;
use crate::core::KeyPlacement;

/// The ring as the answering node sees it (`GET /api/ring`).
#[derive(Clone, Debug, Serialize)]
pub struct RingView {
    /// The answering node.
    pub node: u32,
    /// Ring epoch.
    pub epoch: u64,
    /// Replication factor of the default policy.
    pub replication_factor: u32,
    /// Every member, by id.
    pub members: Vec<MemberView>,
    /// Every owned token in ring order with its owner.
    pub tokens: Vec<TokenView>,
    /// Open moves of the elastic ring (joins, decommissions): always empty
    /// until moves exist; the page already has a place for them.
    pub moves: Vec<String>,
}

/// One member of the ring.
#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    /// Node id.
    pub id: u32,
    /// QUIC address.
    pub address: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Tokens it holds.
    pub tokens: u32,
    /// Share of the ring it replicates under the default policy, parts per
    /// million.
    pub ownership_ppm: u32,
    /// `up`, `suspect`, `down` (gossip), or `recovering` for a live member
    /// copying lost state (known for the answering node only: the others'
    /// replica status is not gossiped yet).
    pub health: String,
    /// Lifecycle status in the ring: `normal`, `joining`, `leaving`, ...
    pub status: String,
    /// Catalog version it holds (0: not known yet).
    pub catalog_version: u64,
}

/// One token of the ring.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenView {
    /// The token, as a decimal string.
    pub token: String,
    /// Its place on the ring, in `[0, 1)`.
    pub position: f64,
    /// Its owner.
    pub node: u32,
}

impl TokenView {
    /// The view of `token` owned by `node`.
    pub fn new(token: Token, node: NodeId) -> TokenView {
        TokenView {
            token: token.0.to_string(),
            position: position(token),
            node: node.0,
        }
    }
}

/// The fraction of the ring before `token`, in `[0, 1)`.
pub fn position(token: Token) -> f64 {
    // 2^64 as a float; u64 -> f64 rounds, which a drawing does not see.
    token.0 as f64 / 18_446_744_073_709_551_616.0
}

/// The ring view from a status report, the ring's tokens and statuses.
pub fn ring_view(
    status: &StatusReport,
    tokens: Vec<TokenView>,
    statuses: &BTreeMap<u32, NodeStatus>,
) -> RingView {
    let members = status
        .members
        .iter()
        .map(|member| {
            let lifecycle = statuses.get(&member.id).copied();
            let recovering = lifecycle == Some(NodeStatus::Recovering)
                || (member.id == status.node && status.replica_status == "recovering");
            let health = if member.health == "up" && recovering {
                "recovering".to_string()
            } else {
                member.health.clone()
            };
            MemberView {
                id: member.id,
                address: member.address.clone(),
                region: member.region.clone(),
                zone: member.zone.clone(),
                tokens: member.tokens,
                ownership_ppm: member.ownership_ppm,
                health,
                status: lifecycle.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
                catalog_version: member.catalog_version,
            }
        })
        .collect();
    RingView {
        node: status.node,
        epoch: status.ring_epoch,
        replication_factor: status.replication_factor,
        members,
        tokens,
        moves: Vec::new(),
    }
}

/// A key's placement (`GET /api/placement`).
#[derive(Clone, Debug, Serialize)]
pub struct PlacementView {
    /// The namespace.
    pub namespace: String,
    /// The database.
    pub database: String,
    /// The table.
    pub table: String,
    /// The record id (as its UTF-8 bytes were hashed).
    pub id: String,
    /// The namespace's partition level: which prefix of the key was hashed.
    pub partition_level: String,
    /// The partition token, as a decimal string.
    pub token: String,
    /// Its place on the ring, in `[0, 1)`.
    pub position: f64,
    /// The replica ring, in ring order.
    pub replicas: Vec<u32>,
}

impl PlacementView {
    /// The view of `placement` for the key's parts.
    pub fn new(parts: [String; 4], placement: &KeyPlacement) -> PlacementView {
        let [namespace, database, table, id] = parts;
        PlacementView {
            namespace,
            database,
            table,
            id,
            partition_level: placement.policy.partition_level.to_string(),
            token: placement.token.0.to_string(),
            position: position(placement.token),
            replicas: placement.replicas.iter().map(|node| node.0).collect(),
        }
    }
}

/// The namespaces (`GET /api/namespaces`).
#[derive(Clone, Debug, Serialize)]
pub struct NamespacesView {
    /// Version of the catalog shown (`None`: not loaded yet).
    pub catalog_version: Option<u64>,
    /// Cluster admins.
    pub admins: Vec<String>,
    /// Every namespace, by name.
    pub namespaces: Vec<NamespaceView>,
}

/// One namespace with its policy and roles.
#[derive(Clone, Debug, Serialize)]
pub struct NamespaceView {
    /// Name.
    pub name: String,
    /// `strong` or `eventual`.
    pub consistency: String,
    /// Replication factor.
    pub replication_factor: usize,
    /// `database`, `table` or `record`.
    pub partition_level: String,
    /// Regions it is pinned to (empty: any).
    pub regions: Vec<String>,
    /// User -> role in this namespace.
    pub roles: BTreeMap<String, String>,
}

/// The namespaces of `catalog` (none when the node has not loaded it).
pub fn namespaces_view(catalog: Option<&Catalog>) -> NamespacesView {
    let Some(catalog) = catalog else {
        return NamespacesView {
            catalog_version: None,
            admins: Vec::new(),
            namespaces: Vec::new(),
        };
    };
    let namespaces = catalog
        .namespaces
        .iter()
        .map(|(name, policy)| NamespaceView {
            name: name.clone(),
            consistency: policy.consistency.to_string(),
            replication_factor: policy.replication_factor,
            partition_level: policy.partition_level.to_string(),
            regions: policy.regions.clone(),
            roles: catalog
                .users
                .iter()
                .filter_map(|(user, entry)| {
                    let role = entry.roles.get(name)?;
                    Some((user.clone(), role.to_string()))
                })
                .collect(),
        })
        .collect();
    NamespacesView {
        catalog_version: Some(catalog.version),
        admins: catalog
            .users
            .iter()
            .filter(|(_, entry)| entry.admin)
            .map(|(user, _)| user.clone())
            .collect(),
        namespaces,
    }
}

/// One node's figures, or why they could not be had (`GET /api/metrics`).
#[derive(Clone, Debug, Serialize)]
pub struct NodeFigures {
    /// The node.
    pub node: u32,
    /// When the answering node had these figures, in milliseconds since it
    /// started: the page divides by the difference of two of these, so a
    /// rate does not depend on when the browser's fetch came back.
    pub sampled_ms: u64,
    /// Its counters and gauges; `None` when it did not answer.
    pub figures: Option<FiguresView>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// The counters the page charts as rates, and a few gauges.
#[derive(Clone, Debug, Serialize)]
pub struct FiguresView {
    /// Seconds since the node started.
    pub uptime_seconds: u64,
    /// Client requests answered (counter).
    pub requests: u64,
    /// Requests answered with an error (counter).
    pub request_errors: u64,
    /// Writes and transactions committed (counter).
    pub committed: u64,
    /// Transactions aborted (counter).
    pub aborted: u64,
    /// Blind writes committed on the fast path (counter).
    pub fast_path_commits: u64,
    /// Blind writes committed on the classic path (counter).
    pub classic_path_commits: u64,
    /// Engine syncs, i.e. fsyncs of group commits (counter).
    pub fsyncs: u64,
    /// Median request latency, microseconds (since start).
    pub latency_p50_us: u64,
    /// 99th percentile request latency, microseconds (since start).
    pub latency_p99_us: u64,
    /// Median request latency of the last 10 to 20 s, microseconds (0: no
    /// request then): the page charts it over time.
    pub recent_p50_us: u64,
    /// 99th percentile request latency of the last 10 to 20 s.
    pub recent_p99_us: u64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Records in the engine.
    pub records: u64,
}

impl From<&InfoReport> for FiguresView {
    fn from(info: &InfoReport) -> FiguresView {
        FiguresView {
            uptime_seconds: info.uptime_seconds,
            requests: info.requests,
            request_errors: info.request_errors,
            committed: info.committed,
            aborted: info.aborted,
            fast_path_commits: info.fast_path_commits,
            classic_path_commits: info.classic_path_commits,
            fsyncs: info.batches_synced,
            latency_p50_us: info.latency_p50_us,
            latency_p99_us: info.latency_p99_us,
            recent_p50_us: info.recent_latency_p50_us,
            recent_p99_us: info.recent_latency_p99_us,
            in_flight: info.in_flight,
            records: info.records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MemberStatus;

    fn member(id: u32, health: &str) -> MemberStatus {
        MemberStatus {
            id,
            address: format!("127.0.0.1:{}", 7400 + id),
            region: "local".into(),
            zone: format!("z{id}"),
            tokens: 2,
            ownership_ppm: 1_000_000,
            up: health != "down",
            health: health.into(),
            catalog_version: 1,
        }
    }

    #[test]
    fn token_positions_cover_the_ring_from_zero_to_just_below_one() {
        assert_eq!(position(Token(0)), 0.0);
        assert_eq!(position(Token(1 << 63)), 0.5);
        assert!(position(Token(u64::MAX)) <= 1.0);
        let view = TokenView::new(Token(u64::MAX), NodeId(2));
        assert_eq!(view.token, "18446744073709551615", "exact, as a string");
    }

    #[test]
    fn a_live_recovering_node_shows_recovering_and_a_down_one_stays_down() {
        let status = StatusReport {
            node: 1,
            ring_epoch: 1,
            replication_factor: 3,
            replica_status: "recovering".into(),
            members: vec![member(1, "up"), member(2, "suspect"), member(3, "down")],
            local_records: None,
        };
        let statuses = BTreeMap::from([
            (1, NodeStatus::Normal),
            (2, NodeStatus::Normal),
            (3, NodeStatus::Recovering),
        ]);
        let view = ring_view(&status, Vec::new(), &statuses);
        let health: Vec<&str> = view.members.iter().map(|m| m.health.as_str()).collect();
        assert_eq!(health, ["recovering", "suspect", "down"]);
        assert_eq!(view.members[2].status, "recovering");
        assert!(view.moves.is_empty());
    }
}

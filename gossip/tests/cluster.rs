//! Behaviour of gossip clusters in the deterministic simulator: joins,
//! crashes, restarts, metadata, digest repair, leaves and partitions.

use zerodb_gossip::simulation::{sim_metadata, NetworkConfig, SimCluster};
use zerodb_gossip::{GossipConfig, GossipEvent, Liveness};
use zerodb_ring::{NodeId, NodeStatus};

const TOKENS: usize = 64;

fn config() -> GossipConfig {
    GossipConfig {
        expected_cluster_size: 16,
        ..GossipConfig::default()
    }
}

/// A converged cluster of `size` nodes; node 0 bootstraps, the rest join
/// through nodes 0 and 1.
fn cluster(size: usize, loss: f64, seed: u64) -> SimCluster {
    let network = NetworkConfig {
        loss,
        ..NetworkConfig::default()
    };
    let mut sim = SimCluster::new(seed, network);
    for index in 0..size {
        sim.add_node(&config(), sim_metadata(index, TOKENS));
    }
    sim.start(0, &[]);
    for index in 1..size {
        sim.start(index, &[0, 1]);
    }
    let converged = sim.run_until_true(30_000, 100, SimCluster::views_agree);
    assert!(
        converged.is_some(),
        "cluster of {size} did not converge in 30 s"
    );
    sim
}

#[test]
fn join_of_several_nodes_converges() {
    let mut sim = cluster(8, 0.0, 1);
    assert_eq!(sim.stats.errors, 0);
    // A late joiner is seen by everyone and sees everyone.
    let late = sim.add_node(&config(), sim_metadata(8, TOKENS));
    sim.start(late, &[3]);
    let joined = sim.run_until_true(sim.now_ms + 20_000, 100, SimCluster::views_agree);
    assert!(joined.is_some(), "late joiner did not converge");
    let gossip = sim.nodes[late].gossip.as_ref().unwrap();
    assert!(gossip.is_active());
    assert_eq!(gossip.members().len(), 9);
    assert!(sim.stats.largest_datagram <= GossipConfig::default().datagram_limit_bytes);
}

#[test]
fn join_converges_under_loss() {
    let sim = cluster(12, 0.10, 2);
    assert_eq!(sim.stats.false_downs, 0);
}

#[test]
fn crashed_node_is_detected_as_down() {
    let mut sim = cluster(10, 0.05, 3);
    let start = sim.now_ms;
    sim.crash(4);
    let seen = sim.run_until_true(start + 15_000, 50, |sim| sim.all_see_down(4));
    let at = seen.expect("crash not detected by every node within 15 s");
    assert!(at - start <= 6_000, "detection took {} ms", at - start);
    let downs = sim
        .events
        .iter()
        .filter(|(time, _, event)| *time >= start && *event == GossipEvent::Down(NodeId(5)))
        .count();
    assert_eq!(downs, 9, "every live node reports the crash once");
    assert_eq!(sim.stats.false_downs, 0);
    // Down nodes keep their place in the ring.
    let ring = sim.nodes[0].gossip.as_ref().unwrap().ring(1);
    assert!(ring.member(NodeId(5)).is_some());
    let down = sim.nodes[0].gossip.as_ref().unwrap().down_nodes();
    assert!(down.contains(&NodeId(5)));
}

#[test]
fn restarted_node_with_a_renewed_identity_rejoins() {
    let mut sim = cluster(6, 0.0, 4);
    sim.crash(2);
    let start = sim.now_ms;
    assert!(sim
        .run_until_true(start + 15_000, 50, |sim| sim.all_see_down(2))
        .is_some());
    // The driver persisted generation 1 and restarts with 2.
    sim.restart(2, &config(), 2, &[0]);
    assert!(
        sim.run_until_true(sim.now_ms + 20_000, 100, SimCluster::views_agree)
            .is_some(),
        "restarted node did not rejoin"
    );
    for observer in [0, 1, 3, 4, 5] {
        let gossip = sim.nodes[observer].gossip.as_ref().unwrap();
        assert_eq!(gossip.liveness_of(NodeId(3)), Liveness::Up);
        assert_eq!(gossip.metadata(NodeId(3)).unwrap().id.generation, 2);
    }
}

#[test]
fn restart_with_a_stale_generation_renews_past_the_old_life() {
    let mut sim = cluster(6, 0.0, 5);
    // The first life publishes a second metadata version.
    let mut metadata = sim_metadata(3, TOKENS);
    metadata.cluster_metadata_version = 3;
    sim.set_metadata(3, metadata);
    sim.run_until(sim.now_ms + 3_000);
    // Restart at once, reusing generation 1 (the driver lost its state):
    // the cluster still believes generation 1 is alive.
    sim.crash(3);
    sim.restart(3, &config(), 1, &[0]);
    assert!(
        sim.run_until_true(sim.now_ms + 30_000, 100, SimCluster::views_agree)
            .is_some(),
        "node restarted with a stale generation did not rejoin"
    );
    let renewed = sim.nodes[3].gossip.as_ref().unwrap().id().generation;
    assert!(renewed >= 2, "generation stayed at {renewed}");
    let seen = sim.nodes[0]
        .gossip
        .as_ref()
        .unwrap()
        .metadata(NodeId(4))
        .unwrap();
    assert_eq!(seen.id.generation, renewed);
}

#[test]
fn metadata_changes_propagate_and_newer_replaces_older() {
    let mut sim = cluster(8, 0.05, 6);
    let before = sim.nodes[0]
        .gossip
        .as_ref()
        .unwrap()
        .metadata_version(NodeId(3))
        .unwrap();
    let mut metadata = sim_metadata(2, TOKENS);
    metadata.status = NodeStatus::Leaving;
    metadata.cluster_metadata_version = 7;
    sim.set_metadata(2, metadata);
    assert!(sim
        .run_until_true(sim.now_ms + 10_000, 50, SimCluster::views_agree)
        .is_some());
    for node in &sim.nodes {
        let record = node.gossip.as_ref().unwrap().metadata(NodeId(3)).unwrap();
        assert_eq!(record.status, NodeStatus::Leaving);
        assert_eq!(record.cluster_metadata_version, 7);
        assert!(record.version() > before);
    }
    // Leaving members are not in the ring of Normal members.
    let ring = sim.nodes[0].gossip.as_ref().unwrap().ring(2);
    assert!(ring.member(NodeId(3)).is_none());
    assert!(ring.member(NodeId(1)).is_some());
    assert_eq!(ring.epoch(), 2);
}

#[test]
fn digest_exchange_repairs_views_when_broadcasts_are_dropped() {
    let mut sim = cluster(8, 0.0, 7);
    // From now on every SWIM packet big enough to carry a metadata
    // broadcast is lost: only the digest exchange can carry the change.
    sim.drop_rule = Some(Box::new(|bytes: &[u8]| bytes[1] == 0 && bytes.len() > 300));
    let mut metadata = sim_metadata(5, TOKENS);
    metadata.cluster_metadata_version = 42;
    sim.set_metadata(5, metadata);
    let repaired = sim.run_until_true(sim.now_ms + 30_000, 100, |sim| {
        sim.nodes.iter().all(|node| {
            node.gossip
                .as_ref()
                .unwrap()
                .metadata(NodeId(6))
                .is_some_and(|record| record.cluster_metadata_version == 42)
        })
    });
    assert!(
        repaired.is_some(),
        "digest exchange did not repair the views"
    );
    assert!(sim.views_agree());
}

#[test]
fn digest_exchange_alone_lets_a_joiner_learn_everyone() {
    let mut sim = cluster(8, 0.0, 8);
    sim.drop_rule = Some(Box::new(|bytes: &[u8]| bytes[1] == 0 && bytes.len() > 300));
    let late = sim.add_node(&config(), sim_metadata(8, TOKENS));
    sim.start(late, &[0]);
    assert!(
        sim.run_until_true(sim.now_ms + 40_000, 100, SimCluster::views_agree)
            .is_some(),
        "joiner did not converge without broadcasts"
    );
}

#[test]
fn graceful_leave_is_seen_quickly() {
    let mut sim = cluster(6, 0.0, 9);
    let start = sim.now_ms;
    sim.leave(1);
    let seen = sim.run_until_true(start + 10_000, 20, |sim| sim.all_see_down(1));
    let at = seen.expect("leave not seen");
    assert!(
        at - start < 1_500,
        "leave took {} ms to be seen",
        at - start
    );
}

#[test]
fn partition_that_heals_converges_again() {
    let mut sim = cluster(8, 0.0, 10);
    sim.partition(vec![0, 0, 0, 0, 0, 1, 1, 1]);
    sim.run_until(sim.now_ms + 15_000);
    assert!(sim.nodes[0]
        .gossip
        .as_ref()
        .unwrap()
        .down_nodes()
        .contains(&NodeId(7)));
    sim.heal();
    assert!(
        sim.run_until_true(sim.now_ms + 60_000, 200, SimCluster::views_agree)
            .is_some(),
        "views did not converge after the partition healed"
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = cluster(6, 0.05, 11);
    let b = cluster(6, 0.05, 11);
    assert_eq!(a.now_ms, b.now_ms);
    assert_eq!(a.stats.bytes_sent, b.stats.bytes_sent);
    assert_eq!(a.events, b.events);
}

#[test]
fn a_warm_started_initial_cluster_agrees_at_once_and_detects_crashes() {
    let mut sim = SimCluster::new(12, NetworkConfig::default());
    for index in 0..10 {
        sim.add_node(&config(), sim_metadata(index, TOKENS));
    }
    let members: Vec<usize> = (0..10).collect();
    sim.warm_start(&members, &[0]);
    assert!(
        sim.views_agree(),
        "restored views should agree before any traffic"
    );
    sim.run_until(5_000);
    assert!(sim.views_agree());
    assert!(sim
        .nodes
        .iter()
        .all(|node| node.gossip.as_ref().unwrap().is_active()));
    sim.crash(6);
    assert!(sim
        .run_until_true(sim.now_ms + 10_000, 50, |sim| sim.all_see_down(6))
        .is_some());
}

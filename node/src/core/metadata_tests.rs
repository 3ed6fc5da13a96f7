//! Stories of the catalog gate on three cores: genesis, namespace creation
//! seen by another node at once, consistency rules, roles.

use zerodb_config::{Consistency, NamespacePolicy};
use zerodb_txn::{ClientError, Condition, Key, Level, Op, Request, Response, Versioned};

use super::super::catalog::{catalog_key, Catalog, Role};
use super::super::tests::Harness;
use super::Caller;

pub(in crate::core) fn admin() -> Caller {
    Caller::User("admin".into())
}

fn user(name: &str) -> Caller {
    Caller::User(name.into())
}

fn put(ns: &str, id: &str) -> Request {
    Request::Put {
        key: Key::new(ns, "db", "t", id),
        value: b"v".to_vec(),
        level: Level::One,
        ttl_ms: None,
    }
}

fn get(ns: &str, id: &str) -> Request {
    Request::Get {
        key: Key::new(ns, "db", "t", id),
        level: Level::One,
    }
}

fn refusal(response: Response) -> String {
    match response {
        Response::Error(ClientError::BadRequest { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Reads the catalog through `node` and writes `change` of it as `caller`.
pub(in crate::core) fn change(
    harness: &mut Harness,
    node: u32,
    client: u64,
    caller: Caller,
    change: impl Fn(&mut Catalog),
) -> Response {
    let (catalog, version) = match harness.request_as(
        node,
        client,
        caller.clone(),
        Request::Get {
            key: catalog_key(),
            level: Level::One,
        },
    ) {
        Response::Value(Some(Versioned {
            version,
            value: Some(bytes),
            ..
        })) => (Catalog::decode(&bytes).unwrap(), version),
        other => panic!("catalog read failed: {other:?}"),
    };
    let mut next = catalog.clone();
    next.version += 1;
    change(&mut next);
    let ops = vec![
        Op::Assert(catalog_key(), Condition::VersionEquals(version)),
        Op::Put(catalog_key(), next.encode()),
    ];
    harness.request_as(node, client + 1, caller, Request::Txn { ops })
}

fn eventual() -> NamespacePolicy {
    NamespacePolicy {
        consistency: Consistency::Eventual,
        ..NamespacePolicy::default()
    }
}

#[test]
fn the_default_namespace_works_and_unknown_ones_are_refused_by_name() {
    let mut harness = Harness::new(3);
    assert!(matches!(
        harness.request_as(1, 1, admin(), put("default", "a")),
        Response::Written { .. }
    ));
    let reason = refusal(harness.request_as(2, 2, admin(), put("nope", "a")));
    assert!(
        reason.contains("\"nope\"") && reason.contains("does not exist"),
        "{reason}"
    );
    let catalog = harness.nodes.values().next().unwrap().catalog().unwrap();
    assert_eq!(catalog.version, 1);
}

#[test]
fn a_new_namespace_is_usable_on_another_node_at_once_with_its_consistency() {
    let mut harness = Harness::new(3);
    let created = change(&mut harness, 1, 10, admin(), |c| {
        c.create_namespace("ev", eventual()).unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    // Node 3 has not seen it: the miss refreshes its copy.
    assert!(matches!(
        harness.request_as(3, 20, admin(), put("ev", "k")),
        Response::Written { .. }
    ));
    // Eventual namespaces take no transactions; strong ones no levels.
    let txn = Request::Txn {
        ops: vec![Op::Put(Key::new("ev", "db", "t", "k"), b"1".to_vec())],
    };
    let reason = refusal(harness.request_as(2, 21, admin(), txn));
    assert!(reason.contains("\"ev\" is eventual"), "{reason}");
    let quorum = Request::Get {
        key: Key::new("default", "db", "t", "k"),
        level: Level::Quorum,
    };
    let reason = refusal(harness.request_as(2, 22, admin(), quorum));
    assert!(reason.contains("\"default\" is strong"), "{reason}");
    // Every node's transaction layer routes "ev" as eventual now.
    for node in harness.nodes.values() {
        assert_eq!(
            node.catalog().unwrap().policy("ev").map(|p| p.consistency),
            Some(Consistency::Eventual)
        );
    }
}

#[test]
fn a_viewer_reads_but_cannot_write_and_sees_no_other_namespace() {
    let mut harness = Harness::new(3);
    let setup = change(&mut harness, 1, 10, admin(), |c| {
        c.create_namespace("shop", NamespacePolicy::default())
            .unwrap();
        c.create_user("vera", false).unwrap();
        c.grant("vera", "shop", Role::Viewer).unwrap();
    });
    assert!(matches!(setup, Response::Committed { .. }), "{setup:?}");
    let reason = refusal(harness.request_as(2, 20, user("vera"), put("shop", "a")));
    for part in ["\"vera\"", "\"shop\"", "write", "viewer"] {
        assert!(reason.contains(part), "{reason}");
    }
    assert!(matches!(
        harness.request_as(2, 21, user("vera"), get("shop", "a")),
        Response::Value(None)
    ));
    let reason = refusal(harness.request_as(3, 22, user("vera"), get("default", "a")));
    assert!(
        reason.contains("\"default\"") && reason.contains("read"),
        "{reason}"
    );
    let reason = refusal(harness.request_as(3, 23, user("mallory"), get("shop", "a")));
    assert!(reason.contains("\"mallory\" is not known"), "{reason}");
    // A viewer cannot grant herself more.
    let reason = refusal(change(&mut harness, 1, 30, user("vera"), |c| {
        c.grant("vera", "shop", Role::Owner).unwrap()
    }));
    assert!(reason.contains("manage"), "{reason}");
}

#[test]
fn catalog_writes_that_move_data_or_are_stale_are_refused() {
    let mut harness = Harness::new(3);
    let reason = refusal(change(&mut harness, 1, 10, admin(), |c| {
        c.namespaces.get_mut("default").unwrap().replication_factor = 1;
    }));
    assert!(
        reason.contains("replication factor") && reason.contains("streaming"),
        "{reason}"
    );
    let reason = refusal(change(&mut harness, 1, 20, admin(), |c| {
        c.create_namespace(
            "big",
            NamespacePolicy {
                replication_factor: 7,
                ..NamespacePolicy::default()
            },
        )
        .unwrap()
    }));
    assert!(reason.contains("\"big\" cannot be placed"), "{reason}");
    // A write against an old version of the record.
    let raw = Request::Txn {
        ops: vec![
            Op::Assert(catalog_key(), Condition::NotExists),
            Op::Put(
                catalog_key(),
                Catalog::genesis(NamespacePolicy::default()).encode(),
            ),
        ],
    };
    let reason = refusal(harness.request_as(2, 30, admin(), raw));
    assert!(reason.contains("changed since it was read"), "{reason}");
    let blind = Request::Put {
        key: catalog_key(),
        value: vec![1],
        level: Level::One,
        ttl_ms: None,
    };
    assert!(refusal(harness.request_as(2, 31, admin(), blind)).contains("assert version"));
}

/// Loads `catalog` into a fresh [`Metadata`] the way a refresh does.
fn loaded(catalog: &Catalog, cluster_size: usize) -> super::Metadata {
    let mut metadata = super::Metadata::new(NamespacePolicy::default(), cluster_size);
    let (requests, _) = metadata.tick(0);
    let (client, _) = requests.into_iter().next().expect("a first refresh");
    let answer = Response::Value(Some(Versioned {
        version: zerodb_txn::Ver::ZERO,
        value: Some(catalog.encode()),
        expires_at_ms: None,
    }));
    let (_, changed) = metadata.internal_reply(0, client, answer);
    assert!(changed);
    metadata
}

#[test]
fn a_pinned_namespace_is_placed_only_on_nodes_of_its_regions() {
    use super::super::membership::{ClusterSpec, MemberSpec};
    use zerodb_txn::View;
    let cluster = ClusterSpec {
        tokens_per_node: 16,
        members: (1..=6u32)
            .map(|id| MemberSpec {
                id,
                address: std::net::SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)),
                region: if id <= 3 { "eu".into() } else { "us".into() },
                zone: format!("z{id}"),
            })
            .collect(),
    };
    let ring = cluster.ring().unwrap();
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    catalog
        .create_namespace(
            "eu-shop",
            NamespacePolicy {
                regions: vec!["eu".into()],
                replication_factor: 3,
                partition_level: zerodb_config::PartitionLevel::Record,
                ..NamespacePolicy::default()
            },
        )
        .unwrap();
    let metadata = loaded(&catalog, 6);
    let view = View {
        ring,
        down: Default::default(),
        policies: metadata.policies(),
    };
    let mut used_us = false;
    for id in 0..200 {
        let pinned = view.partition_of(&Key::new("eu-shop", "db", "t", format!("k{id}")));
        let replicas = view.replicas(&pinned);
        assert_eq!(replicas.len(), 3);
        assert!(replicas.iter().all(|node| node.0 <= 3), "{replicas:?}");
        let free = view.partition_of(&Key::new("default", format!("db{id}").as_str(), "t", "k"));
        used_us |= view.replicas(&free).iter().any(|node| node.0 > 3);
    }
    assert!(used_us, "unpinned namespaces use every region");
    // The system namespace: strong, RF min(5, cluster size).
    let system = metadata.policies().get("system").clone();
    assert_eq!(system.replication_factor, 5);
    assert_eq!(system.consistency, Consistency::Strong);
}

/// Four nodes, 1 and 2 in region `eu`, 3 and 4 in `us`, and namespace
/// `eu-data` pinned to `eu` with RF 2.
pub(in crate::core) fn pinned_harness() -> Harness {
    use super::super::membership::{ClusterSpec, MemberSpec};
    let spec = ClusterSpec {
        tokens_per_node: 8,
        members: (1..=4u32)
            .map(|id| MemberSpec {
                id,
                address: std::net::SocketAddr::from(([127, 0, 0, 1], 9100 + id as u16)),
                region: if id <= 2 { "eu".into() } else { "us".into() },
                zone: format!("z{id}"),
            })
            .collect(),
    };
    let mut harness = Harness::with_cluster(spec);
    let pinned = NamespacePolicy {
        replication_factor: 2,
        regions: vec!["eu".into()],
        ..NamespacePolicy::default()
    };
    let created = change(&mut harness, 1, 10, admin(), |c| {
        c.create_namespace("eu-data", pinned.clone()).unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    harness
}

#[test]
fn a_coordinator_outside_a_pinned_namespace_forwards_in_region() {
    let mut harness = pinned_harness();
    // In region: coordinated here.
    assert!(matches!(
        harness.request_as(2, 20, admin(), put("eu-data", "a")),
        Response::Written { .. }
    ));
    // Out of region: handed to an eu node, which coordinates it, and its
    // answer relayed. (The first request may wait for a catalog refresh.)
    let answer = harness.request_as(4, 30, admin(), put("eu-data", "b"));
    assert!(matches!(answer, Response::Written { .. }), "{answer:?}");
    let forwards: Vec<_> = harness
        .asks_sent
        .iter()
        .filter(|(from, _)| from.0 == 4)
        .collect();
    assert_eq!(forwards.len(), 1, "{forwards:?}");
    assert!(forwards[0].1 .0 <= 2, "{forwards:?}");
    // Unpinned namespaces are coordinated wherever the client connects.
    assert!(matches!(
        harness.request_as(4, 40, admin(), put("default", "c")),
        Response::Written { .. }
    ));
}

/// Whether `node`'s copy of the catalog shows `namespace`.
fn knows(harness: &Harness, node: u32, namespace: &str) -> bool {
    harness.nodes[&zerodb_ring::NodeId(node)]
        .catalog()
        .is_some_and(|catalog| catalog.policy(namespace).is_some())
}

/// Creates namespace `name` through node 1 and checks that nodes 2 and 3
/// have not seen it yet (no request went to them).
fn create_unseen(harness: &mut Harness, name: &str) {
    harness.run(1_000);
    let created = change(harness, 1, 10, admin(), |c| {
        c.create_namespace(name, eventual()).unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    assert!(knows(harness, 1, name));
    assert!(!knows(harness, 2, name) && !knows(harness, 3, name));
}

#[test]
fn gossip_carries_the_catalog_version_and_peers_fetch_the_new_catalog() {
    let mut harness = Harness::new(3);
    create_unseen(&mut harness, "ev");
    let created_at = harness.now_ms;
    // No request reaches nodes 2 and 3: only gossip can tell them.
    while !(knows(&harness, 2, "ev") && knows(&harness, 3, "ev")) {
        assert!(
            harness.now_ms - created_at < 2_000,
            "gossip did not spread catalog version 2 within 2 s"
        );
        harness.run(super::super::tests::HARNESS_STEP_MS);
    }
    assert!(harness.now_ms - created_at < super::REFRESH_INTERVAL_MS / 10);
    // Every node advertises version 2, and status shows it for each member.
    harness.run(1_000);
    let now = harness.now_ms;
    for node in harness.nodes.values() {
        assert_eq!(node.catalog_version(), 2);
        let status = node.status(now);
        let versions: Vec<u64> = status.members.iter().map(|m| m.catalog_version).collect();
        assert_eq!(versions, vec![2, 2, 2], "seen from {}", node.id());
    }
    assert!(matches!(
        harness.request_as(3, 20, admin(), put("ev", "k")),
        Response::Written { .. }
    ));
}

#[test]
fn without_gossip_nothing_tells_a_node_of_a_new_namespace_before_its_refresh() {
    // The counterpart of the test above: it is gossip that carries the news.
    let mut harness = Harness::new(3);
    harness.gossip = false;
    create_unseen(&mut harness, "ev");
    harness.run(2_000);
    assert!(!knows(&harness, 2, "ev") && !knows(&harness, 3, "ev"));
    // Gossip back: the news arrives.
    harness.gossip = true;
    harness.run(2_000);
    assert!(knows(&harness, 2, "ev") && knows(&harness, 3, "ev"));
}

#[test]
fn a_node_that_cannot_read_the_catalog_refuses_an_unseen_namespace_by_name() {
    let mut harness = Harness::new(3);
    create_unseen(&mut harness, "late");
    let node3 = zerodb_ring::NodeId(3);
    harness.isolated.insert(node3);
    // Known namespaces still pass the gate at node 3 (strong requests then
    // need a quorum it cannot reach, which is the transaction layer's
    // business); the unseen one waits for a catalog read that cannot
    // succeed, then is refused naming it. It is never guessed.
    let started = harness.now_ms;
    let reason = refusal(harness.request_as(3, 20, admin(), put("late", "k")));
    assert!(
        reason.contains("\"late\"") && reason.contains("version 1"),
        "{reason}"
    );
    assert!(harness.now_ms - started >= super::PARK_MS_MAX);
    assert!(!knows(&harness, 3, "late"));
    // Reconnected, it learns the namespace and serves it.
    harness.isolated.clear();
    assert!(matches!(
        harness.request_as(3, 21, admin(), put("late", "k")),
        Response::Written { .. }
    ));
}

/// Records of `namespace` on `node`'s disk.
fn held(harness: &mut Harness, node: u32, namespace: &str) -> u64 {
    let core = harness.nodes.get_mut(&zerodb_ring::NodeId(node)).unwrap();
    super::super::purge::count_namespace(core.engine_mut(), namespace, 1_000).unwrap()
}

#[test]
fn a_dropped_namespace_loses_its_records_on_every_node_and_its_name_is_retired() {
    let mut harness = Harness::new(3);
    let created = change(&mut harness, 1, 10, admin(), |c| {
        c.create_namespace("gone", NamespacePolicy::default())
            .unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    for i in 0..10 {
        let answer = harness.request_as(
            1 + i % 3,
            100 + u64::from(i),
            admin(),
            put("gone", &format!("k{i}")),
        );
        assert!(matches!(answer, Response::Written { .. }), "{answer:?}");
        let answer = harness.request_as(
            1,
            200 + u64::from(i),
            admin(),
            put("default", &format!("k{i}")),
        );
        assert!(matches!(answer, Response::Written { .. }), "{answer:?}");
    }
    harness.run(500);
    for node in 1..=3 {
        // RF 3 on 3 nodes: every node holds every record.
        assert_eq!(held(&mut harness, node, "gone"), 10, "n{node}");
        let now = harness.now_ms;
        let core = harness.nodes.get_mut(&zerodb_ring::NodeId(node)).unwrap();
        assert_eq!(
            core.namespace_status(now, "gone").unwrap().local_records,
            Some(10)
        );
    }
    let dropped = change(&mut harness, 2, 20, admin(), |c| {
        c.drop_namespace("gone").unwrap()
    });
    assert!(matches!(dropped, Response::Committed { .. }), "{dropped:?}");
    // Every node purges in the background once it holds the new catalog.
    harness.run(2_000);
    for node in 1..=3 {
        assert_eq!(held(&mut harness, node, "gone"), 0, "n{node}");
        assert_eq!(held(&mut harness, node, "default"), 10, "n{node}");
    }
    let reason = refusal(harness.request_as(3, 30, admin(), get("gone", "k1")));
    assert!(reason.contains("\"gone\" does not exist"), "{reason}");
    // The name is not used again, even through a hand-made catalog.
    let reason = refusal(change(&mut harness, 1, 40, admin(), |c| {
        c.dropped.clear();
        c.namespaces
            .insert("gone".into(), NamespacePolicy::default());
    }));
    assert!(
        reason.contains("\"gone\"") && reason.contains("dropped"),
        "{reason}"
    );
    let mut catalog = harness.nodes[&zerodb_ring::NodeId(1)]
        .catalog()
        .unwrap()
        .clone();
    assert!(matches!(
        catalog.create_namespace("gone", NamespacePolicy::default()),
        Err(super::super::catalog::CatalogError::NameRetired(_))
    ));
    // A removal that does not list the name as dropped is refused.
    let reason = refusal(change(&mut harness, 1, 50, admin(), |c| {
        c.namespaces.remove("default");
    }));
    assert!(reason.contains("not listed as dropped"), "{reason}");
}

#[test]
fn a_large_dropped_namespace_is_purged_in_steps_while_requests_are_served() {
    use super::super::purge::{count_namespace, PURGE_STEP_RECORDS};
    use zerodb_ring::RecordKey;
    use zerodb_storage::{Engine, Record, Space, Version, WriteBatch};

    let mut harness = Harness::new(3);
    let created = change(&mut harness, 1, 10, admin(), |c| {
        c.create_namespace("big", NamespacePolicy::default())
            .unwrap()
    });
    assert!(matches!(created, Response::Committed { .. }), "{created:?}");
    // Forty steps' worth of records, written straight into node 1's engine.
    let total = 40 * PURGE_STEP_RECORDS as u64;
    let count = |harness: &mut Harness| {
        let core = harness.nodes.get_mut(&zerodb_ring::NodeId(1)).unwrap();
        count_namespace(core.engine_mut(), "big", total as usize + 1).unwrap()
    };
    {
        let core = harness.nodes.get_mut(&zerodb_ring::NodeId(1)).unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..total {
            let key = RecordKey::new("big", "db", "t", format!("k{i:06}").into_bytes());
            batch.put(
                Space::Data,
                key.encode(),
                Record::value(Version::ZERO, b"v".to_vec()),
            );
        }
        core.engine_mut().write(batch).unwrap();
    }
    assert_eq!(count(&mut harness), total);
    let dropped = change(&mut harness, 1, 20, admin(), |c| {
        c.drop_namespace("big").unwrap()
    });
    assert!(matches!(dropped, Response::Committed { .. }), "{dropped:?}");
    let left = count(&mut harness);
    assert!(
        left > 0,
        "the drop was answered after the purge removed everything in one go"
    );
    // Steps of at most PURGE_STEP_RECORDS per tick; requests are answered
    // while the purge is under way.
    let mut steps = 0;
    let mut served_during_purge = false;
    let mut before = left;
    while before > 0 {
        assert!(steps < 1_000, "the purge does not finish: {before} left");
        let answer = harness.request_as(2, 100 + steps, admin(), put("default", "k"));
        assert!(matches!(answer, Response::Written { .. }), "{answer:?}");
        served_during_purge |= count(&mut harness) > 0;
        harness.run(super::super::tests::HARNESS_STEP_MS);
        let now = count(&mut harness);
        before = now;
        steps += 1;
    }
    assert!(served_during_purge, "no request was answered mid-purge");
    assert!(
        steps >= 2,
        "{total} records were purged within one request's time"
    );
    // The next step finds nothing left and ends the purge.
    harness.run(2 * super::super::tests::HARNESS_STEP_MS);
    assert!(harness.nodes[&zerodb_ring::NodeId(1)]
        .purge_in_progress()
        .is_none());
    assert_eq!(held(&mut harness, 1, "default"), 1);
}

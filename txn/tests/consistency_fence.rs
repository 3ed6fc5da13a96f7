//! A change of a namespace's consistency (`ns alter --consistency`) is
//! fenced (DESIGN.md 6, issue 14 case 5): a coordinator whose catalog is
//! older than a replica's sends its messages with the namespace's old
//! policy version, and the replica refuses them with an error that tells it
//! to refresh, instead of taking an eventual write (no lock, no decision)
//! into a namespace that is now strong.

use std::collections::{BTreeMap, BTreeSet};

use zerodb_storage::{Engine, Incarnation, MemoryEngine, Space};
use zerodb_txn::membership::{Consistency, NamespacePolicy, NodeId};
use zerodb_txn::testing::test_ring;
use zerodb_txn::{
    Action, ClientError, ClientId, Key, KeyExt, Level, Op, Policies, Request, Response, TxnNode,
    TxnOptions, View,
};

fn policies(consistency: Consistency) -> Policies {
    Policies {
        version: 1,
        default: NamespacePolicy::default(),
        namespaces: BTreeMap::from([(
            "shop".to_string(),
            NamespacePolicy {
                consistency,
                ..NamespacePolicy::default()
            },
        )]),
    }
}

/// Four nodes; `stale` still holds the catalog from before `shop` became
/// strong, the others hold the new one.
fn nodes(stale: u32) -> BTreeMap<u32, TxnNode<MemoryEngine>> {
    (1..=4)
        .map(|id| {
            let engine = MemoryEngine::new(Incarnation(u64::from(id)));
            let consistency = if id == stale {
                Consistency::Eventual
            } else {
                Consistency::Strong
            };
            let view = View::new(test_ring(4), BTreeSet::new(), policies(consistency));
            let mut node =
                TxnNode::open(NodeId(id), engine, 9, TxnOptions::default(), true, view).unwrap();
            node.start(1_000);
            (id, node)
        })
        .collect()
}

/// Delivers every message until none is left; returns the client replies.
fn pump(
    nodes: &mut BTreeMap<u32, TxnNode<MemoryEngine>>,
    from: u32,
    actions: Vec<Action>,
) -> Vec<Response> {
    let mut replies = Vec::new();
    let mut wire: Vec<(u32, u32, Action)> = actions.into_iter().map(|a| (from, 0, a)).collect();
    let mut steps = 0;
    while let Some((from, _, action)) = wire.pop() {
        steps += 1;
        assert!(steps < 10_000, "messages never stop");
        match action {
            Action::Send { to, msg } => {
                let node = nodes.get_mut(&to.0).expect("a node of the ring");
                node.engine_mut().sync().unwrap();
                let out = node.handle_message(1_010, NodeId(from), msg);
                wire.extend(out.into_iter().map(|a| (to.0, 0, a)));
            }
            Action::Reply { response, .. } => replies.push(response),
            Action::SetTimer { .. } => {}
        }
    }
    replies
}

/// A key of `shop` with three replicas, and the fourth node, which is
/// not one of them (the coordinator).
fn key_and_coordinator() -> (Key, Vec<NodeId>, u32) {
    let view = View {
        ring: test_ring(4),
        down: BTreeSet::new(),
        policies: policies(Consistency::Strong),
    };
    let key = Key::new("shop", "main", "orders", "o1");
    let replicas = view.replicas(&view.partition_of(&key));
    assert_eq!(replicas.len(), 3);
    let coordinator = (1..=4)
        .find(|n| !replicas.contains(&NodeId(*n)))
        .expect("four nodes, three replicas");
    (key, replicas, coordinator)
}

#[test]
fn an_eventual_write_into_a_namespace_now_strong_is_refused() {
    let (key, replicas, coordinator) = key_and_coordinator();
    let mut nodes = nodes(coordinator);
    let put = Request::Put {
        key: key.clone(),
        value: b"bypasses the locks".to_vec(),
        level: Level::One,
        ttl_ms: None,
    };
    let actions = nodes
        .get_mut(&coordinator)
        .unwrap()
        .handle_request(1_000, ClientId(1), put);
    let replies = pump(&mut nodes, coordinator, actions);
    assert!(
        matches!(
            replies.as_slice(),
            [Response::Error(ClientError::WrongEpoch { .. })]
        ),
        "the stale coordinator is told to refresh: {replies:?}"
    );
    for replica in replicas {
        let stored = nodes
            .get_mut(&replica.0)
            .unwrap()
            .engine_mut()
            .get(Space::Data, &key.storage_key())
            .unwrap();
        assert!(
            stored.is_none(),
            "replica {replica} took an eventual write into a strong namespace"
        );
    }
}

#[test]
fn a_strong_transaction_into_a_namespace_now_eventual_is_refused() {
    // The mirror image: the coordinator still thinks `shop` is strong and
    // locks keys at replicas whose catalog says it is eventual now.
    let (key, _, coordinator) = key_and_coordinator();
    let mut nodes = nodes(0);
    for (id, node) in &mut nodes {
        if *id != coordinator {
            node.set_view(
                test_ring(4),
                BTreeSet::new(),
                policies(Consistency::Eventual),
            );
        }
    }
    let txn = Request::Txn {
        ops: vec![Op::Put(key, b"x".to_vec())],
    };
    let actions = nodes
        .get_mut(&coordinator)
        .unwrap()
        .handle_request(1_000, ClientId(2), txn);
    let replies = pump(&mut nodes, coordinator, actions);
    assert!(
        matches!(
            replies.as_slice(),
            [Response::Error(ClientError::WrongEpoch { .. })]
        ),
        "{replies:?}"
    );
}

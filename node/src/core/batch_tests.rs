//! What a batch keeps for after its sync (group commit, DESIGN.md 6.1):
//! the node's requests to itself are handled inside the batch, its answers
//! to itself wait for the sync and come back in the next batch, and only
//! requests leave before the sync.

use zerodb_txn::{Key, Level, Message, Request};

use super::metadata::Caller;
use super::output::{before_sync, must_sync_before};
use super::tests::{cluster, Harness};
use super::*;
use crate::api::{ClientRequest, NodeMessage};

/// A strong put handed to node 1 of 3 (RF 3: every node replicates every
/// key) as a batch of its own, and the batch's outputs.
fn put_batch(options: CoreOptions) -> Vec<Output> {
    let mut harness = Harness::with_options(cluster(3), options);
    let put = |id: &str| Request::Put {
        key: Key::new("default", "db", "t", id),
        value: b"1".to_vec(),
        level: Level::One,
        ttl_ms: None,
    };
    // A first write loads the catalog the node checks requests against.
    harness.request(1, 100, put("warm"));
    harness.run(100);
    let now = harness.now_ms;
    let input = Input::Request {
        client: ClientId(1),
        caller: Caller::Node,
        request: ClientRequest::Data(put("a")),
    };
    let core = harness.nodes.get_mut(&NodeId(1)).expect("node 1");
    core.handle_batch(now, vec![input])
}

fn txn_sends(outputs: &[Output]) -> Vec<(NodeId, &Message)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                to,
                msg: NodeMessage::Txn(msg),
            } => Some((*to, msg.as_ref())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_batch_locks_locally_and_keeps_its_own_grant_for_after_the_sync() {
    let outputs = put_batch(CoreOptions::default());
    let sends = txn_sends(&outputs);
    // The lock requests to the peers go before the sync.
    for peer in [2, 3] {
        let request = sends
            .iter()
            .find(|(to, msg)| *to == NodeId(peer) && matches!(msg, Message::LockRead(_)));
        assert!(request.is_some(), "no LockRead to node {peer}: {sends:?}");
    }
    // Node 1's own LockRead was handled in the batch; its grant to itself
    // is still an output: it waits for the sync that holds the lock.
    let own: Vec<&Message> = sends
        .iter()
        .filter(|(to, _)| *to == NodeId(1))
        .map(|(_, msg)| *msg)
        .collect();
    assert!(
        matches!(own.as_slice(), [Message::LockGranted { .. }]),
        "node 1's answers to itself: {own:?}"
    );
    assert!(must_sync_before(&outputs));
    let early: Vec<&Output> = outputs.iter().filter(|o| before_sync(o)).collect();
    assert!(early.iter().all(|output| !matches!(
        output,
        Output::Send { to, .. } if *to == NodeId(1)
    )));
    // Nothing was decided on a vote that is not durable yet.
    assert!(sends
        .iter()
        .all(|(_, msg)| !matches!(msg, Message::Decide { .. })));
}

#[test]
fn the_unsafe_switch_counts_the_own_grant_inside_the_batch() {
    let mut options = CoreOptions::default();
    options.txn.unsafe_count_own_answers_in_batch = true;
    let outputs = put_batch(options);
    let sends = txn_sends(&outputs);
    let lock_reads = sends
        .iter()
        .filter(|(_, msg)| matches!(msg, Message::LockRead(_)))
        .count();
    assert_eq!(lock_reads, 2, "{sends:?}");
    assert!(
        sends.iter().all(|(to, _)| *to != NodeId(1)),
        "the own grant was counted in the batch: {sends:?}"
    );
}

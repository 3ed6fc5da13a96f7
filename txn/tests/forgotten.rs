//! Below the released watermark a transaction's decision record may be
//! deleted (DESIGN.md 6.1, invariant I6): a home replica then answers that
//! it *forgot* the transaction, never that its register is empty, and it
//! refuses Paxos messages, so a late `Decide` or `Prepare` cannot make a
//! register exist again. A strong read that meets such a transaction's lock
//! reads again (issue 14 case 3).

use std::cell::RefCell;
use std::rc::Rc;

use zerodb_txn::membership::NodeId;
use zerodb_txn::message::LockInfo;
use zerodb_txn::testing::Cluster;
use zerodb_txn::{
    ver, Action, Ballot, ClientId, Decision, Epoch, Key, Level, Message, Refusal, Request,
    Response, TxnId, TxnOptions, Versioned,
};

fn options() -> TxnOptions {
    TxnOptions {
        watermark_ms: 100,
        watermark_margin_ms: 500,
        ..TxnOptions::default()
    }
}

fn key() -> Key {
    Key::new("bank", "main", "accounts", "a0")
}

/// Runs one committed write of `key()` and returns its transaction, its
/// attempt, its home partition and decision, as the coordinator's `Apply`
/// showed them.
fn committed_write(c: &mut Cluster) -> (TxnId, u32, zerodb_txn::PartitionId, Decision) {
    let seen = Rc::new(RefCell::new(None));
    let hook_seen = seen.clone();
    c.crash_hook = Some(Box::new(move |_, msg| {
        if let Message::Apply {
            txn,
            attempt,
            home,
            decision,
        } = msg
        {
            if decision.is_committed() {
                hook_seen.borrow_mut().get_or_insert((
                    *txn,
                    *attempt,
                    home.clone(),
                    decision.clone(),
                ));
            }
        }
        false
    }));
    let answer = c.call(
        2,
        Request::Put {
            key: key(),
            value: b"new".to_vec(),
            level: Level::Quorum,
            ttl_ms: None,
        },
        5_000,
    );
    assert!(
        matches!(answer, Some(Response::Written { .. })),
        "{answer:?}"
    );
    c.crash_hook = None;
    let found = seen.borrow().clone();
    found.expect("the commit was applied")
}

/// Runs until every node's watermark passed `txn` and nothing is left to
/// collect.
fn release_past(c: &mut Cluster, txn: TxnId) {
    let passed = c.run_until(10_000, |c| {
        (1..=3).all(|n| {
            let node = c.node(n);
            zerodb_txn::ver(node.released_watermark()) > txn.timestamp
                && node.decision_records() == 0
        })
    });
    assert!(passed, "the watermark passes a finished transaction");
}

fn home_replica(c: &mut Cluster) -> u32 {
    c.replicas_of(&key())[0].0
}

fn sent(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn epoch() -> Epoch {
    Epoch {
        ring: zerodb_txn::testing::test_ring(3).epoch(),
        policy: 0,
    }
}

#[test]
fn a_decision_below_the_watermark_is_forgotten_not_empty() {
    let mut c = Cluster::new(3, 5, options());
    let (txn, attempt, _, _) = committed_write(&mut c);
    release_past(&mut c, txn);
    let home = home_replica(&mut c);
    let now = c.now_ms();
    let out = sent(&c.node(home).handle_message(
        now,
        NodeId(9),
        Message::QueryDecision {
            req: 77,
            txn,
            attempt,
        },
    ));
    assert!(
        matches!(
            &out[..],
            [Message::Refused {
                req: 77,
                reason: Refusal::Forgotten { .. }
            }]
        ),
        "a deleted register must not read as one that never accepted: {out:?}"
    );
}

#[test]
fn paxos_messages_below_the_watermark_are_refused_and_create_no_register() {
    let mut c = Cluster::new(3, 6, options());
    let (txn, attempt, home_partition, decision) = committed_write(&mut c);
    release_past(&mut c, txn);
    let home = home_replica(&mut c);
    let now = c.now_ms();
    let late = [
        Message::Decide {
            txn,
            attempt,
            ballot: Ballot {
                round: 0,
                node: 2,
                life: 0,
            },
            value: decision,
            epoch: epoch(),
            home: home_partition.clone(),
        },
        Message::Prepare {
            txn,
            attempt,
            ballot: Ballot {
                round: 7,
                node: 3,
                life: 1,
            },
            epoch: epoch(),
            home: home_partition,
        },
    ];
    for msg in late {
        let out = sent(&c.node(home).handle_message(now, NodeId(2), msg));
        assert!(
            matches!(
                &out[..],
                [Message::PaxosRefused {
                    reason: Refusal::Forgotten { .. },
                    ..
                }]
            ),
            "{out:?}"
        );
    }
    assert_eq!(
        c.node(home).decision_records(),
        0,
        "a late Paxos message re-created a register below the watermark"
    );
}

/// The reader's side: it met the lock of a transaction that was then
/// applied everywhere and collected. Its home replicas answer "forgotten";
/// the read must not take that for "never committed" and answer the value
/// from before the commit: it reads again.
#[test]
fn a_read_that_meets_a_forgotten_lock_reads_again() {
    let mut c = Cluster::new(3, 7, options());
    let (txn, attempt, home, _) = committed_write(&mut c);
    release_past(&mut c, txn);
    let reader = 1;
    let now = c.now_ms();
    let get = Request::Get {
        key: key(),
        level: Level::Quorum,
    };
    let actions = c.node(reader).handle_request(now, ClientId(1_000_000), get);
    let read_req = sent(&actions)
        .into_iter()
        .find_map(|m| match m {
            Message::Read { req, .. } => Some(req),
            _ => None,
        })
        .expect("a strong read sends reads");
    // Two replicas replied before the commit reached them: the old value
    // and the holder's lock.
    let old = Versioned {
        version: ver(zerodb_storage::Version {
            physical_ms: 1,
            logical: 0,
            node: 1,
        }),
        value: Some(b"old".to_vec()),
        expires_at_ms: None,
    };
    let lock = LockInfo {
        txn,
        attempt,
        home,
        blind: false,
    };
    let mut queries = Vec::new();
    for from in [2, 3] {
        let reply = Message::ReadReply {
            req: read_req,
            value: Some(old.clone()),
            locks: vec![lock.clone()],
        };
        let out = sent(&c.node(reader).handle_message(now, NodeId(from), reply));
        queries.extend(out.into_iter().filter_map(|m| match m {
            Message::QueryDecision { req, .. } => Some(req),
            _ => None,
        }));
    }
    let query = *queries.first().expect("the reader asks the holder's home");
    let mut actions = Vec::new();
    for from in [2, 3] {
        let refused = Message::Refused {
            req: query,
            reason: Refusal::Forgotten {
                released: txn.timestamp,
            },
        };
        actions.extend(c.node(reader).handle_message(now, NodeId(from), refused));
    }
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Reply { .. })),
        "the reader answered from replies that met a forgotten lock: {actions:?}"
    );
    assert!(
        sent(&actions)
            .iter()
            .any(|m| matches!(m, Message::Read { .. })),
        "the reader reads again: {actions:?}"
    );
}

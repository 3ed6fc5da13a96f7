//! Protocol stories on the in-crate harness: each test drives a small
//! cluster of `TxnNode`s through a scenario and checks what clients and
//! replicas end up with.

use zerodb_txn::request::{decode_int, encode_int};
use zerodb_txn::testing::Cluster;
use zerodb_txn::{
    ClientError, CompareOp, Condition, Key, Level, Op, OpResult, Request, Response, TxnOptions,
};

fn key(id: &str) -> Key {
    Key::new("bank", "main", "accounts", id)
}

fn put(k: &Key, v: &[u8]) -> Request {
    Request::Put {
        key: k.clone(),
        value: v.to_vec(),
        level: Level::One,
        ttl_ms: None,
    }
}

fn get(k: &Key) -> Request {
    Request::Get {
        key: k.clone(),
        level: Level::One,
    }
}

fn value_of(r: Option<Response>) -> Option<Vec<u8>> {
    match r {
        Some(Response::Value(v)) => v.and_then(|v| v.value),
        other => panic!("expected a value, got {other:?}"),
    }
}

#[test]
fn put_then_get_from_another_coordinator() {
    let mut c = Cluster::new(3, 1, TxnOptions::default());
    let written = c.call(1, put(&key("alice"), b"100"), 5_000);
    assert!(
        matches!(written, Some(Response::Written { .. })),
        "{written:?}"
    );
    assert_eq!(
        value_of(c.call(2, get(&key("alice")), 5_000)),
        Some(b"100".to_vec())
    );
    assert_eq!(value_of(c.call(3, get(&key("bob")), 5_000)), None);
    c.run_for(100);
    assert_eq!(c.locks_held(), 0, "every lock is released after apply");
}

fn balance(n: i64) -> Vec<u8> {
    encode_int(n)
}

fn transfer(from: &Key, to: &Key, amount: i64) -> Request {
    Request::Txn {
        ops: vec![
            Op::Assert(
                from.clone(),
                Condition::IntCompare {
                    op: CompareOp::Ge,
                    value: amount,
                },
            ),
            Op::Incr(from.clone(), -amount),
            Op::Incr(to.clone(), amount),
        ],
    }
}

#[test]
fn transfer_with_assert_commits_then_refuses_an_overdraft() {
    let mut c = Cluster::new(3, 2, TxnOptions::default());
    c.call(1, put(&key("alice"), &balance(50)), 5_000);
    c.call(1, put(&key("bob"), &balance(0)), 5_000);
    let done = c.call(2, transfer(&key("alice"), &key("bob"), 30), 5_000);
    match done {
        Some(Response::Committed { results, .. }) => {
            assert_eq!(results[1], OpResult::Int(20));
            assert_eq!(results[2], OpResult::Int(30));
        }
        other => panic!("transfer should commit: {other:?}"),
    }
    let refused = c.call(3, transfer(&key("alice"), &key("bob"), 30), 5_000);
    match refused {
        Some(Response::Error(ClientError::ConditionFailed { key: k, found, .. })) => {
            assert_eq!(k, key("alice"));
            assert_eq!(
                found.and_then(|f| f.value).and_then(|v| decode_int(&v)),
                Some(20)
            );
        }
        other => panic!("overdraft should fail its condition: {other:?}"),
    }
    let a = value_of(c.call(1, get(&key("alice")), 5_000)).and_then(|v| decode_int(&v));
    let b = value_of(c.call(1, get(&key("bob")), 5_000)).and_then(|v| decode_int(&v));
    assert_eq!((a, b), (Some(20), Some(30)));
    c.run_for(100);
    assert_eq!(c.locks_held(), 0);
}

fn int(c: &mut Cluster, node: u32, k: &Key) -> i64 {
    value_of(c.call(node, get(k), 10_000))
        .and_then(|v| decode_int(&v))
        .unwrap_or(0)
}

#[test]
fn concurrent_conflicting_transfers_finish_without_deadlock_and_keep_the_total() {
    let mut c = Cluster::new(3, 3, TxnOptions::default());
    let accounts: Vec<Key> = (0..3).map(|i| key(&format!("acct{i}"))).collect();
    for a in &accounts {
        c.call(1, put(a, &balance(100)), 5_000);
    }
    // Twelve transfers around a cycle of accounts, from all coordinators at
    // once: every pair of neighbours conflicts, in both lock orders.
    let mut clients = Vec::new();
    for i in 0..12u32 {
        let from = &accounts[(i % 3) as usize];
        let to = &accounts[((i + 1) % 3) as usize];
        clients.push(c.submit(1 + i % 3, transfer(from, to, 10)));
    }
    let all_answered = c.run_until(20_000, |c| clients.iter().all(|cl| c.reply(*cl).is_some()));
    assert!(
        all_answered,
        "every transaction gets an answer (no deadlock)"
    );
    let mut committed = 0;
    for cl in &clients {
        match c.reply(*cl) {
            Some(Response::Committed { .. }) => committed += 1,
            Some(Response::Error(ClientError::Conflict { .. })) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(committed >= 1, "at least one conflicting transaction wins");
    c.run_for(200);
    let total: i64 = accounts.clone().iter().map(|a| int(&mut c, 2, a)).sum();
    assert_eq!(total, 300, "transfers preserve the total");
    assert_eq!(c.locks_held(), 0, "no lock outlives its transaction");
}

#[test]
fn transfers_survive_dropped_and_duplicated_messages() {
    let mut c = Cluster::new(3, 4, TxnOptions::default());
    let a = key("a");
    let b = key("b");
    c.call(1, put(&a, &balance(100)), 5_000);
    c.call(1, put(&b, &balance(100)), 5_000);
    c.drop_per_mille = 50;
    c.duplicate_per_mille = 50;
    let mut clients = Vec::new();
    for i in 0..10u32 {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        clients.push(c.submit(1 + i % 3, transfer(from, to, 7)));
        c.run_for(5);
    }
    assert!(c.run_until(30_000, |c| clients.iter().all(|cl| c.reply(*cl).is_some())));
    c.drop_per_mille = 0;
    c.duplicate_per_mille = 0;
    // Locks of attempts whose messages were lost are recovered by lease.
    assert!(
        c.run_until(20_000, |c| c.locks_held() == 0),
        "leases recover every lock"
    );
    let total = int(&mut c, 1, &a) + int(&mut c, 2, &b);
    assert_eq!(total, 200);
}

#[test]
fn coordinator_crash_after_accept_is_recovered_as_a_commit() {
    let mut c = Cluster::new(3, 5, TxnOptions::default());
    let k = key("carol");
    c.call(1, put(&k, b"old"), 5_000);
    // Node 1 crashes the moment it would send the Apply of a commit: a
    // quorum of home replicas accepted, nobody learned.
    c.crash_hook = Some(Box::new(|node, msg| {
        node.0 == 1
            && matches!(
                msg,
                zerodb_txn::Message::Apply {
                    decision: zerodb_txn::Decision::Committed { .. },
                    ..
                }
            )
    }));
    let client = c.submit(1, put(&k, b"new"));
    c.run_for(50);
    c.crash_hook = None;
    assert!(
        c.reply(client).is_none(),
        "the coordinator died before answering"
    );
    assert!(!c.running().contains(&1));
    assert!(c.locks_held() > 0, "the survivors hold the attempt's locks");
    // Leases expire; the survivors run Paxos, adopt the accepted commit,
    // apply it and release.
    assert!(
        c.run_until(10_000, |c| c.locks_held() == 0),
        "recovery releases the locks"
    );
    assert_eq!(value_of(c.call(2, get(&k), 5_000)), Some(b"new".to_vec()));
    // The coordinator comes back with its durable lock; its lease is
    // re-armed, and it learns the decision too.
    c.restart(1);
    assert!(c.node(1).locks_held() > 0, "locks survive a restart");
    assert!(c.run_until(10_000, |c| c.locks_held() == 0));
    assert_eq!(value_of(c.call(1, get(&k), 5_000)), Some(b"new".to_vec()));
}

#[test]
fn coordinator_crash_before_decide_is_recovered_as_an_abort_and_reads_are_not_blocked() {
    let mut c = Cluster::new(3, 6, TxnOptions::default());
    let k = key("dave");
    c.call(1, put(&k, b"old"), 5_000);
    c.crash_hook = Some(Box::new(|node, msg| {
        node.0 == 1 && matches!(msg, zerodb_txn::Message::Decide { .. })
    }));
    // A read-modify-write: not blind, so protocol v1's path (decide at
    // home), which aborts an attempt nobody accepted.
    let rmw = Request::Txn {
        ops: vec![Op::Get(k.clone()), Op::Put(k.clone(), b"never".to_vec())],
    };
    let _ = c.submit(1, rmw);
    c.run_for(50);
    c.crash_hook = None;
    assert!(c.locks_held() > 0);
    // A strong read meets the write lock, finds no accepted value at the
    // home replicas, and answers with the committed value.
    assert_eq!(value_of(c.call(2, get(&k), 1_000)), Some(b"old".to_vec()));
    assert!(
        c.run_until(10_000, |c| c.locks_held() == 0),
        "recovery aborts and releases"
    );
    assert_eq!(value_of(c.call(3, get(&k), 5_000)), Some(b"old".to_vec()));
    // Writes go through again.
    assert!(matches!(
        c.call(2, put(&k, b"next"), 5_000),
        Some(Response::Written { .. })
    ));
}

#[test]
fn a_replica_crash_loses_only_unsynced_state() {
    let mut c = Cluster::new(3, 7, TxnOptions::default());
    let k = key("erin");
    let replicas = c.replicas_of(&k);
    let victim = replicas[2].0;
    // The victim crashes while granting: its lock was written but not
    // synced, and the grant never left.
    c.crash_hook = Some(Box::new(move |node, msg| {
        node.0 == victim && matches!(msg, zerodb_txn::Message::LockGranted { .. })
    }));
    let coordinator = if victim == 1 { 2 } else { 1 };
    let written = c.call(coordinator, put(&k, b"v1"), 5_000);
    c.crash_hook = None;
    assert!(
        matches!(written, Some(Response::Written { .. })),
        "{written:?}"
    );
    c.restart(victim);
    assert_eq!(c.node(victim).locks_held(), 0, "the unsynced lock is gone");
    assert_eq!(
        c.node(victim).status(),
        zerodb_txn::ReplicaStatus::Normal,
        "a crash with the same incarnation is not lost state"
    );
    c.run_for(100);
    assert_eq!(
        value_of(c.call(victim, get(&k), 5_000)),
        Some(b"v1".to_vec())
    );
    assert!(matches!(
        c.call(victim, put(&k, b"v2"), 5_000),
        Some(Response::Written { .. })
    ));
    assert_eq!(
        value_of(c.call(coordinator, get(&k), 5_000)),
        Some(b"v2".to_vec())
    );
}

#[test]
fn a_stale_replica_is_repaired_before_the_read_answers() {
    let mut c = Cluster::new(3, 8, TxnOptions::default());
    let k = key("frank");
    let r: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    c.call(r[0], put(&k, b"v1"), 5_000);
    c.run_for(50);
    // r[2] misses v2.
    c.crash(r[2]);
    c.call(r[0], put(&k, b"v2"), 5_000);
    c.run_for(50);
    c.restart(r[2]);
    assert_eq!(
        c.stored(r[2], &k).and_then(|x| x.value),
        Some(b"v1".to_vec())
    );
    // With r[1] gone, the read's quorum is r[0] (v2) and r[2] (v1): it
    // must write v2 back to r[2] before answering.
    c.crash(r[1]);
    assert_eq!(value_of(c.call(r[0], get(&k), 5_000)), Some(b"v2".to_vec()));
    assert_eq!(
        c.stored(r[2], &k).and_then(|x| x.value),
        Some(b"v2".to_vec())
    );
}

#[test]
fn a_wiped_replica_recovers_its_state_before_voting() {
    let mut c = Cluster::new(3, 9, TxnOptions::default());
    let k = key("gina");
    c.call(1, put(&k, b"kept"), 5_000);
    c.run_for(50);
    c.wipe(3);
    c.restart(3);
    assert_eq!(c.node(3).status(), zerodb_txn::ReplicaStatus::Recovering);
    // The copy takes milliseconds; the vote fence then waits until the
    // released watermark passes every member's clock (10 s of margin).
    assert!(c.run_until(15_000, |c| c.node(3).status()
        == zerodb_txn::ReplicaStatus::Normal));
    assert_eq!(
        c.stored(3, &k).and_then(|x| x.value),
        Some(b"kept".to_vec())
    );
    // Node 3 now serves as one of a quorum.
    c.crash(2);
    assert_eq!(value_of(c.call(3, get(&k), 5_000)), Some(b"kept".to_vec()));
}

#[test]
fn the_read_repair_switch_really_skips_repair() {
    // Checker validation: with the unsafe switch a stale replica stays
    // stale after a read that saw it.
    let options = TxnOptions {
        unsafe_skip_read_repair: true,
        ..TxnOptions::default()
    };
    let mut c = Cluster::new(3, 8, options);
    let k = key("frank");
    let r: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    c.call(r[0], put(&k, b"v1"), 5_000);
    c.run_for(50);
    c.crash(r[2]);
    c.call(r[0], put(&k, b"v2"), 5_000);
    c.run_for(50);
    c.restart(r[2]);
    c.crash(r[1]);
    assert_eq!(value_of(c.call(r[0], get(&k), 5_000)), Some(b"v2".to_vec()));
    assert_eq!(
        c.stored(r[2], &k).and_then(|x| x.value),
        Some(b"v1".to_vec())
    );
}

fn eventual_cluster(seed: u64) -> Cluster {
    let mut policies = zerodb_txn::Policies::default();
    policies.namespaces.insert(
        "cache".to_string(),
        zerodb_txn::membership::NamespacePolicy {
            consistency: zerodb_txn::membership::Consistency::Eventual,
            ..Default::default()
        },
    );
    Cluster::with_policies(5, seed, TxnOptions::default(), policies)
}

#[test]
fn an_eventual_write_to_a_down_replica_leaves_a_hint_that_is_replayed() {
    let mut c = eventual_cluster(10);
    let k = Key::new("cache", "web", "pages", "home");
    let r: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    let coordinator = *c.running().iter().find(|n| !r.contains(n)).unwrap_or(&r[0]);
    c.crash(r[1]);
    c.set_down(&[r[1]]);
    let written = c.call(
        coordinator,
        Request::Put {
            key: k.clone(),
            value: b"<html>".to_vec(),
            level: Level::All,
            ttl_ms: None,
        },
        5_000,
    );
    assert!(
        matches!(written, Some(Response::Written { .. })),
        "sloppy quorum reaches W=all: {written:?}"
    );
    let hints: usize = c
        .running()
        .into_iter()
        .map(|n| c.node(n).hints_pending())
        .sum();
    assert_eq!(
        hints, 1,
        "the failover node keeps one hint for the down replica"
    );
    assert_eq!(c.stored(r[1], &k), None);
    c.restart(r[1]);
    c.set_down(&[]);
    assert!(
        c.run_until(5_000, |c| c.stored(r[1], &k).is_some()),
        "the hint is replayed"
    );
    assert_eq!(
        c.stored(r[1], &k).and_then(|x| x.value),
        Some(b"<html>".to_vec())
    );
    c.run_for(500);
    let hints: usize = c
        .running()
        .into_iter()
        .map(|n| c.node(n).hints_pending())
        .sum();
    assert_eq!(hints, 0, "a delivered hint is dropped");
}

#[test]
fn an_eventual_read_repairs_stale_replicas_in_the_background() {
    let mut c = eventual_cluster(11);
    let k = Key::new("cache", "web", "pages", "about");
    let r: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    c.crash(r[2]);
    c.call(r[0], put(&k, b"fresh"), 5_000);
    c.run_for(50);
    c.restart(r[2]);
    let read = c.call(
        r[0],
        Request::Get {
            key: k.clone(),
            level: Level::All,
        },
        5_000,
    );
    assert_eq!(value_of(read), Some(b"fresh".to_vec()));
    c.run_for(100);
    assert_eq!(
        c.stored(r[2], &k).and_then(|x| x.value),
        Some(b"fresh".to_vec())
    );
}

#[test]
fn transactions_may_not_use_eventual_namespaces() {
    let mut c = eventual_cluster(12);
    let r = c.call(
        1,
        Request::Txn {
            ops: vec![Op::Get(Key::new("cache", "a", "b", "c"))],
        },
        1_000,
    );
    assert!(
        matches!(r, Some(Response::Error(ClientError::BadRequest { .. }))),
        "{r:?}"
    );
    let mixed = c.call(
        1,
        Request::Txn {
            ops: vec![Op::Get(key("x")), Op::Get(Key::new("cache", "a", "b", "c"))],
        },
        1_000,
    );
    assert!(
        matches!(mixed, Some(Response::Error(ClientError::BadRequest { .. }))),
        "{mixed:?}"
    );
}

#[test]
fn a_strong_write_without_a_quorum_is_unavailable() {
    let mut c = Cluster::new(3, 13, TxnOptions::default());
    c.crash(2);
    c.crash(3);
    c.set_down(&[2, 3]);
    let r = c.call(1, put(&key("z"), b"1"), 5_000);
    match r {
        Some(Response::Error(ClientError::Unavailable {
            mut missing,
            needed,
            ..
        })) => {
            missing.sort();
            assert_eq!(needed, 2);
            assert_eq!(missing, vec![2, 3]);
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A blind put every replica prepared, whose coordinator died before
/// anyone learned the outcome; returns the cluster and what a read from
/// node 2 answered while the prepares were held.
fn read_after_an_unannounced_fast_path_commit(
    options: TxnOptions,
) -> (Cluster, Key, Option<Vec<u8>>) {
    let mut c = Cluster::new(3, 9, options);
    let k = key("gina");
    c.call(1, put(&k, b"old"), 5_000);
    c.crash_hook = Some(Box::new(|node, msg| {
        node.0 == 1 && matches!(msg, zerodb_txn::Message::Apply { .. })
    }));
    let _ = c.submit(1, put(&k, b"new"));
    assert!(c.run_until(5_000, |c| !c.running().contains(&1)));
    c.crash_hook = None;
    assert!(c.locks_held() > 0, "the survivors hold the prepares");
    let read = value_of(c.call(2, get(&k), 10_000));
    (c, k, read)
}

#[test]
fn coordinator_crash_after_every_prepare_commits_the_blind_write_by_termination() {
    // Protocol v2's fast path: every replica prepared the blind put by
    // itself, so it is committed, though no register holds anything. The
    // coordinator dies before anyone learns it. A read must not skip the
    // prepares (I7): it waits, and termination commits the write.
    let (mut c, k, read) = read_after_an_unannounced_fast_path_commit(TxnOptions::default());
    assert_eq!(read, Some(b"new".to_vec()));
    assert!(c.run_until(10_000, |c| c.locks_held() == 0));
    c.restart(1);
    assert!(c.run_until(10_000, |c| c.locks_held() == 0));
    for node in 1..=3 {
        assert_eq!(
            value_of(c.call(node, get(&k), 5_000)),
            Some(b"new".to_vec())
        );
    }
}

#[test]
fn a_blind_write_one_replica_never_prepared_is_aborted_by_termination() {
    // The coordinator dies after its own prepare and one peer's: the third
    // replica never saw the prepare. Termination asks it, it refuses for
    // good, and the attempt is aborted (it cannot have taken the fast
    // path); the old value stays.
    let mut c = Cluster::new(3, 10, TxnOptions::default());
    let k = key("hank");
    let replicas: Vec<u32> = c.replicas_of(&k).iter().map(|n| n.0).collect();
    let coordinator = replicas[0];
    let missed = replicas[2];
    c.call(coordinator, put(&k, b"old"), 5_000);
    c.run_for(50);
    c.crash(missed);
    c.crash_hook = Some(Box::new(move |node, msg| {
        node.0 == coordinator && matches!(msg, zerodb_txn::Message::Decide { .. })
    }));
    let _ = c.submit(coordinator, put(&k, b"lost"));
    assert!(c.run_until(5_000, |c| !c.running().contains(&coordinator)));
    c.crash_hook = None;
    c.restart(missed);
    assert!(
        c.run_until(10_000, |c| c.locks_held() == 0),
        "termination ends the attempt"
    );
    let survivor = replicas[1];
    assert_eq!(
        value_of(c.call(survivor, get(&k), 5_000)),
        Some(b"old".to_vec())
    );
    c.restart(coordinator);
    assert!(c.run_until(10_000, |c| c.locks_held() == 0));
    for node in replicas {
        assert_eq!(
            value_of(c.call(node, get(&k), 5_000)),
            Some(b"old".to_vec()),
            "node {node}"
        );
    }
}

/// I7 broken: a read that skips a blind prepare because its register is
/// empty answers the value from before a write that is committed (every
/// replica prepared it), so a later read goes backwards.
#[test]
fn a_read_that_skips_a_blind_prepare_misses_a_committed_write() {
    let options = TxnOptions {
        unsafe_read_skips_blind_prepare: true,
        ..TxnOptions::default()
    };
    let (mut c, k, read) = read_after_an_unannounced_fast_path_commit(options);
    assert_eq!(
        read,
        Some(b"old".to_vec()),
        "the broken read skips the commit"
    );
    assert!(c.run_until(10_000, |c| c.locks_held() == 0));
    assert_eq!(value_of(c.call(3, get(&k), 5_000)), Some(b"new".to_vec()));
}

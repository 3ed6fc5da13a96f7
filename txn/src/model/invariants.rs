//! The invariants checked in every state (DESIGN.md 6.4 and 6.1 I1, I4,
//! I5) and at the end of every run.

use std::collections::BTreeMap;

use zerodb_storage::{Engine, Space};

use super::world::World;
use crate::types::{version, Decision, LockMode};

/// Names of the invariants checked in every state, in the order checked.
pub const STATE_INVARIANTS: &[&str] = &[
    "I1 one exclusive holder per key per replica",
    "I1 one attempt per transaction per replica (granted or queued)",
    "I4 a lock is removed only with its attempt's outcome",
    "I5 one outcome per (txn, attempt)",
    "register decides one value",
    "no two transactions believe they hold a key at a quorum",
    "I1 no writer inside a range another transaction share-locks",
];

/// Names of the invariants checked once a run has settled.
pub const END_INVARIANTS: &[&str] = &[
    "termination: every lock released",
    "acknowledged writes are stored at a quorum",
];

/// A broken invariant: its name and what broke it.
pub(crate) type Broken = (&'static str, String);

/// Checks every state invariant but those in `unchecked`; returns the
/// first one broken.
pub(crate) fn check_state(world: &mut World, unchecked: &[&str]) -> Option<Broken> {
    if let Some(broken) = world.ghost.broken.clone() {
        return Some(broken);
    }
    type Check = fn(&mut World) -> Option<Broken>;
    let checks: [Check; 6] = [
        one_exclusive_holder,
        no_writer_inside_a_shared_range,
        one_attempt_per_txn,
        locks_removed_with_outcome,
        registers_decide_once,
        no_double_belief,
    ];
    for check in checks {
        match check(world) {
            Some((name, _)) if unchecked.contains(&name) => {}
            Some(broken) => return Some(broken),
            None => {}
        }
    }
    None
}

fn one_exclusive_holder(world: &mut World) -> Option<Broken> {
    for n in &world.replicas {
        for (key, holders) in &n.replica.by_key {
            let exclusive = holders
                .values()
                .filter(|m| **m == LockMode::Exclusive)
                .count();
            if exclusive > 1 || (exclusive == 1 && holders.len() > 1) {
                return Some((
                    STATE_INVARIANTS[0],
                    format!("replica {}: key {key:?} held by {holders:?}", n.id.0),
                ));
            }
        }
    }
    None
}

/// I1 for ranges: while a transaction holds a shared range lock at a
/// replica, no other transaction holds an exclusive lock on a key inside
/// it there.
fn no_writer_inside_a_shared_range(world: &mut World) -> Option<Broken> {
    for n in &world.replicas {
        for (reader, held) in &n.replica.held {
            for range in &held.record.ranges {
                let inside = n
                    .replica
                    .by_key
                    .range(range.start.clone()..range.end.clone());
                for (key, holders) in inside {
                    let writer = holders
                        .iter()
                        .find(|(t, m)| *t != reader && **m == LockMode::Exclusive);
                    if let Some((writer, _)) = writer {
                        return Some((
                            STATE_INVARIANTS[6],
                            format!(
                                "replica {}: {writer} holds {key:?} exclusively inside the range \
                                 {reader} share-locks",
                                n.id.0
                            ),
                        ));
                    }
                }
            }
        }
    }
    None
}

fn one_attempt_per_txn(world: &mut World) -> Option<Broken> {
    for n in &world.replicas {
        let mut attempts: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (txn, held) in &n.replica.held {
            attempts.entry(*txn).or_default().push(held.record.attempt);
        }
        for w in &n.replica.waiting {
            attempts.entry(w.req.txn).or_default().push(w.req.attempt);
        }
        for (txn, list) in attempts {
            if list.iter().any(|a| *a != list[0]) {
                return Some((
                    STATE_INVARIANTS[1],
                    format!(
                        "replica {}: txn {txn} has attempts {list:?} (held or queued here)",
                        n.id.0
                    ),
                ));
            }
        }
    }
    None
}

/// I4: once a replica granted `(txn, attempt)`, the lock leaves its table
/// only in the batch that marks the attempt finished there.
fn locks_removed_with_outcome(world: &mut World) -> Option<Broken> {
    let granted: Vec<_> = world.ghost.granted.iter().copied().collect();
    for (id, txn, attempt) in granted {
        let node = &mut world.replicas[(id - 1) as usize];
        let holds = node
            .replica
            .held
            .get(&txn)
            .is_some_and(|h| h.record.attempt == attempt);
        if holds {
            continue;
        }
        let finished = node.load_finished(txn).expect("memory engine reads");
        if !finished.refuses(attempt) {
            let now = node.replica.held.get(&txn).map(|h| h.record.attempt);
            return Some((
                STATE_INVARIANTS[2],
                format!(
                    "replica {id}: the lock of {txn} attempt {attempt} is gone (now held: \
                     attempt {now:?}) but the attempt is not finished there ({finished:?})"
                ),
            ));
        }
    }
    None
}

fn registers_decide_once(world: &mut World) -> Option<Broken> {
    let attempts: Vec<_> = world
        .coords
        .iter()
        .flat_map(|c| (1..=c.attempt).map(move |a| (c.txn, a)))
        .collect();
    let mut by_attempt: BTreeMap<_, Decision> = BTreeMap::new();
    for (txn, attempt) in attempts {
        for index in 0..world.replicas.len() {
            let id = world.replicas[index].id.0;
            let state = world.replicas[index]
                .load_register(txn, attempt)
                .expect("memory engine reads");
            let Some(decided) = state.decided else {
                continue;
            };
            match world.ghost.decided.get(&(id, txn, attempt)) {
                Some(first) if *first != decided => {
                    return Some((
                        STATE_INVARIANTS[4],
                        format!("replica {id}: {txn} attempt {attempt} decided {first:?} then {decided:?}"),
                    ));
                }
                Some(_) => {}
                None => {
                    world
                        .ghost
                        .decided
                        .insert((id, txn, attempt), decided.clone());
                }
            }
            match by_attempt.get(&(txn, attempt)) {
                Some(other) if *other != decided => {
                    return Some((
                        STATE_INVARIANTS[3],
                        format!(
                            "{txn} attempt {attempt}: registers decided {other:?} and {decided:?}"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    by_attempt.insert((txn, attempt), decided);
                }
            }
        }
    }
    for ((txn, attempt), acked) in &world.ghost.acked {
        if let Some(decided) = by_attempt.get(&(*txn, *attempt)) {
            if decided != acked {
                return Some((
                    STATE_INVARIANTS[3],
                    format!("{txn} attempt {attempt}: client told {acked:?}, register decided {decided:?}"),
                ));
            }
        }
    }
    None
}

/// Issue 14 case 1 as a property: two running attempts of different
/// transactions that both hold grants from a quorum, and share a replica
/// where neither attempt is finished, both believe they hold the key.
fn no_double_belief(world: &mut World) -> Option<Broken> {
    let beliefs: Vec<_> = world
        .coords
        .iter()
        .filter_map(|c| {
            let (attempt, granted) = c.believed_locks()?;
            let quorum = crate::membership::quorum(c.replicas(&world.view).len());
            (granted.len() >= quorum).then_some((c.txn, attempt, c, granted))
        })
        .collect();
    for (i, (txn_a, att_a, coord_a, granted_a)) in beliefs.iter().enumerate() {
        for (txn_b, att_b, coord_b, granted_b) in &beliefs[i + 1..] {
            if !coord_a.conflicts_with(coord_b) {
                continue;
            }
            for r in granted_a.intersection(granted_b) {
                let node = &mut world.replicas[(r.0 - 1) as usize];
                let a_over = node
                    .load_finished(*txn_a)
                    .expect("memory engine reads")
                    .refuses(*att_a);
                let b_over = node
                    .load_finished(*txn_b)
                    .expect("memory engine reads")
                    .refuses(*att_b);
                if !a_over && !b_over {
                    return Some((
                        STATE_INVARIANTS[5],
                        format!(
                            "{txn_a} attempt {att_a} (granted by {granted_a:?}) and {txn_b} \
                             attempt {att_b} (granted by {granted_b:?}) both hold a shared key; \
                             neither is finished at replica {}",
                            r.0
                        ),
                    ));
                }
            }
        }
    }
    None
}

/// The end-of-run invariants, once the world settled.
pub(crate) fn check_end(world: &mut World) -> Option<Broken> {
    for n in &world.replicas {
        if !n.replica.held.is_empty() || !n.replica.waiting.is_empty() {
            return Some((
                END_INVARIANTS[0],
                format!(
                    "replica {}: held {:?}, waiting {}",
                    n.id.0,
                    n.replica.held.keys().collect::<Vec<_>>(),
                    n.replica.waiting.len()
                ),
            ));
        }
    }
    let acked: Vec<_> = world.ghost.acked.clone().into_iter().collect();
    for ((txn, attempt), decision) in acked {
        let Decision::Committed {
            version: v, writes, ..
        } = decision
        else {
            continue;
        };
        // DESIGN.md 6.4: an acknowledged write survives the loss of Q-1
        // replicas, so it (or a newer write of its key) is stored at a
        // quorum. A replica outside that quorum may miss it for good when
        // its Apply was lost and it never held the lock (a range lock of
        // an older scan made it refuse the late LockRead): reads find the
        // write at the quorum and repair it there (6.2).
        let needed = crate::membership::quorum(world.replicas.len());
        for w in &writes {
            let mut holders = Vec::new();
            for n in &mut world.replicas {
                let stored = n.engine_mut().get(Space::Data, &w.key).expect("get");
                let kept = stored.is_some_and(|r| {
                    r.version > version(v) || (r.version == version(v) && r.value == w.value)
                });
                if kept {
                    holders.push(n.id.0);
                }
            }
            if holders.len() < needed {
                return Some((
                    END_INVARIANTS[1],
                    format!(
                        "the acknowledged write of {txn} attempt {attempt} to {:?} is stored \
                         only at replicas {holders:?}, fewer than a quorum of {needed}",
                        w.key
                    ),
                ));
            }
        }
    }
    None
}

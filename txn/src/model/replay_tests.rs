//! Issue 14 case 1 told at quorum level through the model's world: the
//! story is longer than the exhaustive search's depth bounds, so it is
//! replayed step by step here, and the checker's quorum property ("no two
//! transactions believe they hold a key at a quorum") must catch it with
//! the fix reverted and stay quiet with the fix.

use super::invariants::{check_state, STATE_INVARIANTS};
use super::world::{Event, World};
use super::{case_1, spec, Scenario, Start};
use crate::codec;
use crate::message::Message;

/// Coordinators: T (older, may retry), H (younger, holds `a` first), U
/// (youngest, asks for `a` once T's first attempt is aborted).
const T: usize = 0;
const H: usize = 1;
const U: usize = 2;

fn scenario(unsafe_case_1: bool) -> Scenario {
    let mut u = spec(12, &["a"], 1, true);
    u.start = Start::Idle;
    Scenario {
        txns: vec![spec(5, &["a"], 2, true), spec(9, &["a"], 1, true), u],
        unsafe_case_1,
        // Only the quorum property: the single-replica invariants (I1 on
        // the queue, I4) fire earlier with the fix reverted.
        unchecked: vec![STATE_INVARIANTS[1], STATE_INVARIANTS[2]],
        ..case_1(1)
    }
}

/// Delivers the one message from coordinator `coordinator` to replica
/// `to` that `pick` selects, then checks the state invariants.
fn deliver(
    world: &mut World,
    coordinator: usize,
    to: u32,
    pick: impl Fn(&Message) -> bool,
) -> Option<String> {
    let from = world.coords[coordinator].node.0;
    let env = world
        .net
        .keys()
        .find(|e| e.0 == to && e.1 == from && pick(&codec::decode(&e.2).expect("frames decode")))
        .cloned()
        .expect("the message is in flight");
    step(world, Event::Deliver(env))
}

fn step(world: &mut World, event: Event) -> Option<String> {
    world.apply(&event);
    check_state(world, &[STATE_INVARIANTS[1], STATE_INVARIANTS[2]])
        .map(|(name, detail)| format!("{name}: {detail}"))
}

fn lock_read(attempt: u32) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::LockRead(r) if r.attempt == attempt)
}

fn apply_of(attempt: u32) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::Apply { attempt: a, .. } if *a == attempt)
}

/// Runs the story; returns the first violation.
fn story(unsafe_case_1: bool) -> Option<String> {
    let mut w = World::new(&scenario(unsafe_case_1));
    let mut found = None;
    let mut run = |r: Option<String>| {
        if found.is_none() {
            found = r;
        }
    };
    // H holds `a` at replicas 1 and 2.
    for r in [1, 2] {
        run(deliver(&mut w, H, r, lock_read(1)));
    }
    // T abandons attempt 1 (its LockReads still in flight) and retries.
    run(step(&mut w, Event::Begin(T)));
    for r in [1, 2] {
        // Attempt 2 waits behind H, then the late attempt 1 arrives.
        run(deliver(&mut w, T, r, lock_read(2)));
        run(deliver(&mut w, T, r, lock_read(1)));
    }
    // H gives up: its release wakes T's queued requests.
    run(step(&mut w, Event::Abort(H)));
    for r in [1, 2] {
        run(deliver(&mut w, H, r, apply_of(1)));
    }
    // T's attempt 1 abort reaches them.
    for r in [1, 2] {
        run(deliver(&mut w, T, r, apply_of(1)));
    }
    // U asks for `a` at replicas 1 and 2.
    run(step(&mut w, Event::Begin(U)));
    for r in [1, 2] {
        run(deliver(&mut w, U, r, lock_read(1)));
    }
    found
}

#[test]
fn case_1_at_quorum_two_transactions_believe_they_hold_a() {
    let found = story(true).expect("the quorum property catches case 1");
    println!("{found}");
    assert!(found.starts_with(STATE_INVARIANTS[5]), "{found}");
}

#[test]
fn with_the_fix_the_same_story_breaks_nothing() {
    assert_eq!(story(false), None);
}

//! Depth-first search over forks of the world, with deduplication by
//! fingerprint (see the module docs of `model`).

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use super::invariants::{check_end, check_state, END_INVARIANTS, STATE_INVARIANTS};
use super::world::{Event, World};
use super::{Report, Scenario, Violation};

/// Steps allowed to end a run without faults before it counts as stuck.
const END_STEPS_MAX: usize = 400;

/// Explores every run of `scenario` up to its depth bound and reports
/// what it found (the first violation stops the search). The explorer
/// reads no clock (txn is sans-IO): a caller that wants the time sets
/// `Report::elapsed` itself.
pub fn check(scenario: &Scenario) -> Report {
    if !scenario.shortest_trace {
        return check_to(scenario, scenario.depth_max);
    }
    let mut total: Option<Report> = None;
    for depth in 1..=scenario.depth_max {
        let report = check_to(scenario, depth);
        let total = total.get_or_insert_with(|| report.clone());
        if depth > 1 {
            total.states += report.states;
            total.transitions += report.transitions;
            total.runs_ended += report.runs_ended;
            total.invariants_checked += report.invariants_checked;
            total.max_depth = report.max_depth;
            total.exhausted = report.exhausted;
            total.violation = report.violation;
        }
        if total.violation.is_some() {
            break;
        }
    }
    total.expect("depth_max is at least 1")
}

/// One depth-first search with depth bound `depth_max`.
fn check_to(scenario: &Scenario, depth_max: usize) -> Report {
    let mut search = Search {
        scenario,
        depth_max,
        visited: HashMap::new(),
        ended: HashSet::new(),
        trace: Vec::new(),
        report: Report {
            scenario: scenario.name.clone(),
            states: 1,
            transitions: 0,
            max_depth: 0,
            runs_ended: 0,
            invariants_checked: 0,
            exhausted: true,
            elapsed: Duration::ZERO,
            violation: None,
        },
    };
    let mut world = World::new(scenario);
    let root = world.fingerprint();
    search.visited.insert(root, 0);
    search.dfs(&mut world, 0);
    search.report
}

struct Search<'a> {
    scenario: &'a Scenario,
    depth_max: usize,
    /// Fingerprint -> smallest depth it was explored from.
    visited: HashMap<u128, usize>,
    /// States from which a fault-free ending was checked.
    ended: HashSet<u128>,
    trace: Vec<Event>,
    report: Report,
}

/// What a step found.
enum Found {
    Nothing,
    Broken(String, String),
}

impl Search<'_> {
    /// Returns true when the search must stop.
    fn dfs(&mut self, world: &mut World, depth: usize) -> bool {
        for event in world.enabled() {
            if self.report.states >= self.scenario.states_max {
                self.report.exhausted = false;
                return true;
            }
            let mut child = world.fork();
            self.report.transitions += 1;
            self.trace.push(event.clone());
            if let Found::Broken(name, detail) = step(&mut child, &event, &self.scenario.unchecked)
            {
                self.stop(name, detail, &[]);
                return true;
            }
            self.report.invariants_checked += STATE_INVARIANTS.len() as u64;
            let fingerprint = child.fingerprint();
            if self
                .visited
                .get(&fingerprint)
                .is_some_and(|d| *d <= depth + 1)
            {
                self.trace.pop();
                continue;
            }
            self.visited.insert(fingerprint, depth + 1);
            self.report.states += 1;
            self.report.max_depth = self.report.max_depth.max(depth + 1);
            let at_bound = depth + 1 >= self.depth_max;
            if !at_bound && self.dfs(&mut child, depth + 1) {
                return true;
            }
            if (at_bound || only_faults_left(&child)) && self.end_run(&mut child) {
                return true;
            }
            self.trace.pop();
        }
        false
    }

    /// Ends the run without faults and checks the end invariants.
    fn end_run(&mut self, world: &mut World) -> bool {
        let mut end = world.fork();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let unchecked = &self.scenario.unchecked;
            let ended = &mut self.ended;
            end.quiesce(END_STEPS_MAX, ended, |w| check_state(w, unchecked))
                .and_then(|(steps, settled_here)| match settled_here {
                    true => match check_end(&mut end) {
                        Some((name, detail)) => Err((steps, name, detail)),
                        None => Ok(steps),
                    },
                    false => Ok(steps),
                })
        }));
        self.report.runs_ended += 1;
        self.report.invariants_checked += END_INVARIANTS.len() as u64;
        match result {
            Ok(Ok(_)) => false,
            Ok(Err((steps, name, detail))) => {
                self.stop(name.to_string(), detail, &steps);
                true
            }
            Err(panic) => {
                self.stop("panic in the replica code".into(), panic_text(&panic), &[]);
                true
            }
        }
    }

    fn stop(&mut self, invariant: String, detail: String, end_steps: &[Event]) {
        self.report.exhausted = false;
        let mut trace: Vec<String> = self.trace.iter().map(super::trace::describe).collect();
        trace.extend(
            end_steps
                .iter()
                .map(|e| format!("(end) {}", super::trace::describe(e))),
        );
        self.report.violation = Some(Violation {
            invariant,
            detail,
            trace,
        });
    }
}

/// Runs one event and the state invariants, catching panics of the
/// replica code (its assertions are invariants too).
fn step(world: &mut World, event: &Event, unchecked: &[&str]) -> Found {
    let result = catch_unwind(AssertUnwindSafe(|| {
        world.apply(event);
        check_state(world, unchecked)
    }));
    match result {
        Ok(None) => Found::Nothing,
        Ok(Some((name, detail))) => Found::Broken(name.to_string(), detail),
        Err(panic) => Found::Broken("panic in the replica code".into(), panic_text(&panic)),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Whether only faults (and nothing a coordinator or the network can do)
/// remain: the run has reached its natural end.
fn only_faults_left(world: &World) -> bool {
    world.net.is_empty()
        && world
            .coords
            .iter()
            .all(|c| !c.can_begin() && !c.running() && !c.can_decide(&world.view))
}

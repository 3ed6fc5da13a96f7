use super::*;
use crate::history::ProcessId;

/// An operation invoked at `time` and answered just after.
fn at(time: u64, op: GraphOp, outcome: Outcome<GraphResult>) -> GraphOperation {
    Operation {
        process: ProcessId(0),
        invoke_us: time * 10,
        complete_us: time * 10 + 1,
        op,
        outcome,
    }
}

fn ok(time: u64, op: GraphOp) -> GraphOperation {
    at(time, op, Outcome::Ok(GraphResult::Written))
}

fn vertex(time: u64, id: &str) -> GraphOperation {
    ok(time, GraphOp::AddVertex { id: id.into() })
}

fn relate(time: u64, from: &str, to: &str) -> GraphOperation {
    ok(
        time,
        GraphOp::Relate {
            from: from.into(),
            to: to.into(),
        },
    )
}

fn out(time: u64, id: &str, reached: &[&str]) -> GraphOperation {
    at(
        time,
        GraphOp::Out { id: id.into() },
        Outcome::Ok(GraphResult::Reached(
            reached.iter().map(|v| v.to_string()).collect(),
        )),
    )
}

fn edge(from: &str, to: &str) -> Edge {
    Edge {
        key: edge_key(from, to),
        from: from.into(),
        to: to.into(),
    }
}

/// A final read of `vertices` and `edges` whose adjacency lists agree with
/// the edges, listing every vertex of `universe`.
fn consistent(universe: &[&str], vertices: &[&str], edges: &[Edge]) -> FinalGraph {
    let mut last = FinalGraph {
        vertices: vertices.iter().map(|v| v.to_string()).collect(),
        edges: edges.to_vec(),
        ..FinalGraph::default()
    };
    for vertex in universe {
        let reach =
            |pick: &dyn Fn(&Edge) -> Option<String>| edges.iter().filter_map(pick).collect();
        last.out.insert(
            vertex.to_string(),
            reach(&|e: &Edge| (e.from == *vertex).then(|| e.to.clone())),
        );
        last.incoming.insert(
            vertex.to_string(),
            reach(&|e: &Edge| (e.to == *vertex).then(|| e.from.clone())),
        );
    }
    last
}

fn has(anomalies: &[String], text: &str) -> bool {
    anomalies.iter().any(|a| a.contains(text))
}

#[test]
fn a_clean_history_with_a_cascade_passes() {
    let history = vec![
        vertex(0, "a"),
        vertex(1, "b"),
        vertex(2, "c"),
        relate(3, "a", "b"),
        relate(4, "b", "c"),
        out(5, "a", &["b"]),
        ok(6, GraphOp::DeleteVertex { id: "b".into() }),
        out(7, "a", &[]),
    ];
    let last = consistent(&["a", "b", "c"], &["a", "c"], &[]);
    assert_eq!(check_graph(&history, &last), Vec::<String>::new());
}

#[test]
fn a_cascade_that_left_its_edges_is_caught_at_the_end_and_by_reads() {
    let history = vec![
        vertex(0, "a"),
        vertex(1, "b"),
        relate(3, "a", "b"),
        ok(6, GraphOp::DeleteVertex { id: "b".into() }),
        out(7, "a", &["b"]),
    ];
    let last = consistent(&["a", "b"], &["a"], &[edge("a", "b")]);
    let anomalies = check_graph(&history, &last);
    assert!(has(&anomalies, "dangling edge a-b"), "{anomalies:?}");
    assert!(has(&anomalies, "after b was deleted"), "{anomalies:?}");
    assert!(
        has(&anomalies, "after the edge a -> b was deleted"),
        "{anomalies:?}"
    );
    assert!(has(&anomalies, "deleted after its RELATE"), "{anomalies:?}");
}

#[test]
fn an_adjacency_entry_without_its_edge_and_an_edge_without_one_are_caught() {
    let history = vec![vertex(0, "a"), vertex(1, "b"), relate(2, "a", "b")];
    let mut last = consistent(&["a", "b"], &["a", "b"], &[edge("a", "b")]);
    last.incoming.insert("b".into(), BTreeSet::new());
    last.out
        .insert("b".into(), BTreeSet::from(["a".to_string()]));
    let anomalies = check_graph(&history, &last);
    assert!(
        has(&anomalies, "incoming adjacency list of b reaches {}"),
        "{anomalies:?}"
    );
    assert!(
        has(&anomalies, "outgoing adjacency list of b reaches {\"a\"}"),
        "{anomalies:?}"
    );
}

#[test]
fn lost_writes_reads_from_nowhere_and_missed_edges_are_caught() {
    let history = vec![
        vertex(0, "a"),
        vertex(1, "b"),
        relate(2, "a", "b"),
        // Missed a-b; reached c, which nobody related.
        out(3, "a", &["c"]),
    ];
    let last = consistent(&["a", "b"], &["a", "z"], &[]);
    let anomalies = check_graph(&history, &last);
    assert!(has(&anomalies, "missed b"), "{anomalies:?}");
    assert!(has(&anomalies, "no client related a -> c"), "{anomalies:?}");
    assert!(
        has(&anomalies, "create of b was acknowledged"),
        "{anomalies:?}"
    );
    assert!(
        has(&anomalies, "RELATE a -> b was acknowledged"),
        "{anomalies:?}"
    );
    assert!(
        has(&anomalies, "holds z, which no client created"),
        "{anomalies:?}"
    );
}

#[test]
fn a_relate_acknowledged_after_its_end_was_deleted_is_caught() {
    let history = vec![
        vertex(0, "a"),
        vertex(1, "b"),
        ok(2, GraphOp::DeleteVertex { id: "b".into() }),
        relate(3, "a", "b"),
    ];
    let last = consistent(&["a", "b"], &["a"], &[]);
    let anomalies = check_graph(&history, &last);
    assert!(
        has(&anomalies, "acknowledged after the delete of b"),
        "{anomalies:?}"
    );
}

#[test]
fn writes_of_unknown_outcome_may_land_after_a_delete() {
    let unknown = |time, op| at(time, op, Outcome::Info("client timeout".into()));
    let history = vec![
        vertex(0, "a"),
        unknown(1, GraphOp::AddVertex { id: "b".into() }),
        ok(2, GraphOp::DeleteVertex { id: "b".into() }),
        unknown(
            3,
            GraphOp::Relate {
                from: "a".into(),
                to: "b".into(),
            },
        ),
        ok(
            4,
            GraphOp::DeleteEdge {
                from: "a".into(),
                to: "b".into(),
                traversal: true,
            },
        ),
        out(5, "a", &["b"]),
    ];
    let last = consistent(&["a", "b"], &["a", "b"], &[edge("a", "b")]);
    assert_eq!(check_graph(&history, &last), Vec::<String>::new());
}

#[test]
fn two_hop_reads_reach_only_over_related_pairs() {
    let two_hops = |reached: &[&str]| {
        at(
            5,
            GraphOp::TwoHops { id: "a".into() },
            Outcome::Ok(GraphResult::Reached(
                reached.iter().map(|v| v.to_string()).collect(),
            )),
        )
    };
    let mut history = vec![
        vertex(0, "a"),
        vertex(1, "b"),
        vertex(2, "c"),
        relate(3, "a", "b"),
        relate(4, "b", "c"),
    ];
    let last = consistent(
        &["a", "b", "c"],
        &["a", "b", "c"],
        &[edge("a", "b"), edge("b", "c")],
    );
    history.push(two_hops(&["c"]));
    assert_eq!(check_graph(&history, &last), Vec::<String>::new());
    history.push(two_hops(&["b"]));
    let anomalies = check_graph(&history, &last);
    assert!(
        has(&anomalies, "two-hop read from a reached b"),
        "{anomalies:?}"
    );
}

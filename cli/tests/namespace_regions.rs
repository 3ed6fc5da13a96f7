//! Namespaces across real `zerodb start` processes in two regions on
//! 127.0.0.1 (n1, n2 in `eu`; n3, n4 in `us`): a namespace created through
//! n1 reaches every node through gossip (the status requests used to watch
//! it never refresh the catalog), its data lives only on the nodes of its
//! region (each node's `zerodb status --ns` counts the records it holds),
//! a coordinator in the other region forwards, and a drop reaches every
//! node.

mod cluster_support;

use std::time::{Duration, Instant};

use cluster_support::{wait_ready, zerodb, Children, ClusterFiles, TempDir};
use serde_json::Value;

/// Longest wait for gossip to bring a catalog change to every node.
const SPREAD_WITHIN: Duration = Duration::from_secs(10);

/// Runs the CLI as admin against node `node` only.
fn cli(files: &ClusterFiles, node: u32, args: &[&str]) -> (Option<i32>, String, String) {
    let address = files.spec.member(node).unwrap().address.to_string();
    let output = zerodb()
        .arg("--dir")
        .arg(&files.dir)
        .args(["--seeds", &address])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

fn ok(files: &ClusterFiles, node: u32, args: &[&str]) -> String {
    let (code, out, err) = cli(files, node, args);
    assert_eq!(code, Some(0), "{args:?} at n{node}: {out} {err}");
    out
}

/// `zerodb --json --ns NS status` at `node`; `None` if the node refuses
/// (it does not know the namespace).
fn status(files: &ClusterFiles, node: u32, namespace: &str) -> Option<Value> {
    let (code, out, _) = cli(files, node, &["--json", "--ns", namespace, "status"]);
    (code == Some(0)).then(|| serde_json::from_str(&out).unwrap())
}

/// The `committed` counter of `node` (`zerodb admin info`).
fn committed(files: &ClusterFiles, node: u32) -> u64 {
    let info: Value = serde_json::from_str(&ok(files, node, &["--json", "admin", "info"])).unwrap();
    info["committed"].as_u64().unwrap()
}

/// Waits until every node's status of `namespace` shows every member
/// holding catalog `version` or later; returns how long it took.
fn wait_catalog(files: &ClusterFiles, namespace: &str, version: u64) -> Duration {
    let start = Instant::now();
    for node in 1..=4 {
        loop {
            let seen = status(files, node, namespace).is_some_and(|report| {
                report["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|member| member["catalog_version"].as_u64().unwrap() >= version)
            });
            if seen {
                break;
            }
            assert!(
                start.elapsed() < SPREAD_WITHIN,
                "n{node} does not show catalog version {version} everywhere; its log:\n{}",
                files.log(node)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    start.elapsed()
}

#[test]
fn a_pinned_namespace_spreads_by_gossip_keeps_its_data_in_region_and_its_drop_reaches_every_node() {
    let temp = TempDir::new("ns-regions");
    let files = ClusterFiles::with_regions(&temp.0, &["eu", "eu", "us", "us"]);
    let _children = Children((1..=4).map(|id| files.spawn(id)).collect());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(wait_ready(&files, &[1, 2, 3, 4]));
    wait_catalog(&files, "default", 1);

    ok(
        &files,
        1,
        &[
            "ns",
            "create",
            "eu-shop",
            "--regions",
            "eu",
            "--rf",
            "2",
            "--partition-level",
            "record",
        ],
    );
    // Only status requests reach n2..n4 until every node shows version 2:
    // gossip alone carries the news (a request for the namespace would
    // refresh the catalog on its own).
    let spread = wait_catalog(&files, "eu-shop", 2);
    eprintln!("catalog version 2 reached every node after {spread:?}");

    // Placement: the us members own nothing of the namespace.
    let report = status(&files, 4, "eu-shop").unwrap();
    for member in report["members"].as_array().unwrap() {
        let owns = member["ownership_percent"].as_f64().unwrap();
        match member["region"].as_str().unwrap() {
            "eu" => assert!(owns > 99.0, "{member}"),
            _ => assert_eq!(owns, 0.0, "{member}"),
        }
    }

    // Writes through a us node are forwarded: it commits none of them.
    let before: Vec<u64> = (1..=4).map(|node| committed(&files, node)).collect();
    const WRITES: u64 = 8;
    for i in 0..WRITES {
        ok(
            &files,
            4,
            &["--ns", "eu-shop", "put", &format!("k{i}"), "v"],
        );
    }
    let after: Vec<u64> = (1..=4).map(|node| committed(&files, node)).collect();
    assert_eq!(after[3], before[3], "n4 coordinated a pinned write");
    assert_eq!(after[2], before[2]);
    assert_eq!(after[0] + after[1], before[0] + before[1] + WRITES);
    assert_eq!(ok(&files, 3, &["--ns", "eu-shop", "get", "k3"]), "v");
    // The counter does count at n4: an unpinned write is coordinated there.
    ok(&files, 4, &["put", "plain", "v"]);
    assert_eq!(committed(&files, 4), after[3] + 1);

    // The records are on the eu nodes' disks (RF 2: both hold all) and
    // nowhere else.
    let held = |node: u32| {
        status(&files, node, "eu-shop").unwrap()["local_records"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (1..=4).map(held).collect::<Vec<_>>(),
        vec![WRITES, WRITES, 0, 0]
    );

    // Dropped through a us node: every node learns it from gossip and
    // refuses the namespace (the core tests check the records go too).
    ok(&files, 3, &["ns", "drop", "eu-shop"]);
    wait_catalog(&files, "default", 3);
    for node in 1..=4 {
        let (code, _, why) = cli(&files, node, &["--ns", "eu-shop", "get", "k1"]);
        assert_eq!(code, Some(2), "n{node}: {why}");
        assert!(why.contains("\"eu-shop\" does not exist"), "n{node}: {why}");
    }
}

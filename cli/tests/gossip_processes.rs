//! Gossip between real `zerodb start` processes on 127.0.0.1: a node
//! killed with SIGKILL is reported down by the others within a few seconds
//! (SWIM over QUIC datagrams), comes back up after a restart, and a node
//! stopped gracefully (SIGTERM) leaves at once.

mod cluster_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use cluster_support::{wait_ready, ClusterFiles, TempDir};
use zerodb_cli::connect::Session;
use zerodb_node::api::{ClientRequest, ClientResponse, StatusReport};

/// Longest wait for the cluster to agree on something.
const AGREE_WITHIN: Duration = Duration::from_secs(15);
/// A crash must be detected within this (probe 0.5 s, suspicion 1.2 s and
/// dissemination, with room for a loaded test machine).
const DETECT_WITHIN: Duration = Duration::from_secs(8);
/// A graceful leave must be seen before a crash could have been detected.
const LEAVE_SEEN_WITHIN: Duration = Duration::from_millis(1_500);

async fn status(files: &ClusterFiles, node: u32) -> Option<StatusReport> {
    let mut session = Session::new(&files.connect(&[node])).ok()?;
    let answer = session.call(&ClientRequest::Status).await;
    session.close().await;
    match answer {
        Ok(ClientResponse::Status(report)) => Some(report),
        _ => None,
    }
}

/// Health of `about` as `observer` reports it.
async fn health(files: &ClusterFiles, observer: u32, about: u32) -> Option<String> {
    let report = status(files, observer).await?;
    let member = report.members.into_iter().find(|m| m.id == about)?;
    Some(member.health)
}

/// Waits until every observer reports `about` with `expected` health;
/// returns how long it took.
async fn wait_health(
    files: &ClusterFiles,
    observers: &[u32],
    about: u32,
    expected: &str,
) -> Duration {
    let start = Instant::now();
    for &observer in observers {
        loop {
            if health(files, observer, about).await.as_deref() == Some(expected) {
                break;
            }
            assert!(
                start.elapsed() < AGREE_WITHIN,
                "n{observer} never reported n{about} {expected}; log of n{observer}:\n{}",
                files.log(observer)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_reported_down_then_up_after_a_restart() {
    let temp = TempDir::new("gossip");
    let files = ClusterFiles::new(&temp.0, 3);
    let mut children: BTreeMap<u32, std::process::Child> =
        (1..=3).map(|id| (id, files.spawn(id))).collect();
    wait_ready(&files, &[1, 2, 3]).await;
    for about in 1..=3 {
        wait_health(&files, &[1, 2, 3], about, "up").await;
    }

    children.get_mut(&3).unwrap().kill().unwrap();
    children.get_mut(&3).unwrap().wait().unwrap();
    let detected = wait_health(&files, &[1, 2], 3, "down").await;
    eprintln!("SIGKILLed node reported down by both peers after {detected:?}");
    assert!(detected < DETECT_WITHIN, "detection took {detected:?}");
    // A down node keeps its place in the ring.
    let report = status(&files, 1).await.unwrap();
    let n3 = report.members.iter().find(|m| m.id == 3).unwrap();
    assert!(!n3.up);
    assert_eq!(n3.tokens, 16);

    children.insert(3, files.spawn(3));
    wait_ready(&files, &[3]).await;
    let back = wait_health(&files, &[1, 2], 3, "up").await;
    eprintln!("restarted node reported up by both peers after {back:?}");
    for about in 1..=2 {
        wait_health(&files, &[3], about, "up").await;
    }

    // Graceful stop: node 2 says goodbye, faster than a crash is detected.
    let stopped = Instant::now();
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(children[&2].id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let left = wait_health(&files, &[1], 2, "down").await;
    eprintln!("gracefully stopped node reported down after {left:?}");
    // Faster than any crash detection (probe 0.5 s plus suspicion 1.2 s).
    assert!(left < LEAVE_SEEN_WITHIN, "the leave took {left:?}");
    children.get_mut(&2).unwrap().wait().unwrap();
    assert!(stopped.elapsed() < AGREE_WITHIN);
    assert!(files.log(2).contains("node stopped"), "{}", files.log(2));

    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

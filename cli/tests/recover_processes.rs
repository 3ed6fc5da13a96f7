//! `zerodb start --recover`: a node whose disk was lost comes back with an
//! empty store, copies data, locks and decisions from its peers before it
//! votes, and then serves quorums that need it.

mod cluster_support;

use std::process::Child;
use std::time::{Duration, Instant};

use cluster_support::{wait_ready, ClusterFiles, TempDir};
use zerodb_cli::connect::Session;
use zerodb_node::api::{ClientRequest, ClientResponse};
use zerodb_txn::{Key, Level, Request, Response};

const KEYS: usize = 30;

fn key(i: usize) -> Key {
    Key::new("default", "db", "t", format!("k{i}").into_bytes())
}

/// `(replica status, records in the engine)` of node `id`.
async fn replica_state(files: &ClusterFiles, id: u32) -> Option<(String, u64)> {
    let mut session = Session::new(&files.connect(&[id])).ok()?;
    let status = session.call(&ClientRequest::Status).await;
    let info = session.call(&ClientRequest::Info).await;
    session.close().await;
    match (status, info) {
        (Ok(ClientResponse::Status(s)), Ok(ClientResponse::Info(i))) => {
            Some((s.replica_status, i.records))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_lost_disk_copies_its_state_back_before_it_votes() {
    let temp = TempDir::new("recover");
    let files = ClusterFiles::new(&temp.0, 3);
    let mut children: Vec<Child> = (1..=3).map(|id| files.spawn(id)).collect();
    wait_ready(&files, &[1, 2, 3]).await;

    let mut writer = Session::new(&files.connect(&[1, 2])).unwrap();
    for i in 0..KEYS {
        let request = ClientRequest::Data(Request::Put {
            key: key(i),
            value: format!("v{i}").into_bytes(),
            level: Level::One,
            ttl_ms: None,
        });
        let answer = writer.call(&request).await;
        assert!(
            matches!(answer, Ok(ClientResponse::Data(Response::Written { .. }))),
            "{answer:?}"
        );
    }
    writer.close().await;

    // Node 3 loses its disk and comes back with `--recover`.
    children[2].kill().unwrap();
    children[2].wait().unwrap();
    std::fs::remove_dir_all(files.dir.join("n3")).unwrap();
    children[2] = files.spawn_with(3, &["--recover"]);
    wait_ready(&files, &[3]).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, records) = loop {
        let state = replica_state(&files, 3).await;
        if let Some((status, records)) = &state {
            if status == "normal" {
                break (status.clone(), *records);
            }
        }
        assert!(
            Instant::now() < deadline,
            "node 3 did not finish recovering: {state:?}; log:\n{}",
            files.log(3)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "normal");
    assert!(
        records >= KEYS as u64,
        "node 3 votes again holding {records} records, fewer than the {KEYS} written"
    );

    // With node 1 gone every quorum needs node 3: all writes are there.
    children[0].kill().unwrap();
    children[0].wait().unwrap();
    let mut reader = Session::new(&files.connect(&[3])).unwrap();
    for i in 0..KEYS {
        let request = ClientRequest::Data(Request::Get {
            key: key(i),
            level: Level::One,
        });
        match reader.call(&request).await {
            Ok(ClientResponse::Data(Response::Value(Some(v)))) => {
                assert_eq!(v.value, Some(format!("v{i}").into_bytes()))
            }
            other => panic!("k{i}: {other:?}; log:\n{}", files.log(3)),
        }
    }
    reader.close().await;
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

//! A 3-node cluster of real `zerodb start` processes on 127.0.0.1: two
//! clients write and run transactions; one node is killed with SIGKILL and
//! strong operations go on; it restarts; then another node is killed so the
//! restarted one is part of every quorum, and every acknowledged write is
//! still there.

mod cluster_support;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_support::{wait_ready, ClusterFiles, TempDir};
use zerodb_cli::connect::Session;
use zerodb_node::api::{ClientRequest, ClientResponse};
use zerodb_txn::{Key, Level, Op, OpResult, Request, Response};

fn key(id: &str) -> Key {
    Key::new("default", "db", "t", id.as_bytes())
}

async fn put(session: &mut Session, id: &str, value: &str) -> Result<(), String> {
    let request = ClientRequest::Data(Request::Put {
        key: key(id),
        value: value.as_bytes().to_vec(),
        level: Level::One,
        ttl_ms: None,
    });
    match session.call(&request).await {
        Ok(ClientResponse::Data(Response::Written { .. })) => Ok(()),
        other => Err(format!("put {id}: {other:?}")),
    }
}

async fn incr(session: &mut Session, id: &str) -> Result<i64, String> {
    let request = ClientRequest::Data(Request::Txn {
        ops: vec![Op::Incr(key(id), 1), Op::Get(key("a0"))],
    });
    match session.call(&request).await {
        Ok(ClientResponse::Data(Response::Committed { results, .. })) => match results[0] {
            OpResult::Int(n) => Ok(n),
            ref other => Err(format!("incr result {other:?}")),
        },
        other => Err(format!("incr {id}: {other:?}")),
    }
}

async fn get(session: &mut Session, id: &str) -> Option<Vec<u8>> {
    let request = ClientRequest::Data(Request::Get {
        key: key(id),
        level: Level::One,
    });
    match session.call(&request).await {
        Ok(ClientResponse::Data(Response::Value(found))) => found.and_then(|v| v.value),
        other => panic!("get {id}: {other:?}"),
    }
}

/// Client A writes keys `prefix{i}`; client B increments a counter in
/// transactions. Returns the values acknowledged.
async fn workload(
    files: &ClusterFiles,
    nodes: &[u32],
    prefix: &str,
    count: usize,
) -> (BTreeMap<String, String>, i64) {
    let mut writer = Session::new(&files.connect(nodes)).unwrap();
    let mut counter = Session::new(&files.connect(nodes)).unwrap();
    let prefix_owned = prefix.to_string();
    let writes = async move {
        let mut acknowledged = BTreeMap::new();
        for i in 0..count {
            let (id, value) = (format!("{prefix_owned}{i}"), format!("v{i}"));
            put(&mut writer, &id, &value).await.unwrap();
            acknowledged.insert(id, value);
        }
        writer.close().await;
        acknowledged
    };
    let increments = async move {
        let mut last = 0;
        for _ in 0..count {
            last = incr(&mut counter, "counter").await.unwrap();
        }
        counter.close().await;
        last
    };
    tokio::join!(writes, increments)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_restarts_and_no_acknowledged_write_is_lost() {
    let temp = TempDir::new("kill9");
    let files = ClusterFiles::new(&temp.0, 3);
    let mut children: BTreeMap<u32, std::process::Child> =
        (1..=3).map(|id| (id, files.spawn(id))).collect();
    wait_ready(&files, &[1, 2, 3]).await;

    let (mut acknowledged, counter) = workload(&files, &[1, 2, 3], "a", 20).await;
    assert_eq!(counter, 20);

    // SIGKILL node 3: strong operations go on with the other two.
    children.get_mut(&3).unwrap().kill().unwrap();
    children.get_mut(&3).unwrap().wait().unwrap();
    let (more, counter) = workload(&files, &[1, 2], "b", 20).await;
    acknowledged.extend(more);
    assert_eq!(counter, 40);

    // Restart it; it serves again.
    children.insert(3, files.spawn(3));
    wait_ready(&files, &[3]).await;
    let (more, counter) = workload(&files, &[3], "c", 5).await;
    acknowledged.extend(more);
    assert_eq!(counter, 45);

    // Now kill node 1: every quorum includes the restarted node 3, and
    // every acknowledged write must still be read, through node 3.
    children.get_mut(&1).unwrap().kill().unwrap();
    children.get_mut(&1).unwrap().wait().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reader = Session::new(&files.connect(&[3])).unwrap();
    for (id, value) in &acknowledged {
        assert_eq!(
            get(&mut reader, id).await.as_deref(),
            Some(value.as_bytes()),
            "{id} lost; logs:\n{}",
            files.log(3)
        );
    }
    let counter_value = get(&mut reader, "counter").await.unwrap();
    assert_eq!(zerodb_txn::request::decode_int(&counter_value), Some(45));
    reader.close().await;

    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

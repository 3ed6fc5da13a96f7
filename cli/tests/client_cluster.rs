//! The client library against an in-process 3-node cluster on 127.0.0.1:
//! reads, writes, transactions, zeroql queries, typed errors, and a node
//! shut down while clients keep working.

use std::net::UdpSocket;
use std::path::PathBuf;

use zerodb_cli::dev::{self, DevArgs};
use zerodb_client::{
    Client, ClientConfig, Condition, Error, Key, Op, OpResult, QueryErrorKind, ScanQuery, Value,
};
use zerodb_config::StorageEngineKind;

fn free_ports(count: u16) -> u16 {
    let seed = u64::from(std::process::id()).wrapping_mul(2_654_435_761);
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 7_919) % 30_000) as u16;
        let sockets: Vec<_> = (0..count)
            .map(|i| UdpSocket::bind(("127.0.0.1", base + i)))
            .collect();
        if sockets.iter().all(|s| s.is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("zerodb-client-test-{}-{nanos}", std::process::id()))
}

fn key(id: &str) -> Key {
    Key::new("default", "db", "t", id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_read_write_and_survive_a_node_stopping() {
    let dir = temp_dir();
    let args = DevArgs {
        dir: dir.clone(),
        nodes: 3,
        base_port: free_ports(3),
        engine: StorageEngineKind::Memory,
        metrics_base_port: 0,
        console_user: None,
        no_shell: true,
    };
    std::fs::create_dir_all(&dir).unwrap();
    let spec = zerodb_node::core::membership::ClusterSpec {
        tokens_per_node: 16,
        members: (1..=3)
            .map(|id| zerodb_node::core::membership::MemberSpec {
                id,
                address: ([127, 0, 0, 1], args.base_port + id as u16 - 1).into(),
                region: "local".into(),
                zone: format!("z{id}"),
            })
            .collect(),
    };
    std::fs::write(dir.join("cluster.toml"), spec.to_toml_string()).unwrap();
    dev::ensure_certs(&dir.join("certs"), &spec).unwrap();
    let mut nodes = dev::start_nodes(&args, &spec).await.unwrap();

    let a = Client::connect(ClientConfig::dev(&dir).unwrap())
        .await
        .unwrap();
    let b = Client::connect(ClientConfig::dev(&dir).unwrap())
        .await
        .unwrap();
    a.put(&key("x"), "1").await.unwrap();
    assert_eq!(
        b.get(&key("x")).await.unwrap().unwrap().value.unwrap(),
        b"1"
    );
    assert_eq!(b.get(&key("nothing")).await.unwrap(), None);

    let (_, results) = b
        .transaction(vec![
            Op::Assert(key("x"), Condition::ValueEquals(b"1".to_vec())),
            Op::Incr(key("n"), 3),
        ])
        .await
        .unwrap();
    assert_eq!(results[1], OpResult::Int(3));
    let failed = a
        .transaction(vec![
            Op::Assert(key("x"), Condition::NotExists),
            Op::Put(key("x"), b"2".to_vec()),
        ])
        .await;
    assert!(
        matches!(failed, Err(Error::ConditionFailed { .. })),
        "{failed:?}"
    );
    a.delete(&key("n")).await.unwrap();
    let scan = ScanQuery {
        namespace: "default".into(),
        database: "db".into(),
        table: "t".into(),
        start: Vec::new(),
        end: None,
        limit: 10,
    };
    let entries = a.scan(scan.clone()).await.unwrap();
    let ids: Vec<&[u8]> = entries.iter().map(|e| e.id.as_slice()).collect();
    assert_eq!(ids, vec![b"x".as_slice()]);

    // zeroql through the client: parameters in, values out, and a typed
    // error carrying the rendered message.
    a.query("CREATE person:tobie SET name = 'Tobie', age = 33", &[])
        .await
        .unwrap();
    let found = b
        .query_in(
            "default",
            "default",
            "SELECT name FROM person WHERE age > $min",
            &[("min", Value::Int(30))],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].to_string(), "[{ name: 'Tobie' }]");
    let failed = a.query("SELECT * FROM", &[]).await;
    match failed {
        Err(Error::Query { kind, message }) => {
            assert_eq!(kind, QueryErrorKind::Invalid);
            assert!(
                message.contains("1:14") && message.contains('^'),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let output = a
        .query_answer("default", "default", "RETURN 1; RETURN $nothing", &[])
        .await
        .unwrap();
    assert_eq!(output.results, vec![Value::Int(1)]);
    assert!(output.error.is_some());

    // Stop one node gracefully: both clients go on (reads retry on another
    // node; writes that failed before being applied are retried too).
    let stopped = nodes.remove(0);
    stopped.shutdown().await;
    for i in 0..10 {
        let id = format!("k{i}");
        a.put(&key(&id), id.clone()).await.unwrap();
        assert_eq!(
            b.get(&key(&id)).await.unwrap().unwrap().value.unwrap(),
            id.as_bytes()
        );
    }
    a.close().await;
    b.close().await;
    for node in nodes {
        node.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

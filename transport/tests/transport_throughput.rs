//! Throughput figures for the transport on loopback. Ignored by default;
//! run with:
//! `cargo test -p zerodb-node --test transport_throughput -- --ignored --nocapture`

mod transport_support;

use std::time::Instant;

use transport_support::*;
use zerodb_transport::tls::NodeId;

const REQUESTS: usize = 5_000;
const MESSAGES: usize = 5_000;
const CONCURRENCY: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run explicitly"]
async fn loopback_throughput() {
    let ca = cluster_ca();
    let one = start_node(&ca, 1, test_config());
    let mut two = start_node(&ca, 2, test_config());
    one.transport.add_peer(NodeId(2), two.addr());
    one.transport.connect(NodeId(2)).await.expect("connect");

    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let transport = one.transport.clone();
            tokio::spawn(async move {
                for index in (worker..REQUESTS).step_by(CONCURRENCY) {
                    let text = format!("{index}");
                    let reply = transport
                        .request(NodeId(2), &Echo { text: text.clone() })
                        .await
                        .expect("request");
                    assert_eq!(reply.text, text);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed();
    println!(
        "requests: {REQUESTS} echo requests, {CONCURRENCY} in flight, {:.0} requests/s ({:?})",
        REQUESTS as f64 / elapsed.as_secs_f64(),
        elapsed
    );

    let started = Instant::now();
    for index in 0..MESSAGES {
        one.transport
            .send(NodeId(2), &format!("m{index}"))
            .await
            .expect("send");
    }
    for _ in 0..MESSAGES {
        two.next_seen().await;
    }
    let elapsed = started.elapsed();
    println!(
        "messages: {MESSAGES} one-way messages, {:.0} messages/s ({:?})",
        MESSAGES as f64 / elapsed.as_secs_f64(),
        elapsed
    );
    one.transport.close().await;
    two.transport.close().await;
}

//! Start a local cluster with `zerodb dev` (folder ./zerodb-dev), then run
//! `cargo run -p zerodb-client --example quickstart` from the same
//! directory (or pass the folder as the first argument).

use zerodb_client::{Client, ClientConfig, Condition, Error, Key, Op, OpResult};

#[tokio::main]
async fn main() -> Result<(), Box<Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "zerodb-dev".into());
    let client = Client::connect(ClientConfig::dev(dir.as_ref())?).await?;
    println!("connected to n{}", client.coordinator().await.unwrap_or(0));
    let key = |id: &str| Key::new("default", "default", "kv", id);

    let version = client.put(&key("greeting"), "hello").await?;
    println!("put greeting = hello at {version:?}");
    let found = client.get(&key("greeting")).await?;
    println!(
        "get greeting -> {:?}",
        found.and_then(|v| v.value).map(String::from_utf8)
    );

    // A transaction: check a condition, move 10 from one counter to another.
    let ops = vec![
        Op::Assert(key("greeting"), Condition::ValueEquals(b"hello".to_vec())),
        Op::Incr(key("from"), -10),
        Op::Incr(key("to"), 10),
    ];
    let (_, results) = client.transaction(ops).await?;
    if let [_, OpResult::Int(from), OpResult::Int(to)] = results.as_slice() {
        println!("transferred 10: from = {from}, to = {to}");
    }

    // A failed condition aborts and writes nothing.
    let ops = vec![
        Op::Assert(key("greeting"), Condition::NotExists),
        Op::Put(key("greeting"), b"overwritten".to_vec()),
    ];
    match client.transaction(ops).await {
        Err(Error::ConditionFailed { .. }) => {
            println!("condition failed as expected; nothing written")
        }
        other => println!("unexpected: {other:?}"),
    }
    client.close().await;
    Ok(())
}

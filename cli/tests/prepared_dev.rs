//! Prepared statements against `zerodb dev`, through the client library:
//! prepare once, execute with two parameter sets (a read and a write), and
//! execute on a node that never saw the prepare, which the client answers
//! by preparing the text again there without the caller noticing.

mod cluster_support;

use cluster_support::dev::Dev;
use cluster_support::{free_ports, TempDir};
use zerodb_client::{
    Client, ClientConfig, ClientRequest, ClientResponse, Error, QueryErrorKind, Value,
};
use zerodb_proto::api::ExecuteRequest;

/// A client connected to member `index` of the dev cluster only.
async fn client_of(dir: &std::path::Path, index: usize) -> Client {
    let mut config = ClientConfig::dev(dir).unwrap();
    config.seeds = vec![config.seeds[index]];
    Client::connect(config).await.unwrap()
}

fn names(rows: &[Value]) -> Vec<String> {
    let Value::Array(rows) = &rows[0] else {
        panic!("not rows: {rows:?}");
    };
    rows.iter()
        .map(|row| row.field("name").to_string())
        .collect()
}

/// Sends an `Execute` of `handle` as is (no re-prepare): the node's answer.
async fn raw_execute(client: &Client, handle: u64) -> Option<QueryErrorKind> {
    let request = ClientRequest::Execute(ExecuteRequest {
        handle,
        namespace: "default".into(),
        database: "default".into(),
        params: vec![("min".into(), vec![])],
    });
    match client.request(&request).await.unwrap() {
        ClientResponse::Query(answer) => answer.error.map(|error| error.kind),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_statement_prepared_once_runs_with_new_parameters_on_any_node() {
    let temp = TempDir::new("prepared");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let first = client_of(&dir, 0).await;
        let second = client_of(&dir, 1).await;
        assert_ne!(first.coordinator().await, second.coordinator().await);

        let insert = first
            .prepare("CREATE person SET name = $name, age = $age")
            .await
            .unwrap();
        for (name, age) in [("Tobie", 33), ("Jaime", 40)] {
            let params = [("name", Value::from(name)), ("age", Value::Int(age))];
            first.execute(&insert, &params).await.unwrap();
        }
        let older = first
            .prepare("SELECT name FROM person WHERE age > $min ORDER BY age")
            .await
            .unwrap();
        let rows = first
            .execute(&older, &[("min", Value::Int(30))])
            .await
            .unwrap();
        assert_eq!(names(&rows), vec!["'Tobie'", "'Jaime'"]);
        let rows = first
            .execute(&older, &[("min", Value::Int(35))])
            .await
            .unwrap();
        assert_eq!(names(&rows), vec!["'Jaime'"]);

        // The second node never saw the prepare: as is, the execution is
        // refused with its own kind; through the client it just runs.
        assert_eq!(
            raw_execute(&second, older.handle()).await,
            Some(QueryErrorKind::UnknownStatement)
        );
        let rows = second
            .execute(&older, &[("min", Value::Int(35))])
            .await
            .unwrap();
        assert_eq!(names(&rows), vec!["'Jaime'"]);
        // The client prepared it there: now the node holds it (the empty
        // parameter does not decode, which is a different error).
        assert_eq!(
            raw_execute(&second, older.handle()).await,
            Some(QueryErrorKind::Invalid)
        );

        // A text that does not parse is refused at the prepare, with its
        // caret.
        match first.prepare("SELECT * FROM person WHERE").await {
            Err(Error::Query { kind, message }) => {
                assert_eq!(kind, QueryErrorKind::Invalid);
                assert!(message.contains('^'), "{message}");
            }
            other => panic!("{other:?}"),
        }
        first.close().await;
        second.close().await;
    });
    let rest = dev.stop();
    assert!(rest.contains("Stopped."), "{rest}");
}

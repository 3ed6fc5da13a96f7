//! The console's JSON API and `/metrics` on an in-process 3-node cluster:
//! what each route answers, a clear error for every kind of bad input, and
//! a console run as a viewer (`metrics.console_user`) that cannot write.

mod cluster_support;

use std::net::{SocketAddr, TcpListener};

use cluster_support::http::{get, post_json, request, Answer};
use cluster_support::{free_ports, zerodb, TempDir};
use zerodb_cli::dev::{self, DevArgs};
use zerodb_config::StorageEngineKind;
use zerodb_node::core::membership::{ClusterSpec, MemberSpec};
use zerodb_node::runtime::NodeHandle;

/// `count` consecutive free TCP ports on 127.0.0.1.
fn free_tcp_ports(count: u16) -> u16 {
    for _ in 0..100 {
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base > u16::MAX - count {
            continue;
        }
        let all: Vec<_> = (0..count)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if all.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no free TCP ports");
}

/// Runs a blocking HTTP exchange off the runtime's workers (the nodes run
/// on them).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

/// A 3-node in-process cluster whose consoles run statements as
/// `console_user`; returns its folder, nodes and node 1's console.
async fn start(console_user: Option<&str>) -> (TempDir, Vec<NodeHandle>, SocketAddr) {
    let dir = TempDir::new("console-api");
    let args = DevArgs {
        dir: dir.0.clone(),
        nodes: 3,
        base_port: free_ports(3),
        engine: StorageEngineKind::Memory,
        metrics_base_port: free_tcp_ports(3),
        console_user: console_user.map(str::to_string),
        no_shell: true,
    };
    let spec = ClusterSpec {
        tokens_per_node: 8,
        members: (1..=3)
            .map(|id| MemberSpec {
                id,
                address: ([127, 0, 0, 1], args.base_port + id as u16 - 1).into(),
                region: "local".into(),
                zone: format!("z{id}"),
            })
            .collect(),
    };
    std::fs::write(dir.0.join("cluster.toml"), spec.to_toml_string()).unwrap();
    dev::ensure_certs(&dir.0.join("certs"), &spec).unwrap();
    let nodes = dev::start_nodes(&args, &spec).await.unwrap();
    let console = nodes[0].metrics_addr().unwrap();
    (dir, nodes, console)
}

/// Runs `zerodb --dir DIR ARGS...` as the dev admin; asserts it succeeded.
async fn zerodb_admin(dir: &TempDir, args: &[&str]) {
    let dir = dir.0.clone();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let output = blocking(move || {
        zerodb()
            .arg("--dir")
            .arg(&dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await;
    assert!(output.status.success(), "{output:?}");
}

/// Runs `text` through the console at `console`.
async fn console_query(console: SocketAddr, text: &str) -> Answer {
    let body = serde_json::json!({ "text": text }).to_string();
    blocking(move || post_json(console, "/api/query", &body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_run_as_a_viewer_reads_and_cannot_write() {
    let (dir, nodes, console) = start(Some("vera")).await;
    // The user does not exist yet: refused, saying so.
    let answer = console_query(console, "SELECT * FROM person").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("vera"), "{}", answer.body);
    zerodb_admin(&dir, &["sql", "CREATE person:ada SET name = 'Ada'"]).await;
    zerodb_admin(&dir, &["user", "create", "vera"]).await;
    zerodb_admin(&dir, &["grant", "viewer", "vera", "default"]).await;

    // A viewer reads through the console...
    let mut read = console_query(console, "SELECT name FROM person").await;
    for _ in 0..50 {
        if read.status == 200 {
            break;
        }
        // Node 1 learns the new catalog by gossip within a few rounds.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        read = console_query(console, "SELECT name FROM person").await;
    }
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        read.json()["results"][0],
        serde_json::json!([{"name": "Ada"}])
    );
    // ... and cannot write through it: refused, nothing written.
    for write in [
        "CREATE person:eve SET name = 'Eve'",
        "UPDATE person:ada SET name = 'Mallory'",
        "DELETE person:ada",
    ] {
        let answer = console_query(console, write).await;
        assert_eq!(answer.status, 403, "{write}: {}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["kind"], "refused", "{write}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("lacks the write permission on namespace \"default\""),
            "{write}: {error}"
        );
    }
    let after = console_query(console, "SELECT name FROM person").await;
    assert_eq!(
        after.json()["results"][0],
        serde_json::json!([{"name": "Ada"}])
    );
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_api_answers_and_names_every_bad_input() {
    let (_dir, nodes, console) = start(None).await;

    // The ring: three members, 24 tokens in ring order, each with an owner.
    let ring = blocking(move || get(console, "/api/ring")).await;
    assert_eq!(ring.status, 200, "{}", ring.body);
    let ring = ring.json();
    assert_eq!(ring["node"], 1);
    assert_eq!(ring["members"].as_array().unwrap().len(), 3);
    let tokens = ring["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 24);
    let positions: Vec<f64> = tokens
        .iter()
        .map(|t| t["position"].as_f64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(positions.iter().all(|p| (0.0..1.0).contains(p)));
    for token in tokens {
        let exact: u64 = token["token"].as_str().unwrap().parse().unwrap();
        assert!((exact as f64 / 2f64.powi(64) - token["position"].as_f64().unwrap()).abs() < 1e-9);
    }

    // A key's replica ring: RF 3 of 3 nodes, every node once (once the
    // node has loaded the catalog: until then it says so).
    for _ in 0..100 {
        let namespaces = blocking(move || get(console, "/api/namespaces"))
            .await
            .json();
        if namespaces["catalog_version"].is_u64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let placement = blocking(move || {
        get(
            console,
            "/api/placement?namespace=default&database=shop&table=person&id=ada",
        )
    })
    .await;
    assert_eq!(placement.status, 200, "{}", placement.body);
    let placement = placement.json();
    let mut replicas: Vec<u64> = placement["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(placement["partition_level"], "database");
    replicas.sort();
    assert_eq!(replicas, [1, 2, 3]);

    // zeroql: rows as JSON and as zeroql text; the namespaces; the figures.
    let body = r#"{"text": "CREATE person:ada SET name = 'Ada', age = 36; SELECT name, age FROM person", "database": "shop"}"#;
    let query = blocking(move || post_json(console, "/api/query", body)).await;
    assert_eq!(query.status, 200, "{}", query.body);
    let query = query.json();
    assert_eq!(query["error"], serde_json::Value::Null);
    assert_eq!(
        query["results"][1],
        serde_json::json!([{"name": "Ada", "age": 36}])
    );
    assert_eq!(query["text"][1], "[{ age: 36, name: 'Ada' }]");
    // EXPLAIN (the page's Explain button puts it before the text): the
    // plan as rows.
    let body = r#"{"text": "EXPLAIN SELECT name FROM person", "database": "shop"}"#;
    let plan = blocking(move || post_json(console, "/api/query", body)).await;
    assert_eq!(plan.status, 200, "{}", plan.body);
    let plan = plan.json();
    let steps = plan["results"][0].as_array().unwrap();
    assert!(
        steps.iter().any(|step| step["operation"].is_string()),
        "{plan}"
    );
    let namespaces = blocking(move || get(console, "/api/namespaces"))
        .await
        .json();
    assert_eq!(namespaces["namespaces"][0]["name"], "default");
    assert_eq!(namespaces["namespaces"][0]["consistency"], "strong");
    assert_eq!(namespaces["admins"], serde_json::json!(["admin"]));
    let figures = blocking(move || get(console, "/api/metrics")).await.json();
    let figures = figures.as_array().unwrap();
    assert_eq!(figures.len(), 3, "{figures:?}");
    assert!(figures[0]["figures"]["requests"].as_u64().unwrap() >= 2);
    assert!(figures[0]["figures"]["committed"].as_u64().unwrap() >= 1);
    // The requests just answered are in node 1's recent latency, which
    // the page charts over time.
    let recent = |q: &str| figures[0]["figures"][q].as_u64().unwrap();
    assert!(recent("recent_p99_us") > 0, "{figures:?}");
    assert!(recent("recent_p50_us") <= recent("recent_p99_us"));
    assert!(figures
        .iter()
        .all(|node| node["figures"]["fsyncs"].as_u64().unwrap() > 0));

    // /metrics: the Prometheus text, as before the console.
    let metrics = blocking(move || get(console, "/metrics")).await;
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    assert!(metrics
        .body
        .starts_with("# HELP zerodb_uptime_seconds Seconds since the node started.\n# TYPE zerodb_uptime_seconds gauge\nzerodb_uptime_seconds{node=\"1\"} "));
    assert!(metrics.body.contains("\nzerodb_members_up{node=\"1\"} 3\n"));
    assert!(metrics
        .body
        .contains("\nzerodb_request_latency_recent_p99_microseconds{node=\"1\"} "));

    // The page and its assets, served from the binary.
    let page = blocking(move || get(console, "/")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg id=\"ring\""));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    assert_eq!(
        blocking(move || get(console, "/console.js")).await.status,
        200
    );

    // Bad input: each answered with a status and an error naming it.
    let cases: Vec<(Answer, u16, &str)> = blocking(move || {
        vec![
            (
                get(console, "/api/nothing"),
                404,
                "no route GET /api/nothing",
            ),
            (
                request(console, "DELETE", "/api/ring", "", ""),
                405,
                "DELETE is not allowed on /api/ring",
            ),
            (
                post_json(console, "/api/query", "{\"text\": "),
                400,
                "Failed to parse the request body as JSON",
            ),
            (
                post_json(console, "/api/query", "{\"txt\": \"RETURN 1\"}"),
                422,
                "unknown field `txt`",
            ),
            (
                request(
                    console,
                    "POST",
                    "/api/query",
                    "",
                    "{\"text\": \"RETURN 1\"}",
                ),
                415,
                "Content-Type: application/json",
            ),
            (
                post_json(console, "/api/query", "{\"text\": \"  \"}"),
                400,
                "the query text is empty",
            ),
            (
                post_json(console, "/api/query", "{\"text\": \"SELEC * FROM person\"}"),
                400,
                "expected an expression, found `FROM`\n --> 1:9",
            ),
            (
                get(console, "/api/placement?nope=1"),
                400,
                "unknown field `nope`",
            ),
            (
                get(console, "/api/placement?namespace=ghost"),
                404,
                "namespace \"ghost\" does not exist",
            ),
            (
                request(console, "GET", "/api/ring", "host: rebound.example\r\n", ""),
                403,
                "not a loopback name",
            ),
        ]
    })
    .await;
    for (answer, status, needle) in cases {
        assert_eq!(answer.status, status, "{}", answer.body);
        let error = answer.json()["error"].clone();
        let message = match &error {
            serde_json::Value::String(text) => text.clone(),
            other => other["message"].as_str().unwrap_or_default().to_string(),
        };
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
    // The node still serves after all of it.
    assert_eq!(
        blocking(move || get(console, "/api/ring")).await.status,
        200
    );

    for node in nodes {
        node.shutdown().await;
    }
}

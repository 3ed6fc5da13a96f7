//! The `zerodb` binary as users run it: a bad configuration file is refused
//! naming the key; `zerodb dev` without a terminal serves a put/get from
//! the command line and stops on SIGTERM.

mod cluster_support;

use cluster_support::dev::Dev;
use cluster_support::{free_ports, zerodb, ClusterFiles, TempDir};
use zerodb_cli::server::{settings, StartArgs};

#[test]
fn a_bad_configuration_file_is_refused_naming_the_key() {
    let temp = TempDir::new("badconfig");
    let config = temp.0.join("node.toml");
    std::fs::write(&config, "[node]\nid = 1\n\n[storage]\nengin = \"zerodb\"\n").unwrap();
    let output = zerodb()
        .arg("start")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("engin"), "{stderr}");

    std::fs::write(&config, "[node]\nid = \"one\"\n").unwrap();
    let output = zerodb()
        .arg("start")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("id"), "{stderr}");
}

#[test]
fn timeouts_of_the_configuration_file_reach_the_node() {
    let temp = TempDir::new("timeouts");
    let files = ClusterFiles::new(&temp.0, 1);
    let config = temp.0.join("n1.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[timeouts]\ngossip_interval_ms = 250\nlock_lease_ms = 3000\nanti_entropy_interval_ms = 0\n");
    std::fs::write(&config, text).unwrap();
    let args = StartArgs {
        config,
        cluster: Some(files.dir.join("cluster.toml")),
        recover: false,
    };
    let settings = settings(&args).unwrap();
    assert_eq!(settings.gossip_interval_ms, 250);
    assert_eq!(settings.txn.lease_ms, 3000);
    assert_eq!(settings.txn.anti_entropy_ms, 0);
}

#[test]
fn usage_errors_exit_with_code_2_and_help_lists_exit_codes() {
    let output = zerodb().arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = zerodb().arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    assert!(help.contains("outcome unknown"), "{help}");
}

#[test]
fn dev_serves_the_command_line_and_stops_on_sigterm() {
    let temp = TempDir::new("dev");
    let dir = temp.0.join("cluster");
    let base = free_ports(3);
    let dev = Dev::start(&dir, base);
    let banner = &dev.banner;
    assert!(banner.contains("put hello world"), "{banner}");

    let client = |args: &[&str]| {
        let output = zerodb().arg("--dir").arg(&dir).args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
    };
    assert_eq!(client(&["put", "k", "v"]).0, Some(0));
    assert_eq!(client(&["get", "k"]), (Some(0), "v".to_string()));
    assert_eq!(client(&["get", "missing"]).0, Some(1));
    let (code, out) = client(&["txn", "assert k == \"v\"; incr n 2; get k"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("COMMITTED"), "{out}");
    assert_eq!(
        client(&["txn", "assert k == \"other\"; put k w"]).0,
        Some(3)
    );
    assert_eq!(client(&["get", "k"]), (Some(0), "v".to_string()));
    let (code, json) = client(&["--json", "get", "k"]);
    assert_eq!(code, Some(0));
    assert!(json.contains("\"value\":\"v\""), "{json}");

    // A TTL: the record carries its expiry, and the sweep deletes it
    // (strong namespace: once a quorum of replica clocks passed it).
    assert_eq!(
        client(&["put", "session", "t", "--ttl", "1500ms"]).0,
        Some(0)
    );
    let (code, json) = client(&["--json", "get", "session"]);
    assert_eq!(code, Some(0), "{json}");
    let found: serde_json::Value = serde_json::from_str(&json).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let expires_at = found["expires_at_ms"].as_u64().expect("an expiry");
    assert!(
        expires_at > now_ms && expires_at <= now_ms + 1_500,
        "{json}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while client(&["get", "session"]).0 == Some(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the record outlived its TTL by 15 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let output = zerodb()
        .arg("--dir")
        .arg(&dir)
        .args(["put", "k", "v", "--ttl", "5y"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown unit \"y\""), "{stderr}");

    // Space figures of one node's engine (`admin` asks the first seed):
    // after a checkpoint its data file holds the superblocks, the pages in
    // use and the free pages, and the text names them.
    let first = format!("127.0.0.1:{base}");
    let admin = |args: &[&str]| client(&[&["--seeds", first.as_str()], args].concat());
    assert_eq!(admin(&["admin", "checkpoint"]).0, Some(0));
    let (code, json) = admin(&["--json", "admin", "info"]);
    assert_eq!(code, Some(0), "{json}");
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    let figure = |name: &str| {
        info[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {json}"))
    };
    let (file, live, garbage) = (
        figure("file_bytes"),
        figure("live_bytes"),
        figure("garbage_bytes"),
    );
    assert!(live > 0, "{json}");
    assert_eq!(file, 2 * 8192 + live + garbage, "{json}");
    assert!(figure("disk_bytes") >= file, "{json}");
    // Recent latency (0 when this node answered nothing in the last 10 to
    // 20 s): a median never above its 99th percentile.
    assert!(
        figure("recent_latency_p50_us") <= figure("recent_latency_p99_us"),
        "{json}"
    );
    assert!(figure("expiry_passes") > 0, "the sweep runs: {json}");
    let (code, text) = admin(&["admin", "info"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "data file: {file} bytes = {live} live + {garbage} garbage"
        )),
        "{text}"
    );

    let rest = dev.stop();
    assert!(rest.contains("Stopped."), "{rest}");
}

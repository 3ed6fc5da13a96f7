//! Namespaces, users and roles with real processes (`zerodb dev`): policies
//! and roles survive a restart; a viewer cannot write; a user of one
//! namespace cannot read another; each namespace takes only operations of
//! its consistency; alters that would move data are refused.

mod cluster_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use cluster_support::{free_ports, zerodb, TempDir};

/// Starts `zerodb dev` on `dir` and waits until it serves. The caller
/// waits for the child in `stop_dev`; a failed start kills and reaps it.
#[allow(clippy::zombie_processes)]
fn start_dev(dir: &Path, base: u16) -> (Child, BufReader<ChildStdout>) {
    let mut dev = zerodb()
        .args([
            "dev",
            "--base-port",
            &base.to_string(),
            "--metrics-base-port",
            "0",
            "--dir",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(dev.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).unwrap_or(0);
        banner.push_str(&line);
        if line.contains("Serving") {
            return (dev, stdout);
        }
        if read == 0 || Instant::now() >= deadline {
            // Do not leave the cluster running behind a failed test.
            let _ = dev.kill();
            let _ = dev.wait();
            panic!("dev did not start: {banner}");
        }
    }
}

fn stop_dev(mut dev: Child, stdout: BufReader<ChildStdout>) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(dev.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    for line in stdout.lines() {
        let _ = line;
    }
    assert!(dev.wait().unwrap().success());
}

/// Runs a client command as `user` (`admin` is the dev default).
fn run(dir: &Path, user: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let certs = dir.join("certs");
    let output = zerodb()
        .arg("--dir")
        .arg(dir)
        .arg("--cert")
        .arg(certs.join(format!("client.{user}.crt")))
        .arg("--key")
        .arg(certs.join(format!("client.{user}.key")))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).trim().to_string(),
    )
}

fn ok(dir: &Path, user: &str, args: &[&str]) -> String {
    let (code, out, err) = run(dir, user, args);
    assert_eq!(code, Some(0), "{args:?} as {user}: {out} {err}");
    out
}

/// Runs a command that must be refused (exit 2); returns the message.
fn refused(dir: &Path, user: &str, args: &[&str]) -> String {
    let (code, out, err) = run(dir, user, args);
    assert_eq!(code, Some(2), "{args:?} as {user}: {out} {err}");
    err
}

#[test]
fn policies_and_roles_are_enforced_and_survive_a_restart() {
    let temp = TempDir::new("namespaces");
    let dir = temp.0.join("cluster");
    let base = free_ports(3);
    let (dev, stdout) = start_dev(&dir, base);

    // The default namespace of the quick start exists.
    ok(&dir, "admin", &["put", "hello", "world"]);
    let list = ok(&dir, "admin", &["ns", "list"]);
    assert!(list.contains("default"), "{list}");

    ok(
        &dir,
        "admin",
        &[
            "ns",
            "create",
            "shop",
            "--consistency",
            "eventual",
            "--rf",
            "2",
            "--partition-level",
            "record",
        ],
    );
    ok(&dir, "admin", &["ns", "create", "docs"]);
    let why = refused(&dir, "admin", &["ns", "alter", "shop", "--rf", "3"]);
    assert!(
        why.contains("replication factor") && why.contains("streaming"),
        "{why}"
    );
    let why = refused(&dir, "admin", &["ns", "create", "huge", "--rf", "9"]);
    assert!(why.contains("huge"), "{why}");

    for user in ["vera", "otto"] {
        ok(&dir, "admin", &["user", "create", user]);
        let certs = dir.join("certs");
        let status = zerodb()
            .args(["certs", "client", "--user", user, "--dir"])
            .arg(&certs)
            .output()
            .unwrap();
        assert!(status.status.success());
    }
    ok(&dir, "admin", &["grant", "viewer", "vera", "shop"]);
    ok(&dir, "admin", &["grant", "editor", "otto", "docs"]);

    // Consistency: eventual takes eventual operations only, strong strong ones.
    ok(&dir, "admin", &["--ns", "shop", "put", "k", "v"]);
    let why = refused(&dir, "admin", &["--ns", "shop", "txn", "put a 1"]);
    assert!(why.contains("\"shop\" is eventual"), "{why}");
    let why = refused(&dir, "admin", &["get", "hello", "--level", "quorum"]);
    assert!(why.contains("\"default\" is strong"), "{why}");
    ok(
        &dir,
        "admin",
        &["--ns", "shop", "get", "k", "--level", "all"],
    );

    // A viewer reads but cannot write.
    assert_eq!(ok(&dir, "vera", &["--ns", "shop", "get", "k"]), "v");
    let why = refused(&dir, "vera", &["--ns", "shop", "put", "k", "w"]);
    for part in ["\"vera\"", "\"shop\"", "write"] {
        assert!(why.contains(part), "{why}");
    }
    // A user of one namespace cannot read another.
    ok(&dir, "otto", &["--ns", "docs", "put", "d", "1"]);
    let why = refused(&dir, "otto", &["--ns", "shop", "get", "k"]);
    for part in ["\"otto\"", "\"shop\"", "read"] {
        assert!(why.contains(part), "{why}");
    }
    let why = refused(&dir, "otto", &["--ns", "shop", "scan"]);
    assert!(why.contains("\"otto\""), "{why}");
    // Only admins create namespaces.
    let why = refused(&dir, "otto", &["ns", "create", "mine"]);
    assert!(why.contains("\"otto\" is not a cluster admin"), "{why}");
    let why = refused(&dir, "admin", &["--ns", "nope", "get", "k"]);
    assert!(why.contains("\"nope\" does not exist"), "{why}");

    stop_dev(dev, stdout);
    let (dev, stdout) = start_dev(&dir, base);

    let shown = ok(&dir, "admin", &["ns", "show", "shop"]);
    assert!(
        shown.contains("eventual") && shown.contains("rf 2"),
        "{shown}"
    );
    assert!(
        shown.contains("record") && shown.contains("vera: viewer"),
        "{shown}"
    );
    assert_eq!(ok(&dir, "vera", &["--ns", "shop", "get", "k"]), "v");
    refused(&dir, "vera", &["--ns", "shop", "put", "k", "w"]);
    assert_eq!(ok(&dir, "otto", &["--ns", "docs", "get", "d"]), "1");
    ok(&dir, "admin", &["revoke", "otto", "docs"]);
    // Other nodes learn of the change from the writer's notice (or at
    // their next refresh): soon, not at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    for node_try in 0.. {
        let (code, _, err) = run(&dir, "otto", &["--ns", "docs", "get", "d"]);
        if code == Some(2) {
            assert!(err.contains("\"otto\""), "{err}");
            if node_try >= 5 {
                break;
            }
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "revoke not applied: {code:?} {err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&dir, "admin", &["ns", "drop", "docs"]);
    let list = ok(&dir, "admin", &["ns", "list"]);
    assert!(!list.contains("docs") && list.contains("shop"), "{list}");
    stop_dev(dev, stdout);
}

//! Namespaces, users and roles with real processes (`zerodb dev`): policies
//! and roles survive a restart; a viewer cannot write; a user of one
//! namespace cannot read another; each namespace takes only operations of
//! its consistency; alters that would move data are refused.

mod cluster_support;

use std::path::Path;
use std::time::{Duration, Instant};

use cluster_support::dev::Dev;
use cluster_support::{free_ports, zerodb, TempDir};

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
    let dev = Dev::start(&dir, base);

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

    dev.stop();
    let dev = Dev::start(&dir, base);

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
    // Other nodes learn of the change through gossip (the writer
    // advertises the new catalog version): soon, not at once.
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
    dev.stop();
}

//! A short real run: three `zerodb start` processes in namespaces under
//! every fault kind, checked by the simulator's checkers. Skipped, with a
//! note, where it cannot run: not root, no `ip netns`, or no `zerodb`
//! binary built beside the harness (`cargo test --workspace` builds it).

use std::path::PathBuf;
use std::process::Command;

fn skip_reason() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(output) if output.status.success() => {}
        _ => return Some("`ip netns` is unavailable".into()),
    }
    None
}

/// The `zerodb` binary of the same build, next to the harness binary.
fn zerodb_binary() -> Option<PathBuf> {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_zerodb-harness"));
    let beside = harness.parent()?.join("zerodb");
    beside.is_file().then_some(beside)
}

#[test]
fn a_short_run_under_every_fault_kind_finds_no_anomaly() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIPPED the real-process run: {reason} (it needs root and ip netns)");
        return;
    }
    let Some(zerodb) = zerodb_binary() else {
        eprintln!(
            "SKIPPED the real-process run: no zerodb binary beside the harness; \
             build it first (cargo build -p zerodb-cli --bin zerodb)"
        );
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_zerodb-harness"))
        .arg("--zerodb")
        .arg(&zerodb)
        .args(["--seed", "1", "--duration", "20", "--settle", "3"])
        .output()
        .expect("the harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "harness failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains("anomalies 0"), "{stdout}\n{stderr}");
    assert!(summary.starts_with("operations "), "{stdout}");
    // The run left nothing behind.
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&namespaces.stdout).contains("zdbh-"),
        "namespaces left behind"
    );
}

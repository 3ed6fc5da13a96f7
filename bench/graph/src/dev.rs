//! A `zerodb dev` cluster (3 nodes on loopback in one process) started as
//! a child process for the benchmark, in a folder of its own, and stopped
//! when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zerodb_client::{Client, ClientConfig};

/// How long a new cluster may take to answer its first query.
const READY_WAIT_MAX: Duration = Duration::from_secs(60);
/// How long one benchmark request may take before the client gives up (the
/// node itself stops a statement after 10 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports tried for the cluster: from the one asked for, in steps of ten.
const PORT_TRIES_MAX: u16 = 50;

/// The first base port from `start` (in steps of ten) whose three UDP
/// ports are free on loopback, so that the benchmark does not collide
/// with another `zerodb dev` on the machine.
pub fn free_base_port(start: u16) -> Result<u16, String> {
    (0..PORT_TRIES_MAX)
        .filter_map(|step| start.checked_add(step * 10))
        .find(|&base| {
            (0..3).all(|node| {
                base.checked_add(node)
                    .is_some_and(|port| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok())
            })
        })
        .ok_or_else(|| format!("no three free UDP ports from {start}: pass --base-port"))
}

/// The running cluster.
pub struct Dev {
    child: Child,
    dir: PathBuf,
    keep: bool,
}

impl Dev {
    /// Starts `zerodb dev` from `binary` in `dir` (which must not exist),
    /// node i listening on `base_port + i - 1`, with `engine`.
    pub fn start(binary: &Path, dir: &Path, base_port: u16, engine: &str) -> Result<Dev, String> {
        if dir.exists() {
            return Err(format!(
                "{} exists: the benchmark loads a fresh cluster (give another --dir, or remove it)",
                dir.display()
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = std::fs::File::create(dir.join("dev.log"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new(binary)
            .arg("dev")
            .arg("--dir")
            .arg(dir.join("cluster"))
            .args(["--no-shell", "--metrics-base-port", "0", "--engine", engine])
            .args(["--base-port", &base_port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} (build it with `cargo build --release -p zerodb-cli`, \
                     or pass --zerodb): {e}",
                    binary.display()
                )
            })?;
        Ok(Dev {
            child,
            dir: dir.to_path_buf(),
            keep: false,
        })
    }

    /// Keeps the folder (data and log) after the run.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// A client of the cluster, once it answers a query.
    pub async fn client(&mut self) -> Result<Client, String> {
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        while started.elapsed() < READY_WAIT_MAX {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                let log = std::fs::read_to_string(self.dir.join("dev.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return Err(format!(
                    "zerodb dev exited ({status}); the end of its log:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            match ClientConfig::dev(&self.dir.join("cluster")) {
                Ok(mut config) => {
                    config.request_timeout = REQUEST_TIMEOUT;
                    let client = Client::new(config).map_err(|e| e.to_string())?;
                    match client.query("RETURN 1", &[]).await {
                        Ok(_) => return Ok(client),
                        Err(error) => last = error.to_string(),
                    }
                }
                Err(error) => last = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!(
            "zerodb dev did not answer within {READY_WAIT_MAX:?}: {last}"
        ))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

//! The cluster: certificates and configuration files made with the real
//! `zerodb` binary, and one `zerodb start` process per node, each under
//! `ip netns exec` in its node's namespace, optionally with a clock offset.
//!
//! Clock offsets use libfaketime preloaded directly (not the `faketime`
//! wrapper, which forks and would take the signals meant for the node).
//! `FAKETIME_DONT_FAKE_MONOTONIC=1` leaves the monotonic clock alone, so
//! tokio's timers and QUIC's timeouts run true; only wall-clock time (what
//! the node's hybrid clock reads) is offset.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::net::{node_address, node_namespace};
use crate::ttl::ClockBook;
use crate::HarnessError;

/// The QUIC port every node listens on (each in its own namespace).
pub const NODE_PORT: u16 = 7400;

/// Where Debian's `faketime` package puts the preload library.
const LIBFAKETIME_PATHS: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];

/// Node-side request deadline: below the client's, so the coordinator
/// answers (often with a definite outcome) before the client gives up.
pub const NODE_REQUEST_TIMEOUT_MS: u64 = 3000;

/// Sends `signal` (a name such as `KILL`, `STOP`, `CONT`) to process `pid`;
/// the process may already be gone, which is not an error.
pub fn signal(pid: &str, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The libfaketime preload library, if the `faketime` package is installed.
pub fn libfaketime() -> Option<PathBuf> {
    LIBFAKETIME_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// One node's process state.
struct Node {
    id: u32,
    child: Option<Child>,
    paused: bool,
    clock_offset_s: i64,
}

/// The running cluster; dropping it kills every node.
pub struct Cluster {
    binary: PathBuf,
    dir: PathBuf,
    nodes: Vec<Node>,
    faketime: Option<PathBuf>,
    clock_book: ClockBook,
}

impl Cluster {
    /// Writes certificates, `cluster.toml` and one configuration per node
    /// under `dir`, with the `zerodb` binary at `binary`.
    pub fn prepare(
        binary: &Path,
        dir: &Path,
        nodes: u32,
        engine: &str,
    ) -> Result<Cluster, HarnessError> {
        let certs = dir.join("certs");
        let certs_text = certs.display().to_string();
        run(binary, &["certs", "init", "--dir", &certs_text])?;
        for id in 1..=nodes {
            run(
                binary,
                &[
                    "certs",
                    "node",
                    "--dir",
                    &certs_text,
                    "--id",
                    &id.to_string(),
                ],
            )?;
        }
        run(
            binary,
            &["certs", "client", "--dir", &certs_text, "--user", "admin"],
        )?;
        let mut cluster_toml = String::from("tokens_per_node = 64\n");
        for id in 1..=nodes {
            cluster_toml.push_str(&format!(
                "\n[[member]]\nid = {id}\naddress = \"{}:{NODE_PORT}\"\nregion = \"harness\"\nzone = \"z{id}\"\n",
                node_address(id)
            ));
        }
        write(&dir.join("cluster.toml"), &cluster_toml)?;
        let replication = nodes.min(3);
        for id in 1..=nodes {
            let config = format!(
                "[node]\nid = {id}\nlisten = \"{address}:{NODE_PORT}\"\ndata_dir = \"{data}\"\n\
                 region = \"harness\"\nzone = \"z{id}\"\n\n\
                 [tls]\nca_cert = \"{certs}/ca.crt\"\nnode_cert = \"{certs}/node.n{id}.crt\"\nnode_key = \"{certs}/node.n{id}.key\"\n\n\
                 [timeouts]\nrequest_timeout_ms = {NODE_REQUEST_TIMEOUT_MS}\n\n\
                 [storage]\nengine = \"{engine}\"\ncache_bytes = 67108864\n\n\
                 [default_policy]\nreplication_factor = {replication}\n",
                address = node_address(id),
                data = dir.join(format!("n{id}")).display(),
                certs = certs_text,
            );
            write(&dir.join(format!("n{id}.toml")), &config)?;
        }
        Ok(Cluster {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            nodes: (1..=nodes)
                .map(|id| Node {
                    id,
                    child: None,
                    paused: false,
                    clock_offset_s: 0,
                })
                .collect(),
            faketime: libfaketime(),
            clock_book: ClockBook::new(nodes),
        })
    }

    /// The node addresses, for the client's seed list.
    pub fn seeds(&self) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .map(|n| SocketAddr::from((node_address(n.id), NODE_PORT)))
            .collect()
    }

    /// The folder with certificates, configurations, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest clock offset each node has run with (shared: it follows
    /// later restarts).
    pub fn clock_book(&self) -> ClockBook {
        self.clock_book.clone()
    }

    /// Whether clock offsets can be applied (libfaketime is installed).
    pub fn can_offset_clocks(&self) -> bool {
        self.faketime.is_some()
    }

    fn node(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Starts node `id` (its log appends to `n<id>.log`), with its clock
    /// `clock_offset_s` seconds off true time.
    pub fn start(&mut self, id: u32, clock_offset_s: i64) -> Result<(), HarnessError> {
        self.launch(id, clock_offset_s, false)
    }

    /// Starts node `id` with `--recover` (its disk was lost): it copies its
    /// state from its peers before it votes.
    pub fn start_recovering(&mut self, id: u32, clock_offset_s: i64) -> Result<(), HarnessError> {
        self.launch(id, clock_offset_s, true)
    }

    /// Deletes node `id`'s data folder (the node must be stopped).
    pub fn lose_disk(&mut self, id: u32) -> Result<(), HarnessError> {
        assert!(self.node(id).child.is_none(), "n{id} still runs");
        let data = self.dir.join(format!("n{id}"));
        match std::fs::remove_dir_all(&data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HarnessError::Setup(format!("{}: {e}", data.display()))),
        }
    }

    fn launch(&mut self, id: u32, clock_offset_s: i64, recover: bool) -> Result<(), HarnessError> {
        let log_path = self.dir.join(format!("n{id}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", log_path.display())))?;
        let err = log
            .try_clone()
            .map_err(|e| HarnessError::Setup(format!("{}: {e}", log_path.display())))?;
        let config = self.dir.join(format!("n{id}.toml"));
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &node_namespace(id)])
            .arg(&self.binary)
            .arg("start")
            .arg("--config")
            .arg(&config)
            .args(recover.then_some("--recover"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        if clock_offset_s != 0 {
            let Some(library) = &self.faketime else {
                return Err(HarnessError::Setup(
                    "a clock offset needs libfaketime: apt-get install faketime".into(),
                ));
            };
            command
                .env("LD_PRELOAD", library)
                .env("FAKETIME", format!("{clock_offset_s:+}s"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_NO_CACHE", "1");
        }
        let child = command
            .spawn()
            .map_err(|e| HarnessError::Setup(format!("cannot start node n{id}: {e}")))?;
        self.clock_book.started(id, clock_offset_s);
        let node = self.node(id);
        node.child = Some(child);
        node.paused = false;
        node.clock_offset_s = clock_offset_s;
        Ok(())
    }

    /// Starts every node with a true clock.
    pub fn start_all(&mut self) -> Result<(), HarnessError> {
        for id in 1..=self.nodes.len() as u32 {
            self.start(id, 0)?;
        }
        Ok(())
    }

    /// kill -9 of node `id`; returns false when it was not running.
    pub fn kill(&mut self, id: u32) -> bool {
        let node = self.node(id);
        let Some(mut child) = node.child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        node.paused = false;
        true
    }

    /// The clock offset node `id` was last started with, in seconds.
    pub fn clock_offset(&self, id: u32) -> i64 {
        self.nodes[(id - 1) as usize].clock_offset_s
    }

    /// SIGSTOP (`pause`) or SIGCONT of node `id`'s process.
    pub fn pause(&mut self, id: u32, pause: bool) {
        let node = self.node(id);
        if let Some(child) = &node.child {
            signal(&child.id().to_string(), if pause { "STOP" } else { "CONT" });
            node.paused = pause;
        }
    }

    /// Nodes that are running and not paused.
    pub fn live(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some() && !n.paused)
            .map(|n| n.id)
            .collect()
    }

    /// Nodes whose process exited by itself (a crash, not a kill of ours),
    /// with their exit status; they are restarted by [`Cluster::heal`].
    pub fn exited(&mut self) -> Vec<(u32, String)> {
        let mut exited = Vec::new();
        for node in &mut self.nodes {
            if let Some(child) = &mut node.child {
                if let Ok(Some(status)) = child.try_wait() {
                    exited.push((node.id, status.to_string()));
                    node.child = None;
                }
            }
        }
        exited
    }

    /// Resumes paused nodes and restarts stopped ones, with their clock
    /// offsets kept.
    pub fn heal(&mut self) -> Result<(), HarnessError> {
        for index in 0..self.nodes.len() {
            let (id, paused, stopped, offset) = {
                let n = &self.nodes[index];
                (n.id, n.paused, n.child.is_none(), n.clock_offset_s)
            };
            if paused {
                self.pause(id, false);
            }
            if stopped {
                self.start(id, offset)?;
            }
        }
        Ok(())
    }

    /// Kills every node (resuming paused ones first).
    pub fn stop_all(&mut self) {
        for id in 1..=self.nodes.len() as u32 {
            self.pause(id, false);
            self.kill(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn run(binary: &Path, args: &[&str]) -> Result<(), HarnessError> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Setup(format!("cannot run {}: {e}", binary.display())))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Setup(format!(
            "`zerodb {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn write(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(|e| HarnessError::Setup(format!("{}: {e}", path.display())))
}

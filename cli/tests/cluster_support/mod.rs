//! Helpers for the cluster and CLI tests: free ports, certificates, node
//! configuration files, `zerodb start` processes and client sessions.
#![allow(dead_code)]

pub mod dev;
pub mod http;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zerodb_cli::connect::{ConnectArgs, Session};
use zerodb_node::api::{ClientRequest, ClientResponse};
use zerodb_node::core::membership::{ClusterSpec, MemberSpec};
use zerodb_transport::certs::{CertFiles, CertificateAuthority};
use zerodb_transport::tls::NodeId;

/// The `zerodb` binary under test.
pub fn zerodb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zerodb"))
}

/// A fresh temporary folder (removed by the caller's `Drop` of `TempDir`).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("zerodb-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count` consecutive free UDP ports on 127.0.0.1 (checked by binding).
pub fn free_ports(count: u16) -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for attempt in 0..200u64 {
        let base =
            20_000 + ((seed.wrapping_mul(2654435761).wrapping_add(attempt * 7919)) % 30_000) as u16;
        let sockets: Vec<_> = (0..count)
            .map(|i| UdpSocket::bind(("127.0.0.1", base + i)))
            .collect();
        if sockets.iter().all(|s| s.is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}

/// A cluster described by files: certificates, cluster file, node configs.
pub struct ClusterFiles {
    pub dir: PathBuf,
    pub spec: ClusterSpec,
}

impl ClusterFiles {
    pub fn new(dir: &Path, nodes: u32) -> ClusterFiles {
        ClusterFiles::with_regions(dir, &vec!["local"; nodes as usize])
    }

    /// A cluster of one node per entry of `regions`, node `i + 1` in
    /// `regions[i]`.
    pub fn with_regions(dir: &Path, regions: &[&str]) -> ClusterFiles {
        let nodes = regions.len() as u32;
        let base = free_ports(nodes as u16);
        let spec = ClusterSpec {
            tokens_per_node: 16,
            members: (1..=nodes)
                .map(|id| MemberSpec {
                    id,
                    address: SocketAddr::from(([127, 0, 0, 1], base + (id - 1) as u16)),
                    region: regions[(id - 1) as usize].into(),
                    zone: format!("z{id}"),
                })
                .collect(),
        };
        std::fs::write(dir.join("cluster.toml"), spec.to_toml_string()).unwrap();
        let files = CertFiles::new(dir.join("certs"));
        let ca = CertificateAuthority::generate("test", 30).unwrap();
        files.write_ca(&ca).unwrap();
        for id in 1..=nodes {
            files
                .write_node(NodeId(id), &ca.issue_node(NodeId(id), 30).unwrap())
                .unwrap();
            let config = format!(
                "[node]\nid = {id}\nlisten = \"{}\"\ndata_dir = \"{}\"\n\n[tls]\nca_cert = \"{}\"\nnode_cert = \"{}\"\nnode_key = \"{}\"\n",
                spec.members[(id - 1) as usize].address,
                dir.join(format!("n{id}")).display(),
                files.ca_cert_path().display(),
                files.node_paths(NodeId(id)).0.display(),
                files.node_paths(NodeId(id)).1.display(),
            );
            std::fs::write(dir.join(format!("n{id}.toml")), config).unwrap();
        }
        files
            .write_client("admin", &ca.issue_client("admin", 30).unwrap())
            .unwrap();
        ClusterFiles {
            dir: dir.to_path_buf(),
            spec,
        }
    }

    /// Starts `zerodb start` for node `id`.
    pub fn spawn(&self, id: u32) -> Child {
        self.spawn_with(id, &[])
    }

    /// Starts `zerodb start` for node `id` with extra arguments.
    pub fn spawn_with(&self, id: u32, extra: &[&str]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("n{id}.log")))
            .unwrap();
        zerodb()
            .arg("start")
            .arg("--config")
            .arg(self.dir.join(format!("n{id}.toml")))
            .args(extra)
            .env("RUST_LOG", "info,quinn=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Connection settings for a client that only knows `nodes`.
    pub fn connect(&self, nodes: &[u32]) -> ConnectArgs {
        ConnectArgs {
            dir: self.dir.clone(),
            seeds: nodes
                .iter()
                .map(|id| self.spec.member(*id).unwrap().address)
                .collect(),
            timeout: 10,
            ..ConnectArgs::default()
        }
    }

    pub fn log(&self, id: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{id}.log"))).unwrap_or_default()
    }
}

/// Child processes killed (and reaped) when dropped, so that a failing
/// test leaves no node running.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until node(s) `nodes` answer a status request.
pub async fn wait_ready(files: &ClusterFiles, nodes: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in nodes {
        loop {
            let mut session = Session::new(&files.connect(&[*id])).unwrap();
            let answer = session.call(&ClientRequest::Status).await;
            session.close().await;
            if matches!(answer, Ok(ClientResponse::Status(_))) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not start: {}",
                files.log(*id)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

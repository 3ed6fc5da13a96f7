//! `zerodb dev`: a local cluster on 127.0.0.1 in one process, with its
//! certificates and data under one folder that the next run reuses.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use zerodb_config::{NamespacePolicy, StorageEngineKind};
use zerodb_txn::TxnOptions;

use super::connect::{ConnectArgs, DEV_DIR_DEFAULT, DEV_USER};
use super::exit::{self, CliError};
use zerodb_node::core::membership::{ClusterSpec, MemberSpec};
use zerodb_node::runtime::{self, NodeHandle, NodeSettings};
use zerodb_transport::certs::{
    CertFiles, CertificateAuthority, CA_VALIDITY_DAYS_DEFAULT, LEAF_VALIDITY_DAYS_DEFAULT,
};
use zerodb_transport::tls::{NodeId, TlsIdentity};

/// `zerodb dev` options.
#[derive(Args, Clone, Debug)]
pub struct DevArgs {
    /// Folder for certificates, the cluster file and data (reused).
    #[arg(long, default_value = DEV_DIR_DEFAULT)]
    pub dir: PathBuf,
    /// Number of nodes (a new folder only; an existing one keeps its cluster).
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Port of node 1; node i listens on base-port + i - 1 (UDP).
    #[arg(long, default_value_t = 7401)]
    pub base_port: u16,
    /// Storage engine: zerodb, sled or memory.
    #[arg(long, default_value = "zerodb", value_parser = parse_engine)]
    pub engine: StorageEngineKind,
    /// Serve Prometheus metrics of node i on this port + i - 1 (0: off).
    #[arg(long, default_value_t = 9401)]
    pub metrics_base_port: u16,
    /// Run the console's zeroql statements as this user (default: admin).
    #[arg(long)]
    pub console_user: Option<String>,
    /// Serve until interrupted even when stdin is a terminal (no shell).
    #[arg(long)]
    pub no_shell: bool,
}

fn parse_engine(text: &str) -> Result<StorageEngineKind, String> {
    match text {
        "zerodb" => Ok(StorageEngineKind::Zerodb),
        "sled" => Ok(StorageEngineKind::Sled),
        "memory" => Ok(StorageEngineKind::Memory),
        other => Err(format!(
            "unknown engine `{other}`: use zerodb, sled or memory"
        )),
    }
}

/// Makes (or reuses) the folder: certificates and the cluster file.
fn prepare(args: &DevArgs) -> Result<ClusterSpec, CliError> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::config(format!("{}: {e}", args.dir.display())))?;
    let cluster_path = args.dir.join("cluster.toml");
    let cluster = if cluster_path.exists() {
        let text = std::fs::read_to_string(&cluster_path)
            .map_err(|e| CliError::config(format!("{}: {e}", cluster_path.display())))?;
        let spec = ClusterSpec::from_toml_str(&text).map_err(CliError::config)?;
        if spec.members.len() != args.nodes as usize {
            tracing::warn!(
                nodes = spec.members.len(),
                "reusing the existing cluster of {} nodes",
                spec.members.len()
            );
        }
        spec
    } else {
        if args.nodes == 0 || args.nodes > 64 {
            return Err(CliError::usage(format!(
                "--nodes {}: use 1 to 64",
                args.nodes
            )));
        }
        let spec = ClusterSpec {
            tokens_per_node: 64,
            members: (1..=args.nodes)
                .map(|id| MemberSpec {
                    id,
                    address: SocketAddr::from(([127, 0, 0, 1], args.base_port + (id - 1) as u16)),
                    region: "local".into(),
                    zone: format!("z{id}"),
                })
                .collect(),
        };
        std::fs::write(&cluster_path, spec.to_toml_string())
            .map_err(|e| CliError::config(format!("{}: {e}", cluster_path.display())))?;
        spec
    };
    ensure_certs(&args.dir.join("certs"), &cluster)?;
    Ok(cluster)
}

/// Makes the cluster CA, node certificates and the `admin` client
/// certificate that are missing.
pub fn ensure_certs(dir: &Path, cluster: &ClusterSpec) -> Result<(), CliError> {
    let files = CertFiles::new(dir);
    let ca = if files.ca_cert_path().exists() {
        files.read_ca().map_err(CliError::config)?
    } else {
        let ca = CertificateAuthority::generate("dev", CA_VALIDITY_DAYS_DEFAULT)
            .map_err(CliError::config)?;
        files.write_ca(&ca).map_err(CliError::config)?;
        ca
    };
    for member in &cluster.members {
        let node = NodeId(member.id);
        if !files.node_paths(node).0.exists() {
            let issued = ca
                .issue_node(node, LEAF_VALIDITY_DAYS_DEFAULT)
                .map_err(CliError::config)?;
            files.write_node(node, &issued).map_err(CliError::config)?;
        }
    }
    if !files
        .client_paths(DEV_USER)
        .map_err(CliError::config)?
        .0
        .exists()
    {
        let issued = ca
            .issue_client(DEV_USER, LEAF_VALIDITY_DAYS_DEFAULT)
            .map_err(CliError::config)?;
        files
            .write_client(DEV_USER, &issued)
            .map_err(CliError::config)?;
    }
    Ok(())
}

/// Starts every node of the dev cluster in this process.
pub async fn start_nodes(
    args: &DevArgs,
    cluster: &ClusterSpec,
) -> Result<Vec<NodeHandle>, CliError> {
    let files = CertFiles::new(args.dir.join("certs"));
    let rf = cluster.members.len().min(3);
    let mut handles = Vec::new();
    for member in &cluster.members {
        let tls = TlsIdentity::load_node(&files, NodeId(member.id)).map_err(CliError::config)?;
        let metrics = (args.metrics_base_port != 0).then(|| {
            SocketAddr::from((
                [127, 0, 0, 1],
                args.metrics_base_port + (member.id - 1) as u16,
            ))
        });
        let settings = NodeSettings {
            id: member.id,
            cluster: cluster.clone(),
            listen: None,
            default_policy: NamespacePolicy {
                replication_factor: rf,
                ..NamespacePolicy::default()
            },
            engine: args.engine,
            data_dir: args.dir.join(format!("n{}", member.id)),
            cache_bytes: 64 * 1024 * 1024,
            tls,
            txn: TxnOptions::default(),
            gossip_interval_ms: zerodb_config::TimeoutConfig::default().gossip_interval_ms,
            metrics,
            console_user: args.console_user.clone(),
            recover: false,
        };
        match runtime::start(settings).await {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                for handle in handles {
                    handle.shutdown().await;
                }
                return Err(CliError::new(
                    exit::CONFIG,
                    format!("node n{}: {error}", member.id),
                ));
            }
        }
    }
    Ok(handles)
}

/// Runs `zerodb dev`.
pub async fn run(args: DevArgs) -> Result<u8, CliError> {
    let cluster = prepare(&args)?;
    let handles = start_nodes(&args, &cluster).await?;
    let dir_flag = if args.dir == Path::new(DEV_DIR_DEFAULT) {
        String::new()
    } else {
        format!("--dir {} ", args.dir.display())
    };
    println!("ZeroDB dev cluster: {} nodes", handles.len());
    println!(
        "  folder:  {} (certificates in certs/, data in n<id>/, members in cluster.toml)",
        args.dir.display()
    );
    for handle in &handles {
        let metrics = handle
            .metrics_addr()
            .map(|a| format!("  console http://{a}/  metrics http://{a}/metrics"))
            .unwrap_or_default();
        println!("  node n{}: {} (QUIC){metrics}", handle.id(), handle.addr());
    }
    println!(
        "  client certificate: {}/certs/client.{DEV_USER}.crt",
        args.dir.display()
    );
    println!("Try, from this folder's parent directory:");
    println!("  zerodb {dir_flag}put hello world");
    println!("  zerodb {dir_flag}get hello");
    println!("  zerodb {dir_flag}txn 'get hello; put n 1; incr m 5'");
    println!("  zerodb {dir_flag}status");
    println!(
        "(with cargo: cargo run --release -p zerodb-node --bin zerodb -- {dir_flag}get hello)"
    );
    let interactive = std::io::stdin().is_terminal() && !args.no_shell;
    if interactive {
        let connect = ConnectArgs {
            dir: args.dir.clone(),
            timeout: 10,
            ..ConnectArgs::default()
        };
        let shell = super::shell::run(connect);
        tokio::select! {
            _ = shell => {}
            _ = super::shutdown_signal() => {}
        }
    } else {
        println!("Serving; stop with Ctrl-C or SIGTERM.");
        super::shutdown_signal().await;
    }
    println!("Stopping...");
    for handle in handles {
        handle.shutdown().await;
    }
    println!("Stopped.");
    Ok(exit::OK)
}

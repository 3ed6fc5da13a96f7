//! Serving a `zerodb dev` folder's nodes with an eventual default policy
//! (writes and reads at a chosen level, last writer wins), which `zerodb
//! dev` itself cannot do: it always uses the strong default policy and the
//! node has no per-namespace policy configuration yet.

use std::path::Path;

use zerodb_config::{Consistency, NamespacePolicy, StorageEngineKind};
use zerodb_node::core::membership::ClusterSpec;
use zerodb_node::runtime::{self, NodeSettings};
use zerodb_transport::certs::CertFiles;
use zerodb_transport::tls::{NodeId, TlsIdentity};
use zerodb_txn::TxnOptions;

/// Starts every member of `dir/cluster.toml` in this process (data in
/// `dir/n<id>`, the zerodb engine) and serves until SIGINT/SIGTERM.
pub async fn serve(dir: &Path) -> Result<(), String> {
    let cluster_path = dir.join("cluster.toml");
    let text = std::fs::read_to_string(&cluster_path).map_err(|e| {
        format!(
            "{}: {e}; run `zerodb dev --dir` first",
            cluster_path.display()
        )
    })?;
    let cluster = ClusterSpec::from_toml_str(&text).map_err(|e| e.to_string())?;
    let files = CertFiles::new(dir.join("certs"));
    let mut handles = Vec::new();
    for member in &cluster.members {
        let tls = TlsIdentity::load_node(&files, NodeId(member.id)).map_err(|e| e.to_string())?;
        let settings = NodeSettings {
            id: member.id,
            cluster: cluster.clone(),
            listen: None,
            default_policy: NamespacePolicy {
                consistency: Consistency::Eventual,
                replication_factor: cluster.members.len().min(3),
                ..NamespacePolicy::default()
            },
            engine: StorageEngineKind::Zerodb,
            data_dir: dir.join(format!("n{}", member.id)),
            cache_bytes: 64 * 1024 * 1024,
            tls,
            txn: TxnOptions::default(),
            gossip_interval_ms: zerodb_config::TimeoutConfig::default().gossip_interval_ms,
            metrics: None,
            console_user: None,
            recover: false,
        };
        handles.push(
            runtime::start(settings)
                .await
                .map_err(|e| format!("node n{}: {e}", member.id))?,
        );
    }
    println!("eventual cluster: {} nodes serving", handles.len());
    zerodb_cli::shutdown_signal().await;
    for handle in handles {
        handle.shutdown().await;
    }
    Ok(())
}

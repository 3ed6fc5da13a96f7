//! `zerodb start` (a real node from its configuration file) and
//! `zerodb certs` (the cluster CA and its certificates).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use zerodb_config::Config;
use zerodb_txn::TxnOptions;

use super::exit::{self, CliError};
use zerodb_node::core::membership::ClusterSpec;
use zerodb_node::runtime::{self, NodeSettings};
use zerodb_transport::certs::{
    CertFiles, CertificateAuthority, CA_VALIDITY_DAYS_DEFAULT, LEAF_VALIDITY_DAYS_DEFAULT,
};
use zerodb_transport::tls::{NodeId, TlsIdentity};

/// `zerodb start` options.
#[derive(Args, Clone, Debug)]
pub struct StartArgs {
    /// The node's configuration file (TOML; ZERODB_* variables override it).
    #[arg(long)]
    pub config: PathBuf,
    /// The initial cluster: [[member]] entries with id, address, region,
    /// zone (default: cluster.toml next to the configuration file).
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// This node's disk was lost or replaced: come up recovering and copy
    /// its state from the other replicas before voting.
    #[arg(long)]
    pub recover: bool,
}

fn required(value: &Option<PathBuf>, key: &str) -> Result<PathBuf, CliError> {
    value.clone().ok_or_else(|| {
        CliError::config(format!("{key} is not set: a node needs tls.ca_cert, tls.node_cert and tls.node_key (make them with `zerodb certs`)"))
    })
}

fn read(path: &PathBuf, key: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("{key} = {}: {e}", path.display())))
}

/// Loads everything `zerodb start` needs.
pub fn settings(args: &StartArgs) -> Result<NodeSettings, CliError> {
    let config = Config::load(Some(&args.config))
        .map_err(|e| CliError::config(format!("{}: {e}", args.config.display())))?;
    let cluster_path = args.cluster.clone().unwrap_or_else(|| {
        args.config
            .parent()
            .map(|dir| dir.join("cluster.toml"))
            .unwrap_or_else(|| PathBuf::from("cluster.toml"))
    });
    let cluster_text = std::fs::read_to_string(&cluster_path).map_err(|e| {
        CliError::config(format!(
            "cannot read the cluster file {}: {e}; pass --cluster",
            cluster_path.display()
        ))
    })?;
    let cluster = ClusterSpec::from_toml_str(&cluster_text)
        .map_err(|e| CliError::config(format!("{}: {e}", cluster_path.display())))?;
    let ca = read(
        &required(&config.tls.ca_cert, "tls.ca_cert")?,
        "tls.ca_cert",
    )?;
    let cert = read(
        &required(&config.tls.node_cert, "tls.node_cert")?,
        "tls.node_cert",
    )?;
    let key = read(
        &required(&config.tls.node_key, "tls.node_key")?,
        "tls.node_key",
    )?;
    let tls = TlsIdentity::from_pem(&ca, &cert, &key)
        .map_err(|e| CliError::config(format!("tls: {e}")))?;
    if tls.identity().node() != Some(NodeId(config.node.id)) {
        return Err(CliError::config(format!(
            "node.id = {}: the certificate tls.node_cert names {}; use the certificate of n{}",
            config.node.id,
            tls.identity(),
            config.node.id
        )));
    }
    let txn = TxnOptions {
        lease_ms: config.timeouts.lock_lease_ms,
        request_timeout_ms: config.timeouts.request_timeout_ms,
        anti_entropy_ms: config.timeouts.anti_entropy_interval_ms,
        ..TxnOptions::default()
    };
    Ok(NodeSettings {
        id: config.node.id,
        cluster,
        listen: Some(config.node.listen),
        default_policy: config.default_policy.clone(),
        engine: config.storage.engine,
        data_dir: config.node.data_dir.clone(),
        cache_bytes: config.storage.cache_bytes,
        tls,
        txn,
        gossip_interval_ms: config.timeouts.gossip_interval_ms,
        metrics: config.metrics.address,
        console_user: config.metrics.console_user.clone(),
        recover: args.recover,
    })
}

/// Runs `zerodb start` until SIGINT/SIGTERM.
pub async fn start(args: StartArgs) -> Result<u8, CliError> {
    let settings = settings(&args)?;
    let id = settings.id;
    let handle = runtime::start(settings)
        .await
        .map_err(|e| CliError::new(exit::CONFIG, format!("node n{id}: {e}")))?;
    eprintln!("node n{id} listening on {} (QUIC)", handle.addr());
    if let Some(metrics) = handle.metrics_addr() {
        eprintln!("console on http://{metrics}/ and metrics on http://{metrics}/metrics");
    }
    super::shutdown_signal().await;
    handle.shutdown().await;
    Ok(exit::OK)
}

/// `zerodb certs ...`.
#[derive(Subcommand, Clone, Debug)]
pub enum CertsCommand {
    /// Make the cluster CA (ca.crt, ca.key) in DIR.
    Init {
        /// Certificates folder.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Cluster name written in the CA certificate.
        #[arg(long, default_value = "zerodb")]
        name: String,
    },
    /// Make node ID's certificate (node.n<ID>.crt/.key) signed by DIR's CA.
    Node {
        /// Certificates folder holding the CA.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Node id.
        #[arg(long)]
        id: u32,
    },
    /// Make a client certificate for USER (client.<USER>.crt/.key).
    Client {
        /// Certificates folder holding the CA.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// User name.
        #[arg(long)]
        user: String,
    },
}

/// Runs `zerodb certs`.
pub fn certs(command: CertsCommand) -> Result<u8, CliError> {
    match command {
        CertsCommand::Init { dir, name } => {
            let files = CertFiles::new(&dir);
            let ca = CertificateAuthority::generate(&name, CA_VALIDITY_DAYS_DEFAULT)
                .map_err(CliError::config)?;
            files.write_ca(&ca).map_err(CliError::config)?;
            println!(
                "wrote {} and {}",
                files.ca_cert_path().display(),
                files.ca_key_path().display()
            );
        }
        CertsCommand::Node { dir, id } => {
            let files = CertFiles::new(&dir);
            let ca = files.read_ca().map_err(CliError::config)?;
            let issued = ca
                .issue_node(NodeId(id), LEAF_VALIDITY_DAYS_DEFAULT)
                .map_err(CliError::config)?;
            files
                .write_node(NodeId(id), &issued)
                .map_err(CliError::config)?;
            let (cert, key) = files.node_paths(NodeId(id));
            println!("wrote {} and {}", cert.display(), key.display());
        }
        CertsCommand::Client { dir, user } => {
            let files = CertFiles::new(&dir);
            let ca = files.read_ca().map_err(CliError::config)?;
            let issued = ca
                .issue_client(&user, LEAF_VALIDITY_DAYS_DEFAULT)
                .map_err(CliError::config)?;
            files
                .write_client(&user, &issued)
                .map_err(CliError::config)?;
            let (cert, key) = files.client_paths(&user).map_err(CliError::config)?;
            println!("wrote {} and {}", cert.display(), key.display());
        }
    }
    Ok(exit::OK)
}

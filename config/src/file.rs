//! The configuration file: its sections, their defaults and parsing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::policy::NamespacePolicy;

/// The whole node configuration (one TOML file; every section and key is
/// optional and defaults to the values of [`Config::default`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity, addresses and placement of this node.
    pub node: NodeConfig,
    /// Certificate files for mutual TLS.
    pub tls: TlsConfig,
    /// Protocol timers.
    pub timeouts: TimeoutConfig,
    /// The local storage engine.
    pub storage: StorageConfig,
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
    /// The policy of namespaces created without an explicit one.
    pub default_policy: NamespacePolicy,
}

/// `[node]`: identity, addresses and placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id, unique in the cluster.
    pub id: u32,
    /// Address the node listens on (QUIC, UDP), e.g. `0.0.0.0:7400`.
    pub listen: SocketAddr,
    /// Directory holding the node's data.
    pub data_dir: PathBuf,
    /// `host:port` addresses of nodes to join through; empty starts a new cluster.
    pub seeds: Vec<String>,
    /// Region of the node.
    pub region: String,
    /// Failure zone inside the region.
    pub zone: String,
    /// Number of tokens (ring positions) the node owns.
    pub tokens: u32,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            id: 1,
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            data_dir: PathBuf::from("zerodb-data"),
            seeds: Vec::new(),
            region: "default".to_string(),
            zone: "default".to_string(),
            tokens: 64,
        }
    }
}

/// `[tls]`: PEM files for mutual TLS. Either all three or none (a node with
/// none can only run in development mode with generated certificates).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The cluster CA certificate.
    pub ca_cert: Option<PathBuf>,
    /// This node's certificate, signed by the cluster CA.
    pub node_cert: Option<PathBuf>,
    /// This node's private key.
    pub node_key: Option<PathBuf>,
}

/// `[timeouts]`: protocol timers, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// Period of gossip rounds.
    pub gossip_interval_ms: u64,
    /// Lease of a transaction lock before replicas start recovery.
    pub lock_lease_ms: u64,
    /// Deadline of a client request at its coordinator.
    pub request_timeout_ms: u64,
    /// Period of anti-entropy rounds of eventual namespaces (0: off).
    pub anti_entropy_interval_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> TimeoutConfig {
        TimeoutConfig {
            gossip_interval_ms: 500,
            lock_lease_ms: 2_000,
            request_timeout_ms: 5_000,
            anti_entropy_interval_ms: 10_000,
        }
    }
}

/// Which storage engine holds the node's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageEngineKind {
    /// ZeroDB's own WAL + B+Tree engine.
    #[default]
    Zerodb,
    /// The sled engine.
    Sled,
    /// In memory only: data is lost when the process ends (tests, demos).
    Memory,
}

/// `[storage]`: the local engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `zerodb`, `sled` or `memory`.
    pub engine: StorageEngineKind,
    /// Page cache budget in bytes.
    pub cache_bytes: u64,
    /// Time between checkpoints, in milliseconds.
    pub checkpoint_interval_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> StorageConfig {
        StorageConfig {
            engine: StorageEngineKind::Zerodb,
            cache_bytes: 256 * 1024 * 1024,
            checkpoint_interval_ms: 60_000,
        }
    }
}

/// `[metrics]`: the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address serving metrics and the console; none disables both.
    pub address: Option<SocketAddr>,
    /// The user whose roles the console's zeroql statements run with;
    /// none means the bootstrap cluster admin (`admin`). A viewer here
    /// makes a read-only console.
    pub console_user: Option<String>,
}

impl Config {
    /// Parses a TOML document (no environment overrides) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let config = crate::parse::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Loads the file at `path` (defaults when `None`), applies the process
    /// environment's `ZERODB_*` overrides and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`] with the environment given as `(name, value)`
    /// pairs, so that tests need not touch the process environment.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
                    path: path.to_path_buf(),
                    reason: error.to_string(),
                })?;
                crate::parse::parse(&text)?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }
}

//! ZeroDB node configuration: the TOML file, its defaults, environment
//! overrides (`ZERODB_...`) and validation with errors that name the key.
//!
//! Owns: parsing and checking configuration. Does not own: anything that acts
//! on it.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod env;
mod error;
mod file;
mod parse;
mod policy;
mod validate;

pub use env::ENV_OVERRIDES;
pub use error::ConfigError;
pub use file::{
    Config, MetricsConfig, NodeConfig, StorageConfig, StorageEngineKind, TimeoutConfig, TlsConfig,
};
pub use policy::{Consistency, NamespacePolicy, PartitionLevel};
pub use validate::{
    ANTI_ENTROPY_INTERVAL_MS_MAX, ANTI_ENTROPY_INTERVAL_MS_MIN, CACHE_BYTES_MAX, CACHE_BYTES_MIN,
    CHECKPOINT_INTERVAL_MS_MAX, CHECKPOINT_INTERVAL_MS_MIN, GOSSIP_INTERVAL_MS_MAX,
    GOSSIP_INTERVAL_MS_MIN, LOCK_LEASE_MS_MAX, LOCK_LEASE_MS_MIN, NAME_LENGTH_MAX,
    REPLICATION_FACTOR_MAX, REQUEST_TIMEOUT_MS_MAX, REQUEST_TIMEOUT_MS_MIN, TOKENS_MAX,
};

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

pub use error::ConfigError;
pub use file::{
    Config, MetricsConfig, NodeConfig, StorageConfig, StorageEngineKind, TimeoutConfig, TlsConfig,
};
pub use policy::{Consistency, NamespacePolicy, PartitionLevel};

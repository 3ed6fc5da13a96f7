//! `ZERODB_*` environment overrides.
//!
//! Each variable overrides one key; lists (`ZERODB_SEEDS`, `ZERODB_REGIONS`)
//! are comma separated; an empty value clears optional keys. A value that
//! does not parse, or that breaks a rule, is an error naming the variable.
//! Variables not listed in [`ENV_OVERRIDES`] are ignored, so that other
//! tools may use the `ZERODB_` prefix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::ConfigError;
use crate::file::{Config, StorageEngineKind};
use crate::policy::{Consistency, PartitionLevel};

/// Every environment variable understood, with the key it overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("ZERODB_NODE_ID", "node.id"),
    ("ZERODB_LISTEN", "node.listen"),
    ("ZERODB_DATA_DIR", "node.data_dir"),
    ("ZERODB_SEEDS", "node.seeds"),
    ("ZERODB_REGION", "node.region"),
    ("ZERODB_ZONE", "node.zone"),
    ("ZERODB_TOKENS", "node.tokens"),
    ("ZERODB_TLS_CA_CERT", "tls.ca_cert"),
    ("ZERODB_TLS_NODE_CERT", "tls.node_cert"),
    ("ZERODB_TLS_NODE_KEY", "tls.node_key"),
    ("ZERODB_GOSSIP_INTERVAL_MS", "timeouts.gossip_interval_ms"),
    ("ZERODB_LOCK_LEASE_MS", "timeouts.lock_lease_ms"),
    ("ZERODB_REQUEST_TIMEOUT_MS", "timeouts.request_timeout_ms"),
    (
        "ZERODB_ANTI_ENTROPY_INTERVAL_MS",
        "timeouts.anti_entropy_interval_ms",
    ),
    ("ZERODB_STORAGE_ENGINE", "storage.engine"),
    ("ZERODB_CACHE_BYTES", "storage.cache_bytes"),
    (
        "ZERODB_CHECKPOINT_INTERVAL_MS",
        "storage.checkpoint_interval_ms",
    ),
    ("ZERODB_METRICS_ADDRESS", "metrics.address"),
    ("ZERODB_CONSOLE_USER", "metrics.console_user"),
    ("ZERODB_CONSISTENCY", "default_policy.consistency"),
    (
        "ZERODB_REPLICATION_FACTOR",
        "default_policy.replication_factor",
    ),
    ("ZERODB_PARTITION_LEVEL", "default_policy.partition_level"),
    ("ZERODB_REGIONS", "default_policy.regions"),
];

impl Config {
    /// Applies `ZERODB_*` overrides from `(name, value)` pairs, in order
    /// (a later pair wins). Errors name the variable: a value that does not
    /// parse, or one that breaks a rule of [`Config::validate`].
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut applied: Vec<(&'static str, String, String)> = Vec::new();
        for (name, value) in env {
            let Some(&(variable, key)) = ENV_OVERRIDES.iter().find(|(v, _)| *v == name) else {
                continue;
            };
            self.set(key, &value).map_err(|expected| ConfigError::Env {
                variable: variable.to_string(),
                value: value.clone(),
                expected,
            })?;
            applied.retain(|(k, _, _)| *k != key);
            applied.push((key, name, value));
        }
        match self.validate() {
            Err(ConfigError::Invalid { key, expected, .. }) => {
                let base = key.split('[').next().unwrap_or(&key);
                match applied.into_iter().find(|(k, _, _)| *k == base) {
                    Some((_, variable, value)) => Err(ConfigError::Env {
                        variable,
                        value,
                        expected: format!("{key}: {expected}"),
                    }),
                    // The file broke the rule: `validate` reports it by key.
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Sets `key` from an environment value; the error says what is expected.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        match key {
            "node.id" => self.node.id = number(value, "a node id from 0 to 4294967295")?,
            "node.listen" => self.node.listen = address(value)?,
            "node.data_dir" => self.node.data_dir = PathBuf::from(value),
            "node.seeds" => self.node.seeds = list(value),
            "node.region" => self.node.region = value.to_string(),
            "node.zone" => self.node.zone = value.to_string(),
            "node.tokens" => self.node.tokens = number(value, "a whole number of tokens")?,
            "tls.ca_cert" => self.tls.ca_cert = optional_path(value),
            "tls.node_cert" => self.tls.node_cert = optional_path(value),
            "tls.node_key" => self.tls.node_key = optional_path(value),
            "timeouts.gossip_interval_ms" => self.timeouts.gossip_interval_ms = millis(value)?,
            "timeouts.lock_lease_ms" => self.timeouts.lock_lease_ms = millis(value)?,
            "timeouts.request_timeout_ms" => self.timeouts.request_timeout_ms = millis(value)?,
            "timeouts.anti_entropy_interval_ms" => {
                self.timeouts.anti_entropy_interval_ms = millis(value)?
            }
            "storage.engine" => self.storage.engine = engine(value)?,
            "storage.cache_bytes" => {
                self.storage.cache_bytes = number(value, "a whole number of bytes")?
            }
            "storage.checkpoint_interval_ms" => {
                self.storage.checkpoint_interval_ms = millis(value)?
            }
            "metrics.address" => {
                self.metrics.address = match value {
                    "" => None,
                    value => Some(address(value)?),
                }
            }
            "metrics.console_user" => {
                self.metrics.console_user = (!value.is_empty()).then(|| value.to_string())
            }
            "default_policy.consistency" => self.default_policy.consistency = consistency(value)?,
            "default_policy.replication_factor" => {
                self.default_policy.replication_factor =
                    number(value, "a whole number of replicas")?
            }
            "default_policy.partition_level" => {
                self.default_policy.partition_level = partition_level(value)?
            }
            "default_policy.regions" => self.default_policy.regions = list(value),
            other => return Err(format!("no such key {other}")),
        }
        Ok(())
    }
}

fn number<T: FromStr>(value: &str, expected: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("expected {expected}"))
}

fn millis(value: &str) -> Result<u64, String> {
    number(value, "a whole number of milliseconds")
}

fn address(value: &str) -> Result<SocketAddr, String> {
    number(value, "an IP address and port such as 0.0.0.0:7400")
}

fn optional_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

fn engine(value: &str) -> Result<StorageEngineKind, String> {
    match value {
        "zerodb" => Ok(StorageEngineKind::Zerodb),
        "sled" => Ok(StorageEngineKind::Sled),
        "memory" => Ok(StorageEngineKind::Memory),
        _ => Err("expected zerodb, sled or memory".to_string()),
    }
}

fn consistency(value: &str) -> Result<Consistency, String> {
    match value {
        "strong" => Ok(Consistency::Strong),
        "eventual" => Ok(Consistency::Eventual),
        _ => Err("expected strong or eventual".to_string()),
    }
}

fn partition_level(value: &str) -> Result<PartitionLevel, String> {
    match value {
        "database" => Ok(PartitionLevel::Database),
        "table" => Ok(PartitionLevel::Table),
        "record" => Ok(PartitionLevel::Record),
        _ => Err("expected database, table or record".to_string()),
    }
}

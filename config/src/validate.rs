//! The rules every configuration must satisfy, with the limits they use.

use std::path::Path;

use crate::error::ConfigError;
use crate::file::Config;

/// Largest number of tokens a node may own (same limit as the ring's).
pub const TOKENS_MAX: u32 = 4096;
/// Longest region or zone name.
pub const NAME_LENGTH_MAX: usize = 64;
/// Largest replication factor of a namespace policy.
pub const REPLICATION_FACTOR_MAX: usize = 9;
/// Gossip round period limits, in milliseconds.
pub const GOSSIP_INTERVAL_MS_MIN: u64 = 10;
/// See [`GOSSIP_INTERVAL_MS_MIN`].
pub const GOSSIP_INTERVAL_MS_MAX: u64 = 60_000;
/// Lock lease limits, in milliseconds.
pub const LOCK_LEASE_MS_MIN: u64 = 100;
/// See [`LOCK_LEASE_MS_MIN`].
pub const LOCK_LEASE_MS_MAX: u64 = 600_000;
/// Anti-entropy period limits, in milliseconds (0 turns it off).
pub const ANTI_ENTROPY_INTERVAL_MS_MIN: u64 = 100;
/// See [`ANTI_ENTROPY_INTERVAL_MS_MIN`].
pub const ANTI_ENTROPY_INTERVAL_MS_MAX: u64 = 3_600_000;
/// Request timeout limits, in milliseconds.
pub const REQUEST_TIMEOUT_MS_MIN: u64 = 10;
/// See [`REQUEST_TIMEOUT_MS_MIN`].
pub const REQUEST_TIMEOUT_MS_MAX: u64 = 600_000;
/// Smallest page cache, in bytes (1 MiB).
pub const CACHE_BYTES_MIN: u64 = 1 << 20;
/// Largest page cache, in bytes (1 TiB).
pub const CACHE_BYTES_MAX: u64 = 1 << 40;
/// Checkpoint interval limits, in milliseconds (1 s to 1 day).
pub const CHECKPOINT_INTERVAL_MS_MIN: u64 = 1_000;
/// See [`CHECKPOINT_INTERVAL_MS_MIN`].
pub const CHECKPOINT_INTERVAL_MS_MAX: u64 = 86_400_000;

/// What each key accepts, used when the parser rejects a value's type.
pub(crate) fn expectation(key: &str) -> Option<String> {
    let text = match key {
        "node.id" => "a node id from 0 to 4294967295".to_string(),
        "node.listen" | "metrics.address" => {
            "an IP address and port such as \"0.0.0.0:7400\"".to_string()
        }
        "node.data_dir" | "tls.ca_cert" | "tls.node_cert" | "tls.node_key" => {
            "a path in quotes".to_string()
        }
        "node.seeds" => "a list of \"host:port\" strings".to_string(),
        "node.region" | "node.zone" | "metrics.console_user" => "a name in quotes".to_string(),
        "node.tokens" => format!("a whole number between 1 and {TOKENS_MAX}"),
        "storage.engine" => "\"zerodb\", \"sled\" or \"memory\"".to_string(),
        "storage.cache_bytes" => "a whole number of bytes".to_string(),
        "default_policy.consistency" => "\"strong\" or \"eventual\"".to_string(),
        "default_policy.partition_level" => "\"database\", \"table\" or \"record\"".to_string(),
        "default_policy.replication_factor" => {
            format!("a whole number between 1 and {REPLICATION_FACTOR_MAX}")
        }
        "default_policy.regions" => "a list of region names".to_string(),
        key if key.starts_with("timeouts.") || key.ends_with("_ms") => {
            "a whole number of milliseconds".to_string()
        }
        _ => return None,
    };
    Some(text)
}

fn invalid(key: &str, value: impl ToString, expected: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

fn check_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            value,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// Region and zone names: 1 to 64 letters, digits, `-`, `_` or `.`.
fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > NAME_LENGTH_MAX || !name.chars().all(allowed) {
        return Err(invalid(
            key,
            format!("{name:?}"),
            format!("must be 1 to {NAME_LENGTH_MAX} letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

fn check_path(key: &str, path: &Path) -> Result<(), ConfigError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(key, "\"\"", "must be a non-empty path"));
    }
    Ok(())
}

/// A seed is `host:port` with a non-empty host and a port from 1 to 65535
/// (`[v6 address]:port` for IPv6).
fn check_seed(key: &str, seed: &str) -> Result<(), ConfigError> {
    let usable = seed.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = !host.is_empty()
            && !host.contains(char::is_whitespace)
            && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
        host_ok && port.parse::<u16>().is_ok_and(|port| port != 0)
    });
    if usable {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{seed:?}"),
            "must be host:port with a port from 1 to 65535, e.g. \"10.0.0.2:7400\"",
        ))
    }
}

impl Config {
    /// Checks every rule; the first broken one is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_node()?;
        self.validate_tls()?;
        self.validate_timeouts()?;
        self.validate_storage()?;
        if let Some(user) = &self.metrics.console_user {
            check_name("metrics.console_user", user)?;
        }
        self.validate_policy()
    }

    fn validate_node(&self) -> Result<(), ConfigError> {
        let node = &self.node;
        check_path("node.data_dir", &node.data_dir)?;
        for (index, seed) in node.seeds.iter().enumerate() {
            check_seed(&format!("node.seeds[{index}]"), seed)?;
            if node.seeds[..index].contains(seed) {
                return Err(invalid(
                    &format!("node.seeds[{index}]"),
                    format!("{seed:?}"),
                    "is listed twice; list each seed once",
                ));
            }
        }
        check_name("node.region", &node.region)?;
        check_name("node.zone", &node.zone)?;
        check_range("node.tokens", node.tokens.into(), 1, TOKENS_MAX.into())
    }

    fn validate_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.tls;
        let files = [
            ("tls.ca_cert", &tls.ca_cert),
            ("tls.node_cert", &tls.node_cert),
            ("tls.node_key", &tls.node_key),
        ];
        let set = files.iter().filter(|(_, path)| path.is_some()).count();
        for (key, path) in files {
            match path {
                Some(path) => check_path(key, path)?,
                None if set > 0 => {
                    return Err(invalid(
                        key,
                        "(missing)",
                        "tls.ca_cert, tls.node_cert and tls.node_key must be set together",
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }

    fn validate_timeouts(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        check_range(
            "timeouts.gossip_interval_ms",
            t.gossip_interval_ms,
            GOSSIP_INTERVAL_MS_MIN,
            GOSSIP_INTERVAL_MS_MAX,
        )?;
        check_range(
            "timeouts.lock_lease_ms",
            t.lock_lease_ms,
            LOCK_LEASE_MS_MIN,
            LOCK_LEASE_MS_MAX,
        )?;
        check_range(
            "timeouts.request_timeout_ms",
            t.request_timeout_ms,
            REQUEST_TIMEOUT_MS_MIN,
            REQUEST_TIMEOUT_MS_MAX,
        )?;
        let ae = t.anti_entropy_interval_ms;
        if ae != 0 && !(ANTI_ENTROPY_INTERVAL_MS_MIN..=ANTI_ENTROPY_INTERVAL_MS_MAX).contains(&ae) {
            return Err(invalid(
                "timeouts.anti_entropy_interval_ms",
                ae,
                format!(
                    "must be 0 (off) or between {ANTI_ENTROPY_INTERVAL_MS_MIN} and {ANTI_ENTROPY_INTERVAL_MS_MAX}"
                ),
            ));
        }
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let s = &self.storage;
        check_range(
            "storage.cache_bytes",
            s.cache_bytes,
            CACHE_BYTES_MIN,
            CACHE_BYTES_MAX,
        )?;
        check_range(
            "storage.checkpoint_interval_ms",
            s.checkpoint_interval_ms,
            CHECKPOINT_INTERVAL_MS_MIN,
            CHECKPOINT_INTERVAL_MS_MAX,
        )
    }

    fn validate_policy(&self) -> Result<(), ConfigError> {
        let policy = &self.default_policy;
        check_range(
            "default_policy.replication_factor",
            policy.replication_factor as u64,
            1,
            REPLICATION_FACTOR_MAX as u64,
        )?;
        for (index, region) in policy.regions.iter().enumerate() {
            let key = format!("default_policy.regions[{index}]");
            check_name(&key, region)?;
            if policy.regions[..index].contains(region) {
                return Err(invalid(
                    &key,
                    format!("{region:?}"),
                    "is listed twice; list each region once",
                ));
            }
        }
        Ok(())
    }
}

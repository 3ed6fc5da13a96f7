//! Behaviour of the configuration file, its rules and its overrides.

use std::net::SocketAddr;
use std::path::PathBuf;

use zerodb_config::{
    Config, ConfigError, Consistency, NamespacePolicy, PartitionLevel, StorageEngineKind,
    ENV_OVERRIDES,
};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn error_of(text: &str) -> String {
    Config::from_toml_str(text).unwrap_err().to_string()
}

#[test]
fn a_node_runs_on_defaults_without_a_file() {
    let config = Config::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    config.validate().unwrap();
    assert_eq!(config.node.tokens, 64);
    assert_eq!(
        config.node.listen,
        "127.0.0.1:7400".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.storage.engine, StorageEngineKind::Zerodb);
    assert_eq!(config.metrics.address, None);
    assert_eq!(config.default_policy, NamespacePolicy::default());
    assert_eq!(config.default_policy.replication_factor, 3);
    assert_eq!(config.default_policy.consistency, Consistency::Strong);
    assert_eq!(
        config.default_policy.partition_level,
        PartitionLevel::Database
    );
}

#[test]
fn the_example_file_parses() {
    let config = Config::from_toml_str(include_str!("../example.toml")).unwrap();
    assert_eq!(config.node.id, 3);
    assert_eq!(config.node.seeds.len(), 3);
    assert_eq!(config.node.region, "eu-west");
    assert_eq!(
        config.tls.node_key,
        Some(PathBuf::from("/etc/zerodb/node-key.pem"))
    );
    assert_eq!(config.storage.cache_bytes, 1 << 30);
    assert_eq!(config.storage.checkpoint_interval_ms, 30_000);
    assert_eq!(
        config.metrics.address,
        Some("127.0.0.1:9400".parse().unwrap())
    );
    assert_eq!(config.default_policy.regions, vec!["eu-west".to_string()]);
}

#[test]
fn a_partial_file_keeps_defaults_for_the_rest() {
    let config = Config::from_toml_str("[node]\nid = 7\n[storage]\nengine = \"memory\"\n").unwrap();
    assert_eq!(config.node.id, 7);
    assert_eq!(config.node.tokens, 64);
    assert_eq!(config.storage.engine, StorageEngineKind::Memory);
    assert_eq!(
        config.storage.cache_bytes,
        Config::default().storage.cache_bytes
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_where() {
    let error = Config::from_toml_str("[storage]\nengin = \"sled\"\n").unwrap_err();
    match &error {
        ConfigError::UnknownKey { key, section, hint } => {
            assert_eq!(key, "storage.engin");
            assert_eq!(section, "[storage] (line 2)");
            assert!(hint.contains("`engine`"), "{hint}");
        }
        other => panic!("expected an unknown key, got {other:?}"),
    }
    assert!(error
        .to_string()
        .starts_with("unknown key `storage.engin` in [storage] (line 2)"));
    let top = error_of("bogus = 1\n");
    assert!(
        top.starts_with("unknown key `bogus` in the top level (line 1)"),
        "{top}"
    );
    let section = error_of("[nodes]\nid = 1\n");
    assert!(section.contains("unknown key `nodes`"), "{section}");
    let policy = error_of("[node]\nid = 2\n\n[default_policy]\nreplicas = 3\n");
    assert!(
        policy.starts_with("unknown key `default_policy.replicas` in [default_policy] (line 5)"),
        "{policy}"
    );
    for section in ["node", "tls", "timeouts", "metrics"] {
        let text = format!("[{section}]\nmystery = 1\n");
        assert!(error_of(&text).contains(&format!("`{section}.mystery`")));
    }
}

#[test]
fn values_of_the_wrong_type_name_the_key_value_and_expectation() {
    let error = Config::from_toml_str("[node]\ntokens = \"many\"\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "node.tokens = \"many\": invalid type: string \"many\", expected u32; \
         expected a whole number between 1 and 4096"
    );
    let listen = error_of("[node]\nlisten = \"localhost\"\n");
    assert!(
        listen.starts_with("node.listen = \"localhost\": invalid socket address"),
        "{listen}"
    );
    assert!(listen.contains("0.0.0.0:7400"));
    let engine = error_of("[storage]\nengine = \"rocks\"\n");
    assert!(
        engine.starts_with("storage.engine = \"rocks\": unknown variant `rocks`"),
        "{engine}"
    );
    let consistency = error_of("[default_policy]\nconsistency = \"weak\"\n");
    assert!(
        consistency.starts_with("default_policy.consistency = \"weak\""),
        "{consistency}"
    );
    let negative = error_of("[timeouts]\nlock_lease_ms = -5\n");
    assert!(
        negative.starts_with("timeouts.lock_lease_ms = -5"),
        "{negative}"
    );
}

#[test]
fn broken_toml_is_reported_with_its_line() {
    let error = Config::from_toml_str("[node]\nid = 1\n[storage\n").unwrap_err();
    assert!(
        matches!(error, ConfigError::Parse { line: Some(3), .. }),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .starts_with("invalid configuration at line 3"));
}

#[test]
fn node_rules() {
    let cases = [
        ("[node]\ntokens = 0", "node.tokens = 0: must be between 1 and 4096"),
        ("[node]\ntokens = 4097", "node.tokens = 4097: must be between 1 and 4096"),
        ("[node]\ndata_dir = \"\"", "node.data_dir = \"\": must be a non-empty path"),
        (
            "[node]\nseeds = [\"10.0.0.1:7400\", \"no-port\"]",
            "node.seeds[1] = \"no-port\": must be host:port with a port from 1 to 65535, e.g. \"10.0.0.2:7400\"",
        ),
        (
            "[node]\nseeds = [\"h:0\"]",
            "node.seeds[0] = \"h:0\": must be host:port with a port from 1 to 65535, e.g. \"10.0.0.2:7400\"",
        ),
        (
            "[node]\nseeds = [\"fd00::1:7400\"]",
            "node.seeds[0] = \"fd00::1:7400\": must be host:port with a port from 1 to 65535, e.g. \"10.0.0.2:7400\"",
        ),
        (
            "[node]\nseeds = [\"a:1\", \"a:1\"]",
            "node.seeds[1] = \"a:1\": is listed twice; list each seed once",
        ),
        (
            "[node]\nregion = \"\"",
            "node.region = \"\": must be 1 to 64 letters, digits, '-', '_' or '.'",
        ),
        (
            "[node]\nzone = \"zone a\"",
            "node.zone = \"zone a\": must be 1 to 64 letters, digits, '-', '_' or '.'",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(text), expected, "for {text:?}");
    }
    let long = format!("[node]\nregion = \"{}\"", "r".repeat(65));
    assert!(error_of(&long).starts_with("node.region = \"rrr"));
    let fine =
        "[node]\nid = 0\nseeds = [\"[fd00::1]:7400\", \"db.example:1\"]\nregion = \"eu_west-1.a\"";
    Config::from_toml_str(fine).unwrap();
}

#[test]
fn tls_files_come_together() {
    assert_eq!(
        error_of("[tls]\nca_cert = \"ca.pem\"\nnode_cert = \"n.pem\""),
        "tls.node_key = (missing): tls.ca_cert, tls.node_cert and tls.node_key must be set together"
    );
    assert_eq!(
        error_of("[tls]\nnode_key = \"k.pem\""),
        "tls.ca_cert = (missing): tls.ca_cert, tls.node_cert and tls.node_key must be set together"
    );
    assert_eq!(
        error_of("[tls]\nca_cert = \"\"\nnode_cert = \"n\"\nnode_key = \"k\""),
        "tls.ca_cert = \"\": must be a non-empty path"
    );
}

#[test]
fn timeout_storage_and_policy_rules() {
    let cases = [
        ("[timeouts]\ngossip_interval_ms = 5", "timeouts.gossip_interval_ms = 5: must be between 10 and 60000"),
        ("[timeouts]\ngossip_interval_ms = 60001", "timeouts.gossip_interval_ms = 60001: must be between 10 and 60000"),
        ("[timeouts]\nlock_lease_ms = 99", "timeouts.lock_lease_ms = 99: must be between 100 and 600000"),
        ("[timeouts]\nanti_entropy_interval_ms = 50", "timeouts.anti_entropy_interval_ms = 50: must be 0 (off) or between 100 and 3600000"),
        ("[timeouts]\nrequest_timeout_ms = 0", "timeouts.request_timeout_ms = 0: must be between 10 and 600000"),
        ("[storage]\ncache_bytes = 1000", "storage.cache_bytes = 1000: must be between 1048576 and 1099511627776"),
        ("[storage]\ncheckpoint_interval_ms = 10", "storage.checkpoint_interval_ms = 10: must be between 1000 and 86400000"),
        ("[default_policy]\nreplication_factor = 0", "default_policy.replication_factor = 0: must be between 1 and 9"),
        ("[default_policy]\nreplication_factor = 10", "default_policy.replication_factor = 10: must be between 1 and 9"),
        (
            "[default_policy]\nregions = [\"eu\", \"eu\"]",
            "default_policy.regions[1] = \"eu\": is listed twice; list each region once",
        ),
        (
            "[metrics]\nconsole_user = \"vera lynn\"",
            "metrics.console_user = \"vera lynn\": must be 1 to 64 letters, digits, '-', '_' or '.'",
        ),
        (
            "[default_policy]\nregions = [\"eu west\"]",
            "default_policy.regions[0] = \"eu west\": must be 1 to 64 letters, digits, '-', '_' or '.'",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_of(text), expected, "for {text:?}");
    }
}

#[test]
fn environment_overrides_every_listed_key() {
    let pairs = env(&[
        ("ZERODB_NODE_ID", "12"),
        ("ZERODB_LISTEN", "10.1.2.3:7500"),
        ("ZERODB_DATA_DIR", "/data/z"),
        ("ZERODB_SEEDS", "a:1, b:2,,"),
        ("ZERODB_REGION", "us"),
        ("ZERODB_ZONE", "us-2"),
        ("ZERODB_TOKENS", "128"),
        ("ZERODB_TLS_CA_CERT", "ca"),
        ("ZERODB_TLS_NODE_CERT", "cert"),
        ("ZERODB_TLS_NODE_KEY", "key"),
        ("ZERODB_GOSSIP_INTERVAL_MS", "250"),
        ("ZERODB_LOCK_LEASE_MS", "3000"),
        ("ZERODB_REQUEST_TIMEOUT_MS", "9000"),
        ("ZERODB_ANTI_ENTROPY_INTERVAL_MS", "0"),
        ("ZERODB_STORAGE_ENGINE", "sled"),
        ("ZERODB_CACHE_BYTES", "2097152"),
        ("ZERODB_CHECKPOINT_INTERVAL_MS", "5000"),
        ("ZERODB_METRICS_ADDRESS", "127.0.0.1:9100"),
        ("ZERODB_CONSOLE_USER", "vera"),
        ("ZERODB_CONSISTENCY", "eventual"),
        ("ZERODB_REPLICATION_FACTOR", "5"),
        ("ZERODB_PARTITION_LEVEL", "record"),
        ("ZERODB_REGIONS", "us,eu"),
        ("ZERODB_SOMETHING_ELSE", "ignored"),
        ("PATH", "/bin"),
    ]);
    assert_eq!(pairs.len(), ENV_OVERRIDES.len() + 2);
    let c = Config::load_with_env(None, pairs).unwrap();
    assert_eq!(c.node.id, 12);
    assert_eq!(
        c.node.listen,
        "10.1.2.3:7500".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.node.data_dir, PathBuf::from("/data/z"));
    assert_eq!(c.node.seeds, vec!["a:1".to_string(), "b:2".to_string()]);
    assert_eq!(
        (c.node.region.as_str(), c.node.zone.as_str()),
        ("us", "us-2")
    );
    assert_eq!(c.node.tokens, 128);
    assert_eq!(c.tls.ca_cert, Some(PathBuf::from("ca")));
    assert_eq!(c.tls.node_cert, Some(PathBuf::from("cert")));
    assert_eq!(c.tls.node_key, Some(PathBuf::from("key")));
    assert_eq!(c.timeouts.gossip_interval_ms, 250);
    assert_eq!(c.timeouts.lock_lease_ms, 3000);
    assert_eq!(c.timeouts.request_timeout_ms, 9000);
    assert_eq!(c.timeouts.anti_entropy_interval_ms, 0);
    assert_eq!(c.storage.engine, StorageEngineKind::Sled);
    assert_eq!(c.storage.cache_bytes, 2 << 20);
    assert_eq!(c.storage.checkpoint_interval_ms, 5000);
    assert_eq!(c.metrics.address, Some("127.0.0.1:9100".parse().unwrap()));
    assert_eq!(c.metrics.console_user.as_deref(), Some("vera"));
    assert_eq!(c.default_policy.consistency, Consistency::Eventual);
    assert_eq!(c.default_policy.replication_factor, 5);
    assert_eq!(c.default_policy.partition_level, PartitionLevel::Record);
    assert_eq!(
        c.default_policy.regions,
        vec!["us".to_string(), "eu".to_string()]
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases = [
        (("ZERODB_NODE_ID", "abc"), "environment variable ZERODB_NODE_ID=abc: expected a node id from 0 to 4294967295"),
        (("ZERODB_LISTEN", "7400"), "environment variable ZERODB_LISTEN=7400: expected an IP address and port such as 0.0.0.0:7400"),
        (("ZERODB_STORAGE_ENGINE", "rocks"), "environment variable ZERODB_STORAGE_ENGINE=rocks: expected zerodb, sled or memory"),
        (("ZERODB_CONSISTENCY", "weak"), "environment variable ZERODB_CONSISTENCY=weak: expected strong or eventual"),
        (("ZERODB_PARTITION_LEVEL", "row"), "environment variable ZERODB_PARTITION_LEVEL=row: expected database, table or record"),
        (("ZERODB_LOCK_LEASE_MS", "2s"), "environment variable ZERODB_LOCK_LEASE_MS=2s: expected a whole number of milliseconds"),
        // Parses, but breaks a rule: still named by its variable.
        (("ZERODB_TOKENS", "0"), "environment variable ZERODB_TOKENS=0: node.tokens: must be between 1 and 4096"),
        (("ZERODB_SEEDS", "a:1,bad"), "environment variable ZERODB_SEEDS=a:1,bad: node.seeds[1]: must be host:port with a port from 1 to 65535, e.g. \"10.0.0.2:7400\""),
        (("ZERODB_REPLICATION_FACTOR", "12"), "environment variable ZERODB_REPLICATION_FACTOR=12: default_policy.replication_factor: must be between 1 and 9"),
    ];
    for ((name, value), expected) in cases {
        let error = Config::load_with_env(None, env(&[(name, value)])).unwrap_err();
        assert!(matches!(error, ConfigError::Env { .. }), "{error:?}");
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn later_environment_pairs_win_and_empty_values_clear_optional_keys() {
    let mut config = Config::from_toml_str("[metrics]\naddress = \"127.0.0.1:9000\"").unwrap();
    config
        .apply_env(env(&[
            ("ZERODB_METRICS_ADDRESS", ""),
            ("ZERODB_TOKENS", "0"),
            ("ZERODB_TOKENS", "32"),
            ("ZERODB_SEEDS", ""),
        ]))
        .unwrap();
    assert_eq!(config.metrics.address, None);
    assert_eq!(config.node.tokens, 32);
    assert!(config.node.seeds.is_empty());
}

#[test]
fn load_reads_the_file_then_applies_the_environment() {
    let path = std::env::temp_dir().join(format!("zerodb-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, "[node]\nid = 4\nzone = \"b\"\n").unwrap();
    let config = Config::load_with_env(Some(&path), env(&[("ZERODB_ZONE", "c")])).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((config.node.id, config.node.zone.as_str()), (4, "c"));
    let missing = Config::load_with_env(Some(&path), Vec::new()).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
    assert!(
        missing.to_string().contains("zerodb-config-test"),
        "{missing}"
    );
}

#[test]
fn a_bad_file_value_is_reported_by_key_even_with_unrelated_overrides() {
    let path = std::env::temp_dir().join(format!("zerodb-config-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "[node]\ntokens = 0\n").unwrap();
    let error = Config::load_with_env(Some(&path), env(&[("ZERODB_ZONE", "c")])).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        error.to_string(),
        "node.tokens = 0: must be between 1 and 4096"
    );
}

#[test]
fn policy_types_round_trip_through_toml_and_bincode() {
    let policy = NamespacePolicy {
        consistency: Consistency::Eventual,
        replication_factor: 5,
        partition_level: PartitionLevel::Table,
        regions: vec!["eu".to_string()],
    };
    let text = toml::to_string(&policy).unwrap();
    assert_eq!(toml::from_str::<NamespacePolicy>(&text).unwrap(), policy);
    let bytes = bincode::encode_to_vec(&policy, bincode::config::standard()).unwrap();
    let (back, _): (NamespacePolicy, usize) =
        bincode::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(back, policy);
}

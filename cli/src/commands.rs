//! The client commands (`get`, `put`, `del`, `scan`, `txn`, `status`,
//! `admin`): build a request, send it, print the answer as text or JSON.

use clap::Subcommand;
use serde_json::{json, Value};
use zerodb_txn::{ClientError, Level, OpResult, Request, Response, Ver, Versioned};

use super::connect::Session;
use super::exit::{self, CliError};
use super::meta;
use super::txn_text::{parse_json, parse_text, KeySpace};
use zerodb_node::api::{ClientRequest, ClientResponse, InfoReport, ScanQuery, StatusReport};

/// A command that talks to the cluster.
#[derive(Subcommand, Clone, Debug)]
pub enum ClientCommand {
    /// Read a key.
    Get {
        /// The record id.
        key: String,
        /// Replicas to wait for (eventual namespaces only).
        #[arg(long, value_enum)]
        level: Option<LevelChoice>,
    },
    /// Write a key.
    Put {
        /// The record id.
        key: String,
        /// The value (bytes of the argument).
        value: String,
        /// Replicas to wait for (eventual namespaces only).
        #[arg(long, value_enum)]
        level: Option<LevelChoice>,
        /// Expire the record this long after the write: 500ms, 30s, 10m,
        /// 2h, 7d, 1h30m. Eventual namespaces read it as absent from then
        /// on; strong ones once a quorum of its replicas' clocks passed it
        /// and the expiry sweep deleted it (within a few seconds).
        #[arg(long, value_parser = crate::ttl::parse_ttl)]
        ttl: Option<u64>,
    },
    /// Delete a key.
    #[command(alias = "delete")]
    Del {
        /// The record id.
        key: String,
        /// Replicas to wait for (eventual namespaces only).
        #[arg(long, value_enum)]
        level: Option<LevelChoice>,
    },
    /// List the records of the table (every node is asked; not
    /// linearizable: use a transaction to read keys consistently).
    Scan {
        /// First id (inclusive).
        #[arg(long, default_value = "")]
        start: String,
        /// End id (exclusive).
        #[arg(long)]
        end: Option<String>,
        /// Most records.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Run a transaction, e.g. 'get a; assert b == "x"; put c 1; incr d 5'.
    /// Operations: get K, put K V [ttl 30m], del K, incr K N, assert K exists|missing|== V|!= N|< N|<= N|> N|>= N.
    Txn {
        /// The transaction in the text form (or JSON with --input-json).
        text: String,
        /// TEXT is a JSON array: [{"op":"put","key":"c","value":"1"}, {"op":"incr","key":"d","by":5},
        /// {"op":"assert","key":"b","cond":"==","value":"x"}, ...].
        #[arg(long)]
        input_json: bool,
    },
    /// The cluster as a node sees it: members, health, regions, zones,
    /// ring epoch, and each member's share of the --ns namespace's data
    /// (its replication factor and regions).
    Status,
    /// Namespaces: create, alter, drop, list, show.
    Ns {
        /// What to do.
        #[command(subcommand)]
        action: meta::NsAction,
    },
    /// Users (client certificate names): create, drop, list.
    User {
        /// What to do.
        #[command(subcommand)]
        action: meta::UserAction,
    },
    /// Give a role: `grant owner|editor|viewer USER NAMESPACE`, or `grant admin USER`.
    Grant {
        /// owner, editor, viewer, or admin (cluster-wide).
        role: String,
        /// The user.
        user: String,
        /// The namespace (not for admin).
        namespace: Option<String>,
    },
    /// Take a role away: `revoke USER NAMESPACE`, or `revoke admin USER`.
    Revoke {
        /// The user, or `admin`.
        first: String,
        /// The namespace, or the user after `admin`.
        second: String,
    },
    /// Operator commands on the node connected to.
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
}

/// `zerodb admin ...`.
#[derive(Subcommand, Clone, Debug)]
pub enum AdminAction {
    /// Versions, requests and latencies, WAL and checkpoints, cache,
    /// transactions and locks, members up/down.
    Info,
    /// Checkpoint the node's storage engine.
    Checkpoint,
    /// Validate the node's storage engine.
    Validate,
}

/// `--level` of eventual reads and writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LevelChoice {
    /// One replica.
    One,
    /// A majority of the replicas.
    Quorum,
    /// Every replica.
    All,
}

impl LevelChoice {
    fn level(choice: Option<LevelChoice>) -> Level {
        match choice {
            None | Some(LevelChoice::One) => Level::One,
            Some(LevelChoice::Quorum) => Level::Quorum,
            Some(LevelChoice::All) => Level::All,
        }
    }
}

/// The metadata command `command` is, if it is one.
fn meta_command(command: &ClientCommand) -> Option<meta::MetaCommand> {
    Some(match command {
        ClientCommand::Ns { action } => meta::MetaCommand::Ns(action.clone()),
        ClientCommand::User { action } => meta::MetaCommand::User(action.clone()),
        ClientCommand::Grant {
            role,
            user,
            namespace,
        } => meta::MetaCommand::Grant {
            role: role.clone(),
            user: user.clone(),
            namespace: namespace.clone(),
        },
        ClientCommand::Revoke { first, second } => meta::MetaCommand::Revoke {
            first: first.clone(),
            second: second.clone(),
        },
        _ => return None,
    })
}

/// How values are printed.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
}

/// Text when the bytes are printable UTF-8, an integer for the 8-byte
/// form `incr` stores, hex otherwise.
fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_string(),
        _ => match zerodb_txn::request::decode_int(bytes) {
            Some(number) => number.to_string(),
            None => format!(
                "0x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        },
    }
}

fn show_condition(condition: &zerodb_txn::Condition) -> String {
    use zerodb_txn::Condition;
    match condition {
        Condition::Exists => "exists".into(),
        Condition::NotExists => "missing".into(),
        Condition::ValueEquals(value) => format!("== {:?}", show_bytes(value)),
        Condition::VersionEquals(version) => format!("version == {}", show_version(*version)),
        Condition::IntCompare { op, value } => format!("{op:?} {value}"),
        Condition::Expired => "expired".into(),
    }
}

fn error_text(error: &ClientError) -> String {
    match error {
        ClientError::ConditionFailed {
            key,
            condition,
            found,
        } => {
            let found = match found {
                Some(Versioned {
                    value: Some(value), ..
                }) => format!("{:?}", show_bytes(value)),
                _ => "no value".into(),
            };
            format!(
                "condition failed: {key} {}; found {found}; nothing was written",
                show_condition(condition)
            )
        }
        other => other.to_string(),
    }
}

fn show_version(version: Ver) -> String {
    let v = version;
    format!("{}.{}@n{}", v.physical_ms, v.logical, v.node)
}

fn versioned_json(found: &Option<Versioned>) -> Value {
    match found {
        Some(Versioned {
            version,
            value: Some(value),
            expires_at_ms,
        }) => {
            json!({"value": show_bytes(value), "version": show_version(*version), "expires_at_ms": expires_at_ms})
        }
        _ => Value::Null,
    }
}

/// Runs one client command over `session`; returns the exit code.
pub async fn run(
    command: &ClientCommand,
    session: &mut Session,
    space: &KeySpace,
    out: Output,
) -> Result<u8, CliError> {
    if let Some(meta) = meta_command(command) {
        return meta::run(&meta, session, out).await;
    }
    let request = build(command, space)?;
    let response = session.call(&request).await?;
    print_response(command, response, out)
}

fn build(command: &ClientCommand, space: &KeySpace) -> Result<ClientRequest, CliError> {
    Ok(match command {
        ClientCommand::Get { key, level } => ClientRequest::Data(Request::Get {
            key: space.key(key),
            level: LevelChoice::level(*level),
        }),
        ClientCommand::Put {
            key,
            value,
            level,
            ttl,
        } => ClientRequest::Data(Request::Put {
            key: space.key(key),
            value: value.as_bytes().to_vec(),
            level: LevelChoice::level(*level),
            ttl_ms: *ttl,
        }),
        ClientCommand::Del { key, level } => ClientRequest::Data(Request::Delete {
            key: space.key(key),
            level: LevelChoice::level(*level),
        }),
        ClientCommand::Scan { start, end, limit } => ClientRequest::Scan(ScanQuery {
            namespace: space.namespace.clone(),
            database: space.database.clone(),
            table: space.table.clone(),
            start: start.as_bytes().to_vec(),
            end: end.as_ref().map(|end| end.as_bytes().to_vec()),
            limit: (*limit).min(zerodb_node::api::SCAN_LIMIT_MAX),
        }),
        ClientCommand::Txn { text, input_json } => {
            let ops = if *input_json {
                parse_json(text, space)
            } else {
                parse_text(text, space)
            }
            .map_err(CliError::usage)?;
            ClientRequest::Data(Request::Txn { ops })
        }
        ClientCommand::Status => ClientRequest::NamespaceStatus(space.namespace.clone()),
        ClientCommand::Ns { .. }
        | ClientCommand::User { .. }
        | ClientCommand::Grant { .. }
        | ClientCommand::Revoke { .. } => {
            return Err(CliError::usage("metadata commands run through meta::run"))
        }
        ClientCommand::Admin { action } => match action {
            AdminAction::Info => ClientRequest::Info,
            AdminAction::Checkpoint => ClientRequest::Checkpoint,
            AdminAction::Validate => ClientRequest::Validate,
        },
    })
}

fn print_json(value: Value) {
    println!("{value}");
}

fn print_response(
    command: &ClientCommand,
    response: ClientResponse,
    out: Output,
) -> Result<u8, CliError> {
    match response {
        ClientResponse::Data(Response::Error(error)) => Err(data_error(error, out)),
        ClientResponse::Error(error) => Err(CliError::new(
            exit::service_error_code(&error),
            error.to_string(),
        )),
        ClientResponse::Data(Response::Value(found)) => {
            let live = matches!(&found, Some(Versioned { value: Some(_), .. }));
            if out.json {
                print_json(versioned_json(&found));
            } else if let Some(Versioned {
                value: Some(value), ..
            }) = &found
            {
                println!("{}", show_bytes(value));
            } else {
                eprintln!("(not found)");
            }
            Ok(if live { exit::OK } else { exit::NOT_FOUND })
        }
        ClientResponse::Data(Response::Written { version }) => {
            if out.json {
                print_json(json!({"ok": true, "version": show_version(version)}));
            } else {
                println!("OK ({})", show_version(version));
            }
            Ok(exit::OK)
        }
        ClientResponse::Data(Response::Committed { version, results }) => {
            print_committed(version, &results, out);
            Ok(exit::OK)
        }
        ClientResponse::Scan(entries) => {
            if out.json {
                let items: Vec<Value> = entries
                    .iter()
                    .map(|e| json!({"key": show_bytes(&e.id), "value": e.value.value.as_deref().map(show_bytes), "version": show_version(e.value.version)}))
                    .collect();
                print_json(Value::Array(items));
            } else {
                for entry in &entries {
                    let value = entry
                        .value
                        .value
                        .as_deref()
                        .map(show_bytes)
                        .unwrap_or_default();
                    println!("{}\t{}", show_bytes(&entry.id), value);
                }
                eprintln!("({} records)", entries.len());
            }
            Ok(exit::OK)
        }
        ClientResponse::Status(status) => {
            print_status(&status, out);
            Ok(exit::OK)
        }
        ClientResponse::Info(info) => {
            print_info(&info, out);
            Ok(exit::OK)
        }
        ClientResponse::Validate(report) => {
            if out.json {
                print_json(
                    json!({"pages_checked": report.pages_checked, "records": report.records, "problems": report.problems}),
                );
            } else {
                println!(
                    "pages checked: {}, records: {}",
                    report.pages_checked, report.records
                );
                for problem in &report.problems {
                    println!("problem: {problem}");
                }
                println!(
                    "{}",
                    if report.problems.is_empty() {
                        "OK"
                    } else {
                        "PROBLEMS FOUND"
                    }
                );
            }
            Ok(if report.problems.is_empty() {
                exit::OK
            } else {
                exit::INTERNAL
            })
        }
        ClientResponse::Done => {
            if out.json {
                print_json(json!({"ok": true}));
            } else {
                println!("OK");
            }
            Ok(exit::OK)
        }
        #[allow(unreachable_patterns)]
        other => Err(CliError::new(
            exit::INTERNAL,
            format!("unexpected answer to {command:?}: {other:?}"),
        )),
    }
}

fn data_error(error: ClientError, out: Output) -> CliError {
    let code = exit::client_error_code(&error);
    if out.json {
        print_json(json!({"error": error_text(&error), "code": code}));
    }
    CliError::new(code, error_text(&error))
}

fn print_committed(version: Ver, results: &[OpResult], out: Output) {
    let items: Vec<Value> = results
        .iter()
        .map(|result| match result {
            OpResult::Value(found) => versioned_json(found),
            OpResult::Int(n) => json!(n),
            OpResult::Written => json!("written"),
            OpResult::Checked => json!("checked"),
        })
        .collect();
    if out.json {
        print_json(json!({"committed": show_version(version), "results": items}));
        return;
    }
    println!("COMMITTED ({})", show_version(version));
    for (index, result) in results.iter().enumerate() {
        let text = match result {
            OpResult::Value(Some(Versioned { value: Some(v), .. })) => show_bytes(v),
            OpResult::Value(_) => "(not found)".to_string(),
            OpResult::Int(n) => n.to_string(),
            OpResult::Written => "written".to_string(),
            OpResult::Checked => "checked".to_string(),
        };
        println!("  {}: {text}", index + 1);
    }
}

fn print_status(status: &StatusReport, out: Output) {
    if out.json {
        let members: Vec<Value> = status
            .members
            .iter()
            .map(|m| json!({"id": m.id, "address": m.address, "region": m.region, "zone": m.zone,
                "tokens": m.tokens, "ownership_percent": f64::from(m.ownership_ppm) / 10_000.0, "up": m.up,
                "health": m.health, "catalog_version": m.catalog_version}))
            .collect();
        print_json(json!({"node": status.node, "ring_epoch": status.ring_epoch,
            "replication_factor": status.replication_factor, "replica_status": status.replica_status,
            "members": members, "local_records": status.local_records}));
        return;
    }
    println!(
        "seen from n{} (replica {}), ring epoch {}, replication factor {}",
        status.node, status.replica_status, status.ring_epoch, status.replication_factor
    );
    println!(
        "{:<6}{:<24}{:<12}{:<12}{:>7}{:>11}  {:<8} catalog",
        "node", "address", "region", "zone", "tokens", "owns", "health"
    );
    for m in &status.members {
        println!(
            "{:<6}{:<24}{:<12}{:<12}{:>7}{:>10.1}%  {:<8} v{}",
            format!("n{}", m.id),
            m.address,
            m.region,
            m.zone,
            m.tokens,
            f64::from(m.ownership_ppm) / 10_000.0,
            match (m.up, m.health.as_str()) {
                (true, "suspect") => "suspect",
                (true, _) => "up",
                (false, _) => "DOWN",
            },
            m.catalog_version
        );
    }
    if let Some(held) = status.local_records {
        let at_least = if held as usize >= zerodb_node::core::purge::LOCAL_COUNT_MAX {
            "at least "
        } else {
            ""
        };
        println!(
            "n{} holds {at_least}{held} records of this namespace (tombstones included)",
            status.node
        );
    }
}

fn print_info(info: &InfoReport, out: Output) {
    if out.json {
        print_json(serde_json::to_value(InfoJson(info)).unwrap_or(Value::Null));
        return;
    }
    println!(
        "node n{}  zerodb {}  protocol {}  engine {}  up {}s",
        info.node, info.version, info.protocol_version, info.engine, info.uptime_seconds
    );
    println!(
        "requests: {} ({} errors)  latency p50 {}us p99 {}us p99.9 {}us; last 10-20 s p50 {}us p99 {}us",
        info.requests,
        info.request_errors,
        info.latency_p50_us,
        info.latency_p99_us,
        info.latency_p999_us,
        info.recent_latency_p50_us,
        info.recent_latency_p99_us
    );
    println!(
        "transactions: {} committed, {} aborted, {} in flight; locks held {}",
        info.committed, info.aborted, info.in_flight, info.locks_held
    );
    println!(
        "expiry: {} passes; {} eventual records swept into tombstones, {} strong records deleted",
        info.expiry_passes, info.expired_tombstoned, info.expiring_deletes_committed
    );
    println!(
        "batches synced: {} for {} inputs",
        info.batches_synced, info.inputs_handled
    );
    println!(
        "blind writes: {} on the fast path, {} on the classic path",
        info.fast_path_commits, info.classic_path_commits
    );
    println!(
        "storage: {} records, {} bytes on disk, WAL {} bytes at position {}, {} checkpoints",
        info.records, info.disk_bytes, info.wal_bytes, info.wal_position, info.checkpoints
    );
    println!("{}", space_line(info));
    let lookups = info.cache_hits + info.cache_misses;
    let rate = if lookups == 0 {
        0.0
    } else {
        info.cache_hits as f64 * 100.0 / lookups as f64
    };
    println!(
        "cache: {} bytes, hit rate {rate:.1}% ({} hits, {} misses)",
        info.cache_bytes, info.cache_hits, info.cache_misses
    );
    println!(
        "members: {} up, {} down",
        info.members_up, info.members_down
    );
}

/// The data file against the live data in it: whether disk use tracks
/// the data. Engines that cannot tell what is live show the file alone.
fn space_line(info: &InfoReport) -> String {
    if info.live_bytes == 0 {
        return format!("data file: {} bytes", info.file_bytes);
    }
    format!(
        "data file: {} bytes = {} live + {} garbage (free pages) + {} other; {:.2}x the live bytes",
        info.file_bytes,
        info.live_bytes,
        info.garbage_bytes,
        info.file_bytes
            .saturating_sub(info.live_bytes + info.garbage_bytes),
        info.file_bytes as f64 / info.live_bytes as f64
    )
}

/// JSON view of an [`InfoReport`].
struct InfoJson<'a>(&'a InfoReport);

impl serde::Serialize for InfoJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        json!({
            "node": i.node, "version": i.version, "protocol_version": i.protocol_version,
            "engine": i.engine, "uptime_seconds": i.uptime_seconds, "requests": i.requests,
            "request_errors": i.request_errors, "latency_p50_us": i.latency_p50_us,
            "latency_p99_us": i.latency_p99_us, "latency_p999_us": i.latency_p999_us,
            "committed": i.committed, "aborted": i.aborted, "in_flight": i.in_flight,
            "locks_held": i.locks_held, "batches_synced": i.batches_synced,
            "fast_path_commits": i.fast_path_commits,
            "classic_path_commits": i.classic_path_commits,
            "inputs_handled": i.inputs_handled, "records": i.records, "disk_bytes": i.disk_bytes,
            "wal_bytes": i.wal_bytes, "wal_position": i.wal_position, "checkpoints": i.checkpoints,
            "cache_bytes": i.cache_bytes, "cache_hits": i.cache_hits, "cache_misses": i.cache_misses,
            "members_up": i.members_up, "members_down": i.members_down,
            "file_bytes": i.file_bytes, "live_bytes": i.live_bytes,
            "garbage_bytes": i.garbage_bytes,
            "recent_latency_p50_us": i.recent_latency_p50_us,
            "recent_latency_p99_us": i.recent_latency_p99_us,
            "expiry_passes": i.expiry_passes, "expired_tombstoned": i.expired_tombstoned,
            "expiring_deletes_committed": i.expiring_deletes_committed,
        })
        .serialize(serializer)
    }
}

//! `zerodb ns ...`, `zerodb user ...`, `zerodb grant`, `zerodb revoke`:
//! read the catalog record with a strong get, change it, and write it back
//! with the strong transaction `assert version == V; put catalog'` (the
//! node checks the change and the caller's rights). A concurrent change
//! fails the assert; the command then re-reads and retries.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
use zerodb_txn::{ClientError, Condition, Level, Op, Request, Response, Versioned};

use super::commands::Output;
use super::connect::Session;
use super::exit::{self, CliError};
use zerodb_node::api::{ClientRequest, ClientResponse};
use zerodb_node::core::catalog::{catalog_key, Catalog, CatalogError, Role};

/// Attempts of a catalog change that lost a race with another change.
const CHANGE_ATTEMPTS_MAX: usize = 5;

/// `--consistency`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConsistencyArg {
    /// Quorum transactions, linearizable.
    Strong,
    /// Last writer wins, highly available.
    Eventual,
}

/// `--partition-level`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LevelArg {
    /// A whole database on one replica ring.
    Database,
    /// A table on one replica ring.
    Table,
    /// Records spread over the cluster.
    Record,
}

/// Policy flags of `ns create` and `ns alter` (unset ones keep the
/// current or default value).
#[derive(Args, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// strong or eventual.
    #[arg(long, value_enum)]
    pub consistency: Option<ConsistencyArg>,
    /// Replication factor.
    #[arg(long)]
    pub rf: Option<usize>,
    /// database, table or record.
    #[arg(long, value_enum)]
    pub partition_level: Option<LevelArg>,
    /// Comma-separated regions the data is pinned to ("" for none).
    #[arg(long)]
    pub regions: Option<String>,
}

impl PolicyArgs {
    fn apply(&self, policy: &mut NamespacePolicy) {
        if let Some(consistency) = self.consistency {
            policy.consistency = match consistency {
                ConsistencyArg::Strong => Consistency::Strong,
                ConsistencyArg::Eventual => Consistency::Eventual,
            };
        }
        if let Some(rf) = self.rf {
            policy.replication_factor = rf;
        }
        if let Some(level) = self.partition_level {
            policy.partition_level = match level {
                LevelArg::Database => PartitionLevel::Database,
                LevelArg::Table => PartitionLevel::Table,
                LevelArg::Record => PartitionLevel::Record,
            };
        }
        if let Some(regions) = &self.regions {
            policy.regions = regions
                .split(',')
                .map(str::trim)
                .filter(|region| !region.is_empty())
                .map(str::to_string)
                .collect();
        }
    }
}

/// `zerodb ns ...`.
#[derive(Subcommand, Clone, Debug)]
pub enum NsAction {
    /// Create a namespace (cluster admins).
    Create {
        /// Its name.
        name: String,
        /// Its policy (defaults: strong, RF 3, partitioned by database, no regions).
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Change a namespace's policy; only the consistency can change while
    /// data cannot move between nodes.
    Alter {
        /// Its name.
        name: String,
        /// The new settings.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Drop a namespace, every role in it and its records on every node;
    /// the name is not used again.
    Drop {
        /// Its name.
        name: String,
    },
    /// List the namespaces.
    List,
    /// Show one namespace's policy and roles.
    Show {
        /// Its name.
        name: String,
    },
}

/// `zerodb user ...`.
#[derive(Subcommand, Clone, Debug)]
pub enum UserAction {
    /// Add a user (the name of its client certificate, see `zerodb certs client`).
    Create {
        /// The user.
        name: String,
        /// Make it a cluster admin.
        #[arg(long)]
        admin: bool,
    },
    /// Remove a user.
    Drop {
        /// The user.
        name: String,
    },
    /// List users and their roles.
    List,
}

/// A metadata command.
#[derive(Clone, Debug)]
pub enum MetaCommand {
    /// `ns ...`.
    Ns(NsAction),
    /// `user ...`.
    User(UserAction),
    /// `grant ROLE USER NS`.
    Grant {
        /// owner, editor, viewer or admin.
        role: String,
        /// The user.
        user: String,
        /// The namespace (not for admin).
        namespace: Option<String>,
    },
    /// `revoke USER NS` (or `revoke admin USER`).
    Revoke {
        /// The user, or `admin`.
        first: String,
        /// The namespace, or the user after `admin`.
        second: String,
    },
}

fn catalog_error(error: CatalogError) -> CliError {
    CliError::usage(error.to_string())
}

/// Reads the catalog and the version of its record.
async fn read(session: &mut Session) -> Result<(Catalog, zerodb_txn::Ver), CliError> {
    let request = ClientRequest::Data(Request::Get {
        key: catalog_key(),
        level: Level::One,
    });
    match session.call(&request).await? {
        ClientResponse::Data(Response::Value(Some(Versioned {
            version,
            value: Some(bytes),
            ..
        }))) => Ok((
            Catalog::decode(&bytes).map_err(|e| CliError::new(exit::INTERNAL, e.to_string()))?,
            version,
        )),
        ClientResponse::Data(Response::Value(_)) => Err(CliError::new(
            exit::UNAVAILABLE,
            "the cluster has not written its metadata yet; retry in a moment",
        )),
        other => Err(unexpected(other)),
    }
}

fn unexpected(response: ClientResponse) -> CliError {
    match response {
        ClientResponse::Data(Response::Error(error)) => {
            CliError::new(exit::client_error_code(&error), error.to_string())
        }
        ClientResponse::Error(error) => {
            CliError::new(exit::service_error_code(&error), error.to_string())
        }
        other => CliError::new(exit::INTERNAL, format!("unexpected answer {other:?}")),
    }
}

/// Reads, changes with `change`, writes back; retries lost races.
async fn change(
    session: &mut Session,
    change: impl Fn(&mut Catalog) -> Result<(), CatalogError>,
) -> Result<Catalog, CliError> {
    let key = catalog_key();
    for _ in 0..CHANGE_ATTEMPTS_MAX {
        let (current, version) = read(session).await?;
        let mut next = current.clone();
        change(&mut next).map_err(catalog_error)?;
        next.version = current.version + 1;
        let ops = vec![
            Op::Assert(key.clone(), Condition::VersionEquals(version)),
            Op::Put(key.clone(), next.encode()),
        ];
        let request = ClientRequest::Data(Request::Txn { ops });
        match session.call(&request).await? {
            ClientResponse::Data(Response::Committed { .. }) => return Ok(next),
            ClientResponse::Data(Response::Error(ClientError::ConditionFailed { .. })) => {
                tracing::debug!("the catalog changed concurrently; retrying");
            }
            other => return Err(unexpected(other)),
        }
    }
    Err(CliError::new(
        exit::CONFLICT,
        format!("the catalog kept changing during {CHANGE_ATTEMPTS_MAX} attempts; retry"),
    ))
}

fn policy_json(policy: &NamespacePolicy) -> Value {
    json!({"consistency": policy.consistency.to_string(), "rf": policy.replication_factor,
        "partition_level": policy.partition_level.to_string(), "regions": policy.regions})
}

fn policy_text(policy: &NamespacePolicy) -> String {
    let regions = if policy.regions.is_empty() {
        "any".to_string()
    } else {
        policy.regions.join(",")
    };
    format!(
        "{:<9} rf {:<2} partition {:<9} regions {regions}",
        policy.consistency.to_string(),
        policy.replication_factor,
        policy.partition_level.to_string()
    )
}

fn done(out: Output, what: String, catalog: &Catalog) -> u8 {
    if out.json {
        println!(
            "{}",
            json!({"ok": true, "catalog_version": catalog.version})
        );
    } else {
        println!("OK: {what} (catalog version {})", catalog.version);
    }
    exit::OK
}

/// Runs a metadata command.
pub async fn run(
    command: &MetaCommand,
    session: &mut Session,
    out: Output,
) -> Result<u8, CliError> {
    match command {
        MetaCommand::Ns(action) => ns(action, session, out).await,
        MetaCommand::User(action) => user(action, session, out).await,
        MetaCommand::Grant {
            role,
            user,
            namespace,
        } => {
            let catalog = if role == "admin" {
                change(session, |c| c.set_admin(user, true)).await?
            } else {
                let role = Role::parse(role).map_err(catalog_error)?;
                let namespace = namespace.as_deref().ok_or_else(|| {
                    CliError::usage("grant ROLE USER NAMESPACE: name the namespace")
                })?;
                change(session, |c| c.grant(user, namespace, role)).await?
            };
            Ok(done(out, format!("granted {role} to {user}"), &catalog))
        }
        MetaCommand::Revoke { first, second } => {
            let catalog = if first == "admin" {
                change(session, |c| c.set_admin(second, false)).await?
            } else {
                change(session, |c| c.revoke(first, second)).await?
            };
            Ok(done(out, format!("revoked {first} {second}"), &catalog))
        }
    }
}

async fn ns(action: &NsAction, session: &mut Session, out: Output) -> Result<u8, CliError> {
    match action {
        NsAction::Create { name, policy } => {
            let mut chosen = NamespacePolicy::default();
            policy.apply(&mut chosen);
            let catalog = change(session, |c| c.create_namespace(name, chosen.clone())).await?;
            Ok(done(
                out,
                format!("namespace {name} created: {}", policy_text(&chosen)),
                &catalog,
            ))
        }
        NsAction::Alter { name, policy } => {
            let catalog = change(session, |c| {
                let mut next = c
                    .policy(name)
                    .cloned()
                    .ok_or_else(|| CatalogError::NoNamespace(name.clone()))?;
                policy.apply(&mut next);
                c.alter_namespace(name, next)
            })
            .await?;
            let shown = catalog.policy(name).map(policy_text).unwrap_or_default();
            Ok(done(out, format!("namespace {name}: {shown}"), &catalog))
        }
        NsAction::Drop { name } => {
            let catalog = change(session, |c| c.drop_namespace(name)).await?;
            Ok(done(out, format!("namespace {name} dropped"), &catalog))
        }
        NsAction::List => {
            let (catalog, _) = read(session).await?;
            if out.json {
                let items: Vec<Value> = catalog
                    .namespaces
                    .iter()
                    .map(|(name, policy)| json!({"name": name, "policy": policy_json(policy)}))
                    .collect();
                println!(
                    "{}",
                    json!({"catalog_version": catalog.version, "namespaces": items})
                );
            } else {
                for (name, policy) in &catalog.namespaces {
                    println!("{name:<20} {}", policy_text(policy));
                }
                eprintln!(
                    "({} namespaces, catalog version {})",
                    catalog.namespaces.len(),
                    catalog.version
                );
            }
            Ok(exit::OK)
        }
        NsAction::Show { name } => {
            let (catalog, _) = read(session).await?;
            let policy = catalog.policy(name).ok_or_else(|| {
                CliError::new(
                    exit::NOT_FOUND,
                    CatalogError::NoNamespace(name.clone()).to_string(),
                )
            })?;
            let roles: Vec<(String, Role)> = catalog
                .users
                .iter()
                .filter_map(|(user, entry)| entry.roles.get(name).map(|role| (user.clone(), *role)))
                .collect();
            if out.json {
                let roles: Vec<Value> = roles
                    .iter()
                    .map(|(user, role)| json!({"user": user, "role": role.to_string()}))
                    .collect();
                println!(
                    "{}",
                    json!({"name": name, "policy": policy_json(policy), "roles": roles, "catalog_version": catalog.version})
                );
            } else {
                println!("{name}: {}", policy_text(policy));
                for (user, role) in roles {
                    println!("  {user}: {role}");
                }
            }
            Ok(exit::OK)
        }
    }
}

async fn user(action: &UserAction, session: &mut Session, out: Output) -> Result<u8, CliError> {
    match action {
        UserAction::Create { name, admin } => {
            let catalog = change(session, |c| c.create_user(name, *admin)).await?;
            Ok(done(out, format!("user {name} created"), &catalog))
        }
        UserAction::Drop { name } => {
            let catalog = change(session, |c| c.drop_user(name)).await?;
            Ok(done(out, format!("user {name} dropped"), &catalog))
        }
        UserAction::List => {
            let (catalog, _) = read(session).await?;
            if out.json {
                let items: Vec<Value> = catalog
                    .users
                    .iter()
                    .map(|(name, entry)| {
                        let roles: serde_json::Map<String, Value> = entry
                            .roles
                            .iter()
                            .map(|(ns, role)| (ns.clone(), json!(role.to_string())))
                            .collect();
                        json!({"name": name, "admin": entry.admin, "roles": roles})
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"catalog_version": catalog.version, "users": items})
                );
            } else {
                for (name, entry) in &catalog.users {
                    let roles: Vec<String> = entry
                        .roles
                        .iter()
                        .map(|(ns, role)| format!("{ns}:{role}"))
                        .collect();
                    println!(
                        "{name:<20} {}{}",
                        if entry.admin { "admin " } else { "" },
                        roles.join(" ")
                    );
                }
            }
            Ok(exit::OK)
        }
    }
}

//! Every request a client or a peer sends a node ([`ClientRequest`]) and
//! who may send it: the core decides, the driver only carries the answer.
//!
//! | request | who may send it |
//! |---|---|
//! | `Data` | anyone the catalog gate admits ([`super::metadata`]) |
//! | `Scan` | nodes; users with the read permission on the namespace |
//! | `LocalScan` | nodes only (one part of another node's scan) |
//! | `Status`, `NamespaceStatus`, `Info` | anyone |
//! | `Checkpoint`, `Validate` | nodes; users who are cluster admins |
//! | `Query`, `Execute` | anyone: each read and the commit it makes as the caller pass the gate |
//! | `Prepare` | anyone: it parses, reading no data |
//!
//! `Info` (the driver's figures) and `Validate` (an engine feature of the
//! runtime's engines) are answered by the driver once
//! [`NodeCore::authorize`] allows them; `Query`, `Prepare` and `Execute`
//! (zeroql) are run by the runtime as a client of this core; the core
//! answers the rest.

use zerodb_config::NamespacePolicy;
use zerodb_ring::{partition_token, NodeId, Token};
use zerodb_storage::Engine;
use zerodb_txn::{ClientId, Key, KeyExt};

use super::catalog::{Catalog, CatalogError, Permission, SYSTEM_NAMESPACE};
use super::metadata::Caller;
use super::{NodeCore, Output};
use crate::api::{ClientRequest, ClientResponse, ServiceError, StatusReport};

/// Why a request that only a node may send was refused.
const NODES_ONLY: &str = "local scans are for nodes; use a scan";

impl<E: Engine> NodeCore<E> {
    /// A request from `caller` (a client's or a peer's), answered with an
    /// [`Output::Reply`] to `client` now or later.
    pub fn handle_client_request(
        &mut self,
        now_ms: u64,
        client: ClientId,
        caller: Caller,
        request: ClientRequest,
    ) -> Vec<Output> {
        if let ClientRequest::Data(request) = request {
            return self.handle_data_request(now_ms, client, caller, request);
        }
        let response = match self.authorize(&caller, &request) {
            Err(error) => ClientResponse::Error(error),
            Ok(()) => match request {
                ClientRequest::Data(_) => unreachable!("handled above"),
                ClientRequest::Scan(query) => {
                    self.start_scan(now_ms, client, &caller, query);
                    return self.finish(now_ms, Vec::new());
                }
                ClientRequest::LocalScan(query) => match self.local_scan(&query) {
                    Ok(entries) => ClientResponse::Scan(entries),
                    Err(error) => ClientResponse::Error(error),
                },
                ClientRequest::Status => ClientResponse::Status(self.status(now_ms)),
                ClientRequest::NamespaceStatus(namespace) => {
                    match self.namespace_status(now_ms, &namespace) {
                        Ok(status) => ClientResponse::Status(status),
                        Err(reason) => ClientResponse::Error(ServiceError::Refused { reason }),
                    }
                }
                ClientRequest::Checkpoint => match self.txn.engine_mut().checkpoint() {
                    Ok(()) => ClientResponse::Done,
                    Err(error) => ClientResponse::Error(ServiceError::Storage(error.to_string())),
                },
                ClientRequest::Info | ClientRequest::Validate => {
                    ClientResponse::Error(ServiceError::Refused {
                        reason: "this node's driver answers info and validate requests".into(),
                    })
                }
                ClientRequest::Query(_)
                | ClientRequest::Prepare(_)
                | ClientRequest::Execute(_) => ClientResponse::Error(ServiceError::Refused {
                    reason: "this node's driver runs zeroql queries (the node core runs their reads and commits)".into(),
                }),
            },
        };
        self.outbox.push(Output::Reply { client, response });
        self.finish(now_ms, Vec::new())
    }

    /// Whether `caller` may send `request` (see the module docs). Data
    /// requests pass here; the catalog gate judges them.
    pub fn authorize(&self, caller: &Caller, request: &ClientRequest) -> Result<(), ServiceError> {
        let refused = |reason: String| ServiceError::Refused { reason };
        match request {
            ClientRequest::Data(_)
            | ClientRequest::Query(_)
            | ClientRequest::Prepare(_)
            | ClientRequest::Execute(_)
            | ClientRequest::Status
            | ClientRequest::NamespaceStatus(_)
            | ClientRequest::Info => Ok(()),
            ClientRequest::Scan(query) => {
                self.check_read(caller, &query.namespace).map_err(refused)
            }
            ClientRequest::LocalScan(_) => match caller {
                Caller::Node => Ok(()),
                Caller::User(_) => Err(refused(NODES_ONLY.into())),
            },
            ClientRequest::Checkpoint | ClientRequest::Validate => self
                .check_admin(
                    caller,
                    "checkpointing or validating a node's storage engine",
                )
                .map_err(refused),
        }
    }

    /// Whether `caller` is a node or a cluster admin (`action` names what
    /// needs it, for the refusal).
    fn check_admin(&self, caller: &Caller, action: &str) -> Result<(), String> {
        let Caller::User(user) = caller else {
            return Ok(());
        };
        let Some(catalog) = self.metadata.catalog() else {
            return Err("this node has not loaded the cluster metadata yet; retry".into());
        };
        if catalog.is_admin(user) {
            return Ok(());
        }
        Err(CatalogError::NotAdmin {
            user: user.clone(),
            action: action.into(),
        }
        .to_string())
    }

    /// Whether `caller` may read `namespace` now (scans, which are not
    /// parked): the namespace must be in the cached catalog and the caller
    /// must hold the read permission there.
    pub fn check_read(&self, caller: &Caller, namespace: &str) -> Result<(), String> {
        let Some(catalog) = self.metadata.catalog() else {
            return Err("this node has not loaded the cluster metadata yet; retry".into());
        };
        if namespace == SYSTEM_NAMESPACE {
            return match caller {
                Caller::User(user) if !catalog.is_admin(user) => Err(format!(
                    "user {user:?} is not a cluster admin, which scanning the system namespace needs"
                )),
                _ => Ok(()),
            };
        }
        if catalog.policy(namespace).is_none() {
            return Err(CatalogError::NoNamespace(namespace.into()).to_string());
        }
        match caller {
            Caller::User(user) => catalog
                .check(user, namespace, Permission::Read)
                .map_err(|error| error.to_string()),
            Caller::Node => Ok(()),
        }
    }

    /// The cluster as this node sees it, with each member's share of
    /// `namespace`'s data under its policy (a pinned namespace's data lives
    /// only on nodes of its regions) and the number of the namespace's
    /// records this node holds.
    pub fn namespace_status(
        &mut self,
        now_ms: u64,
        namespace: &str,
    ) -> Result<StatusReport, String> {
        let policy = self
            .policies
            .namespaces
            .get(namespace)
            .ok_or_else(|| CatalogError::NoNamespace(namespace.into()).to_string())?;
        let mut report = self.status_with(now_ms, policy);
        let held = super::purge::count_namespace(
            self.txn.engine_mut(),
            namespace,
            super::purge::LOCAL_COUNT_MAX,
        )
        .map_err(|error| format!("counting the records of {namespace:?} failed: {error}"))?;
        report.local_records = Some(held);
        Ok(report)
    }

    /// The replication factor of `namespace` (the default policy's when
    /// it is unknown).
    pub fn replication_factor_of(&self, namespace: &str) -> usize {
        self.policies.get(namespace).replication_factor
    }

    /// The cached catalog (for status and tests).
    pub fn catalog(&self) -> Option<&Catalog> {
        self.metadata.catalog()
    }

    /// Where `key`'s partition lives under its namespace's policy: its
    /// ring token and its replica ring in ring order (the console's key
    /// box). A namespace the cached catalog lacks is an error, never the
    /// default policy's guess.
    pub fn placement_of(&self, key: &Key) -> Result<KeyPlacement, PlacementError> {
        if self.metadata.catalog().is_none() {
            return Err(PlacementError::NotLoaded);
        }
        let Some(policy) = self.policies.namespaces.get(&key.namespace) else {
            return Err(PlacementError::Unknown(CatalogError::NoNamespace(
                key.namespace.clone(),
            )));
        };
        let token = partition_token(&key.record_key(), policy.partition_level);
        let replicas = self
            .ring
            .replicas(token, policy.replication_factor, &policy.regions)
            .map_err(|error| PlacementError::Unplaceable {
                namespace: key.namespace.clone(),
                reason: error.to_string(),
            })?;
        Ok(KeyPlacement {
            token,
            policy: policy.clone(),
            replicas,
        })
    }
}

/// Why a key's placement cannot be told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// The node has no catalog yet, so it knows no namespace's policy.
    #[error("this node has not loaded the cluster metadata yet; retry in a moment")]
    NotLoaded,
    /// The namespace is not in the catalog.
    #[error(transparent)]
    Unknown(CatalogError),
    /// The ring cannot place the namespace's partitions.
    #[error("namespace {namespace:?} cannot be placed on this ring: {reason}")]
    Unplaceable {
        /// The namespace.
        namespace: String,
        /// The ring's reason.
        reason: String,
    },
}

/// Where a key's partition lives ([`NodeCore::placement_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPlacement {
    /// The partition's token.
    pub token: Token,
    /// The namespace's policy (partition level, RF, regions).
    pub policy: NamespacePolicy,
    /// The replica ring, in ring order.
    pub replicas: Vec<NodeId>,
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;

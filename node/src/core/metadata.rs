//! A node's cached, versioned copy of the cluster [`Catalog`] and the gate
//! every client request passes: the namespace must exist in the copy, the
//! caller must hold the permission, the operation must fit the
//! namespace's consistency.
//!
//! - **Loading.** The copy is read with an ordinary strong `Get` of
//!   [`catalog_key`], issued by the node itself under an internal client id:
//!   at start, when gossip shows a peer holding a newer version
//!   ([`Metadata::learned`]; every node advertises the version it holds),
//!   on a miss, and every [`REFRESH_INTERVAL_MS`] as a backstop. A cluster
//!   whose catalog record does not exist yet gets the genesis catalog
//!   written by a strong `assert missing; put` (the first node wins).
//! - **Misses.** A request for a namespace (or a permission) the copy does
//!   not show is parked until a refresh *started after it* completes, then
//!   admitted or refused with an error naming the namespace. Until the
//!   first load every request is parked (at most [`PARK_MS_MAX`]).
//! - **Writes.** A client changes the catalog with the transaction
//!   `assert catalog version == V; put catalog'`; the gate checks that `V`
//!   is the version it holds and that the change is one the caller may make
//!   ([`Catalog::check_change`]); on commit the node installs the new copy.
//!
//! Sans-IO like the rest of the core: time comes in as `now_ms`.

use std::collections::BTreeMap;

use zerodb_config::{Consistency, NamespacePolicy, PartitionLevel};
use zerodb_ring::{Ring, Token};
use zerodb_txn::{
    ClientError, ClientId, Condition, Level, Op, Policies, Request, Response, Ver, Versioned,
};

use super::catalog::{catalog_key, Catalog, CatalogError, Permission, SYSTEM_NAMESPACE};
use super::request_shape::check_consistency;
pub use super::request_shape::{namespaces_of, writes};

/// Client ids at and above this are the node's own requests.
pub const INTERNAL_CLIENT_BASE: u64 = 1 << 63;
/// Period of the background refresh of the copy: a backstop only, since
/// gossip tells every node of a newer version within a few gossip rounds.
pub const REFRESH_INTERVAL_MS: u64 = 30_000;
/// Delay before retrying a refresh that failed.
pub const REFRESH_RETRY_MS: u64 = 200;
/// Longest a request waits for the catalog before it is refused.
pub const PARK_MS_MAX: u64 = 5_000;
/// Most parked requests; beyond it, requests needing a refresh are refused.
pub const PARKED_MAX: usize = 10_000;
/// Largest replication factor of the `system` namespace.
pub const SYSTEM_RF_MAX: usize = 5;
/// The placement version strong messages carry: policies that change
/// placement (RF, partition level, regions) are never altered in place, so
/// adding or dropping namespaces keeps every existing partition's replica
/// ring and the version stays the same.
pub const PLACEMENT_VERSION: u64 = 1;

/// One of the node's own requests, to hand to the transaction layer.
pub type Internal = (ClientId, Request);
/// An answer to a client.
pub type Answer = (ClientId, Response);

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Another node or the node's own driver: trusted, but still only for
    /// namespaces the catalog shows.
    Node,
    /// A client acting for this user (its certificate's name).
    User(String),
}

impl Caller {
    fn user(&self) -> Option<&str> {
        match self {
            Caller::Node => None,
            Caller::User(user) => Some(user),
        }
    }
}

/// What the gate decided about a request.
#[derive(Debug)]
pub enum Admission {
    /// Hand it to the transaction layer.
    Pass(Request),
    /// Wait for a refresh of the catalog.
    Park(Request),
    /// Answer with this error.
    Refuse(ClientError),
}

/// A request waiting for a refresh.
#[derive(Debug)]
pub struct Parked {
    /// The client's id.
    pub client: ClientId,
    /// Who sent it.
    pub caller: Caller,
    /// The request.
    pub request: Request,
    /// When it was parked.
    pub since_ms: u64,
    /// The refresh ticket whose completion it waits for.
    ticket: u64,
}

/// The cached catalog and its refresh state.
#[derive(Debug)]
pub struct Metadata {
    catalog: Option<Catalog>,
    /// Version of the catalog record the copy came from.
    record: Ver,
    default_policy: NamespacePolicy,
    system_policy: NamespacePolicy,
    /// Last refresh ticket issued.
    tickets: u64,
    /// Ticket of the last refresh that loaded the catalog.
    loaded: u64,
    refresh: Option<(ClientId, u64)>,
    genesis_write: Option<ClientId>,
    refresh_due_ms: u64,
    /// The highest catalog version a peer advertised.
    wanted: u64,
    parked: Vec<Parked>,
    writes: BTreeMap<ClientId, Catalog>,
    next_internal: u64,
}

fn bad(reason: String) -> ClientError {
    ClientError::BadRequest { reason }
}

impl Metadata {
    /// A node of a cluster of `cluster_size` members whose new namespaces
    /// start from `default_policy`; nothing is loaded yet.
    pub fn new(default_policy: NamespacePolicy, cluster_size: usize) -> Metadata {
        Metadata {
            catalog: None,
            record: Ver::ZERO,
            default_policy,
            system_policy: NamespacePolicy {
                consistency: Consistency::Strong,
                replication_factor: cluster_size.clamp(1, SYSTEM_RF_MAX),
                partition_level: PartitionLevel::Database,
                regions: Vec::new(),
            },
            tickets: 0,
            loaded: 0,
            refresh: None,
            genesis_write: None,
            refresh_due_ms: 0,
            wanted: 0,
            parked: Vec::new(),
            writes: BTreeMap::new(),
            next_internal: INTERNAL_CLIENT_BASE,
        }
    }

    /// The copy, once loaded.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// The catalog version held (0 before the first load).
    pub fn version(&self) -> u64 {
        self.catalog.as_ref().map_or(0, |catalog| catalog.version)
    }

    /// The policies the transaction layer places and routes by.
    pub fn policies(&self) -> Policies {
        let mut namespaces = self
            .catalog
            .as_ref()
            .map(|catalog| catalog.namespaces.clone())
            .unwrap_or_default();
        namespaces.insert(SYSTEM_NAMESPACE.to_string(), self.system_policy.clone());
        Policies {
            version: PLACEMENT_VERSION,
            default: self.default_policy.clone(),
            namespaces,
        }
    }

    /// Whether `client` is one of the node's own requests.
    pub fn is_internal(client: ClientId) -> bool {
        client.0 >= INTERNAL_CLIENT_BASE
    }

    fn internal_id(&mut self) -> ClientId {
        let id = ClientId(self.next_internal);
        self.next_internal = self.next_internal.wrapping_add(1).max(INTERNAL_CLIENT_BASE);
        id
    }

    /// Starts a refresh unless one is in flight; returns the request to
    /// hand to the transaction layer.
    fn start_refresh(&mut self) -> Option<(ClientId, Request)> {
        if self.refresh.is_some() || self.genesis_write.is_some() {
            return None;
        }
        self.tickets += 1;
        let client = self.internal_id();
        self.refresh = Some((client, self.tickets));
        Some((
            client,
            Request::Get {
                key: catalog_key(),
                level: Level::One,
            },
        ))
    }

    /// Periodic work: a refresh when one is due, and the parked requests
    /// that waited too long (answered with an error).
    pub fn tick(&mut self, now_ms: u64) -> (Vec<Internal>, Vec<Answer>) {
        let mut requests = Vec::new();
        // Parked requests start their own refresh and a completed refresh
        // starts the next one they need; a failed one waits for its retry
        // delay, so an unreachable system namespace is not polled per tick.
        if now_ms >= self.refresh_due_ms {
            if let Some(request) = self.start_refresh() {
                self.refresh_due_ms = now_ms + REFRESH_INTERVAL_MS;
                requests.push(request);
            }
        }
        let mut expired = Vec::new();
        let mut index = 0;
        while index < self.parked.len() {
            if now_ms.saturating_sub(self.parked[index].since_ms) >= PARK_MS_MAX {
                let parked = self.parked.remove(index);
                let namespaces: Vec<String> = namespaces_of(&parked.request)
                    .iter()
                    .map(|namespace| format!("{namespace:?}"))
                    .collect();
                let held = match self.version() {
                    0 => "has not loaded the cluster metadata yet".to_string(),
                    version => format!(
                        "holds cluster metadata version {version}, which does not show the namespace or the caller's role"
                    ),
                };
                let reason = format!(
                    "refusing the request for namespace {}: this node {held}, and the metadata could not be read within {PARK_MS_MAX} ms (too few replicas of the {SYSTEM_NAMESPACE} namespace reachable?); retry",
                    namespaces.join(", ")
                );
                expired.push((parked.client, Response::Error(bad(reason))));
            } else {
                index += 1;
            }
        }
        (requests, expired)
    }

    /// Parks a request until a refresh that starts after now completes;
    /// returns the refresh to start, if one must start.
    pub fn park(
        &mut self,
        now_ms: u64,
        client: ClientId,
        caller: Caller,
        request: Request,
    ) -> Result<Option<Internal>, Box<ClientError>> {
        if self.parked.len() >= PARKED_MAX {
            let reason =
                format!("{PARKED_MAX} requests already wait for the cluster metadata; retry later");
            return Err(Box::new(bad(reason)));
        }
        let (ticket, start) = match self.refresh {
            Some((_, in_flight)) => (in_flight + 1, None),
            None => {
                let start = self.start_refresh();
                (self.tickets, start)
            }
        };
        self.parked.push(Parked {
            client,
            caller,
            request,
            since_ms: now_ms,
            ticket,
        });
        Ok(start)
    }

    /// The parked requests whose refresh has completed (to admit again,
    /// this time refusing on a miss).
    pub fn take_ready(&mut self) -> Vec<Parked> {
        let loaded = self.loaded;
        let (ready, waiting) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|parked| parked.ticket <= loaded);
        self.parked = waiting;
        ready
    }

    /// A peer holds catalog `version`: refresh soon if it is newer than
    /// the copy (at the next tick; after the refresh in flight, which may
    /// have started before the change), and again after
    /// [`REFRESH_RETRY_MS`] until the copy has caught up.
    pub fn learned(&mut self, now_ms: u64, version: u64) {
        self.wanted = self.wanted.max(version);
        if version > self.version() {
            self.refresh_due_ms = self.refresh_due_ms.min(now_ms);
        }
    }

    /// Whether a peer advertised a newer catalog than the copy.
    pub fn behind(&self) -> bool {
        self.wanted > self.version()
    }

    /// Handles the answer to one of the node's own requests; returns
    /// further requests to issue, and whether the copy changed.
    pub fn internal_reply(
        &mut self,
        now_ms: u64,
        client: ClientId,
        response: Response,
    ) -> (Vec<(ClientId, Request)>, bool) {
        if self.genesis_write == Some(client) {
            // Won or lost the race to write the genesis catalog: read back.
            self.genesis_write = None;
            if let Response::Error(error) = &response {
                if !matches!(error, ClientError::ConditionFailed { .. }) {
                    tracing::debug!(%error, "writing the genesis catalog failed; will retry");
                    self.refresh_due_ms = now_ms + REFRESH_RETRY_MS;
                    return (Vec::new(), false);
                }
            }
            return (self.start_refresh().into_iter().collect(), false);
        }
        let Some((_, ticket)) = self.refresh.filter(|(id, _)| *id == client) else {
            return (Vec::new(), false);
        };
        self.refresh = None;
        match response {
            Response::Value(Some(Versioned {
                version,
                value: Some(bytes),
                ..
            })) => match Catalog::decode(&bytes) {
                Ok(catalog) => {
                    let changed = self.install(catalog, version);
                    self.loaded = ticket;
                    if self.behind() {
                        // The read started before the advertised version
                        // committed: read again shortly.
                        self.refresh_due_ms = now_ms + REFRESH_RETRY_MS;
                    }
                    let more = if self.parked.iter().any(|p| p.ticket > self.loaded) {
                        self.start_refresh().into_iter().collect()
                    } else {
                        Vec::new()
                    };
                    (more, changed)
                }
                Err(error) => {
                    tracing::error!(%error, "the catalog record does not decode; keeping the cached copy");
                    self.refresh_due_ms = now_ms + REFRESH_RETRY_MS;
                    (Vec::new(), false)
                }
            },
            Response::Value(_) => {
                let key = catalog_key();
                let genesis = Catalog::genesis(self.default_policy.clone());
                let client = self.internal_id();
                self.genesis_write = Some(client);
                let ops = vec![
                    Op::Assert(key.clone(), Condition::NotExists),
                    Op::Put(key, genesis.encode()),
                ];
                (vec![(client, Request::Txn { ops })], false)
            }
            Response::Error(error) => {
                tracing::debug!(%error, "reading the catalog failed; will retry");
                self.refresh_due_ms = now_ms + REFRESH_RETRY_MS;
                (Vec::new(), false)
            }
            other => {
                tracing::warn!(?other, "unexpected answer to a catalog read");
                self.refresh_due_ms = now_ms + REFRESH_RETRY_MS;
                (Vec::new(), false)
            }
        }
    }

    /// Installs `catalog` read at record version `record` if it is newer
    /// than the copy; returns whether it was.
    fn install(&mut self, catalog: Catalog, record: Ver) -> bool {
        let newer = match &self.catalog {
            None => true,
            Some(current) => catalog.version > current.version,
        };
        if newer {
            tracing::info!(version = catalog.version, "cluster metadata loaded");
            self.catalog = Some(catalog);
            self.record = record;
        } else if record > self.record
            && self.catalog.as_ref().map(|c| c.version) == Some(catalog.version)
        {
            self.record = record;
        }
        newer
    }

    /// Sees a reply to a client: a committed catalog write installs its
    /// catalog. Returns whether the copy changed.
    pub fn client_reply(&mut self, client: ClientId, response: &Response) -> bool {
        let Some(catalog) = self.writes.remove(&client) else {
            return false;
        };
        match response {
            Response::Committed { version, .. } => self.install(catalog, *version),
            _ => false,
        }
    }

    /// The gate. `replay`: the request already waited for a refresh, so a
    /// miss is final.
    pub fn admit(
        &mut self,
        client: ClientId,
        caller: &Caller,
        request: Request,
        ring: &Ring,
        replay: bool,
    ) -> Admission {
        let Some(catalog) = &self.catalog else {
            return Admission::Park(request);
        };
        let namespaces = namespaces_of(&request);
        if namespaces.iter().any(|ns| ns == SYSTEM_NAMESPACE) {
            return self.admit_system(client, caller, request, ring, replay);
        }
        let miss = |error: CatalogError, request: Request| {
            if replay {
                Admission::Refuse(bad(error.to_string()))
            } else {
                Admission::Park(request)
            }
        };
        let permission = if writes(&request) {
            Permission::Write
        } else {
            Permission::Read
        };
        let mut consistencies = Vec::new();
        for namespace in &namespaces {
            let Some(policy) = catalog.policy(namespace) else {
                return miss(CatalogError::NoNamespace(namespace.clone()), request);
            };
            if let Some(user) = caller.user() {
                if let Err(error) = catalog.check(user, namespace, permission) {
                    return miss(error, request);
                }
            }
            consistencies.push((namespace.clone(), policy.consistency));
        }
        match check_consistency(&request, &consistencies) {
            Ok(()) => Admission::Pass(request),
            Err(reason) => Admission::Refuse(bad(reason)),
        }
    }

    /// Requests touching the `system` namespace: anyone known may read the
    /// catalog; the catalog is written only in the checked form; other
    /// system keys are for admins.
    fn admit_system(
        &mut self,
        client: ClientId,
        caller: &Caller,
        request: Request,
        ring: &Ring,
        replay: bool,
    ) -> Admission {
        let catalog = self.catalog.as_ref().expect("admit checked the load");
        let key = catalog_key();
        if let Some(user) = caller.user() {
            if !catalog.users.contains_key(user) {
                let error = CatalogError::NoUser(user.into());
                return if replay {
                    Admission::Refuse(bad(error.to_string()))
                } else {
                    Admission::Park(request)
                };
            }
        }
        match &request {
            Request::Get { key: read, .. } if *read == key => return Admission::Pass(request),
            Request::Txn { ops } if ops.iter().any(|op| *op.key() == key) => {}
            _ => {
                let touches_catalog = match &request {
                    Request::Put { key: k, .. } | Request::Delete { key: k, .. } => *k == key,
                    _ => false,
                };
                if touches_catalog {
                    return Admission::Refuse(bad(
                        "the catalog is changed only by `assert version; put` transactions (use zerodb ns/user/grant/revoke)".into(),
                    ));
                }
                return match caller.user() {
                    Some(user) if !catalog.is_admin(user) => {
                        Admission::Refuse(bad(CatalogError::NotAdmin {
                            user: user.into(),
                            action: format!("touching the {SYSTEM_NAMESPACE} namespace"),
                        }
                        .to_string()))
                    }
                    _ => Admission::Pass(request),
                };
            }
        }
        let Request::Txn { ops } = &request else {
            unreachable!("matched a transaction above")
        };
        let (read_version, bytes) = match ops.as_slice() {
            [Op::Assert(a, condition), Op::Put(p, bytes)] if *a == key && *p == key => {
                match condition {
                    Condition::VersionEquals(version) => (*version, bytes.clone()),
                    Condition::NotExists => (Ver::ZERO, bytes.clone()),
                    _ => return Admission::Refuse(bad(catalog_write_shape())),
                }
            }
            _ => return Admission::Refuse(bad(catalog_write_shape())),
        };
        let Some(user) = caller.user() else {
            return Admission::Refuse(bad("nodes do not write the catalog".into()));
        };
        if read_version != self.record {
            return if replay {
                Admission::Refuse(bad(format!(
                    "the catalog changed since it was read (this node holds version {}); re-read it and retry",
                    catalog.version
                )))
            } else {
                Admission::Park(request)
            };
        }
        let next = match Catalog::decode(&bytes) {
            Ok(next) => next,
            Err(error) => return Admission::Refuse(bad(error.to_string())),
        };
        if let Err(error) = catalog.check_change(&next, user) {
            return Admission::Refuse(bad(error.to_string()));
        }
        for (name, policy) in &next.namespaces {
            if catalog.namespaces.contains_key(name) {
                continue;
            }
            if let Err(error) = ring.replicas(Token(0), policy.replication_factor, &policy.regions)
            {
                return Admission::Refuse(bad(format!(
                    "namespace {name:?} cannot be placed with replication factor {} in regions {:?}: {error}",
                    policy.replication_factor, policy.regions
                )));
            }
        }
        self.writes.insert(client, next);
        Admission::Pass(request)
    }
}

fn catalog_write_shape() -> String {
    "a catalog write must be exactly `assert catalog version == V; put catalog` (use zerodb ns/user/grant/revoke)".into()
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
pub(super) mod tests;

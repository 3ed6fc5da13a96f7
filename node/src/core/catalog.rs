//! Cluster metadata (DESIGN.md section 9): namespace policies, users and
//! their roles, as one versioned [`Catalog`].
//!
//! The catalog is stored as one record of the `system` namespace
//! ([`catalog_key`]), which is strong and partitioned by database, so a
//! change is an ordinary strong transaction on one key: `assert version ==
//! V; put catalog'` (optimistic concurrency: a concurrent change makes the
//! assert fail and the writer re-reads). One record means one strong read
//! gives a consistent snapshot of every policy and role.
//!
//! This module is pure: building, changing, checking and encoding
//! catalogs. Keeping a node's cached copy fresh is [`super::metadata`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bincode::{Decode, Encode};
use zerodb_config::{Consistency, NamespacePolicy};
use zerodb_txn::Key;

use super::catalog_change::check_alter;

/// The namespace holding cluster metadata.
pub const SYSTEM_NAMESPACE: &str = "system";
/// The namespace every new cluster has (the quick start uses it).
pub const DEFAULT_NAMESPACE: &str = "default";
/// The user a new cluster makes cluster admin (`zerodb dev` issues its
/// client certificate).
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// Format byte in front of an encoded catalog.
const CATALOG_FORMAT: u8 = 2;
/// The format before dropped names were kept (read, never written).
const CATALOG_FORMAT_V1: u8 = 1;
/// Longest namespace or user name, bytes.
pub const NAME_LEN_MAX: usize = 63;
/// Most namespaces in a catalog (the catalog is one record).
pub const NAMESPACES_MAX: usize = 1_000;
/// Most names of dropped namespaces a catalog keeps.
pub const DROPPED_MAX: usize = 10_000;
/// Most users in a catalog.
pub const USERS_MAX: usize = 1_000;

/// The key of the catalog record.
pub fn catalog_key() -> Key {
    Key::new(SYSTEM_NAMESPACE, "catalog", "meta", "catalog")
}

/// A user's role in one namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and writes.
    Editor,
    /// Reads, writes, alters or drops the namespace and grants roles in it.
    Owner,
}

impl Role {
    /// Whether the role includes `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Write => self >= Role::Editor,
            Permission::Manage => self == Role::Owner,
        }
    }

    /// Parses `owner`, `editor` or `viewer`.
    pub fn parse(text: &str) -> Result<Role, CatalogError> {
        match text {
            "owner" => Ok(Role::Owner),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            other => Err(CatalogError::BadRole(other.to_string())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        })
    }
}

/// What a request needs in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Read records.
    Read,
    /// Write records.
    Write,
    /// Alter or drop the namespace, grant roles in it.
    Manage,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Manage => "manage",
        })
    }
}

/// A user: cluster admin or not, and a role per namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct UserEntry {
    /// Cluster admin: every permission everywhere, creates namespaces and
    /// users.
    pub admin: bool,
    /// Role per namespace.
    pub roles: BTreeMap<String, Role>,
}

/// The cluster metadata.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Catalog {
    /// Bumped by one on every change.
    pub version: u64,
    /// Namespace policies (the `system` namespace is implicit).
    pub namespaces: BTreeMap<String, NamespacePolicy>,
    /// Users by certificate name.
    pub users: BTreeMap<String, UserEntry>,
    /// Names of dropped namespaces. Every node removes their records when
    /// it installs a catalog listing them; a dropped name is never used
    /// again, because a node that was down during the drop may still hold
    /// records that a new namespace of that name would show.
    pub dropped: BTreeSet<String>,
}

/// A catalog as format 1 wrote it (no dropped names).
#[derive(Decode)]
struct CatalogV1 {
    version: u64,
    namespaces: BTreeMap<String, NamespacePolicy>,
    users: BTreeMap<String, UserEntry>,
}

/// A catalog change or check that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// No such namespace.
    #[error("namespace {0:?} does not exist; an admin creates it with `zerodb ns create {0}`")]
    NoNamespace(String),
    /// The namespace exists already.
    #[error("namespace {0:?} exists already; use `zerodb ns alter {0}` to change it")]
    NamespaceExists(String),
    /// No such user.
    #[error(
        "user {0:?} is not known to the cluster; an admin adds it with `zerodb user create {0}`"
    )]
    NoUser(String),
    /// The user exists already.
    #[error("user {0:?} exists already")]
    UserExists(String),
    /// A reserved or malformed name.
    #[error("bad name {name:?}: {why}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// Not a role.
    #[error("unknown role {0:?}: use owner, editor or viewer")]
    BadRole(String),
    /// A policy value that cannot work.
    #[error("bad policy for namespace {namespace:?}: {why}")]
    BadPolicy {
        /// The namespace.
        namespace: String,
        /// What is wrong.
        why: String,
    },
    /// An alter that would have to move data.
    #[error("cannot change {what} of namespace {namespace:?} from {from} to {to}: it moves data between nodes, which needs range streaming (not built yet); create a new namespace with the policy you want and copy the data")]
    WouldMoveData {
        /// The namespace.
        namespace: String,
        /// Which setting.
        what: &'static str,
        /// Current value.
        from: String,
        /// Requested value.
        to: String,
    },
    /// The user may not do this.
    #[error("user {user:?} lacks the {permission} permission on namespace {namespace:?}{held}")]
    Denied {
        /// The user.
        user: String,
        /// The namespace (`*` for cluster-wide).
        namespace: String,
        /// The missing permission.
        permission: String,
        /// What the user holds there, as text (may be empty).
        held: String,
    },
    /// A cluster-wide action needs the admin role.
    #[error("user {user:?} is not a cluster admin, which {action} needs")]
    NotAdmin {
        /// The user.
        user: String,
        /// What was tried.
        action: String,
    },
    /// The name belonged to a dropped namespace.
    #[error("namespace name {0:?} belonged to a dropped namespace and is not used again (a node that missed the drop may still hold its records); choose another name")]
    NameRetired(String),
    /// The catalog record does not decode.
    #[error("catalog record is malformed: {0}")]
    Malformed(String),
    /// Too many entries.
    #[error("catalog full: at most {max} {what}")]
    Full {
        /// Namespaces or users.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A write's new catalog is not the next version of the current one.
    #[error("catalog version {found} is not the next one after {current}; re-read the catalog and retry")]
    Stale {
        /// Version the node holds.
        current: u64,
        /// Version the write carried.
        found: u64,
    },
}

/// Checks a namespace or user name: 1 to 63 of `a-z 0-9 _ -`, starting
/// with a letter or digit.
pub fn check_name(name: &str) -> Result<(), CatalogError> {
    let bad = |why: &str| CatalogError::BadName {
        name: name.to_string(),
        why: why.to_string(),
    };
    if name.is_empty() || name.len() > NAME_LEN_MAX {
        return Err(bad("use 1 to 63 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(bad("use lowercase letters, digits, '_' and '-'"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("start with a letter or digit"));
    }
    Ok(())
}

pub(super) fn check_policy(namespace: &str, policy: &NamespacePolicy) -> Result<(), CatalogError> {
    let bad = |why: String| CatalogError::BadPolicy {
        namespace: namespace.to_string(),
        why,
    };
    if policy.replication_factor == 0 {
        return Err(bad("the replication factor must be at least 1".into()));
    }
    for region in &policy.regions {
        if region.is_empty() {
            return Err(bad("a region name is empty".into()));
        }
    }
    Ok(())
}

impl Catalog {
    /// The catalog of a new cluster: the `default` namespace with
    /// `default_policy`, and [`BOOTSTRAP_ADMIN`] as cluster admin.
    pub fn genesis(default_policy: NamespacePolicy) -> Catalog {
        Catalog {
            version: 1,
            namespaces: BTreeMap::from([(DEFAULT_NAMESPACE.to_string(), default_policy)]),
            users: BTreeMap::from([(
                BOOTSTRAP_ADMIN.to_string(),
                UserEntry {
                    admin: true,
                    roles: BTreeMap::new(),
                },
            )]),
            dropped: BTreeSet::new(),
        }
    }

    /// The record bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![CATALOG_FORMAT];
        let body = bincode::encode_to_vec(self, bincode::config::standard())
            .expect("encoding a catalog into a vector cannot fail");
        out.extend_from_slice(&body);
        out
    }

    /// Decodes record bytes.
    pub fn decode(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        match bytes.split_first() {
            Some((&CATALOG_FORMAT, body)) => decode_whole(body),
            Some((&CATALOG_FORMAT_V1, body)) => {
                let old: CatalogV1 = decode_whole(body)?;
                Ok(Catalog {
                    version: old.version,
                    namespaces: old.namespaces,
                    users: old.users,
                    dropped: BTreeSet::new(),
                })
            }
            Some((format, _)) => Err(CatalogError::Malformed(format!(
                "format {format} unknown (this node reads {CATALOG_FORMAT})"
            ))),
            None => Err(CatalogError::Malformed("empty record".into())),
        }
    }

    /// The policy of `namespace`, if it exists.
    pub fn policy(&self, namespace: &str) -> Option<&NamespacePolicy> {
        self.namespaces.get(namespace)
    }

    /// Adds a namespace.
    pub fn create_namespace(
        &mut self,
        name: &str,
        policy: NamespacePolicy,
    ) -> Result<(), CatalogError> {
        check_name(name)?;
        if name == SYSTEM_NAMESPACE {
            return Err(CatalogError::BadName {
                name: name.into(),
                why: "reserved for cluster metadata".into(),
            });
        }
        if self.namespaces.contains_key(name) {
            return Err(CatalogError::NamespaceExists(name.into()));
        }
        if self.dropped.contains(name) {
            return Err(CatalogError::NameRetired(name.into()));
        }
        if self.namespaces.len() >= NAMESPACES_MAX {
            return Err(CatalogError::Full {
                what: "namespaces",
                max: NAMESPACES_MAX,
            });
        }
        check_policy(name, &policy)?;
        self.namespaces.insert(name.into(), policy);
        Ok(())
    }

    /// Changes a namespace's policy; only changes that move no data
    /// (consistency) are allowed.
    pub fn alter_namespace(
        &mut self,
        name: &str,
        policy: NamespacePolicy,
    ) -> Result<(), CatalogError> {
        let current = self
            .namespaces
            .get(name)
            .ok_or_else(|| CatalogError::NoNamespace(name.into()))?;
        check_alter(name, current, &policy)?;
        self.namespaces.insert(name.into(), policy);
        Ok(())
    }

    /// Removes a namespace and every role in it, and retires its name:
    /// each node removes the namespace's records when it installs the
    /// changed catalog.
    pub fn drop_namespace(&mut self, name: &str) -> Result<(), CatalogError> {
        if !self.namespaces.contains_key(name) {
            return Err(CatalogError::NoNamespace(name.into()));
        }
        if self.dropped.len() >= DROPPED_MAX {
            return Err(CatalogError::Full {
                what: "dropped namespace names",
                max: DROPPED_MAX,
            });
        }
        self.namespaces.remove(name);
        self.dropped.insert(name.into());
        for user in self.users.values_mut() {
            user.roles.remove(name);
        }
        Ok(())
    }

    /// Adds a user.
    pub fn create_user(&mut self, name: &str, admin: bool) -> Result<(), CatalogError> {
        check_name(name)?;
        if self.users.contains_key(name) {
            return Err(CatalogError::UserExists(name.into()));
        }
        if self.users.len() >= USERS_MAX {
            return Err(CatalogError::Full {
                what: "users",
                max: USERS_MAX,
            });
        }
        self.users.insert(
            name.into(),
            UserEntry {
                admin,
                roles: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Removes a user.
    pub fn drop_user(&mut self, name: &str) -> Result<(), CatalogError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| CatalogError::NoUser(name.into()))
    }

    /// Gives `user` `role` in `namespace` (replacing a previous role).
    pub fn grant(&mut self, user: &str, namespace: &str, role: Role) -> Result<(), CatalogError> {
        if !self.namespaces.contains_key(namespace) {
            return Err(CatalogError::NoNamespace(namespace.into()));
        }
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| CatalogError::NoUser(user.into()))?;
        entry.roles.insert(namespace.into(), role);
        Ok(())
    }

    /// Takes `user`'s role in `namespace` away.
    pub fn revoke(&mut self, user: &str, namespace: &str) -> Result<(), CatalogError> {
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| CatalogError::NoUser(user.into()))?;
        entry.roles.remove(namespace);
        Ok(())
    }

    /// Makes `user` a cluster admin or not.
    pub fn set_admin(&mut self, user: &str, admin: bool) -> Result<(), CatalogError> {
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| CatalogError::NoUser(user.into()))?;
        entry.admin = admin;
        Ok(())
    }

    /// Whether `user` is a cluster admin.
    pub fn is_admin(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|entry| entry.admin)
    }

    /// Checks that `user` holds `permission` in `namespace`.
    pub fn check(
        &self,
        user: &str,
        namespace: &str,
        permission: Permission,
    ) -> Result<(), CatalogError> {
        let entry = self
            .users
            .get(user)
            .ok_or_else(|| CatalogError::NoUser(user.into()))?;
        if entry.admin {
            return Ok(());
        }
        let role = entry.roles.get(namespace).copied();
        if role.is_some_and(|role| role.allows(permission)) {
            return Ok(());
        }
        Err(CatalogError::Denied {
            user: user.into(),
            namespace: namespace.into(),
            permission: permission.to_string(),
            held: match role {
                Some(role) => format!(" (its role there is {role})"),
                None => " (it has no role there)".into(),
            },
        })
    }
}

/// Text form of a consistency for messages.
pub fn consistency_name(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Strong => "strong",
        Consistency::Eventual => "eventual",
    }
}

/// Decodes a whole body (trailing bytes are an error).
fn decode_whole<T: bincode::Decode<()>>(body: &[u8]) -> Result<T, CatalogError> {
    let (value, used): (T, usize) = bincode::decode_from_slice(body, bincode::config::standard())
        .map_err(|error| CatalogError::Malformed(error.to_string()))?;
    if used != body.len() {
        return Err(CatalogError::Malformed(format!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    Ok(value)
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;

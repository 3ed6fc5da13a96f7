//! Whether a proposed catalog is a change of the current one that the
//! writing user may make ([`Catalog::check_change`]), and which policy
//! changes would move data ([`check_alter`]).

use std::collections::BTreeMap;

use zerodb_config::NamespacePolicy;

use super::catalog::{
    check_name, check_policy, Catalog, CatalogError, Permission, DROPPED_MAX, NAMESPACES_MAX,
    SYSTEM_NAMESPACE, USERS_MAX,
};

impl Catalog {
    /// Checks that `next` is a change of `self` that `user` may make:
    /// the next version, valid names and policies, no alter that moves
    /// data, namespaces and users changed only by admins, roles changed by
    /// admins or owners of their namespace.
    pub fn check_change(&self, next: &Catalog, user: &str) -> Result<(), CatalogError> {
        if next.version != self.version + 1 {
            return Err(CatalogError::Stale {
                current: self.version,
                found: next.version,
            });
        }
        let admin = self.is_admin(user);
        let not_admin = |action: String| CatalogError::NotAdmin {
            user: user.into(),
            action,
        };
        if next.namespaces.len() > NAMESPACES_MAX || next.users.len() > USERS_MAX {
            return Err(CatalogError::Full {
                what: "namespaces or users",
                max: NAMESPACES_MAX.min(USERS_MAX),
            });
        }
        for (name, policy) in &next.namespaces {
            match self.namespaces.get(name) {
                None => {
                    check_name(name)?;
                    if name == SYSTEM_NAMESPACE {
                        return Err(CatalogError::BadName {
                            name: name.clone(),
                            why: "reserved for cluster metadata".into(),
                        });
                    }
                    check_policy(name, policy)?;
                    if !admin {
                        return Err(not_admin(format!("creating namespace {name:?}")));
                    }
                }
                Some(current) if current != policy => {
                    check_alter(name, current, policy)?;
                    self.check(user, name, Permission::Manage)?;
                }
                Some(_) => {}
            }
        }
        for name in self.namespaces.keys() {
            if !next.namespaces.contains_key(name) {
                self.check(user, name, Permission::Manage)?;
                if !next.dropped.contains(name) {
                    return Err(CatalogError::Malformed(format!(
                        "namespace {name:?} is removed but not listed as dropped (its records would never be removed); use `zerodb ns drop`"
                    )));
                }
            }
        }
        if next.dropped.len() > DROPPED_MAX {
            return Err(CatalogError::Full {
                what: "dropped namespace names",
                max: DROPPED_MAX,
            });
        }
        if let Some(name) = self.dropped.difference(&next.dropped).next() {
            return Err(CatalogError::NameRetired(name.clone()));
        }
        for name in next.dropped.difference(&self.dropped) {
            if !self.namespaces.contains_key(name) || next.namespaces.contains_key(name) {
                return Err(CatalogError::Malformed(format!(
                    "{name:?} is listed as dropped but was not dropped by this change"
                )));
            }
        }
        for name in next.namespaces.keys() {
            if self.dropped.contains(name) {
                return Err(CatalogError::NameRetired(name.clone()));
            }
        }
        for (name, entry) in &next.users {
            let before = self.users.get(name);
            if before.is_none_or(|before| before.admin != entry.admin) && !admin {
                return Err(not_admin(format!(
                    "adding user {name:?} or changing its admin flag"
                )));
            }
            if before.is_none() {
                check_name(name)?;
            }
            let empty = BTreeMap::new();
            let roles_before = before.map_or(&empty, |before| &before.roles);
            for (namespace, role) in &entry.roles {
                if !next.namespaces.contains_key(namespace) {
                    return Err(CatalogError::NoNamespace(namespace.clone()));
                }
                if roles_before.get(namespace) != Some(role) {
                    self.check(user, namespace, Permission::Manage)?;
                }
            }
            for namespace in roles_before.keys() {
                if !entry.roles.contains_key(namespace) && next.namespaces.contains_key(namespace) {
                    self.check(user, namespace, Permission::Manage)?;
                }
            }
        }
        for name in self.users.keys() {
            if !next.users.contains_key(name) && !admin {
                return Err(not_admin(format!("removing user {name:?}")));
            }
        }
        Ok(())
    }
}

/// Refuses policy changes that would move data.
pub(super) fn check_alter(
    name: &str,
    current: &NamespacePolicy,
    next: &NamespacePolicy,
) -> Result<(), CatalogError> {
    let moves = |what: &'static str, from: String, to: String| CatalogError::WouldMoveData {
        namespace: name.into(),
        what,
        from,
        to,
    };
    if current.replication_factor != next.replication_factor {
        return Err(moves(
            "the replication factor",
            current.replication_factor.to_string(),
            next.replication_factor.to_string(),
        ));
    }
    if current.partition_level != next.partition_level {
        return Err(moves(
            "the partition level",
            current.partition_level.to_string(),
            next.partition_level.to_string(),
        ));
    }
    if current.regions != next.regions {
        return Err(moves(
            "the regions",
            format!("{:?}", current.regions),
            format!("{:?}", next.regions),
        ));
    }
    Ok(())
}

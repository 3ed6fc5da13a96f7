use super::*;
use zerodb_config::PartitionLevel;

fn eventual(rf: usize) -> NamespacePolicy {
    NamespacePolicy {
        consistency: Consistency::Eventual,
        replication_factor: rf,
        ..NamespacePolicy::default()
    }
}

#[test]
fn catalogs_round_trip_and_bad_bytes_are_refused() {
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    catalog.create_namespace("shop", eventual(2)).unwrap();
    catalog.create_user("bob", false).unwrap();
    catalog.grant("bob", "shop", Role::Viewer).unwrap();
    assert_eq!(Catalog::decode(&catalog.encode()).unwrap(), catalog);
    assert!(matches!(
        Catalog::decode(&[]),
        Err(CatalogError::Malformed(_))
    ));
    assert!(matches!(
        Catalog::decode(&[9, 1]),
        Err(CatalogError::Malformed(_))
    ));
    let mut bytes = catalog.encode();
    bytes.push(0);
    assert!(Catalog::decode(&bytes).is_err());
}

#[test]
fn alters_that_move_data_are_refused_with_the_reason() {
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    catalog.create_namespace("shop", eventual(3)).unwrap();
    let error = catalog.alter_namespace("shop", eventual(5)).unwrap_err();
    assert!(error.to_string().contains("replication factor"), "{error}");
    assert!(error.to_string().contains("streaming"), "{error}");
    let mut record = eventual(3);
    record.partition_level = PartitionLevel::Record;
    assert!(catalog.alter_namespace("shop", record).is_err());
    let mut pinned = eventual(3);
    pinned.regions = vec!["eu".into()];
    assert!(catalog.alter_namespace("shop", pinned).is_err());
    // Consistency moves no data.
    let strong = NamespacePolicy {
        consistency: Consistency::Strong,
        ..eventual(3)
    };
    catalog.alter_namespace("shop", strong.clone()).unwrap();
    assert_eq!(catalog.policy("shop"), Some(&strong));
}

#[test]
fn names_are_checked_and_system_is_reserved() {
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    for bad in ["", "Shop", "a b", "-x", "system", &"x".repeat(64)] {
        assert!(
            catalog.create_namespace(bad, eventual(1)).is_err(),
            "{bad:?}"
        );
    }
    assert!(matches!(
        catalog.create_namespace("default", eventual(1)),
        Err(CatalogError::NamespaceExists(_))
    ));
    assert!(catalog.create_namespace("zero", eventual(0)).is_err());
}

#[test]
fn roles_grant_exactly_their_permissions() {
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    catalog.create_namespace("a", eventual(1)).unwrap();
    catalog.create_user("vera", false).unwrap();
    catalog.grant("vera", "a", Role::Viewer).unwrap();
    assert!(catalog.check("vera", "a", Permission::Read).is_ok());
    let denied = catalog.check("vera", "a", Permission::Write).unwrap_err();
    let text = denied.to_string();
    assert!(
        text.contains("vera") && text.contains("\"a\"") && text.contains("write"),
        "{text}"
    );
    assert!(text.contains("viewer"), "{text}");
    let other = catalog
        .check("vera", "default", Permission::Read)
        .unwrap_err();
    assert!(other.to_string().contains("no role"), "{other}");
    catalog.grant("vera", "a", Role::Editor).unwrap();
    assert!(catalog.check("vera", "a", Permission::Write).is_ok());
    assert!(catalog.check("vera", "a", Permission::Manage).is_err());
    assert!(catalog.check("admin", "a", Permission::Manage).is_ok());
    assert!(matches!(
        catalog.check("eve", "a", Permission::Read),
        Err(CatalogError::NoUser(_))
    ));
    catalog.revoke("vera", "a").unwrap();
    assert!(catalog.check("vera", "a", Permission::Read).is_err());
}

#[test]
fn changes_are_checked_against_the_writer() {
    let mut base = Catalog::genesis(NamespacePolicy::default());
    base.create_namespace("a", eventual(1)).unwrap();
    base.create_user("olga", false).unwrap();
    base.create_user("bob", false).unwrap();
    base.grant("olga", "a", Role::Owner).unwrap();
    let next = |change: &dyn Fn(&mut Catalog)| {
        let mut next = base.clone();
        next.version += 1;
        change(&mut next);
        next
    };
    // Admin may create namespaces; an owner may not.
    let created = next(&|c| c.create_namespace("b", eventual(1)).unwrap());
    assert!(base.check_change(&created, "admin").is_ok());
    assert!(matches!(
        base.check_change(&created, "olga"),
        Err(CatalogError::NotAdmin { .. })
    ));
    // An owner grants in her namespace, not elsewhere.
    let granted = next(&|c| c.grant("bob", "a", Role::Editor).unwrap());
    assert!(base.check_change(&granted, "olga").is_ok());
    assert!(base.check_change(&granted, "bob").is_err());
    let elsewhere = next(&|c| c.grant("bob", "default", Role::Editor).unwrap());
    assert!(base.check_change(&elsewhere, "olga").is_err());
    // Stale versions and data-moving alters are refused for everyone.
    assert!(matches!(
        base.check_change(&base, "admin"),
        Err(CatalogError::Stale { .. })
    ));
    let mut moved = next(&|_| {});
    moved.namespaces.insert("a".into(), eventual(3));
    assert!(matches!(
        base.check_change(&moved, "admin"),
        Err(CatalogError::WouldMoveData { .. })
    ));
    // Users: admins only.
    let user = next(&|c| c.create_user("carl", false).unwrap());
    assert!(base.check_change(&user, "olga").is_err());
    assert!(base.check_change(&user, "admin").is_ok());
    let dropped = next(&|c| c.drop_namespace("a").unwrap());
    assert!(base.check_change(&dropped, "olga").is_ok());
    assert!(base.check_change(&dropped, "bob").is_err());
}

#[test]
fn a_format_1_catalog_still_decodes_with_no_dropped_names() {
    #[derive(bincode::Encode)]
    struct V1 {
        version: u64,
        namespaces: std::collections::BTreeMap<String, NamespacePolicy>,
        users: std::collections::BTreeMap<String, UserEntry>,
    }
    let mut catalog = Catalog::genesis(NamespacePolicy::default());
    catalog.create_namespace("shop", eventual(2)).unwrap();
    let old = V1 {
        version: catalog.version,
        namespaces: catalog.namespaces.clone(),
        users: catalog.users.clone(),
    };
    let mut bytes = vec![1];
    bytes.extend(bincode::encode_to_vec(&old, bincode::config::standard()).unwrap());
    assert_eq!(Catalog::decode(&bytes).unwrap(), catalog);
    catalog.drop_namespace("shop").unwrap();
    assert!(catalog.dropped.contains("shop"));
    assert_eq!(Catalog::decode(&catalog.encode()).unwrap(), catalog);
}

use super::*;

fn topic_binding(
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

fn open_acls() -> (tempfile::TempDir, MetadataStore, Acls) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    let acls = Acls::load(&store).unwrap();
    (dir, store, acls)
}

#[test]
fn deny_wins_open_without_bindings_and_describe_is_implied() {
    use Operation::*;
    let (_dir, store, acls) = open_acls();
    let me = Caller::anonymous("127.0.0.1".into());
    let may = |acls: &Acls, op, resource| acls.authorize(&me, op, resource).is_ok();
    assert!(may(&acls, Write, Resource::topic("t")));
    acls.create(
        &store,
        &[
            topic_binding("t", PatternType::Literal, "User:*", Read, Permission::Allow),
            topic_binding("t", PatternType::Literal, "User:*", Write, Permission::Deny),
            topic_binding(
                "logs-",
                PatternType::Prefixed,
                ANONYMOUS,
                All,
                Permission::Deny,
            ),
        ],
    )
    .unwrap();
    assert!(may(&acls, Read, Resource::topic("t")));
    assert!(may(&acls, Describe, Resource::topic("t")));
    assert!(!may(&acls, Write, Resource::topic("t")));
    assert!(!may(&acls, Delete, Resource::topic("t")));
    assert!(!may(&acls, Read, Resource::topic("logs-app")));
    assert!(may(&acls, Read, Resource::topic("other")));
    assert!(may(&acls, Read, Resource::group("t")));

    // Stored: a new load sees them; a filter deletes exactly what it matches.
    let again = Acls::load(&store).unwrap();
    assert_eq!(again.describe(&AclFilter::all()).len(), 3);
    let matching = AclFilter {
        resource_name: Some("logs-app".into()),
        pattern: PatternFilter::Match,
        ..AclFilter::all()
    };
    assert_eq!(again.describe(&matching).len(), 1);
    let removed = again.delete(&store, &[matching]).unwrap();
    assert_eq!(removed[0].len(), 1);
    assert_eq!(
        Acls::load(&store)
            .unwrap()
            .describe(&AclFilter::all())
            .len(),
        2
    );
}

#[test]
fn a_denial_says_who_what_and_whether_a_deny_binding_refused_it() {
    let (_dir, store, acls) = open_acls();
    let alice = Caller::user("alice", "10.0.0.1".into());
    let bob = Caller::user("bob", "10.0.0.2".into());
    acls.create(
        &store,
        &[
            topic_binding(
                "t",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
                Permission::Allow,
            ),
            topic_binding(
                "t",
                PatternType::Literal,
                "User:bob",
                Operation::All,
                Permission::Deny,
            ),
        ],
    )
    .unwrap();
    assert_eq!(alice.principal, "User:alice");
    let no_allow = acls
        .authorize(&alice, Operation::Write, Resource::topic("t"))
        .unwrap_err();
    assert_eq!(
        no_allow,
        Denied {
            principal: "User:alice".into(),
            host: "10.0.0.1".into(),
            operation: Operation::Write,
            resource_type: ResourceType::Topic,
            name: "t".into(),
            by_deny: false,
        }
    );
    assert_eq!(
        no_allow.to_string(),
        r#"User:alice from host "10.0.0.1" may not WRITE topic "t""#
    );
    let by_deny = acls
        .authorize(&bob, Operation::Read, Resource::topic("t"))
        .unwrap_err();
    assert!(by_deny.by_deny);
}

#[test]
fn hosts_narrow_a_binding_to_the_clients_address() {
    let (_dir, store, acls) = open_acls();
    let mut deny = topic_binding(
        "t",
        PatternType::Literal,
        "User:*",
        Operation::Write,
        Permission::Deny,
    );
    deny.host = "10.0.0.9".into();
    acls.create(&store, &[deny]).unwrap();
    let near = Caller::anonymous("10.0.0.9".into());
    let far = Caller::anonymous("10.0.0.1".into());
    assert!(
        acls.authorize(&near, Operation::Write, Resource::topic("t"))
            .is_err()
    );
    // `far` is named by no binding of a resource that has bindings: not allowed either.
    assert!(
        acls.authorize(&far, Operation::Write, Resource::topic("t"))
            .is_err()
    );
}

#[test]
fn create_on_the_cluster_allows_creating_any_topic() {
    let (_dir, store, acls) = open_acls();
    let admin = Caller::user("admin", "10.0.0.1".into());
    let other = Caller::user("other", "10.0.0.1".into());
    acls.create(
        &store,
        &[
            AclBinding {
                resource_type: ResourceType::Cluster,
                resource_name: CLUSTER.into(),
                pattern_type: PatternType::Literal,
                principal: "User:admin".into(),
                host: "*".into(),
                operation: Operation::Create,
                permission: Permission::Allow,
            },
            topic_binding(
                "t",
                PatternType::Literal,
                "User:*",
                Operation::Create,
                Permission::Deny,
            ),
        ],
    )
    .unwrap();
    assert!(
        acls.authorize(&admin, Operation::Create, Resource::topic("t"))
            .is_ok()
    );
    assert!(
        acls.authorize(&admin, Operation::Create, Resource::topic("u"))
            .is_ok()
    );
    let refused = acls
        .authorize(&other, Operation::Create, Resource::topic("t"))
        .unwrap_err();
    assert_eq!(refused.resource_type, ResourceType::Topic);
    // A topic without bindings is open; other operations are not granted by the cluster.
    assert!(
        acls.authorize(&other, Operation::Create, Resource::topic("u"))
            .is_ok()
    );
    assert!(
        acls.authorize(&admin, Operation::Delete, Resource::topic("t"))
            .is_err()
    );
}

#[test]
fn filters_select_by_each_field_and_pattern_type() {
    let (_dir, store, acls) = open_acls();
    acls.create(
        &store,
        &[
            topic_binding(
                "t",
                PatternType::Literal,
                "User:a",
                Operation::Read,
                Permission::Allow,
            ),
            topic_binding(
                "t",
                PatternType::Prefixed,
                "User:b",
                Operation::Write,
                Permission::Deny,
            ),
            topic_binding(
                "*",
                PatternType::Literal,
                "User:c",
                Operation::Read,
                Permission::Allow,
            ),
        ],
    )
    .unwrap();
    let count = |f: AclFilter| acls.describe(&f).len();
    let named_t = AclFilter {
        resource_name: Some("t".into()),
        ..AclFilter::all()
    };
    assert_eq!(count(named_t.clone()), 2);
    let prefixed_t = AclFilter {
        pattern: PatternFilter::Only(PatternType::Prefixed),
        ..named_t.clone()
    };
    assert_eq!(count(prefixed_t), 1);
    let matching_t = AclFilter {
        pattern: PatternFilter::Match,
        ..named_t
    };
    assert_eq!(count(matching_t), 3);
    let denials = AclFilter {
        permission: Some(Permission::Deny),
        ..AclFilter::all()
    };
    assert_eq!(count(denials), 1);
    let reads_of_a = AclFilter {
        operation: Some(Operation::Read),
        principal: Some("User:a".into()),
        ..AclFilter::all()
    };
    assert_eq!(count(reads_of_a), 1);
    let groups = AclFilter {
        resource_type: Some(ResourceType::Group),
        ..AclFilter::all()
    };
    assert_eq!(count(groups), 0);
}

#[test]
fn the_file_keeps_the_numeric_codes_it_always_had() {
    // Written by the untyped code: bindings as objects with numeric codes.
    let before = r#"[
  {
    "resource_type": 2,
    "resource_name": "secret",
    "pattern_type": 3,
    "principal": "User:*",
    "host": "*",
    "operation": 4,
    "permission": 2
  },
  {
    "resource_type": 4,
    "resource_name": "kafka-cluster",
    "pattern_type": 4,
    "principal": "User:admin",
    "host": "10.0.0.1",
    "operation": 2,
    "permission": 3
  }
]"#;
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    store.write_small(FILE_NAME, before).unwrap();
    let acls = Acls::load(&store).unwrap();
    let loaded = acls.describe(&AclFilter::all());
    assert_eq!(
        loaded[0],
        topic_binding(
            "secret",
            PatternType::Literal,
            "User:*",
            Operation::Write,
            Permission::Deny
        )
    );
    assert_eq!(loaded[1].resource_type, ResourceType::Cluster);
    assert_eq!(loaded[1].pattern_type, PatternType::Prefixed);
    assert_eq!(loaded[1].operation, Operation::All);
    assert_eq!(loaded[1].permission, Permission::Allow);
    // Saved again, the file is what it was.
    acls.create(&store, &[]).unwrap();
    assert_eq!(store.read_small(FILE_NAME).unwrap().unwrap(), before);

    store
        .write_small(
            FILE_NAME,
            &before.replace("\"operation\": 4", "\"operation\": 1"),
        )
        .unwrap();
    let refused = Acls::load(&store).unwrap_err();
    assert!(
        refused.to_string().contains("unknown operation 1"),
        "{refused}"
    );
}

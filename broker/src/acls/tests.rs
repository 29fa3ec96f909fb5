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

/// Adds `new` to the bindings `acls` holds.
fn add(acls: &Acls, new: &[AclBinding]) {
    let mut all = acls.describe(&AclFilter::all());
    all.extend_from_slice(new);
    acls.replace(all);
}

#[test]
fn deny_wins_open_without_bindings_and_describe_is_implied() {
    use Operation::*;
    let acls = Acls::new(Vec::new());
    let me = Caller::anonymous("127.0.0.1".into());
    let may = |acls: &Acls, op, resource| acls.authorize(&me, op, resource).is_ok();
    assert!(may(&acls, Write, Resource::topic("t")));
    add(
        &acls,
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
    );
    assert!(may(&acls, Read, Resource::topic("t")));
    assert!(may(&acls, Describe, Resource::topic("t")));
    assert!(!may(&acls, Write, Resource::topic("t")));
    assert!(!may(&acls, Delete, Resource::topic("t")));
    assert!(!may(&acls, Read, Resource::topic("logs-app")));
    assert!(may(&acls, Read, Resource::topic("other")));
    assert!(may(&acls, Read, Resource::group("t")));

    // A filter describes exactly what it matches.
    assert_eq!(acls.describe(&AclFilter::all()).len(), 3);
    let matching = AclFilter {
        resource_name: Some("logs-app".into()),
        pattern: PatternFilter::Match,
        ..AclFilter::all()
    };
    assert_eq!(acls.describe(&matching).len(), 1);
}

#[test]
fn a_denial_says_who_what_and_whether_a_deny_binding_refused_it() {
    let acls = Acls::new(Vec::new());
    let alice = Caller::user("alice", "10.0.0.1".into());
    let bob = Caller::user("bob", "10.0.0.2".into());
    add(
        &acls,
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
    );
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
    let acls = Acls::new(Vec::new());
    let mut deny = topic_binding(
        "t",
        PatternType::Literal,
        "User:*",
        Operation::Write,
        Permission::Deny,
    );
    deny.host = "10.0.0.9".into();
    add(&acls, &[deny]);
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
    let acls = Acls::new(Vec::new());
    let admin = Caller::user("admin", "10.0.0.1".into());
    let other = Caller::user("other", "10.0.0.1".into());
    add(
        &acls,
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
    );
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
    let acls = Acls::new(Vec::new());
    add(
        &acls,
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
    );
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
fn bindings_keep_the_numeric_codes_they_were_always_stored_with() {
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
    let loaded: Vec<AclBinding> = serde_json::from_str(before).unwrap();
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
    // Written again, they read as they were.
    assert_eq!(serde_json::to_string_pretty(&loaded).unwrap(), before);
    let unknown = before.replace("\"operation\": 4", "\"operation\": 1");
    let refused = serde_json::from_str::<Vec<AclBinding>>(&unknown).unwrap_err();
    assert!(
        refused.to_string().contains("unknown operation 1"),
        "{refused}"
    );
}

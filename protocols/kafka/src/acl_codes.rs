//! Kafka's ACL codes (KIP-140's resource type, pattern type, operation and permission bytes)
//! to and from the broker's typed ACLs: the one place the Kafka front-end knows them.

use neo_broker::acls::{Operation, PatternFilter, PatternType, Permission, ResourceType};

/// The code every filter field uses for "any value".
const ANY: i8 = 1;
/// The pattern filter code for "every binding that applies to the name".
const MATCH: i8 = 2;

/// A resource type of a binding.
pub fn resource_type(code: i8) -> Result<ResourceType, String> {
    Ok(match code {
        2 => ResourceType::Topic,
        3 => ResourceType::Group,
        4 => ResourceType::Cluster,
        5 => ResourceType::TransactionalId,
        6 => ResourceType::DelegationToken,
        7 => ResourceType::User,
        _ => return Err(format!("invalid resource type {code}")),
    })
}

/// The code of a resource type.
pub fn resource_type_code(t: ResourceType) -> i8 {
    match t {
        ResourceType::Topic => 2,
        ResourceType::Group => 3,
        ResourceType::Cluster => 4,
        ResourceType::TransactionalId => 5,
        ResourceType::DelegationToken => 6,
        ResourceType::User => 7,
    }
}

/// A pattern type of a binding.
pub fn pattern_type(code: i8) -> Result<PatternType, String> {
    Ok(match code {
        3 => PatternType::Literal,
        4 => PatternType::Prefixed,
        _ => return Err(format!("invalid pattern type {code}")),
    })
}

/// The code of a pattern type.
pub fn pattern_type_code(p: PatternType) -> i8 {
    match p {
        PatternType::Literal => 3,
        PatternType::Prefixed => 4,
    }
}

/// An operation of a binding.
pub fn operation(code: i8) -> Result<Operation, String> {
    use Operation::*;
    Ok(match code {
        2 => All,
        3 => Read,
        4 => Write,
        5 => Create,
        6 => Delete,
        7 => Alter,
        8 => Describe,
        9 => ClusterAction,
        10 => DescribeConfigs,
        11 => AlterConfigs,
        12 => IdempotentWrite,
        13 => CreateTokens,
        14 => DescribeTokens,
        _ => return Err(format!("invalid operation {code}")),
    })
}

/// The code of an operation.
pub fn operation_code(op: Operation) -> i8 {
    use Operation::*;
    match op {
        All => 2,
        Read => 3,
        Write => 4,
        Create => 5,
        Delete => 6,
        Alter => 7,
        Describe => 8,
        ClusterAction => 9,
        DescribeConfigs => 10,
        AlterConfigs => 11,
        IdempotentWrite => 12,
        CreateTokens => 13,
        DescribeTokens => 14,
    }
}

/// A permission of a binding.
pub fn permission(code: i8) -> Result<Permission, String> {
    match code {
        2 => Ok(Permission::Deny),
        3 => Ok(Permission::Allow),
        _ => Err(format!("invalid permission type {code}")),
    }
}

/// The code of a permission.
pub fn permission_code(p: Permission) -> i8 {
    match p {
        Permission::Deny => 2,
        Permission::Allow => 3,
    }
}

/// A filter field: ANY is `None`, anything else must be a binding's value.
pub fn any_or<T>(code: i8, value: fn(i8) -> Result<T, String>) -> Result<Option<T>, String> {
    if code == ANY {
        Ok(None)
    } else {
        value(code).map(Some)
    }
}

/// A pattern type filter: ANY, MATCH or one pattern type.
pub fn pattern_filter(code: i8) -> Result<PatternFilter, String> {
    match code {
        ANY => Ok(PatternFilter::Any),
        MATCH => Ok(PatternFilter::Match),
        other => pattern_type(other).map(PatternFilter::Only),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_code_round_trips_and_filters_take_any_and_match() {
        for code in -1..20 {
            if let Ok(t) = resource_type(code) {
                assert_eq!(resource_type_code(t), code);
            }
            if let Ok(p) = pattern_type(code) {
                assert_eq!(pattern_type_code(p), code);
            }
            if let Ok(op) = operation(code) {
                assert_eq!(operation_code(op), code);
            }
            if let Ok(p) = permission(code) {
                assert_eq!(permission_code(p), code);
            }
        }
        assert_eq!(operation(4), Ok(Operation::Write));
        assert!(operation(1).is_err(), "ANY is no binding's operation");
        assert_eq!(any_or(1, operation), Ok(None));
        assert_eq!(any_or(3, operation), Ok(Some(Operation::Read)));
        assert!(any_or(0, resource_type).is_err(), "UNKNOWN is refused");
        assert_eq!(pattern_filter(2), Ok(PatternFilter::Match));
        assert_eq!(
            pattern_filter(4),
            Ok(PatternFilter::Only(PatternType::Prefixed))
        );
        assert!(
            pattern_type(2).is_err(),
            "MATCH is no binding's pattern type"
        );
    }
}

//! The bindings as `meta/acls.json` holds them: a JSON array of objects whose resource type,
//! pattern type, operation and permission are small integers. A file format, so these numbers
//! never change (they began as Kafka's codes, which is how the first files were written).

use serde::{Deserialize, Serialize};

use super::binding::AclBinding;
use super::kinds::{Operation, PatternType, Permission, ResourceType};

/// One binding in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredBinding {
    resource_type: i8,
    resource_name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
}

const RESOURCE_TYPES: [(ResourceType, i8); 6] = [
    (ResourceType::Topic, 2),
    (ResourceType::Group, 3),
    (ResourceType::Cluster, 4),
    (ResourceType::TransactionalId, 5),
    (ResourceType::DelegationToken, 6),
    (ResourceType::User, 7),
];

const PATTERN_TYPES: [(PatternType, i8); 2] =
    [(PatternType::Literal, 3), (PatternType::Prefixed, 4)];

const OPERATIONS: [(Operation, i8); 13] = [
    (Operation::All, 2),
    (Operation::Read, 3),
    (Operation::Write, 4),
    (Operation::Create, 5),
    (Operation::Delete, 6),
    (Operation::Alter, 7),
    (Operation::Describe, 8),
    (Operation::ClusterAction, 9),
    (Operation::DescribeConfigs, 10),
    (Operation::AlterConfigs, 11),
    (Operation::IdempotentWrite, 12),
    (Operation::CreateTokens, 13),
    (Operation::DescribeTokens, 14),
];

const PERMISSIONS: [(Permission, i8); 2] = [(Permission::Deny, 2), (Permission::Allow, 3)];

fn number<T: PartialEq + Copy>(table: &[(T, i8)], value: T) -> i8 {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or(0, |(_, n)| *n)
}

fn value<T: Copy>(table: &[(T, i8)], number: i8, what: &str) -> Result<T, String> {
    table
        .iter()
        .find(|(_, n)| *n == number)
        .map(|(v, _)| *v)
        .ok_or_else(|| format!("unknown {what} {number}"))
}

impl From<AclBinding> for StoredBinding {
    fn from(b: AclBinding) -> StoredBinding {
        StoredBinding {
            resource_type: number(&RESOURCE_TYPES, b.resource_type),
            resource_name: b.resource_name.clone(),
            pattern_type: number(&PATTERN_TYPES, b.pattern_type),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: number(&OPERATIONS, b.operation),
            permission: number(&PERMISSIONS, b.permission),
        }
    }
}

impl TryFrom<StoredBinding> for AclBinding {
    type Error = String;

    fn try_from(s: StoredBinding) -> Result<AclBinding, String> {
        Ok(AclBinding {
            resource_type: value(&RESOURCE_TYPES, s.resource_type, "resource type")?,
            resource_name: s.resource_name,
            pattern_type: value(&PATTERN_TYPES, s.pattern_type, "pattern type")?,
            principal: s.principal,
            host: s.host,
            operation: value(&OPERATIONS, s.operation, "operation")?,
            permission: value(&PERMISSIONS, s.permission, "permission")?,
        })
    }
}

/// A binding is stored (and replicated in the metadata) in the file's numeric form.
impl Serialize for AclBinding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredBinding::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AclBinding {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredBinding::deserialize(deserializer)?;
        AclBinding::try_from(stored).map_err(serde::de::Error::custom)
    }
}

//! What an ACL binding says: a principal from a host is allowed or denied an operation on the
//! resources a name pattern selects.

use super::stored::StoredBinding;

use super::caller::{Caller, Resource};

/// The kind of resource a binding is about (Kafka's resource types; AMQP exchanges and queues
/// and SQS queues are topics, their consumers groups, an AMQP vhost is the cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

/// How a binding's resource name selects resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternType {
    /// The resource of exactly that name, or every one for the name `*`.
    Literal,
    /// Every resource whose name starts with the binding's name.
    Prefixed,
}

/// What a caller does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// In a binding: every operation.
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

/// Whether a binding allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Deny,
    Allow,
}

impl Operation {
    /// The operation's name as Kafka's tools print it (`WRITE`, `DESCRIBE_CONFIGS`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::All => "ALL",
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Create => "CREATE",
            Operation::Delete => "DELETE",
            Operation::Alter => "ALTER",
            Operation::Describe => "DESCRIBE",
            Operation::ClusterAction => "CLUSTER_ACTION",
            Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
            Operation::AlterConfigs => "ALTER_CONFIGS",
            Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
            Operation::CreateTokens => "CREATE_TOKENS",
            Operation::DescribeTokens => "DESCRIBE_TOKENS",
        }
    }

    /// Whether a binding for `self` is about `op`.
    pub(super) fn covers(self, op: Operation) -> bool {
        self == op || self == Operation::All
    }

    /// The operations whose ALLOW also allows `self`: an allowed READ, WRITE, DELETE or ALTER
    /// implies DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS, as in Kafka.
    pub(super) fn allowed_by(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Describe => &[Describe, Read, Write, Delete, Alter],
            DescribeConfigs => &[DescribeConfigs, AlterConfigs],
            All => &[All],
            Read => &[Read],
            Write => &[Write],
            Create => &[Create],
            Delete => &[Delete],
            Alter => &[Alter],
            ClusterAction => &[ClusterAction],
            AlterConfigs => &[AlterConfigs],
            IdempotentWrite => &[IdempotentWrite],
            CreateTokens => &[CreateTokens],
            DescribeTokens => &[DescribeTokens],
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceType::Topic => "topic",
            ResourceType::Group => "group",
            ResourceType::Cluster => "cluster",
            ResourceType::TransactionalId => "transactional id",
            ResourceType::DelegationToken => "delegation token",
            ResourceType::User => "user",
        })
    }
}

/// One ACL binding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "StoredBinding", try_from = "StoredBinding")]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, e.g. `User:alice`; `User:*` is every user.
    pub principal: String,
    /// The client's IP address, or `*` for any.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclBinding {
    /// Checks the names as Kafka does before storing a binding.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_name.is_empty() {
            return Err("empty resource name".into());
        }
        if !self.principal.contains(':') {
            return Err(format!(
                "principal {:?} is not of the form Type:name",
                self.principal
            ));
        }
        Ok(())
    }

    /// Whether this binding is about `resource`.
    pub(super) fn applies_to(&self, resource: Resource<'_>) -> bool {
        self.resource_type == resource.resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == resource.name || self.resource_name == "*"
                }
                PatternType::Prefixed => resource.name.starts_with(&self.resource_name),
            }
    }

    /// Whether this binding is about `caller` (its principal, or `User:*`, from its host or `*`).
    pub(super) fn names(&self, caller: &Caller) -> bool {
        (self.principal == caller.principal || self.principal == "User:*")
            && (self.host == "*" || self.host == caller.host)
    }
}

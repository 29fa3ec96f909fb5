//! Access control lists with Kafka's model and codes (KIP-140): a binding allows or denies a
//! principal from a host an operation on a resource (a literal name, a prefix, or `*`).
//! Deny wins; a resource with no binding at all is open to everyone (Kafka's
//! `allow.everyone.if.no.acl.found=true`), so a broker without ACLs behaves as before.
//! Bindings are kept in the broker's metadata store.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Kafka's resource type codes.
pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

/// Kafka's pattern type codes.
pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's operation codes.
pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
}

/// Kafka's permission type codes.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The name of the cluster resource, as Kafka names it.
pub const CLUSTER: &str = "kafka-cluster";

/// The principal of a client that did not authenticate (PLAINTEXT).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// One ACL binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// Which bindings DescribeAcls and DeleteAcls mean: `None` and the ANY codes match all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// Checks the codes and names as Kafka does before storing a binding.
    pub fn validate(&self) -> Result<(), String> {
        let concrete = |code: i8, low: i8, high: i8| (low..=high).contains(&code);
        if !concrete(self.resource_type, resource::TOPIC, resource::USER) {
            return Err(format!("invalid resource type {}", self.resource_type));
        }
        if !concrete(self.pattern_type, pattern::LITERAL, pattern::PREFIXED) {
            return Err(format!("invalid pattern type {}", self.pattern_type));
        }
        if !concrete(self.operation, operation::ALL, operation::DESCRIBE_TOKENS) {
            return Err(format!("invalid operation {}", self.operation));
        }
        if !concrete(self.permission, permission::DENY, permission::ALLOW) {
            return Err(format!("invalid permission type {}", self.permission));
        }
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

    /// Whether this binding is about the resource `(resource_type, name)`.
    fn applies_to(&self, resource_type: i8, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                pattern::LITERAL => self.resource_name == name || self.resource_name == "*",
                pattern::PREFIXED => name.starts_with(&self.resource_name),
                _ => false,
            }
    }
}

impl AclFilter {
    pub fn matches(&self, b: &AclBinding) -> bool {
        let code = |want: i8, any: i8, have: i8| want == any || want == have;
        let text = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let pattern_ok = match self.pattern_type {
            pattern::ANY => text(&self.resource_name, &b.resource_name),
            // MATCH: every binding that would apply to the named resource.
            pattern::MATCH => match &self.resource_name {
                None => true,
                Some(name) => b.applies_to(b.resource_type, name),
            },
            p => p == b.pattern_type && text(&self.resource_name, &b.resource_name),
        };
        code(self.resource_type, resource::ANY, b.resource_type)
            && pattern_ok
            && text(&self.principal, &b.principal)
            && text(&self.host, &b.host)
            && code(self.operation, operation::ANY, b.operation)
            && code(self.permission, permission::ANY, b.permission)
    }
}

/// What a caller is: its principal and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: String,
    pub host: String,
}

impl Caller {
    /// An unauthenticated client connecting from `host`.
    pub fn anonymous(host: String) -> Caller {
        Caller {
            principal: ANONYMOUS.to_string(),
            host,
        }
    }
}

/// The broker's ACLs.
#[derive(Debug, Default)]
pub struct Acls {
    bindings: RwLock<Vec<AclBinding>>,
}

impl Acls {
    /// The authorizer over `bindings`.
    pub(crate) fn new(bindings: Vec<AclBinding>) -> Acls {
        Acls {
            bindings: RwLock::new(bindings),
        }
    }

    /// Takes up the bindings after a change in the metadata store.
    pub(crate) fn replace(&self, bindings: Vec<AclBinding>) {
        *self.bindings.write() = bindings;
    }

    /// Whether `caller` may do `op` on the resource. Deny wins over allow; a resource with
    /// no binding at all is open; an allowed READ, WRITE, DELETE or ALTER implies DESCRIBE,
    /// and ALTER_CONFIGS implies DESCRIBE_CONFIGS, as in Kafka.
    pub fn authorize(&self, caller: &Caller, op: i8, resource_type: i8, name: &str) -> bool {
        let bindings = self.bindings.read();
        let mut relevant = bindings
            .iter()
            .filter(|b| b.applies_to(resource_type, name))
            .peekable();
        if relevant.peek().is_none() {
            return true;
        }
        let relevant: Vec<&AclBinding> = relevant
            .filter(|b| {
                (b.principal == caller.principal || b.principal == "User:*")
                    && (b.host == "*" || b.host == caller.host)
            })
            .collect();
        let covers = |b: &AclBinding, op: i8| b.operation == op || b.operation == operation::ALL;
        if relevant
            .iter()
            .any(|b| b.permission == permission::DENY && covers(b, op))
        {
            return false;
        }
        let implied: &[i8] = match op {
            operation::DESCRIBE => &[
                operation::DESCRIBE,
                operation::READ,
                operation::WRITE,
                operation::DELETE,
                operation::ALTER,
            ],
            operation::DESCRIBE_CONFIGS => &[operation::DESCRIBE_CONFIGS, operation::ALTER_CONFIGS],
            _ => std::slice::from_ref(&op),
        };
        relevant
            .iter()
            .any(|b| b.permission == permission::ALLOW && implied.iter().any(|op| covers(b, *op)))
    }

    /// Bindings the filter matches.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.bindings
            .read()
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(
        name: &str,
        pattern_type: i8,
        principal: &str,
        op: i8,
        permission: i8,
    ) -> AclBinding {
        AclBinding {
            resource_type: resource::TOPIC,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    #[test]
    fn deny_wins_open_without_bindings_and_describe_is_implied() {
        let acls = Acls::new(Vec::new());
        let me = Caller::anonymous("127.0.0.1".into());
        assert!(acls.authorize(&me, operation::WRITE, resource::TOPIC, "t"));
        acls.replace(vec![
            binding(
                "t",
                pattern::LITERAL,
                "User:*",
                operation::READ,
                permission::ALLOW,
            ),
            binding(
                "t",
                pattern::LITERAL,
                "User:*",
                operation::WRITE,
                permission::DENY,
            ),
            binding(
                "logs-",
                pattern::PREFIXED,
                ANONYMOUS,
                operation::ALL,
                permission::DENY,
            ),
        ]);
        assert!(acls.authorize(&me, operation::READ, resource::TOPIC, "t"));
        assert!(acls.authorize(&me, operation::DESCRIBE, resource::TOPIC, "t"));
        assert!(!acls.authorize(&me, operation::WRITE, resource::TOPIC, "t"));
        assert!(!acls.authorize(&me, operation::DELETE, resource::TOPIC, "t"));
        assert!(!acls.authorize(&me, operation::READ, resource::TOPIC, "logs-app"));
        assert!(acls.authorize(&me, operation::READ, resource::TOPIC, "other"));
        assert!(acls.authorize(&me, operation::READ, resource::GROUP, "t"));

        // A filter describes exactly what it matches.
        let again = acls;
        let all = AclFilter {
            resource_type: resource::ANY,
            resource_name: None,
            pattern_type: pattern::ANY,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        };
        assert_eq!(again.describe(&all).len(), 3);
        let matching_t = AclFilter {
            resource_name: Some("logs-app".into()),
            pattern_type: pattern::MATCH,
            ..all.clone()
        };
        assert_eq!(again.describe(&matching_t).len(), 1);
    }
}

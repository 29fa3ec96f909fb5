//! What an ACL binding says: a principal from a host is allowed or denied an operation on the
//! resources a name pattern selects.

use super::caller::{Caller, Resource};
use super::kinds::{Operation, PatternType, Permission, ResourceType};

/// One ACL binding.
#[derive(Debug, Clone, PartialEq, Eq)]
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

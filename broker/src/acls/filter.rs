//! Which bindings a describe or delete means: each field either names one value or matches
//! any (`None`), and the pattern can also ask for every binding that applies to a name.

use super::binding::AclBinding;
use super::caller::Resource;
use super::kinds::{Operation, PatternType, Permission, ResourceType};

/// How a filter selects bindings by pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Bindings of any pattern type whose name is the filter's name (any name without one).
    Any,
    /// Bindings that apply to the resource the filter names: literal ones of that name or `*`,
    /// prefixed ones whose prefix it starts with (every binding without a name).
    Match,
    /// Bindings of this pattern type whose name is the filter's name (any name without one).
    Only(PatternType),
}

/// A selection of bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// The filter that selects every binding.
    pub fn all() -> AclFilter {
        AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// Whether the filter selects `b`.
    pub fn matches(&self, b: &AclBinding) -> bool {
        fn field<T: PartialEq>(want: &Option<T>, have: &T) -> bool {
            want.as_ref().is_none_or(|w| w == have)
        }
        let pattern_ok = match self.pattern {
            PatternFilter::Any => field(&self.resource_name, &b.resource_name),
            PatternFilter::Match => match &self.resource_name {
                None => true,
                Some(name) => b.applies_to(Resource {
                    resource_type: b.resource_type,
                    name,
                }),
            },
            PatternFilter::Only(p) => {
                p == b.pattern_type && field(&self.resource_name, &b.resource_name)
            }
        };
        field(&self.resource_type, &b.resource_type)
            && pattern_ok
            && field(&self.principal, &b.principal)
            && field(&self.host, &b.host)
            && field(&self.operation, &b.operation)
            && field(&self.permission, &b.permission)
    }
}

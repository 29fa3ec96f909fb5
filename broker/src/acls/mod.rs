//! Access control lists with Kafka's model (KIP-140), for every front-end: a binding allows or
//! denies a principal from a host an operation on a resource (a literal name, a prefix, or
//! `*`). Deny wins; a resource with no binding at all is open to everyone (Kafka's
//! `allow.everyone.if.no.acl.found=true`), so a broker without ACLs behaves as before.
//! Every front-end asks `Broker::authorize` and maps a [`Denied`] to its protocol's error.
//! Bindings are kept in the broker's metadata.

mod binding;
mod caller;
mod filter;
mod kinds;
mod stored;
#[cfg(test)]
mod tests;

use parking_lot::RwLock;

pub use binding::AclBinding;
pub use caller::{ANONYMOUS, CLUSTER, Caller, Denied, Resource};
pub use filter::{AclFilter, PatternFilter};
pub use kinds::{Operation, PatternType, Permission, ResourceType};

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

    /// Takes up the metadata store's bindings if they differ from these (every metadata
    /// change, most of which leave the ACLs alone, is followed with this).
    pub(crate) fn follow(&self, bindings: &[AclBinding]) {
        if self.bindings.read().as_slice() != bindings {
            self.replace(bindings.to_vec());
        }
    }

    /// Whether `caller` may do `operation` on `resource`. Deny wins over allow; a resource
    /// with no binding at all is open; an allowed READ, WRITE, DELETE or ALTER implies
    /// DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS; CREATE on a topic is allowed by
    /// CREATE on the cluster (Kafka's rule for CreateTopics), else needs CREATE on the topic.
    pub fn authorize(
        &self,
        caller: &Caller,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Result<(), Denied> {
        if operation == Operation::Create
            && resource.resource_type == ResourceType::Topic
            && self
                .decide(caller, Operation::Create, Resource::cluster())
                .is_ok()
        {
            return Ok(());
        }
        self.decide(caller, operation, resource)
    }

    fn decide(
        &self,
        caller: &Caller,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Result<(), Denied> {
        let bindings = self.bindings.read();
        let mut about = bindings
            .iter()
            .filter(|b| b.applies_to(resource))
            .peekable();
        if about.peek().is_none() {
            return Ok(());
        }
        let mine: Vec<&AclBinding> = about.filter(|b| b.names(caller)).collect();
        let denied = |by_deny| Denied {
            principal: caller.principal.clone(),
            host: caller.host.clone(),
            operation,
            resource_type: resource.resource_type,
            name: resource.name.to_string(),
            by_deny,
        };
        if mine
            .iter()
            .any(|b| b.permission == Permission::Deny && b.operation.covers(operation))
        {
            return Err(denied(true));
        }
        let allowing = operation.allowed_by();
        if mine.iter().any(|b| {
            b.permission == Permission::Allow && allowing.iter().any(|op| b.operation.covers(*op))
        }) {
            Ok(())
        } else {
            Err(denied(false))
        }
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

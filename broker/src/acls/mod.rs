//! Access control lists with Kafka's model (KIP-140), for every front-end: a binding allows or
//! denies a principal from a host an operation on a resource (a literal name, a prefix, or
//! `*`). Deny wins; a resource with no binding at all is open to everyone (Kafka's
//! `allow.everyone.if.no.acl.found=true`), so a broker without ACLs behaves as before.
//! Every front-end asks [`Broker::authorize`] and maps a [`Denied`] to its protocol's error.
//! Bindings are kept in `meta/acls.json`.

mod binding;
mod caller;
mod filter;
mod stored;
#[cfg(test)]
mod tests;

use parking_lot::RwLock;

pub use binding::{AclBinding, Operation, PatternType, Permission, ResourceType};
pub use caller::{ANONYMOUS, CLUSTER, Caller, Denied, Resource};
pub use filter::{AclFilter, PatternFilter};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata_store::MetadataStore;
use stored::StoredBinding;

/// The broker's ACLs.
#[derive(Debug, Default)]
pub struct Acls {
    bindings: RwLock<Vec<AclBinding>>,
}

const FILE_NAME: &str = "acls.json";

fn corrupt(reason: String) -> BrokerError {
    BrokerError::MetadataCorrupt {
        path: FILE_NAME.into(),
        reason,
    }
}

impl Broker {
    /// Whether `caller` may do `operation` on `resource`, by the broker's ACLs; every
    /// front-end asks this and answers a [`Denied`] with its protocol's refusal.
    pub fn authorize(
        &self,
        caller: &Caller,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Result<(), Denied> {
        self.acls().authorize(caller, operation, resource)
    }
}

impl Acls {
    pub(crate) fn load(store: &MetadataStore) -> Result<Acls, BrokerError> {
        let bindings = match store.read_small(FILE_NAME)? {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<StoredBinding>>(&text)
                .map_err(|e| corrupt(e.to_string()))?
                .into_iter()
                .map(AclBinding::try_from)
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
        };
        Ok(Acls {
            bindings: RwLock::new(bindings),
        })
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

    /// Adds bindings (an existing one is not added twice), durably.
    pub(crate) fn create(
        &self,
        store: &MetadataStore,
        new: &[AclBinding],
    ) -> Result<(), BrokerError> {
        let mut bindings = self.bindings.write();
        let mut next = bindings.clone();
        for b in new {
            if !next.contains(b) {
                next.push(b.clone());
            }
        }
        save(store, &next)?;
        *bindings = next;
        Ok(())
    }

    /// Removes the bindings each filter matches, durably; returns them per filter.
    pub(crate) fn delete(
        &self,
        store: &MetadataStore,
        filters: &[AclFilter],
    ) -> Result<Vec<Vec<AclBinding>>, BrokerError> {
        let mut bindings = self.bindings.write();
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|f| bindings.iter().filter(|b| f.matches(b)).cloned().collect())
            .collect();
        let next: Vec<AclBinding> = bindings
            .iter()
            .filter(|b| !filters.iter().any(|f| f.matches(b)))
            .cloned()
            .collect();
        save(store, &next)?;
        *bindings = next;
        Ok(removed)
    }
}

fn save(store: &MetadataStore, bindings: &[AclBinding]) -> Result<(), BrokerError> {
    let stored: Vec<StoredBinding> = bindings.iter().map(StoredBinding::from).collect();
    let text = serde_json::to_string_pretty(&stored).map_err(|e| corrupt(e.to_string()))?;
    store.write_small(FILE_NAME, &text)
}

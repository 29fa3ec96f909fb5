//! The one authorization check every front-end makes.

use crate::acls::{Caller, Denied, Operation, Resource};
use crate::broker::Broker;

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

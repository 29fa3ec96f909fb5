//! What the connection's user may do, by the broker's ACLs. A queue is its topic (and its
//! consumers the group of the queue's name); an exchange is the topic-type resource
//! `amqp-exchange.<name>`. A refusal closes the channel with 403 ACCESS_REFUSED, worded as
//! RabbitMQ words it: the one place an ACL denial becomes an AMQP error.

use neo_broker::acls::{Denied, Operation, Resource};

use super::{Channel, ChannelError, soft};
use crate::reply;
use crate::topology::topic_for_queue;

/// An AMQP object an operation is about.
#[derive(Debug, Clone, Copy)]
pub(super) enum Object<'a> {
    Queue(&'a str),
    Exchange(&'a str),
}

/// The topic-type resource name ACLs know exchange `name` by (the default exchange is
/// `amq.default`, as in RabbitMQ's permission checks).
fn exchange_resource(name: &str) -> String {
    let name = if name.is_empty() { "amq.default" } else { name };
    format!("amqp-exchange.{name}")
}

impl Channel {
    /// Refuses unless the user may do `operation` on `object`.
    pub(super) fn authorize(
        &self,
        operation: Operation,
        object: Object<'_>,
    ) -> Result<(), ChannelError> {
        let topic = match object {
            Object::Queue(name) => topic_for_queue(name),
            Object::Exchange(name) => exchange_resource(name),
        };
        self.gateway
            .broker
            .authorize(&self.caller, operation, Resource::topic(&topic))
            .map_err(|denied| refused(object, &denied))
    }

    /// Refuses a basic.consume or basic.get unless the user may READ the queue's topic and
    /// the group of the queue's name.
    pub(super) fn authorize_consume(&self, queue: &str) -> Result<(), ChannelError> {
        self.authorize(Operation::Read, Object::Queue(queue))?;
        self.gateway
            .broker
            .authorize(&self.caller, Operation::Read, Resource::group(queue))
            .map_err(|denied| refused(Object::Queue(queue), &denied))
    }
}

fn refused(object: Object<'_>, denied: &Denied) -> ChannelError {
    let (kind, name) = match object {
        Object::Queue(name) => ("queue", name),
        Object::Exchange(name) => ("exchange", name),
    };
    let user = denied
        .principal
        .strip_prefix("User:")
        .unwrap_or(&denied.principal);
    soft(
        reply::ACCESS_REFUSED,
        format!(
            "ACCESS_REFUSED - access to {kind} '{name}' in vhost '/' refused for user '{user}'"
        ),
    )
}

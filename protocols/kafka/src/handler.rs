//! What every API module answers through: the broker, the listener's configuration, ACL
//! checks in Kafka's error codes and the advertised address.

use std::sync::Arc;

use neo_broker::Broker;
use neo_broker::acls::{Operation, Resource};

use crate::config::KafkaConfig;
use crate::context::Context;
use crate::error_codes;

/// Shared by every connection of the listener.
pub struct Handler {
    pub broker: Arc<Broker>,
    pub config: Arc<KafkaConfig>,
}

impl Handler {
    /// The Kafka error code refusing the client `operation` on `resource` by the broker's
    /// ACLs (the resource type's AUTHORIZATION_FAILED), or `None` when it may.
    pub fn refusal(
        &self,
        context: &Context,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Option<i16> {
        self.broker
            .authorize(&context.caller, operation, resource)
            .err()
            .map(|denied| error_codes::denied(&denied))
    }

    /// Whether the client may do `operation` on `resource` (for listings that leave out
    /// what it may not see).
    pub fn may(&self, context: &Context, operation: Operation, resource: Resource<'_>) -> bool {
        self.broker
            .authorize(&context.caller, operation, resource)
            .is_ok()
    }

    /// The `(host, port)` clients are told to connect to.
    pub fn advertised(&self, context: &Context) -> (String, i32) {
        match &self.config.advertised {
            Some((host, port)) => (host.clone(), i32::from(*port)),
            None => (
                context.local_addr.ip().to_string(),
                i32::from(context.local_addr.port()),
            ),
        }
    }
}

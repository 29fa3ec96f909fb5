//! What every API module answers through: the broker, the listener's configuration, ACL
//! checks in Kafka's error codes and the advertised address.

use std::sync::Arc;

use kafka_protocol::messages::BrokerId;
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

    /// The brokers clients are told about, as `(id, host, port)`: this one as the client's
    /// connection reaches it, the others at the Kafka address they registered.
    pub fn brokers(&self, context: &Context) -> Vec<(BrokerId, String, i32)> {
        let (host, port) = self.advertised(context);
        let me = self.config.node_id;
        let mut brokers = vec![(BrokerId(me), host, port)];
        for (id, address) in self.broker.endpoints("kafka") {
            let Ok(id) = i32::try_from(id) else {
                continue;
            };
            let Some((host, port)) = address.rsplit_once(':') else {
                continue;
            };
            if id != me
                && let Ok(port) = port.parse::<i32>()
            {
                brokers.push((BrokerId(id), host.to_string(), port));
            }
        }
        brokers.sort_by_key(|(id, _, _)| *id);
        brokers
    }

    /// The broker clients are told is the controller: the controller group's leader (this
    /// broker while none is known).
    pub fn controller_id(&self) -> BrokerId {
        let node = self
            .broker
            .controller()
            .and_then(|id| i32::try_from(id).ok());
        BrokerId(node.unwrap_or(self.config.node_id))
    }
}

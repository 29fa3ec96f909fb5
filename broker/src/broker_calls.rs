//! How this broker answers the other brokers' calls.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use neo_replication::transport::CallHandler;

use crate::broker::Broker;
use crate::cluster::ClusterCall;

impl Broker {
    /// Starts answering the other brokers' calls.
    pub(crate) fn answer_calls(self: &Arc<Self>) {
        let handler = BrokerCalls {
            broker: Arc::downgrade(self),
        };
        self.cluster().answer_calls(Arc::new(handler));
    }
}

/// Answers the other brokers' calls to this one.
struct BrokerCalls {
    broker: Weak<Broker>,
}

impl CallHandler for BrokerCalls {
    fn call(&self, from: u64, payload: Bytes) -> BoxFuture<'static, Bytes> {
        let broker = self.broker.clone();
        Box::pin(async move {
            let Some(broker) = broker.upgrade() else {
                return Bytes::new();
            };
            if let Some(answer) = broker.answer_gateway_call(&payload) {
                return answer.await;
            }
            match serde_json::from_slice::<ClusterCall>(&payload) {
                Ok(ClusterCall::ProposeMetadata(command)) => {
                    broker.metadata().apply_for_peer(command).await
                }
                Ok(ClusterCall::ChangeVoters(change)) => {
                    broker.metadata().change_voters_for_peer(change).await
                }
                Ok(ClusterCall::TransferLeader {
                    topic,
                    partition,
                    to,
                }) => broker.transfer_for_peer(&topic, partition, to).await,
                Err(e) => {
                    tracing::warn!(from, error = %e, "an undecodable call from another broker");
                    Bytes::new()
                }
            }
        })
    }
}

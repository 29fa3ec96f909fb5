//! How this broker answers the other brokers' calls.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use neo_replication::transport::CallHandler;

use crate::broker::Broker;
use crate::cluster::ClusterCall;
use crate::error::BrokerError;
use crate::gateway_calls::{Answer, GatewayCalls};
use crate::queue_handle::QUEUE_CALL;

/// First byte of a front-end's call (the brokers' own calls are JSON, or a queue call's
/// [`QUEUE_CALL`], never starting with it),
/// then the service's name (a length byte and its bytes), then the payload.
const GATEWAY_CALL: u8 = 0;

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
            if payload.first() == Some(&QUEUE_CALL) {
                return broker.answer_queue_call(from, &payload[1..]).await;
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

impl Broker {
    /// Has `handler` answer the calls to front-end `service` from other brokers.
    pub fn answer_gateway_calls(&self, service: &str, handler: Arc<dyn GatewayCalls>) {
        self.gateway_calls()
            .write()
            .insert(service.to_string(), handler);
    }

    /// Calls front-end `service` on broker `node`, for an answer within `wait`.
    pub async fn call_gateway(
        &self,
        node: u64,
        service: &str,
        payload: &[u8],
        wait: Duration,
    ) -> Result<Bytes, BrokerError> {
        let name = u8::try_from(service.len())
            .map_err(|_| BrokerError::Cluster(format!("service name too long: {service}")))?;
        let mut call = BytesMut::with_capacity(2 + service.len() + payload.len());
        call.put_u8(GATEWAY_CALL);
        call.put_u8(name);
        call.put_slice(service.as_bytes());
        call.put_slice(payload);
        self.cluster()
            .call_within(node, call.freeze(), wait)
            .await
            .map_err(|e| BrokerError::Cluster(e.to_string()))
    }

    /// The answer to `payload` if it is a front-end's call: from the front-end it names, or
    /// empty when no such front-end runs here.
    pub(crate) fn answer_gateway_call(&self, payload: &Bytes) -> Option<Answer> {
        if payload.first() != Some(&GATEWAY_CALL) {
            return None;
        }
        let len = usize::from(*payload.get(1)?);
        let service = std::str::from_utf8(payload.get(2..2 + len)?).ok()?;
        let handler = self.gateway_calls().read().get(service).cloned();
        let body = payload.slice(2 + len..);
        Some(match handler {
            Some(handler) => handler.call(body),
            None => Box::pin(async { Bytes::new() }),
        })
    }
}

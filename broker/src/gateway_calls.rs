//! Calls between the same front-end on two brokers (an SQS request forwarded to the broker
//! leading its queue): a front-end answers its own service's calls, and the cluster RPC
//! carries them as bytes the broker does not read.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;

use crate::broker::Broker;
use crate::error::BrokerError;

/// An answer on its way.
pub type Answer = BoxFuture<'static, Bytes>;

/// A front-end's answers to its peers on other brokers.
pub trait GatewayCalls: Send + Sync {
    /// Answers `payload`, a call the same front-end on another broker made.
    fn call(&self, payload: Bytes) -> Answer;
}

/// First byte of a front-end's call (the brokers' own calls are JSON, never starting with it),
/// then the service's name (a length byte and its bytes), then the payload.
const GATEWAY_CALL: u8 = 0;

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

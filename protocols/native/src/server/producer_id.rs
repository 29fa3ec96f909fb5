//! InitProducer: a producer id for an idempotent producer, unique in the cluster, so a batch
//! it sends again (after a lost answer or a leader's failover) is appended once.

use super::context::Context;
use super::error_map::broker_error;
use crate::wire::Message;

/// A producer id never handed out before, in epoch 0.
pub(crate) async fn init_producer(context: &Context) -> Message {
    match context.broker.new_producer_id().await {
        Ok(producer_id) => Message::ProducerId {
            producer_id,
            epoch: 0,
        },
        Err(e) => broker_error(&e),
    }
}

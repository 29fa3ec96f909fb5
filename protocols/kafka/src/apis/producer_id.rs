//! InitProducerId for idempotent producers. Transactions are not offered: a transactional id
//! is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a clear, non-retriable answer.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::error_codes;
use crate::handler::Handler;

pub async fn init(
    handler: &Arc<Handler>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    // A producer that knows its id asks for a new epoch (KIP-360) to reset its sequences.
    let known = request.producer_id.0;
    if known >= 0 && request.producer_epoch >= 0 && request.producer_epoch < i16::MAX - 1 {
        return response
            .with_producer_id(ProducerId(known))
            .with_producer_epoch(request.producer_epoch + 1);
    }
    match handler.broker.new_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => response.with_error_code(error_codes::code(&e)),
    }
}

//! Produce: batches are appended in the order requests arrive; the response waits for what
//! `acks` promises (fsync on durable topics for `acks=-1`), concurrently with later requests.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use neo_broker::{Acks, Appended, BrokerError};

use crate::context::Context;
use crate::handler::Handler;
use crate::reply::Reply;
use crate::{error_codes, wire_values};
use neo_broker::acls::{Operation, Resource};

enum Outcome {
    Appended(Appended),
    /// Dropped unstored (`discard_produce`, benchmarks only).
    Discarded,
    /// Refused: the error code, its message and the refused records' positions in the batch.
    Failed(i16, Option<String>, Vec<i32>),
}

pub async fn handle(handler: &Arc<Handler>, context: &Context, request: ProduceRequest) -> Reply {
    let acks = wire_values::acks(request.acks);
    let mut topics = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name.0.as_str().to_string();
        let refused = handler.refusal(context, Operation::Write, Resource::topic(&name));
        let mut partitions: Vec<(i32, Outcome)> = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let outcome = match (acks, data.records) {
                (None, _) => {
                    Outcome::Failed(ResponseError::InvalidRequiredAcks.code(), None, Vec::new())
                }
                (Some(_), _) if let Some(code) = refused => Outcome::Failed(code, None, Vec::new()),
                (Some(_), None) => {
                    Outcome::Failed(ResponseError::InvalidRecord.code(), None, Vec::new())
                }
                (Some(_), Some(_)) if handler.config.discard_produce => Outcome::Discarded,
                (Some(acks), Some(records)) => {
                    match handler
                        .broker
                        .append(&name, data.index, records, acks)
                        .await
                    {
                        Ok(appended) => Outcome::Appended(appended),
                        Err(e) => failed(&name, data.index, &e),
                    }
                }
            };
            partitions.push((data.index, outcome));
        }
        topics.push((name, partitions));
    }
    if acks == Some(Acks::None) {
        return Reply::Nothing;
    }
    // An invalid `acks` failed every partition above and still gets an answer.
    let acks = acks.unwrap_or(Acks::Leader);
    Reply::Later(Box::pin(async move {
        ResponseKind::Produce(respond(topics, acks).await)
    }))
}

fn failed(topic: &str, partition: i32, error: &BrokerError) -> Outcome {
    tracing::debug!(topic, partition, error = %error, "produce rejected");
    let record_indexes = match error {
        BrokerError::InvalidRecord { record_indexes, .. } => record_indexes.clone(),
        _ => Vec::new(),
    };
    Outcome::Failed(
        error_codes::code(error),
        Some(error.to_string()),
        record_indexes,
    )
}

/// Waits for every partition's acknowledgement and builds the response.
async fn respond(topics: Vec<(String, Vec<(i32, Outcome)>)>, acks: Acks) -> ProduceResponse {
    let mut responses = Vec::with_capacity(topics.len());
    for (name, partitions) in topics {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, outcome) in partitions {
            let result = match outcome {
                Outcome::Appended(appended) => appended
                    .acknowledged(acks)
                    .await
                    .map_err(|e| (error_codes::code(&e), Some(e.to_string()), Vec::new())),
                Outcome::Discarded => Ok(neo_broker::ProduceOutcome {
                    base_offset: 0,
                    last_offset: 0,
                    log_append_time: -1,
                    log_start_offset: 0,
                }),
                Outcome::Failed(code, message, records) => Err((code, message, records)),
            };
            let response = PartitionProduceResponse::default().with_index(index);
            partition_responses.push(match result {
                Ok(outcome) => response
                    .with_base_offset(outcome.base_offset)
                    .with_log_append_time_ms(outcome.log_append_time)
                    .with_log_start_offset(outcome.log_start_offset),
                Err((code, message, records)) => response
                    .with_error_code(code)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
                    .with_record_errors(
                        records
                            .into_iter()
                            .map(|i| BatchIndexAndErrorMessage::default().with_batch_index(i))
                            .collect(),
                    )
                    .with_error_message(message.map(Into::into)),
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(super::topic_name(&name))
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

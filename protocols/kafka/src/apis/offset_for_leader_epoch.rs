//! OffsetForLeaderEpoch: where a leader epoch ends on the partition's leader, which a consumer
//! asks after a leader change to check that the records it read are still in the log
//! (KIP-320), and a follower to find where its log diverged (KIP-101).

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::context::Context;
use crate::handler::Handler;
use crate::{error_codes, wire_values};
use neo_broker::acls::{Operation, Resource};

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET: the log cannot say.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// Answers every partition asked for. As in Kafka, a caller allowed CLUSTER_ACTION (a
/// replica) may ask about any topic and anyone else needs DESCRIBE on the topic, whatever
/// `replica_id` says; a follower's request is answered as a consumer's is, from the leader.
pub fn handle(
    handler: &Arc<Handler>,
    context: &Context,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let replica = handler.may(context, Operation::ClusterAction, Resource::cluster());
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.as_str();
            let refused = match replica {
                true => None,
                false => handler.refusal(context, Operation::Describe, Resource::topic(name)),
            };
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    if let Some(code) = refused {
                        return response.with_error_code(code);
                    }
                    let current = wire_values::leader_epoch(p.current_leader_epoch);
                    match handler.broker.end_offset_for_epoch(
                        name,
                        p.partition,
                        current,
                        p.leader_epoch,
                    ) {
                        Ok(Some(end)) => response
                            .with_leader_epoch(end.leader_epoch)
                            .with_end_offset(end.end_offset),
                        Ok(None) => response,
                        Err(e) => response.with_error_code(error_codes::code(&e)),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

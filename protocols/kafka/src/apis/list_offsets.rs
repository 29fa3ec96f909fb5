//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), or the first offset at or
//! after a timestamp.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::context::Context;
use crate::handler::Handler;
use crate::{error_codes, wire_values};
use neo_broker::acls::{Operation, Resource};

pub fn handle(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let refused = handler.refusal(context, Operation::Describe, Resource::topic(name));
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    if let Some(code) = refused {
                        return response.with_error_code(code);
                    }
                    let spec = wire_values::offset_spec(p.timestamp);
                    let epoch = wire_values::leader_epoch(p.current_leader_epoch);
                    match handler
                        .broker
                        .list_offset(name, p.partition_index, spec, epoch)
                    {
                        Ok(Some(found)) => response
                            .with_offset(found.offset)
                            .with_timestamp(found.timestamp)
                            // The field exists from v4; earlier versions must leave it unset.
                            .with_leader_epoch(if version >= 4 {
                                wire_values::epoch_to_kafka(found.leader_epoch)
                            } else {
                                -1
                            }),
                        Ok(None) => response,
                        Err(e) => response.with_error_code(error_codes::code(&e)),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

//! Fetch: whole batches as stored, long-polling until `min_bytes` or `max_wait_ms`. Fetch
//! sessions are declined (session id 0), so clients send full fetch requests. A topic the
//! client may not READ answers TOPIC_AUTHORIZATION_FAILED and is not read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::context::Context;
use crate::error_codes;
use crate::handler::Handler;
use crate::wire_values;
use neo_broker::acls::{Operation, Resource};

/// The requested topics the client may not READ, with the refusal's code.
pub fn unreadable_topics(
    handler: &Handler,
    context: &Context,
    request: &FetchRequest,
) -> HashMap<String, i16> {
    request
        .topics
        .iter()
        .map(|t| t.topic.0.as_str())
        .filter_map(|name| {
            let code = handler.refusal(context, Operation::Read, Resource::topic(name))?;
            Some((name.to_string(), code))
        })
        .collect()
}

pub async fn handle(
    handler: &Arc<Handler>,
    request: FetchRequest,
    denied: HashMap<String, i16>,
) -> FetchResponse {
    let mut shape: Vec<(kafka_protocol::messages::TopicName, Vec<i32>, Option<i16>)> = Vec::new();
    let mut partitions = Vec::new();
    for topic in &request.topics {
        let refused = denied.get(topic.topic.0.as_str()).copied();
        shape.push((
            topic.topic.clone(),
            topic.partitions.iter().map(|p| p.partition).collect(),
            refused,
        ));
        if refused.is_some() {
            continue;
        }
        for p in &topic.partitions {
            partitions.push(neo_broker::FetchPartition {
                topic: topic.topic.0.as_str().to_string(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                leader_epoch: wire_values::leader_epoch(p.current_leader_epoch),
            });
        }
    }
    let wanted = neo_broker::FetchRequest {
        partitions,
        max_wait: Duration::from_millis(request.max_wait_ms.max(0) as u64),
        min_bytes: request.min_bytes.max(0) as usize,
        max_bytes: if request.max_bytes <= 0 {
            usize::MAX
        } else {
            request.max_bytes as usize
        },
    };
    let mut fetched = handler.broker.fetch(&wanted).await.into_iter();
    let responses = shape
        .into_iter()
        .map(|(topic, indexes, refused)| {
            if let Some(code) = refused {
                let partitions = indexes
                    .into_iter()
                    .map(|index| {
                        PartitionData::default()
                            .with_partition_index(index)
                            .with_error_code(code)
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1)
                    })
                    .collect();
                return FetchableTopicResponse::default()
                    .with_topic(topic)
                    .with_partitions(partitions);
            }
            let partitions = fetched
                .by_ref()
                .take(indexes.len())
                .map(|p| {
                    let data = PartitionData::default().with_partition_index(p.partition);
                    match p.result {
                        Ok(read) => data
                            .with_high_watermark(read.high_watermark)
                            .with_last_stable_offset(read.high_watermark)
                            .with_log_start_offset(read.log_start_offset)
                            .with_aborted_transactions(Some(Vec::new()))
                            .with_records(Some(read.records)),
                        Err(e) => data
                            .with_error_code(error_codes::code(&e))
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1),
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic)
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(responses)
}

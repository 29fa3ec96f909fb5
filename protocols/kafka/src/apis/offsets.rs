//! Committed offsets: OffsetCommit, OffsetFetch (incl. several groups at once, v8+) and
//! OffsetDelete.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::groups::OffsetCommit;

use super::topic_name;
use crate::context::Context;
use crate::error_codes::group_code;
use crate::handler::Handler;
use neo_broker::acls::{Operation, Resource};

pub async fn commit(
    handler: &Arc<Handler>,
    context: &Context,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let broker = &handler.broker;
    let group_refused = handler.refusal(
        context,
        Operation::Read,
        Resource::group(request.group_id.0.as_str()),
    );
    // Partitions of unknown or unreadable topics fail alone; the rest are committed together.
    let mut commits = Vec::new();
    let mut refused: Vec<((String, i32), i16)> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let topic_refused = handler.refusal(context, Operation::Read, Resource::topic(name));
        for p in &topic.partitions {
            let key = (name.to_string(), p.partition_index);
            if let Some(code) = group_refused.or(topic_refused) {
                refused.push((key, code));
                continue;
            }
            // The partition may live on other brokers: it only has to exist.
            let exists = broker
                .topic(name)
                .is_some_and(|t| (0..t.partition_count()).contains(&p.partition_index));
            if !exists {
                refused.push((key, ResponseError::UnknownTopicOrPartition.code()));
                continue;
            }
            commits.push(OffsetCommit {
                topic: name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_deref().map(str::to_string),
            });
        }
    }
    let result = broker
        .groups()
        .commit_offsets(
            request.group_id.0.as_str(),
            request.generation_id_or_member_epoch,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
            commits,
        )
        .await;
    let code = result.err().map_or(0, |e| group_code(&e));
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.as_str().to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let key = (name.clone(), p.partition_index);
                    let failed = refused.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(failed.unwrap_or(code))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// `(topic, partitions)` wanted, or every committed partition with `None`.
type Wanted = Option<Vec<(String, Vec<i32>)>>;

/// `(topic, [(partition, offset, leader epoch, metadata)])` found for one group.
type Found = Vec<(String, Vec<(i32, i64, i32, Option<String>)>)>;

fn lookup(handler: &Handler, group: &str, wanted: Wanted) -> Found {
    let groups = handler.broker.groups();
    match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| match groups.committed(group, &topic, p) {
                        Some(c) => (p, c.offset, c.leader_epoch, c.metadata),
                        None => (p, -1, -1, Some(String::new())),
                    })
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut by_topic: Found = Vec::new();
            for ((topic, partition), c) in groups.all_committed(group) {
                let entry = (partition, c.offset, c.leader_epoch, c.metadata);
                match by_topic.iter_mut().find(|(t, _)| *t == topic) {
                    Some((_, ps)) => ps.push(entry),
                    None => by_topic.push((topic, vec![entry])),
                }
            }
            by_topic
        }
    }
}

/// The error code when this broker does not coordinate `group` now.
fn not_coordinator(handler: &Handler, group: &str) -> Option<i16> {
    handler
        .broker
        .groups()
        .check(group)
        .err()
        .map(|e| group_code(&e))
}

/// OffsetFetch (before v8) refused with `code`: in the response's error code from v2 on,
/// and in each partition's before.
fn refused_fetch(version: i16, request: OffsetFetchRequest, code: i16) -> OffsetFetchResponse {
    if version >= 2 {
        return OffsetFetchResponse::default().with_error_code(code);
    }
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partition_indexes
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

pub fn fetch(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let refusal =
        |group: &str| handler.refusal(context, Operation::Describe, Resource::group(group));
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                if let Some(code) = refusal(group.group_id.0.as_str())
                    .or_else(|| not_coordinator(handler, group.group_id.0.as_str()))
                {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id)
                        .with_error_code(code);
                }
                let wanted = group.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes))
                        .collect()
                });
                let topics = lookup(handler, group.group_id.0.as_str(), wanted)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(topic_name(&topic))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|(p, offset, epoch, metadata)| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(metadata.map(StrBytes::from_string))
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if let Some(code) = refusal(request.group_id.0.as_str()) {
        return OffsetFetchResponse::default().with_error_code(code);
    }
    if let Some(code) = not_coordinator(handler, request.group_id.0.as_str()) {
        return refused_fetch(version, request, code);
    }
    let wanted = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes))
            .collect()
    });
    let topics = lookup(handler, request.group_id.0.as_str(), wanted)
        .into_iter()
        .map(|(topic, partitions)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, offset, epoch, metadata)| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(metadata.map(StrBytes::from_string))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

pub async fn delete(handler: &Arc<Handler>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str().to_string(), p.partition_index))
        })
        .collect();
    let results = match handler
        .broker
        .groups()
        .delete_offsets(request.group_id.0.as_str(), &partitions)
        .await
    {
        Ok(results) => results,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(group_code(&e)),
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = results
                        .next()
                        .and_then(|r| r.err())
                        .map_or(0, |e| group_code(&e));
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

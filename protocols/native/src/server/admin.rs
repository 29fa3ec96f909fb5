//! Admin requests: create, delete, list and describe topics; list consumer groups.

use std::collections::BTreeMap;

use super::Context;
use super::error_map::{broker_error, error};
use crate::wire::{ErrorCode, GroupInfo, Message, PartitionInfo, TopicInfo};

/// Creates a topic with `partitions` partitions (-1 for the broker's default).
pub(crate) async fn create_topic(context: &Context, name: &str, partitions: i32) -> Message {
    match context
        .broker
        .create_topic(name, partitions, BTreeMap::new(), false)
        .await
    {
        Ok(_) => Message::Ok,
        Err(e) => broker_error(&e),
    }
}

/// Deletes a topic and its data.
pub(crate) async fn delete_topic(context: &Context, name: &str) -> Message {
    match context.broker.delete_topic(name).await {
        Ok(()) => Message::Ok,
        Err(e) => broker_error(&e),
    }
}

/// Every topic with its partition count, sorted by name.
pub(crate) fn list_topics(context: &Context) -> Message {
    let mut topics: Vec<TopicInfo> = context
        .broker
        .topics()
        .iter()
        .map(|t| TopicInfo {
            name: t.name().to_string(),
            partitions: t.partition_count(),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Message::Topics { topics }
}

/// A topic's partitions with their log start and high watermark.
pub(crate) fn describe_topic(context: &Context, name: &str) -> Message {
    let Some(topic) = context.broker.topic(name) else {
        return error(
            ErrorCode::UnknownTopicOrPartition,
            format!("unknown topic {name}"),
        );
    };
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| PartitionInfo {
            partition: p.index(),
            log_start: p.log_start_offset(),
            high_watermark: p.high_watermark(),
        })
        .collect();
    Message::TopicDescription {
        name: name.to_string(),
        partitions,
    }
}

/// Every consumer group the coordinator knows (with members or with committed offsets).
pub(crate) fn list_groups(context: &Context) -> Message {
    let groups = context
        .broker
        .groups()
        .list()
        .into_iter()
        .map(|g| GroupInfo {
            group: g.group_id,
            protocol_type: g.protocol_type,
            state: g.state.name().to_string(),
        })
        .collect();
    Message::Groups { groups }
}

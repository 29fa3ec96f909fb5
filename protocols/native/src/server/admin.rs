//! Admin requests: create, delete, list and describe topics; list consumer groups.

use std::collections::BTreeMap;

use neo_broker::acls::{Caller, Operation, Resource};

use super::context::Context;
use super::error_map::{authorize, broker_error, error};
use crate::wire::{ErrorCode, GroupInfo, Message, PartitionInfo, TopicInfo};

/// Creates a topic with `partitions` partitions (-1 for the broker's default).
pub(crate) async fn create_topic(
    context: &Context,
    caller: &Caller,
    name: &str,
    partitions: i32,
) -> Message {
    let broker = &context.broker;
    if let Err(refused) = authorize(broker, caller, Operation::Create, Resource::topic(name)) {
        return refused;
    }
    match broker
        .create_topic(name, partitions, -1, BTreeMap::new(), false)
        .await
    {
        Ok(_) => Message::Ok,
        Err(e) => broker_error(&e),
    }
}

/// Deletes a topic and its data.
pub(crate) async fn delete_topic(context: &Context, caller: &Caller, name: &str) -> Message {
    let broker = &context.broker;
    if let Err(refused) = authorize(broker, caller, Operation::Delete, Resource::topic(name)) {
        return refused;
    }
    match broker.delete_topic(name).await {
        Ok(()) => Message::Ok,
        Err(e) => broker_error(&e),
    }
}

/// Every topic the caller may DESCRIBE with its partition count, sorted by name.
pub(crate) fn list_topics(context: &Context, caller: &Caller) -> Message {
    let broker = &context.broker;
    let mut topics: Vec<TopicInfo> = broker
        .topics()
        .iter()
        .filter(|t| {
            broker
                .authorize(caller, Operation::Describe, Resource::topic(t.name()))
                .is_ok()
        })
        .map(|t| TopicInfo {
            name: t.name().to_string(),
            partitions: t.partition_count(),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Message::Topics { topics }
}

/// A topic's partitions with their log start and high watermark.
pub(crate) fn describe_topic(context: &Context, caller: &Caller, name: &str) -> Message {
    let broker = &context.broker;
    if let Err(refused) = authorize(broker, caller, Operation::Describe, Resource::topic(name)) {
        return refused;
    }
    let Some(topic) = broker.topic(name) else {
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

/// Every consumer group the coordinator knows (with members or with committed offsets) that
/// the caller may DESCRIBE.
pub(crate) fn list_groups(context: &Context, caller: &Caller) -> Message {
    let broker = &context.broker;
    let groups = broker
        .groups()
        .list()
        .into_iter()
        .filter(|g| {
            broker
                .authorize(caller, Operation::Describe, Resource::group(&g.group_id))
                .is_ok()
        })
        .map(|g| GroupInfo {
            group: g.group_id,
            protocol_type: g.protocol_type,
            state: g.state.name().to_string(),
        })
        .collect();
    Message::Groups { groups }
}

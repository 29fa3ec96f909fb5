//! Committed offsets of consumer groups, shared with the Kafka front-end's group coordinator.

use neo_broker::acls::{Caller, Operation, Resource};
use neo_broker::groups::OffsetCommit;

use super::context::Context;
use super::error_map::{authorize, group_error};
use crate::wire::Message;

/// Commits `offset` (the next offset to read) for a group's partition, outside any generation.
pub(crate) async fn commit(
    context: &Context,
    caller: &Caller,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Message {
    let broker = &context.broker;
    let allowed = authorize(broker, caller, Operation::Read, Resource::group(group))
        .and_then(|()| authorize(broker, caller, Operation::Read, Resource::topic(topic)));
    if let Err(refused) = allowed {
        return refused;
    }
    let commit = OffsetCommit {
        topic: topic.to_string(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: None,
    };
    match context
        .broker
        .groups()
        .commit_offsets(group, -1, "", None, vec![commit])
        .await
    {
        Ok(()) => Message::Ok,
        Err(e) => group_error(&e),
    }
}

/// The group's committed offset of a partition, -1 when there is none.
pub(crate) fn fetch(
    context: &Context,
    caller: &Caller,
    group: &str,
    topic: &str,
    partition: i32,
) -> Message {
    let broker = &context.broker;
    let allowed = authorize(broker, caller, Operation::Describe, Resource::group(group))
        .and_then(|()| authorize(broker, caller, Operation::Describe, Resource::topic(topic)));
    if let Err(refused) = allowed {
        return refused;
    }
    if let Err(e) = broker.groups().check(group) {
        return group_error(&e);
    }
    let offset = context
        .broker
        .groups()
        .committed(group, topic, partition)
        .map_or(-1, |c| c.offset);
    Message::Committed { offset }
}

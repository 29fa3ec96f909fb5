//! Admin requests: create, delete and list topics.

use std::collections::BTreeMap;

use super::Context;
use super::error_map::broker_error;
use crate::wire::{Message, TopicInfo};

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

//! Metadata: where each broker's native listener is and which broker leads each partition,
//! so a client sends every partition's requests to its leader.

use neo_broker::acls::{Caller, Operation, Resource};

use super::context::Context;
use crate::wire::{BrokerInfo, Message, TopicLeaders};

/// The brokers' native addresses and the leaders of `topics` (every topic when empty) the
/// caller may DESCRIBE; unknown topics are left out.
pub(crate) fn metadata(context: &Context, caller: &Caller, topics: &[String]) -> Message {
    let broker = &context.broker;
    let mut brokers: Vec<BrokerInfo> = broker
        .endpoints("native")
        .into_iter()
        .map(|(id, address)| BrokerInfo {
            id: i64::try_from(id).unwrap_or(-1),
            address,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    let wanted = if topics.is_empty() {
        broker.topics()
    } else {
        topics
            .iter()
            .filter_map(|name| broker.topic(name))
            .collect()
    };
    let topics = wanted
        .iter()
        .filter(|t| {
            broker
                .authorize(caller, Operation::Describe, Resource::topic(t.name()))
                .is_ok()
        })
        .map(|t| TopicLeaders {
            name: t.name().to_string(),
            leaders: (0..t.partition_count())
                .map(|p| {
                    broker
                        .placement(t, p)
                        .leader
                        .and_then(|id| i64::try_from(id).ok())
                        .unwrap_or(-1)
                })
                .collect(),
        })
        .collect();
    Message::ClusterMetadata { brokers, topics }
}

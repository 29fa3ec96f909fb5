//! Metadata: the broker and the topics asked for, creating missing ones when
//! `auto.create.topics.enable` is on and the client allows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;
use neo_broker::{BrokerError, Topic};

use super::topic_name;
use crate::context::Context;
use crate::error_codes;
use crate::handler::Handler;
use crate::wire_values;
use neo_broker::acls::{Operation, Resource};

pub async fn handle(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    let broker = &handler.broker;
    let topics = match request.topics {
        None => all_topics(handler, context),
        Some(topics) if topics.is_empty() && version == 0 => all_topics(handler, context),
        Some(topics) => {
            let auto_create = handler.config.auto_create_topics
                && (version < 4 || request.allow_auto_topic_creation);
            let mut out = Vec::with_capacity(topics.len());
            for wanted in topics {
                let found = match &wanted.name {
                    Some(name)
                        if let Some(code) = handler.refusal(
                            context,
                            Operation::Describe,
                            Resource::topic(name),
                        ) =>
                    {
                        Err(code)
                    }
                    Some(name) => {
                        let create = auto_create
                            && handler.may(context, Operation::Create, Resource::topic(name));
                        lookup_or_create(handler, name, create).await
                    }
                    None => broker
                        .topics()
                        .into_iter()
                        .find(|t| t.id() == wanted.topic_id)
                        .ok_or_else(|| ResponseError::UnknownTopicId.code()),
                };
                out.push(match found {
                    Ok(topic) => describe(handler, &topic),
                    Err(code) => MetadataResponseTopic::default()
                        .with_error_code(code)
                        .with_name(wanted.name)
                        .with_topic_id(wanted.topic_id),
                });
            }
            out
        }
    };
    let brokers = handler
        .brokers(context)
        .into_iter()
        .map(|(id, host, port)| {
            MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(StrBytes::from_string(host))
                .with_port(port)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id().to_string())))
        .with_controller_id(handler.controller_id())
        .with_topics(topics)
}

/// Every topic the client may DESCRIBE (the others are left out, as in Kafka).
fn all_topics(handler: &Handler, context: &Context) -> Vec<MetadataResponseTopic> {
    let mut topics = handler.broker.topics();
    topics.retain(|t| handler.may(context, Operation::Describe, Resource::topic(t.name())));
    topics.sort_by(|a, b| a.name().cmp(b.name()));
    topics.iter().map(|t| describe(handler, t)).collect()
}

async fn lookup_or_create(
    handler: &Handler,
    name: &str,
    auto_create: bool,
) -> Result<Arc<Topic>, i16> {
    if let Some(topic) = handler.broker.topic(name) {
        return Ok(topic);
    }
    // A name no topic can have is INVALID_TOPIC_EXCEPTION whether or not the request may
    // create topics (librdkafka fails a produce to it at once only with this code).
    if let Err(e) = neo_broker::topic_name::validate_topic_name(name) {
        return Err(error_codes::code(&e));
    }
    if !auto_create {
        return Err(ResponseError::UnknownTopicOrPartition.code());
    }
    match handler
        .broker
        .create_topic(name, -1, -1, BTreeMap::new(), false)
        .await
    {
        Ok(topic) => Ok(topic),
        // Another connection created it first.
        Err(BrokerError::TopicAlreadyExists(_)) => handler
            .broker
            .topic(name)
            .ok_or_else(|| ResponseError::UnknownTopicOrPartition.code()),
        Err(e) => Err(error_codes::code(&e)),
    }
}

fn describe(handler: &Handler, topic: &Topic) -> MetadataResponseTopic {
    let ids = |ids: Vec<u64>| -> Vec<BrokerId> {
        ids.into_iter()
            .filter_map(|id| i32::try_from(id).ok().map(BrokerId))
            .collect()
    };
    let partitions = (0..topic.partition_count())
        .map(|index| {
            let placement = handler.broker.placement(topic, index);
            let leader = placement.leader.and_then(|id| i32::try_from(id).ok());
            MetadataResponsePartition::default()
                .with_partition_index(index)
                // Retriable: the client asks again once the election is over.
                .with_error_code(if leader.is_some() {
                    0
                } else {
                    ResponseError::LeaderNotAvailable.code()
                })
                .with_leader_id(BrokerId(leader.unwrap_or(-1)))
                .with_leader_epoch(wire_values::epoch_to_kafka(placement.epoch))
                .with_replica_nodes(ids(placement.replicas))
                .with_isr_nodes(ids(placement.in_sync))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(topic.name())))
        .with_topic_id(topic.id())
        .with_is_internal(neo_broker::topic_name::is_internal(topic.name()))
        .with_partitions(partitions)
}

//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::context::Context;
use crate::error_codes;
use crate::handler::Handler;
use neo_broker::acls::{Operation, Resource};

/// CONFIG_SOURCE values of DescribeConfigs and CreateTopics v5+.
pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub const SOURCE_DEFAULT: i8 = 5;

pub async fn create(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str().to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if let Some(code) = handler.refusal(context, Operation::Create, Resource::topic(&name)) {
            results.push(result.with_error_code(code));
            continue;
        }
        let partitions = if topic.assignments.is_empty() {
            topic.num_partitions
        } else if topic.num_partitions != -1 {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "both numPartitions and replica assignments were given",
                    ))),
            );
            continue;
        } else {
            topic.assignments.len() as i32
        };
        let configs: BTreeMap<String, String> = topic
            .configs
            .into_iter()
            .filter_map(|c| Some((c.name.as_str().to_string(), c.value?.as_str().to_string())))
            .collect();
        match handler
            .broker
            .create_topic(
                &name,
                partitions,
                topic.replication_factor,
                configs,
                request.validate_only,
            )
            .await
        {
            Ok(created) => {
                let mut result = result
                    .with_topic_id(created.id())
                    .with_num_partitions(match partitions {
                        -1 => handler.broker.config().num_partitions,
                        n => n,
                    })
                    .with_replication_factor(match topic.replication_factor {
                        -1 => handler.broker.config().default_replication_factor,
                        n => n,
                    });
                if version >= 5 {
                    let configs = created
                        .describe_configs()
                        .into_iter()
                        .map(|entry| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_string(entry.name))
                                .with_value(Some(StrBytes::from_string(entry.value)))
                                .with_config_source(if entry.is_default {
                                    SOURCE_DEFAULT
                                } else {
                                    SOURCE_DYNAMIC_TOPIC
                                })
                        })
                        .collect();
                    result = result.with_configs(Some(configs));
                }
                results.push(result);
            }
            Err(e) => {
                let (code, message) = error_codes::code_and_message(&e);
                results.push(result.with_error_code(code).with_error_message(message));
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete(
    handler: &Arc<Handler>,
    context: &Context,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v6 names topics (or their ids) in `topics`; earlier versions in `topic_names`.
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.0.as_str().to_string()), uuid::Uuid::nil()))
        .collect();
    wanted.extend(request.topics.iter().map(|t| {
        (
            t.name.as_ref().map(|n| n.0.as_str().to_string()),
            t.topic_id,
        )
    }));
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let name = name.or_else(|| {
            handler
                .broker
                .topics()
                .into_iter()
                .find(|t| t.id() == id)
                .map(|t| t.name().to_string())
        });
        let result = DeletableTopicResult::default().with_topic_id(id);
        let Some(name) = name else {
            responses.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        };
        let result = result.with_name(Some(topic_name(&name)));
        if let Some(code) = handler.refusal(context, Operation::Delete, Resource::topic(&name)) {
            responses.push(result.with_error_code(code));
            continue;
        }
        responses.push(match handler.broker.delete_topic(&name).await {
            Ok(()) => result,
            Err(e) => {
                let (code, message) = error_codes::code_and_message(&e);
                result.with_error_code(code).with_error_message(message)
            }
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    handler: &Arc<Handler>,
    context: &Context,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let resource = Resource::topic(topic.name.0.as_str());
        if let Some(code) = handler.refusal(context, Operation::Alter, resource) {
            results.push(result.with_error_code(code));
            continue;
        }
        let outcome = handler
            .broker
            .create_partitions(topic.name.0.as_str(), topic.count, request.validate_only)
            .await;
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => {
                let (code, message) = error_codes::code_and_message(&e);
                result.with_error_code(code).with_error_message(message)
            }
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

pub fn delete_records(
    handler: &Arc<Handler>,
    context: &Context,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let refused = handler.refusal(
                context,
                Operation::Delete,
                Resource::topic(topic.name.0.as_str()),
            );
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    if let Some(code) = refused {
                        return result.with_error_code(code);
                    }
                    match handler.broker.delete_records(
                        topic.name.0.as_str(),
                        p.partition_index,
                        p.offset,
                    ) {
                        Ok(low) => result.with_low_watermark(low),
                        Err(e) => result.with_error_code(error_codes::code(&e)),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

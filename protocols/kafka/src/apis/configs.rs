//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and a read-only view
//! of the broker's settings).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::{BrokerError, ConfigChange, ConfigEntry};

use super::topics::{SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC};
use crate::context::Context;
use crate::error_codes;
use crate::handler::Handler;
use neo_broker::acls::{Operation, Resource};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// CONFIG_SOURCE of a broker setting from its config file.
const SOURCE_STATIC_BROKER: i8 = 4;

/// ConfigType values (DescribeConfigs v3+).
fn config_type(name: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const LIST: i8 = 7;
    match name {
        "cleanup.policy" => LIST,
        "message.timestamp.type" | "compression.type" => STRING,
        "max.message.bytes" | "segment.bytes" | "num.partitions" | "default.replication.factor" => {
            INT
        }
        "auto.create.topics.enable" => BOOLEAN,
        _ => LONG,
    }
}

/// The refusal code when the client may not do `op` on a config resource (a topic, or the
/// broker as part of the cluster).
fn refused(
    handler: &Handler,
    context: &Context,
    resource_type: i8,
    name: &str,
    op: Operation,
) -> Option<i16> {
    let resource = if resource_type == RESOURCE_TOPIC {
        Resource::topic(name)
    } else {
        Resource::cluster()
    };
    handler.refusal(context, op, resource)
}

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if let Some(code) = refused(
                handler,
                context,
                resource.resource_type,
                resource.resource_name.as_str(),
                Operation::DescribeConfigs,
            ) {
                return result.with_error_code(code);
            }
            let entries: Result<Vec<(ConfigEntry, i8)>, (i16, String)> =
                match resource.resource_type {
                    RESOURCE_TOPIC => handler
                        .broker
                        .describe_topic_configs(resource.resource_name.as_str())
                        .map(|entries| {
                            entries
                                .into_iter()
                                .map(|e| {
                                    let source = if e.is_default {
                                        SOURCE_DEFAULT
                                    } else {
                                        SOURCE_DYNAMIC_TOPIC
                                    };
                                    (e, source)
                                })
                                .collect()
                        })
                        .map_err(|e| (error_codes::code(&e), e.to_string())),
                    RESOURCE_BROKER => Ok(broker_entries(handler)),
                    other => Err((
                        ResponseError::InvalidRequest.code(),
                        format!("resource type {other} has no configs here"),
                    )),
                };
            match entries {
                Ok(entries) => {
                    let configs = entries
                        .into_iter()
                        .filter(|(e, _)| {
                            resource
                                .configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name))
                        })
                        .map(|(e, source)| {
                            let mut out = DescribeConfigsResourceResult::default()
                                .with_config_source(source)
                                .with_read_only(resource.resource_type == RESOURCE_BROKER);
                            if version >= 3 {
                                out = out.with_config_type(config_type(&e.name));
                            }
                            out.with_name(StrBytes::from_string(e.name))
                                .with_value(Some(StrBytes::from_string(e.value)))
                        })
                        .collect();
                    result.with_configs(configs)
                }
                Err((code, message)) => result
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// The broker settings clients look at, read-only.
fn broker_entries(handler: &Handler) -> Vec<(ConfigEntry, i8)> {
    let broker = handler.broker.config();
    let kafka = &handler.config;
    [
        (
            "auto.create.topics.enable",
            kafka.auto_create_topics.to_string(),
        ),
        ("num.partitions", broker.num_partitions.to_string()),
        ("default.replication.factor", "1".to_string()),
        (
            "socket.request.max.bytes",
            kafka.max_request_bytes.to_string(),
        ),
        (
            "connections.max.idle.ms",
            kafka.idle_timeout.as_millis().to_string(),
        ),
        ("node.id", kafka.node_id.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| {
        (
            ConfigEntry {
                name: name.to_string(),
                value,
                is_default: false,
            },
            SOURCE_STATIC_BROKER,
        )
    })
    .collect()
}

/// Applies `changes` to the topic `resource_name`; broker settings are read-only at runtime.
async fn apply(
    handler: &Handler,
    resource_type: i8,
    resource_name: &str,
    changes: Result<Vec<ConfigChange>, BrokerError>,
    incremental: bool,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    if resource_type != RESOURCE_TOPIC {
        return (
            ResponseError::InvalidRequest.code(),
            Some(StrBytes::from_static_str(
                "only topic configs can be altered; broker settings come from neo.toml",
            )),
        );
    }
    let outcome = match changes {
        Ok(changes) => {
            handler
                .broker
                .alter_topic_config(resource_name, changes, incremental, validate_only)
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => (0, None),
        Err(e) => error_codes::code_and_message(&e),
    }
}

pub async fn alter(
    handler: &Arc<Handler>,
    context: &Context,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        if let Some(code) = refused(
            handler,
            context,
            resource.resource_type,
            resource.resource_name.as_str(),
            Operation::AlterConfigs,
        ) {
            responses.push(
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(code),
            );
            continue;
        }
        let changes = resource
            .configs
            .into_iter()
            .map(|c| match c.value {
                Some(value) => {
                    ConfigChange::Set(c.name.as_str().to_string(), value.as_str().to_string())
                }
                None => ConfigChange::Delete(c.name.as_str().to_string()),
            })
            .collect();
        let (code, message) = apply(
            handler,
            resource.resource_type,
            resource.resource_name.as_str(),
            Ok(changes),
            false,
            request.validate_only,
        )
        .await;
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub async fn incremental_alter(
    handler: &Arc<Handler>,
    context: &Context,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let name = resource.resource_name.as_str().to_string();
        if let Some(code) = refused(
            handler,
            context,
            resource.resource_type,
            &name,
            Operation::AlterConfigs,
        ) {
            responses.push(
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(code),
            );
            continue;
        }
        let changes = resource
            .configs
            .into_iter()
            .map(|c| {
                incremental_change(handler, &name, c.name.as_str(), c.config_operation, c.value)
            })
            .collect::<Result<Vec<_>, _>>();
        let (code, message) = apply(
            handler,
            resource.resource_type,
            &name,
            changes,
            true,
            request.validate_only,
        )
        .await;
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// One IncrementalAlterConfigs operation: SET (0), DELETE (1), APPEND (2) and SUBTRACT (3),
/// the last two only on list configs.
fn incremental_change(
    handler: &Handler,
    topic: &str,
    key: &str,
    operation: i8,
    value: Option<StrBytes>,
) -> Result<ConfigChange, BrokerError> {
    let invalid = |reason: &str| BrokerError::InvalidConfig {
        key: key.to_string(),
        value: value.as_deref().map(str::to_string).unwrap_or_default(),
        reason: reason.to_string(),
    };
    let value = value.as_deref().map(str::to_string);
    match operation {
        0 => Ok(ConfigChange::Set(
            key.to_string(),
            value.ok_or_else(|| invalid("SET needs a value"))?,
        )),
        1 => Ok(ConfigChange::Delete(key.to_string())),
        2 | 3 => {
            if config_type(key) != 7 {
                return Err(invalid("APPEND and SUBTRACT apply only to list configs"));
            }
            let current = handler
                .broker
                .describe_topic_configs(topic)?
                .into_iter()
                .find(|e| e.name == key)
                .map(|e| e.value)
                .unwrap_or_default();
            let mut items: Vec<String> = current
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            for item in value.unwrap_or_default().split(',').map(str::trim) {
                if item.is_empty() {
                    continue;
                }
                if operation == 2 {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_string());
                    }
                } else {
                    items.retain(|i| i != item);
                }
            }
            Ok(ConfigChange::Set(key.to_string(), items.join(",")))
        }
        other => Err(invalid(&format!("unknown operation {other}"))),
    }
}

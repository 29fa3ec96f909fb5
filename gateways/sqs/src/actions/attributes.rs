//! GetQueueAttributes and SetQueueAttributes.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::output::Output;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::queue_attributes::{QueueAttributes, all_names, is_known};
use crate::request::Request;

pub async fn get(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let requested = Params(&request.params).string_list("AttributeNames")?;
    let mut names: Vec<String> = Vec::new();
    for name in &requested {
        if name == "All" {
            names.extend(all_names().map(str::to_string));
        } else if is_known(name) {
            names.push(name.clone());
        } else {
            return Err(SqsError::InvalidAttributeName(name.clone()));
        }
    }
    let now = neo_record::now_ms();
    state.release_due_locks()?;
    let counts = state.queue.counts();
    let delayed = state.delayed(now);
    let mut attributes = Map::new();
    for name in names {
        let value = match name.as_str() {
            "ApproximateNumberOfMessages" => {
                Some(counts.available.saturating_sub(delayed).to_string())
            }
            "ApproximateNumberOfMessagesNotVisible" => Some(counts.in_flight.to_string()),
            "ApproximateNumberOfMessagesDelayed" => Some(delayed.min(counts.available).to_string()),
            "CreatedTimestamp" => Some(meta.created.to_string()),
            "LastModifiedTimestamp" => Some(meta.modified.to_string()),
            "QueueArn" => Some(gateway.arn_of(&meta.name)),
            other => meta.attributes.get(other),
        };
        if let Some(value) = value {
            attributes.insert(name, Value::String(value));
        }
    }
    let mut out = Map::new();
    if !attributes.is_empty() {
        out.insert("Attributes".into(), Value::Object(attributes));
    }
    Ok(out)
}

pub async fn set(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    let params = Params(&request.params);
    if !request.params.contains_key("Attributes") {
        return Err(SqsError::MissingParameter("Attributes".into()));
    }
    let given = params.string_map("Attributes")?;
    let mut attributes = meta.attributes.clone();
    for (name, value) in &given {
        attributes.set(name, value, meta.is_fifo())?;
    }
    check_redrive_target(gateway, &meta.name, &attributes, meta.is_fifo())?;
    let now = neo_record::now_ms() / 1000;
    gateway
        .update(&meta.name, |m| {
            m.attributes = attributes;
            m.modified = now;
        })
        .await?;
    Ok(Map::new())
}

/// A redrive policy must name an existing queue of the same kind (FIFO or standard) whose
/// RedriveAllowPolicy lets `source` use it.
pub fn check_redrive_target(
    gateway: &Gateway,
    source: &str,
    attributes: &QueueAttributes,
    fifo: bool,
) -> Result<(), SqsError> {
    let Some(policy) = attributes.redrive_policy() else {
        return Ok(());
    };
    let reason = match gateway.queue_of_arn(&policy.dead_letter_target_arn) {
        None => "Dead letter target does not exist.",
        Some(target) if target.is_fifo() != fifo => {
            "Dead-letter queue must be of the same type (FIFO or standard) as the source queue."
        }
        Some(target) if !target.attributes.allows_source(&gateway.arn_of(source)) => {
            "Queue is not allowed by the dead-letter queue's RedriveAllowPolicy."
        }
        Some(_) => return Ok(()),
    };
    Err(SqsError::InvalidParameterValue(format!(
        "Value {} for parameter RedrivePolicy is invalid. Reason: {reason}",
        json!(policy.dead_letter_target_arn)
    )))
}

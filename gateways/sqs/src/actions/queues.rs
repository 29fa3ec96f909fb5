//! CreateQueue, DeleteQueue, GetQueueUrl, ListQueues and PurgeQueue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use neo_broker::acls::Caller;
use serde_json::{Map, Value, json};

use super::access::may_describe;
use super::output::Output;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::queue_attributes::QueueAttributes;
use crate::registry::{QueueMeta, topic_for_queue, valid_queue_name};
use crate::request::Request;

/// Most tags per queue.
pub const MAX_TAGS: usize = 50;
/// How often a queue may be purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

fn url_result(gateway: &Gateway, name: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("QueueUrl".into(), json!(gateway.url_of(name)));
    out
}

pub async fn create(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let params = Params(&request.params);
    let name = params.required_str("QueueName")?;
    if !valid_queue_name(name) {
        return Err(SqsError::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ));
    }
    let given = params.string_map("Attributes")?;
    let mut tags = params.string_map("tags")?;
    tags.extend(params.string_map("Tags")?);
    let fifo = given.get("FifoQueue").is_some_and(|v| v == "true");
    if name.ends_with(".fifo") != fifo {
        return Err(SqsError::InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".into(),
        ));
    }
    let attributes = QueueAttributes::create(fifo, &given)?;
    super::attributes::check_redrive_target(gateway, name, &attributes, fifo)?;
    if let Some(existing) = gateway.lookup(name) {
        for (key, value) in &given {
            if existing.attributes.get(key).as_deref() != Some(value.as_str()) {
                return Err(SqsError::QueueNameExists(key.clone()));
            }
        }
        return Ok(url_result(gateway, name));
    }
    if gateway.deleted_recently(name) {
        return Err(SqsError::QueueDeletedRecently);
    }
    check_tags(&tags)?;
    let now = neo_record::now_ms() / 1000;
    gateway
        .create(QueueMeta {
            name: name.to_string(),
            topic: topic_for_queue(name),
            attributes,
            tags,
            created: now,
            modified: now,
        })
        .await?;
    Ok(url_result(gateway, name))
}

/// Checks tag keys and values as SQS does.
pub fn check_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<(), SqsError> {
    if tags.len() > MAX_TAGS {
        return Err(SqsError::InvalidParameterValue(format!(
            "Too many tags: a queue has at most {MAX_TAGS}."
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(SqsError::InvalidParameterValue(format!(
                "Tag {key} is invalid: keys are 1 to 128 characters, values at most 256."
            )));
        }
    }
    Ok(())
}

pub async fn delete(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    gateway.delete(&meta.name).await?;
    Ok(Map::new())
}

pub fn get_url(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let params = Params(&request.params);
    let name = params.required_str("QueueName")?;
    if let Some(owner) = params.str("QueueOwnerAWSAccountId")?
        && owner != gateway.config.account_id
    {
        return Err(SqsError::QueueDoesNotExist);
    }
    let meta = gateway.lookup(name).ok_or(SqsError::QueueDoesNotExist)?;
    Ok(url_result(gateway, &meta.name))
}

pub fn list(gateway: &Arc<Gateway>, request: &Request, caller: &Caller) -> Output {
    let params = Params(&request.params);
    let prefix = params.str("QueueNamePrefix")?.unwrap_or_default();
    let max = params.int_in("MaxResults", 1, 1000)?;
    let after = decode_token(params.str("NextToken")?)?;
    let names: Vec<String> = gateway
        .all()
        .into_iter()
        .map(|m| m.name)
        .filter(|n| n.starts_with(prefix))
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .filter(|n| may_describe(gateway, caller, n))
        .collect();
    Ok(page(gateway, "QueueUrls", names, max))
}

/// A page of queue URLs under `field`, with a NextToken when `max` cut it.
pub fn page(
    gateway: &Gateway,
    field: &str,
    names: Vec<String>,
    max: Option<i64>,
) -> Map<String, Value> {
    let limit = max.unwrap_or(1000) as usize;
    let more = max.is_some() && names.len() > limit;
    let shown: Vec<&String> = names.iter().take(limit).collect();
    let mut out = Map::new();
    if !shown.is_empty() {
        out.insert(
            field.into(),
            json!(shown.iter().map(|n| gateway.url_of(n)).collect::<Vec<_>>()),
        );
    }
    if more && let Some(last) = shown.last() {
        out.insert(
            "NextToken".into(),
            json!(URL_SAFE_NO_PAD.encode(last.as_bytes())),
        );
    }
    out
}

/// The queue name a NextToken continues after.
pub fn decode_token(token: Option<&str>) -> Result<Option<String>, SqsError> {
    token
        .map(|t| {
            URL_SAFE_NO_PAD
                .decode(t.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SqsError::invalid_value("NextToken", t, "Invalid NextToken value."))
        })
        .transpose()
}

pub async fn purge(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    {
        let mut last = state.last_purge.lock();
        if last.is_some_and(|at| at.elapsed() < PURGE_INTERVAL) {
            return Err(SqsError::PurgeQueueInProgress(gateway.url_of(&meta.name)));
        }
        *last = Some(Instant::now());
    }
    state.queue.purge(true)?;
    state.clear();
    state.queue.sync().await?;
    Ok(Map::new())
}

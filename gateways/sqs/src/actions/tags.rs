//! TagQueue, UntagQueue and ListQueueTags.

use std::sync::Arc;

use serde_json::{Map, json};

use super::output::Output;
use super::queues::check_tags;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::request::Request;

pub async fn tag(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    let given = Params(&request.params).string_map("Tags")?;
    if given.is_empty() {
        return Err(SqsError::MissingParameter("Tags".into()));
    }
    let mut tags = meta.tags.clone();
    tags.extend(given);
    check_tags(&tags)?;
    gateway.update(&meta.name, |m| m.tags = tags).await?;
    Ok(Map::new())
}

pub async fn untag(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    let keys = Params(&request.params).string_list("TagKeys")?;
    if keys.is_empty() {
        return Err(SqsError::MissingParameter("TagKeys".into()));
    }
    gateway
        .update(&meta.name, |m| {
            for key in &keys {
                m.tags.remove(key);
            }
        })
        .await?;
    Ok(Map::new())
}

pub async fn list(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    let mut out = Map::new();
    if !meta.tags.is_empty() {
        out.insert("Tags".into(), json!(meta.tags));
    }
    Ok(out)
}

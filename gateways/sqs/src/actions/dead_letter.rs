//! Dead-letter queues: moving a message to another queue (redrive after maxReceiveCount,
//! move tasks) and ListDeadLetterSourceQueues.

use std::sync::Arc;

use neo_broker::acls::Caller;
use neo_broker::queues::QueuedRecord;
use neo_record::codec::{BatchBuilder, Compression};

use super::Output;
use super::access::may_describe;
use super::queues::{decode_token, page};
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::moved_headers;
use crate::params::Params;
use crate::registry::QueueMeta;
use crate::request::Request;

/// Appends copies of `records` to queue `to` (message ids, bodies, attributes and first send
/// times kept; `source_arn` noted for a later redrive), durably.
pub async fn transfer(
    gateway: &Gateway,
    records: &[QueuedRecord],
    to: &QueueMeta,
    source_arn: Option<&str>,
) -> Result<(), SqsError> {
    if records.is_empty() {
        return Ok(());
    }
    let state = gateway.state(to)?;
    let now = neo_record::now_ms();
    let mut builder = BatchBuilder::new(Compression::None, now);
    for record in records {
        let headers = moved_headers(record, source_arn);
        builder.push(
            now,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
    }
    let batch = builder.build().map_err(|e| {
        tracing::error!(error = %e, "sqs: cannot encode a batch");
        SqsError::Internal
    })?;
    let appended = state.queue.enqueue(batch.freeze()).await?;
    state.appended(appended, records.len()).await
}

pub fn list_sources(gateway: &Arc<Gateway>, request: &Request, caller: &Caller) -> Output {
    let (meta, _) = gateway.resolve(request)?;
    let params = Params(&request.params);
    let max = params.int_in("MaxResults", 1, 1000)?;
    let after = decode_token(params.str("NextToken")?)?;
    let arn = gateway.arn_of(&meta.name);
    let names: Vec<String> = gateway
        .all()
        .into_iter()
        .filter(|q| {
            q.attributes
                .redrive_policy()
                .is_some_and(|p| p.dead_letter_target_arn == arn)
        })
        .map(|q| q.name)
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .filter(|n| may_describe(gateway, caller, n))
        .collect();
    Ok(page(gateway, "queueUrls", names, max))
}

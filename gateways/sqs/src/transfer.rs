//! Moving messages to another queue: a redrive after maxReceiveCount, a message move task.

use neo_broker::queues::QueuedRecord;
use neo_record::codec::{BatchBuilder, Compression};

use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::moved_headers;
use crate::registry::QueueMeta;

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
    let state = gateway.state(to).await?;
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

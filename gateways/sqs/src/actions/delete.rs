//! DeleteMessage and DeleteMessageBatch: the record is settled in the queue cursor, durably
//! before the answer. Deleting a message already deleted succeeds, as in SQS.

use std::sync::Arc;

use neo_broker::queues::CursorError;
use serde_json::{Map, Value, json};

use super::output::Output;
use crate::batch::{check_entries, failed};
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::queue_state::QueueState;
use crate::receipt_handle::ReceiptHandle;
use crate::request::Request;

pub async fn delete(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let handle = Params(&request.params).required_str("ReceiptHandle")?;
    let handle = ReceiptHandle::decode(handle, &meta.name)?;
    let offset = handle.offset;
    settle(&state, &[offset])?;
    state.queue.sync().await?;
    Ok(Map::new())
}

pub async fn delete_batch(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let entries = Params(&request.params).objects("Entries")?;
    check_entries(&entries, "DeleteMessageBatchRequestEntry")?;
    let mut successful = Vec::new();
    let mut failures = Vec::new();
    let mut offsets = Vec::new();
    for entry in &entries {
        let id = entry.required_str("Id")?;
        let decoded = entry
            .required_str("ReceiptHandle")
            .and_then(|h| ReceiptHandle::decode(h, &meta.name));
        match decoded {
            Ok(handle) => {
                offsets.push(handle.offset);
                successful.push(json!({ "Id": id }));
            }
            Err(e) => failures.push(failed(id, &e)),
        }
    }
    settle(&state, &offsets)?;
    state.queue.sync().await?;
    let mut out = Map::new();
    out.insert("Successful".into(), Value::Array(successful));
    out.insert("Failed".into(), Value::Array(failures));
    Ok(out)
}

/// Settles the records at `offsets`, whoever holds them now; one whose visibility timeout
/// ended and that waits again is settled too (its handle is still the latest). Records
/// already settled are no error: deleting twice succeeds, as in SQS.
fn settle(state: &QueueState, offsets: &[i64]) -> Result<(), SqsError> {
    let waiting: Vec<i64> = offsets
        .iter()
        .zip(state.queue.ack(offsets, None)?)
        .filter(|(_, result)| matches!(result, Err(CursorError::NotInFlight(_))))
        .map(|(offset, _)| *offset)
        .collect();
    if !waiting.is_empty() {
        state.queue.ack_redelivered(&waiting)?;
    }
    state.forget(offsets);
    Ok(())
}

//! ChangeMessageVisibility and ChangeMessageVisibilityBatch: a held message's lock moved to
//! now plus the new timeout (0 makes it visible at once). Only the latest receive's handle
//! works, and only while the message is held.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::output::Output;
use crate::batch::{check_entries, failed};
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::queue_state::QueueState;
use crate::receipt_handle::ReceiptHandle;
use crate::request::Request;

pub async fn change(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let params = Params(&request.params);
    let handle = ReceiptHandle::decode(params.required_str("ReceiptHandle")?, &meta.name)?;
    apply(&state, &handle, &params)?;
    Ok(Map::new())
}

pub async fn change_batch(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let entries = Params(&request.params).objects("Entries")?;
    check_entries(&entries, "ChangeMessageVisibilityBatchRequestEntry")?;
    let mut successful = Vec::new();
    let mut failures = Vec::new();
    for entry in &entries {
        let id = entry.required_str("Id")?;
        let changed = entry
            .required_str("ReceiptHandle")
            .and_then(|h| ReceiptHandle::decode(h, &meta.name))
            .and_then(|handle| apply(&state, &handle, entry));
        match changed {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e) => failures.push(failed(id, &e)),
        }
    }
    let mut out = Map::new();
    out.insert("Successful".into(), Value::Array(successful));
    out.insert("Failed".into(), Value::Array(failures));
    Ok(out)
}

fn apply(state: &QueueState, handle: &ReceiptHandle, params: &Params<'_>) -> Result<(), SqsError> {
    let timeout = params
        .int_in("VisibilityTimeout", 0, 43_200)?
        .ok_or_else(|| SqsError::MissingParameter("VisibilityTimeout".into()))?;
    let deadline = neo_record::now_ms() + timeout * 1000;
    let changed = state
        .queue
        .set_deadline(&[handle.offset], Some(handle.holder), deadline)?;
    match changed.first() {
        Some(Ok(())) => Ok(()),
        _ => Err(SqsError::MessageNotInflight),
    }
}

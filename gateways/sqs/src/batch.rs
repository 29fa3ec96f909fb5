//! What the batch actions share: entry checks and the per-entry failure shape.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::error::SqsError;
use crate::params::Params;

/// Most entries per batch.
pub const MAX_ENTRIES: usize = 10;

/// Checks a batch's entries as SQS does: present, at most ten, ids valid and distinct.
pub fn check_entries(entries: &[Params<'_>], entry_name: &str) -> Result<(), SqsError> {
    if entries.is_empty() {
        return Err(SqsError::EmptyBatchRequest(entry_name.to_string()));
    }
    if entries.len() > MAX_ENTRIES {
        return Err(SqsError::TooManyEntriesInBatchRequest(entries.len()));
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let id = entry.required_str("Id")?;
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.to_string()));
        }
    }
    Ok(())
}

/// A failed entry of a batch answer.
pub fn failed(id: &str, error: &SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": error.sender_fault(),
        "Code": error.query_code(),
        "Message": error.to_string(),
    })
}

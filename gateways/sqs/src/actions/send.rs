//! SendMessage and SendMessageBatch: messages appended to the queue's log (one batch per
//! call), durable before the answer; FIFO sends deduplicated within five minutes.

use std::sync::Arc;

use neo_broker::Appended;
use neo_record::codec::{BatchBuilder, Compression};
use serde_json::{Map, Value, json};

use super::output::Output;
use crate::batch::{check_entries, failed};
use crate::dedup::FirstSend;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::{NewMessage, random_uuid};
use crate::message_attribute::{md5_of, md5_of_body};
use crate::params::Params;
use crate::queue_state::QueueState;
use crate::registry::QueueMeta;
use crate::request::Request;
use crate::sequence_number::sequence_number;

/// What a send answers per message.
#[derive(Debug, Clone)]
struct Sent {
    message_id: String,
    sequence_number: Option<String>,
}

pub async fn send(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let message = NewMessage::parse(&Params(&request.params), &meta.attributes, meta.is_fifo())?;
    let sent = enqueue(&meta, &state, std::slice::from_ref(&message))
        .await?
        .into_iter()
        .next()
        .ok_or(SqsError::Internal)?;
    Ok(result(&message, &sent, None))
}

pub async fn send_batch(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let entries = Params(&request.params).objects("Entries")?;
    check_entries(&entries, "SendMessageBatchRequestEntry")?;
    let total: usize = entries
        .iter()
        .filter_map(|e| e.str("MessageBody").ok().flatten())
        .map(str::len)
        .sum();
    let max = meta.attributes.max_message_size();
    if total > max {
        return Err(SqsError::BatchRequestTooLong(max));
    }
    let mut failures = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    let mut messages: Vec<NewMessage> = Vec::new();
    for entry in &entries {
        let id = entry.required_str("Id")?;
        match NewMessage::parse(entry, &meta.attributes, meta.is_fifo()) {
            Ok(message) => {
                ids.push(id);
                messages.push(message);
            }
            Err(e) => failures.push(failed(id, &e)),
        }
    }
    let sent = if messages.is_empty() {
        Vec::new()
    } else {
        enqueue(&meta, &state, &messages).await?
    };
    let successful: Vec<Value> = ids
        .iter()
        .zip(messages.iter().zip(sent.iter()))
        .map(|(id, (message, sent))| Value::Object(result(message, sent, Some(id))))
        .collect();
    let mut out = Map::new();
    out.insert("Successful".into(), Value::Array(successful));
    out.insert("Failed".into(), Value::Array(failures));
    Ok(out)
}

fn result(message: &NewMessage, sent: &Sent, id: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = id {
        out.insert("Id".into(), json!(id));
    }
    out.insert("MessageId".into(), json!(sent.message_id));
    out.insert(
        "MD5OfMessageBody".into(),
        json!(md5_of_body(message.body.as_bytes())),
    );
    if !message.attributes.is_empty() {
        out.insert(
            "MD5OfMessageAttributes".into(),
            json!(md5_of(&message.attributes)),
        );
    }
    if let Some(trace) = &message.trace_header {
        out.insert(
            "MD5OfMessageSystemAttributes".into(),
            json!(md5_of(&[("AWSTraceHeader".to_string(), trace.clone())])),
        );
    }
    if let Some(seq) = &sent.sequence_number {
        out.insert("SequenceNumber".into(), json!(seq));
    }
    out
}

/// Appends `messages` (those not deduplicated) as one batch, waits until it is durable and
/// wakes long polls.
async fn enqueue(
    meta: &QueueMeta,
    state: &QueueState,
    messages: &[NewMessage],
) -> Result<Vec<Sent>, SqsError> {
    let (sent, appended) = append(meta, state, messages).await?;
    if let Some(appended) = appended {
        state.appended(appended, messages.len()).await?;
    }
    Ok(sent)
}

/// Appends the messages not deduplicated; returns what each send answers and the append,
/// if any.
async fn append(
    meta: &QueueMeta,
    state: &QueueState,
    messages: &[NewMessage],
) -> Result<(Vec<Sent>, Option<Appended>), SqsError> {
    /// What becomes of each message of the call.
    enum Slot {
        /// Appended as the batch's record number `.0`, with message id `.1`.
        Fresh(i64, String),
        /// A duplicate of an earlier send.
        Duplicate(FirstSend),
        /// A duplicate of message `.0` of this call.
        SameAs(usize),
    }
    let now = neo_record::now_ms();
    let fifo = meta.is_fifo();
    let mut builder = BatchBuilder::new(Compression::None, now);
    // A FIFO queue's sends go one at a time, checked against and added to the deduplication
    // ids in the order they are appended; a standard queue's go side by side.
    let mut dedup = match fifo {
        true => Some(state.dedup.lock().await),
        false => None,
    };
    let mut keys: Vec<Option<String>> = Vec::with_capacity(messages.len());
    let mut slots: Vec<Slot> = Vec::with_capacity(messages.len());
    let mut appended = 0i64;
    for message in messages {
        let key = fifo.then(|| dedup_key(meta, message));
        let earlier = key
            .as_ref()
            .and_then(|k| keys.iter().position(|e| e.as_ref() == Some(k)));
        let first_send = key
            .as_ref()
            .zip(dedup.as_mut())
            .and_then(|(k, d)| d.check(k, now));
        let slot = match (first_send, earlier) {
            (Some(first), _) => Slot::Duplicate(first),
            (None, Some(i)) => Slot::SameAs(i),
            (None, None) => {
                let message_id = random_uuid().to_string();
                let headers = message.headers(&message_id, now);
                builder.push(
                    now,
                    message.group_id.as_deref().map(str::as_bytes),
                    Some(message.body.as_bytes()),
                    &headers,
                );
                appended += 1;
                Slot::Fresh(appended - 1, message_id)
            }
        };
        keys.push(key);
        slots.push(slot);
    }
    let mut base = 0;
    let mut append = None;
    if appended > 0 {
        let batch = builder.build().map_err(|e| {
            tracing::error!(error = %e, "sqs: cannot encode a batch");
            SqsError::Internal
        })?;
        let done = state.queue.enqueue(batch.freeze()).await?;
        base = done.outcome().base_offset;
        append = Some(done);
    }
    let mut sent: Vec<Sent> = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let answer = match slot {
            Slot::Fresh(n, message_id) => {
                let seq = fifo.then(|| sequence_number(base + n));
                if let (Some(key), Some(seq), Some(dedup)) =
                    (keys.get(i).cloned().flatten(), &seq, dedup.as_mut())
                {
                    let first = FirstSend {
                        message_id: message_id.clone(),
                        sequence_number: seq.clone(),
                    };
                    dedup.insert(key, now, first);
                }
                if let Some(message) = messages.get(i)
                    && message.delay_seconds > 0
                {
                    state.add_delayed(now + message.delay_seconds * 1000);
                }
                Sent {
                    message_id: message_id.clone(),
                    sequence_number: seq,
                }
            }
            Slot::Duplicate(first) => Sent {
                message_id: first.message_id.clone(),
                sequence_number: Some(first.sequence_number.clone()),
            },
            Slot::SameAs(earlier) => sent.get(*earlier).cloned().ok_or(SqsError::Internal)?,
        };
        sent.push(answer);
    }
    drop(dedup);
    Ok((sent, append))
}

/// The deduplication key of a FIFO message: its id, per group when the scope is the group.
fn dedup_key(meta: &QueueMeta, message: &NewMessage) -> String {
    crate::dedup::key(
        message.dedup_key(),
        message.group_id.as_deref(),
        meta.attributes.dedup_per_group(),
    )
}

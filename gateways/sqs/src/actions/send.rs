//! SendMessage and SendMessageBatch: messages appended to the queue's log (one batch per
//! call), durable before the answer; FIFO sends deduplicated within five minutes.

use std::sync::Arc;

use neo_storage::codec::{BatchBuilder, Compression};
use serde_json::{Map, Value, json};

use super::Output;
use crate::batch::{check_entries, failed};
use crate::dedup::FirstSend;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::NewMessage;
use crate::message_attribute::{md5_of, md5_of_body};
use crate::params::Params;
use crate::queue_state::QueueState;
use crate::registry::QueueMeta;
use crate::request::Request;

/// What a send answers per message.
#[derive(Debug, Clone)]
struct Sent {
    message_id: String,
    sequence_number: Option<String>,
}

pub async fn send(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request)?;
    let message = NewMessage::parse(&Params(&request.params), &meta.attributes, meta.is_fifo())?;
    let sent = enqueue(&meta, &state, std::slice::from_ref(&message))
        .await?
        .into_iter()
        .next()
        .ok_or(SqsError::Internal)?;
    Ok(result(&message, &sent, None))
}

pub async fn send_batch(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request)?;
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
    let mut accepted: Vec<(&str, NewMessage)> = Vec::new();
    for entry in &entries {
        let id = entry.required_str("Id")?;
        match NewMessage::parse(entry, &meta.attributes, meta.is_fifo()) {
            Ok(message) => accepted.push((id, message)),
            Err(e) => failures.push(failed(id, &e)),
        }
    }
    let messages: Vec<NewMessage> = accepted.iter().map(|(_, m)| m.clone()).collect();
    let sent = if messages.is_empty() {
        Vec::new()
    } else {
        enqueue(&meta, &state, &messages).await?
    };
    let successful: Vec<Value> = accepted
        .iter()
        .zip(sent.iter())
        .map(|((id, message), sent)| Value::Object(result(message, sent, Some(id))))
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

/// The FIFO sequence number of the record at `offset` (20 digits, from 1).
pub fn sequence_number(offset: i64) -> String {
    format!("{:020}", offset.max(0) + 1)
}

/// Appends `messages` (those not deduplicated) as one batch, waits until it is durable and
/// wakes long polls.
async fn enqueue(
    meta: &QueueMeta,
    state: &QueueState,
    messages: &[NewMessage],
) -> Result<Vec<Sent>, SqsError> {
    let (sent, last) = append(meta, state, messages)?;
    if let Some(last) = last {
        state
            .queue
            .partition()
            .log()
            .wait_durable(last + 1)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "sqs: send not made durable");
                SqsError::Internal
            })?;
        state.arrived.notify_waiters();
    }
    Ok(sent)
}

/// Appends the messages not deduplicated; returns what each send answers and the last
/// offset appended, if any.
fn append(
    meta: &QueueMeta,
    state: &QueueState,
    messages: &[NewMessage],
) -> Result<(Vec<Sent>, Option<i64>), SqsError> {
    let now = neo_storage::now_ms();
    let retention = meta.attributes.retention_seconds();
    let fifo = meta.is_fifo();
    let mut sent: Vec<Option<Sent>> = vec![None; messages.len()];
    let mut builder = BatchBuilder::new(Compression::None, now);
    let mut fresh: Vec<usize> = Vec::new();
    let mut dedup = state.dedup.lock();
    let mut keys_in_call: Vec<(String, usize)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let key = fifo.then(|| dedup_key(meta, message));
        if let Some(key) = &key {
            if let Some(first) = dedup.check(key, now) {
                sent[i] = Some(Sent {
                    message_id: first.message_id,
                    sequence_number: Some(first.sequence_number),
                });
                continue;
            }
            if let Some((_, earlier)) = keys_in_call.iter().find(|(k, _)| k == key) {
                sent[i] = sent[*earlier].clone();
                continue;
            }
        }
        let message_id = uuid::Uuid::new_v4().to_string();
        let headers = message.headers(&message_id, now, retention);
        builder.push(
            now,
            message.group_id.as_deref().map(str::as_bytes),
            Some(message.body.as_bytes()),
            &headers,
        );
        sent[i] = Some(Sent {
            message_id,
            sequence_number: None,
        });
        if let Some(key) = key {
            keys_in_call.push((key, i));
        }
        fresh.push(i);
    }
    let mut last = None;
    if !fresh.is_empty() {
        let mut batch = builder.build().map_err(|e| {
            tracing::error!(error = %e, "sqs: cannot encode a batch");
            SqsError::Internal
        })?;
        let (base, end) = state.queue.enqueue(&mut batch)?;
        last = Some(end);
        for (n, i) in fresh.iter().enumerate() {
            let offset = base + n as i64;
            if let Some(Some(s)) = sent.get_mut(*i) {
                if fifo {
                    s.sequence_number = Some(sequence_number(offset));
                }
            }
            if let Some(message) = messages.get(*i)
                && message.delay_seconds > 0
            {
                state.add_delayed(now + message.delay_seconds * 1000);
            }
        }
        for (key, i) in keys_in_call {
            if let Some(Some(s)) = sent.get(i) {
                dedup.insert(
                    key,
                    now,
                    FirstSend {
                        message_id: s.message_id.clone(),
                        sequence_number: s.sequence_number.clone().unwrap_or_default(),
                    },
                );
            }
        }
        // Duplicates within this call answer as their first.
        for i in 0..sent.len() {
            if let Some(message) = messages.get(i)
                && fifo
                && !fresh.contains(&i)
            {
                let key = dedup_key(meta, message);
                if let Some(first) = dedup.check(&key, now) {
                    sent[i] = Some(Sent {
                        message_id: first.message_id,
                        sequence_number: Some(first.sequence_number),
                    });
                }
            }
        }
    }
    drop(dedup);
    let sent = sent
        .into_iter()
        .map(|s| {
            s.unwrap_or(Sent {
                message_id: String::new(),
                sequence_number: None,
            })
        })
        .collect();
    Ok((sent, last))
}

/// The deduplication key of a FIFO message: its id, per group when the scope is the group.
fn dedup_key(meta: &QueueMeta, message: &NewMessage) -> String {
    let id = message.dedup_key();
    match (&message.group_id, meta.attributes.dedup_per_group()) {
        (Some(group), true) => format!("{group}\u{0}{id}"),
        _ => id,
    }
}

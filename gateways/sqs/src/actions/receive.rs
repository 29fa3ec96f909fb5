//! ReceiveMessage: up to ten messages locked for the visibility timeout, a long poll that
//! returns as soon as one arrives, messages past maxReceiveCount moved to the dead-letter
//! queue instead of delivered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use neo_broker::queues::QueuedRecord;
use serde_json::{Map, Value, json};

use super::output::Output;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::{
    DEDUP_ID_HEADER, GROUP_ID_HEADER, SOURCE_ARN_HEADER, TRACE_HEADER, expired, header_text,
    message_id_of, sent_at,
};
use crate::message_attribute::{AttributeValue, from_headers, md5_of, md5_of_body};
use crate::params::Params;
use crate::queue_state::QueueState;
use crate::receipt_handle::ReceiptHandle;
use crate::registry::QueueMeta;
use crate::request::Request;
use crate::sequence_number::sequence_number;
use crate::transfer::transfer;

/// How often a long poll looks again when nothing wakes it (delays and visibility timeouts
/// ending, records produced from Kafka).
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Most rounds of moving dead messages aside in one receive.
const MAX_ROUNDS: usize = 10;

/// System attributes a receive can return.
const SYSTEM_ATTRIBUTES: &[&str] = &[
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
];

pub async fn receive(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let (meta, state) = gateway.resolve(request).await?;
    let params = Params(&request.params);
    let max = params.int_in("MaxNumberOfMessages", 1, 10)?.unwrap_or(1) as usize;
    let visibility = params
        .int_in("VisibilityTimeout", 0, 43_200)?
        .unwrap_or_else(|| meta.attributes.visibility_timeout());
    let wait = params
        .int_in("WaitTimeSeconds", 0, 20)?
        .unwrap_or_else(|| meta.attributes.receive_wait_seconds());
    // Names a receive cannot return (queue attribute names, say) are passed over.
    let mut system = params.string_list("AttributeNames")?;
    system.extend(params.string_list("MessageSystemAttributeNames")?);
    system.retain(|name| name == "All" || SYSTEM_ATTRIBUTES.contains(&name.as_str()));
    let wanted = params.string_list("MessageAttributeNames")?;
    let attempt = match params.str("ReceiveRequestAttemptId")? {
        Some(id) if meta.is_fifo() => Some(check_attempt_id(id)?),
        _ => None,
    };
    let answer = |got: &[QueuedRecord], holder: u64| {
        let ts = neo_record::now_ms();
        let messages: Vec<Value> = got
            .iter()
            .map(|r| message_json(gateway, &meta, &state, r, holder, ts, &system, &wanted))
            .collect();
        let mut out = Map::new();
        if !messages.is_empty() {
            out.insert("Messages".into(), Value::Array(messages));
        }
        out
    };
    if let Some(id) = attempt
        && let Some((holder, records)) = state.attempt(id, neo_record::now_ms())
    {
        return Ok(answer(&records, holder));
    }
    let until = Instant::now() + Duration::from_secs(wait as u64);
    let holder: u64 = rand::random();
    let mut shutdown = gateway.shutdown.clone();
    loop {
        let arrived = state.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let got = take(gateway, &meta, &state, max, visibility, holder).await?;
        let now = Instant::now();
        if !got.is_empty() || now >= until || *shutdown.borrow() {
            if let Some(id) = attempt
                && !got.is_empty()
            {
                state.remember_attempt(id, neo_record::now_ms(), holder, &got);
            }
            return Ok(answer(&got, holder));
        }
        let pause = POLL_INTERVAL.min(until - now);
        tokio::select! {
            _ = arrived => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Locks up to `max` messages for `holder`; those past the redrive policy's receive count
/// go to the dead-letter queue instead.
async fn take(
    gateway: &Gateway,
    meta: &QueueMeta,
    state: &Arc<QueueState>,
    max: usize,
    visibility: i64,
    holder: u64,
) -> Result<Vec<QueuedRecord>, SqsError> {
    let policy = meta.attributes.redrive_policy();
    let dead_letter = policy
        .as_ref()
        .and_then(|p| gateway.queue_of_arn(&p.dead_letter_target_arn));
    let retention = meta.attributes.retention_seconds();
    let mut delivered = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let now = neo_record::now_ms();
        // FIFO: as SQS, several messages of one group may come in one receive.
        let wanted = max - delivered.len();
        let got = state
            .queue
            .receive_group_runs(now, wanted, now + visibility * 1000, holder)?;
        let settled: Vec<i64> = got.expired.iter().map(|r| r.offset).collect();
        state.forget(&settled);
        // Past the queue's current retention: dropped, not delivered.
        let (stale, fresh): (Vec<QueuedRecord>, Vec<QueuedRecord>) = got
            .delivered
            .into_iter()
            .partition(|r| expired(r, retention, now));
        let stale: Vec<i64> = stale.iter().map(|r| r.offset).collect();
        if !stale.is_empty() {
            state.queue.ack(&stale, Some(holder))?;
            state.forget(&stale);
        }
        let (dead, live): (Vec<QueuedRecord>, Vec<QueuedRecord>) =
            fresh.into_iter().partition(|r| {
                dead_letter.is_some()
                    && policy
                        .as_ref()
                        .is_some_and(|p| r.deliveries > p.max_receive_count)
            });
        delivered.extend(live);
        let moved = match &dead_letter {
            Some(target) if !dead.is_empty() => {
                transfer(gateway, &dead, target, Some(&gateway.arn_of(&meta.name))).await?;
                let offsets: Vec<i64> = dead.iter().map(|r| r.offset).collect();
                state.queue.ack(&offsets, Some(holder))?;
                state.forget(&offsets);
                true
            }
            _ => false,
        };
        let removed = moved || !stale.is_empty();
        if removed {
            state.queue.sync().await?;
        } else if !delivered.is_empty() {
            // Handed out only once their locks are committed: after a failover, the new
            // leader keeps them invisible and their receipt handles valid.
            state.queue.committed().await?;
        }
        if !removed || delivered.len() >= max {
            break;
        }
    }
    Ok(delivered)
}

#[allow(clippy::too_many_arguments)]
fn message_json(
    gateway: &Gateway,
    meta: &QueueMeta,
    state: &QueueState,
    record: &QueuedRecord,
    holder: u64,
    now: i64,
    system: &[String],
    wanted: &[String],
) -> Value {
    let body = record.value.as_deref().unwrap_or_default();
    let body_text = String::from_utf8_lossy(body);
    let handle = ReceiptHandle {
        queue: meta.name.clone(),
        offset: record.offset,
        holder,
    };
    let mut message = Map::new();
    message.insert("MessageId".into(), json!(message_id_of(record)));
    message.insert("ReceiptHandle".into(), json!(handle.encode()));
    message.insert("MD5OfBody".into(), json!(md5_of_body(body)));
    message.insert("Body".into(), json!(body_text));
    let all = system.iter().any(|n| n == "All");
    let wants = |name: &str| all || system.iter().any(|n| n == name);
    let mut attributes = Map::new();
    let first = state.first_receive(record.offset, now);
    let mut put = |name: &str, value: Option<String>| {
        if wants(name)
            && let Some(v) = value
        {
            attributes.insert(name.to_string(), Value::String(v));
        }
    };
    put("SenderId", Some(gateway.config.account_id.clone()));
    put("SentTimestamp", Some(sent_at(record).to_string()));
    put(
        "ApproximateReceiveCount",
        Some(record.deliveries.to_string()),
    );
    put("ApproximateFirstReceiveTimestamp", Some(first.to_string()));
    put(
        "MessageGroupId",
        header_text(record, GROUP_ID_HEADER).map(str::to_string),
    );
    put(
        "MessageDeduplicationId",
        header_text(record, DEDUP_ID_HEADER)
            .map(str::to_string)
            .or_else(|| {
                meta.is_fifo()
                    .then(|| crate::message_attribute::sha256_hex(body))
            }),
    );
    put(
        "SequenceNumber",
        meta.is_fifo().then(|| sequence_number(record.offset)),
    );
    put(
        "AWSTraceHeader",
        header_text(record, TRACE_HEADER).map(str::to_string),
    );
    put(
        "DeadLetterQueueSourceArn",
        header_text(record, SOURCE_ARN_HEADER).map(str::to_string),
    );
    if !attributes.is_empty() {
        message.insert("Attributes".into(), Value::Object(attributes));
    }
    let selected: Vec<(String, AttributeValue)> = from_headers(&record.headers)
        .into_iter()
        .filter(|(name, _)| selected(name, wanted))
        .collect();
    if !selected.is_empty() {
        message.insert("MD5OfMessageAttributes".into(), json!(md5_of(&selected)));
        let map: Map<String, Value> = selected
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect();
        message.insert("MessageAttributes".into(), Value::Object(map));
    }
    Value::Object(message)
}

/// A ReceiveRequestAttemptId: 1 to 128 alphanumerics and punctuation.
fn check_attempt_id(id: &str) -> Result<&str, SqsError> {
    if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(id)
    } else {
        Err(SqsError::invalid_value(
            "ReceiveRequestAttemptId",
            id,
            "It must be 1 to 128 alphanumeric or punctuation characters.",
        ))
    }
}

/// Whether message attribute `name` is asked for: `All`, `.*`, a `prefix.*` or its name.
fn selected(name: &str, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        w == "All"
            || w == ".*"
            || w == name
            || w.strip_suffix(".*").is_some_and(|prefix| {
                name.strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('.'))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_select_by_name_all_and_prefix() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(selected("a", &w(&["All"])));
        assert!(selected("a", &w(&[".*"])));
        assert!(selected("bar.baz", &w(&["bar.*"])));
        assert!(!selected("barbaz", &w(&["bar.*"])));
        assert!(selected("x", &w(&["y", "x"])));
        assert!(!selected("x", &w(&[])));
    }
}

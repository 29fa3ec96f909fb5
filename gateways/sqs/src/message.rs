//! SQS messages as records and back: the body is the value, the message group id the key
//! (the queue cursor keeps each group's order), everything else `sqs.*` headers, so the
//! records read naturally from Kafka.

use bytes::Bytes;
use neo_broker::queues::{EXPIRES_AT_HEADER, NOT_BEFORE_HEADER, QueuedRecord};
use neo_record::codec::Header;

use crate::allowed_text::allowed_text;
use crate::error::SqsError;
use crate::message_attribute::{self, AttributeValue};
use crate::params::Params;
use crate::queue_attributes::QueueAttributes;

pub const MESSAGE_ID_HEADER: &str = "sqs.message-id";
pub const GROUP_ID_HEADER: &str = "sqs.group-id";
pub const DEDUP_ID_HEADER: &str = "sqs.dedup-id";
pub const TRACE_HEADER: &str = "sqs.trace-header";
/// When a message moved to another queue (dead-lettered or redriven) was first sent.
pub const SENT_AT_HEADER: &str = "sqs.sent-at";
/// The ARN of the queue a dead-lettered message came from.
pub const SOURCE_ARN_HEADER: &str = "sqs.source-arn";

/// A message to send, validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub body: String,
    pub attributes: Vec<(String, AttributeValue)>,
    pub trace_header: Option<AttributeValue>,
    pub delay_seconds: i64,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

impl NewMessage {
    /// Reads and validates a SendMessage request or batch entry for a queue with `attrs`.
    pub fn parse(
        params: &Params<'_>,
        attrs: &QueueAttributes,
        fifo: bool,
    ) -> Result<Self, SqsError> {
        let body = params.required_str("MessageBody")?;
        if body.is_empty() {
            return Err(SqsError::MissingParameter("MessageBody".into()));
        }
        if !allowed_text(body) {
            return Err(SqsError::InvalidMessageContents(
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
            ));
        }
        let attributes = message_attribute::parse(params, "MessageAttributes")?;
        let system = message_attribute::parse_system(params)?;
        let size = body.len()
            + attributes
                .iter()
                .map(|(n, v)| n.len() + v.size())
                .sum::<usize>();
        let max = attrs.max_message_size();
        if size > max {
            return Err(SqsError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let delay = params.int_in("DelaySeconds", 0, 900)?;
        if fifo && delay.is_some_and(|d| d != 0) {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.".into(),
            ));
        }
        let group_id = params.str("MessageGroupId")?.map(str::to_string);
        let dedup_id = params.str("MessageDeduplicationId")?.map(str::to_string);
        for (name, id) in [
            ("MessageGroupId", &group_id),
            ("MessageDeduplicationId", &dedup_id),
        ] {
            if let Some(id) = id {
                let ok =
                    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(SqsError::invalid_value(
                        name,
                        id,
                        "It must be 1 to 128 printable ASCII characters.",
                    ));
                }
            }
        }
        if fifo {
            if group_id.is_none() {
                return Err(SqsError::MissingParameter("MessageGroupId".into()));
            }
            if dedup_id.is_none() && !attrs.content_based_dedup() {
                return Err(SqsError::InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".into(),
                ));
            }
        } else if dedup_id.is_some() {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.".into(),
            ));
        }
        Ok(NewMessage {
            body: body.to_string(),
            attributes,
            trace_header: system,
            delay_seconds: delay.unwrap_or_else(|| if fifo { 0 } else { attrs.delay_seconds() }),
            group_id,
            dedup_id,
        })
    }

    /// The deduplication id: given, or the body's SHA-256 with content-based deduplication.
    pub fn dedup_key(&self) -> String {
        self.dedup_id
            .clone()
            .unwrap_or_else(|| message_attribute::sha256_hex(self.body.as_bytes()))
    }

    /// The record headers of this message, sent at `now`. Retention is not written down: it
    /// is checked against the queue's current MessageRetentionPeriod when the message is
    /// received, so a change applies to the messages already there, as in SQS.
    pub fn headers(&self, message_id: &str, now: i64) -> Vec<Header> {
        let mut headers = vec![text_header(MESSAGE_ID_HEADER, message_id)];
        if let Some(group) = &self.group_id {
            headers.push(text_header(GROUP_ID_HEADER, group));
        }
        if let Some(dedup) = &self.dedup_id {
            headers.push(text_header(DEDUP_ID_HEADER, dedup));
        }
        if let Some(trace) = &self.trace_header {
            headers.push(Header {
                key: TRACE_HEADER.into(),
                value: Some(Bytes::copy_from_slice(&trace.value)),
            });
        }
        if self.delay_seconds > 0 {
            headers.push(text_header(
                NOT_BEFORE_HEADER,
                &(now + self.delay_seconds * 1000).to_string(),
            ));
        }
        message_attribute::to_headers(&self.attributes, &mut headers);
        headers
    }
}

/// A version 4 UUID (message and request ids) from the thread's random generator rather than
/// a getrandom system call each.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// A header with a text value.
pub fn text_header(key: &str, value: &str) -> Header {
    Header {
        key: key.to_string(),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
    }
}

/// The text of header `name` of `record`.
pub fn header_text<'a>(record: &'a QueuedRecord, name: &str) -> Option<&'a str> {
    record
        .headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.as_deref())
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The message id of a stored record: its header, or (records produced from Kafka) one
/// derived from its offset.
pub fn message_id_of(record: &QueuedRecord) -> String {
    header_text(record, MESSAGE_ID_HEADER)
        .map(str::to_string)
        .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012x}", record.offset))
}

/// When the message was first sent (ms).
pub fn sent_at(record: &QueuedRecord) -> i64 {
    header_text(record, SENT_AT_HEADER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(record.timestamp)
}

/// The headers to keep when a message moves to another queue: everything but the
/// delivery-time ones, plus its first send time (retention counts from it, as in SQS).
pub fn moved_headers(record: &QueuedRecord, source_arn: Option<&str>) -> Vec<Header> {
    let mut headers: Vec<Header> = record
        .headers
        .iter()
        .filter(|h| {
            !matches!(
                h.key.as_str(),
                NOT_BEFORE_HEADER | EXPIRES_AT_HEADER | SENT_AT_HEADER | SOURCE_ARN_HEADER
            )
        })
        .cloned()
        .collect();
    headers.push(text_header(SENT_AT_HEADER, &sent_at(record).to_string()));
    if !headers.iter().any(|h| h.key == MESSAGE_ID_HEADER) {
        headers.push(text_header(MESSAGE_ID_HEADER, &message_id_of(record)));
    }
    if let Some(arn) = source_arn {
        headers.push(text_header(SOURCE_ARN_HEADER, arn));
    }
    headers
}

/// Whether the message has been in its queues longer than `retention_seconds` at `now`.
pub fn expired(record: &QueuedRecord, retention_seconds: i64, now: i64) -> bool {
    sent_at(record).saturating_add(retention_seconds.saturating_mul(1000)) <= now
}

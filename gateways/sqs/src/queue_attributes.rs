//! Queue attributes: the ones a client sets (validated as SQS does, defaults in one place)
//! and the names a client may ask for.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::SqsError;

/// Attributes a client may set, with their defaults (`None`: no default value shown).
const SETTABLE: &[(&str, Option<&str>)] = &[
    ("DelaySeconds", Some("0")),
    ("MaximumMessageSize", Some("262144")),
    ("MessageRetentionPeriod", Some("345600")),
    ("ReceiveMessageWaitTimeSeconds", Some("0")),
    ("VisibilityTimeout", Some("30")),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("Policy", None),
    ("KmsMasterKeyId", None),
    ("KmsDataKeyReusePeriodSeconds", None),
    ("SqsManagedSseEnabled", Some("true")),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
];

/// Attributes the server computes.
const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Attributes only FIFO queues have.
const FIFO_ONLY: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Whether `name` is an attribute GetQueueAttributes knows (besides `All`).
pub fn is_known(name: &str) -> bool {
    SETTABLE.iter().any(|(n, _)| *n == name) || COMPUTED.contains(&name)
}

/// Every attribute name, for `All`.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    SETTABLE
        .iter()
        .map(|(n, _)| *n)
        .chain(COMPUTED.iter().copied())
}

/// The redrive policy of a queue: where and after how many receives messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// A queue's settable attributes, as set (defaults not stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueAttributes(pub BTreeMap<String, String>);

impl QueueAttributes {
    /// The new attributes of a FIFO (`fifo`) or standard queue, validated.
    pub fn create(fifo: bool, given: &BTreeMap<String, String>) -> Result<Self, SqsError> {
        let mut attrs = QueueAttributes::default();
        if fifo {
            attrs.0.insert("FifoQueue".into(), "true".into());
            attrs
                .0
                .insert("ContentBasedDeduplication".into(), "false".into());
            attrs.0.insert("DeduplicationScope".into(), "queue".into());
            attrs
                .0
                .insert("FifoThroughputLimit".into(), "perQueue".into());
        }
        for (name, value) in given {
            if name == "FifoQueue" {
                match (value.as_str(), fifo) {
                    ("true", true) | ("false", false) => continue,
                    ("true", false) => {
                        return Err(SqsError::InvalidParameterValue(
                            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".into(),
                        ));
                    }
                    _ => {
                        return Err(SqsError::InvalidAttributeValue(format!(
                            "Invalid value for the parameter FifoQueue: {value}"
                        )));
                    }
                }
            }
            attrs.set(name, value, fifo)?;
        }
        Ok(attrs)
    }

    /// Sets one attribute after validating it.
    pub fn set(&mut self, name: &str, value: &str, fifo: bool) -> Result<(), SqsError> {
        if !SETTABLE.iter().any(|(n, _)| *n == name) || (FIFO_ONLY.contains(&name) && !fifo) {
            return Err(SqsError::InvalidAttributeName(name.to_string()));
        }
        if name == "FifoQueue" {
            return Err(SqsError::InvalidAttributeValue(
                "FifoQueue cannot be changed after the queue is created.".into(),
            ));
        }
        let bad =
            || SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."));
        let int_in = |min: i64, max: i64| -> Result<(), SqsError> {
            match value.trim().parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(()),
                _ => Err(bad()),
            }
        };
        match name {
            "DelaySeconds" => int_in(0, 900)?,
            "MaximumMessageSize" => int_in(1024, 1_048_576)?,
            "MessageRetentionPeriod" => int_in(60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => int_in(0, 20)?,
            "VisibilityTimeout" => int_in(0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => int_in(60, 86_400)?,
            "SqsManagedSseEnabled" | "ContentBasedDeduplication"
                if !matches!(value, "true" | "false") =>
            {
                return Err(bad());
            }
            "DeduplicationScope" if !matches!(value, "messageGroup" | "queue") => {
                return Err(bad());
            }
            "FifoThroughputLimit" if !matches!(value, "perQueue" | "perMessageGroupId") => {
                return Err(bad());
            }
            "RedrivePolicy" if !value.is_empty() => {
                parse_redrive(value)?;
            }
            "RedriveAllowPolicy" if !value.is_empty() => check_redrive_allow(value)?,
            "Policy" if !value.is_empty() => {
                serde_json::from_str::<Value>(value).map_err(|_| bad())?;
            }
            _ => {}
        }
        if value.is_empty() && matches!(name, "RedrivePolicy" | "RedriveAllowPolicy" | "Policy") {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_string(), value.trim().to_string());
        }
        Ok(())
    }

    /// The value shown for a settable attribute (set or default).
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned().or_else(|| {
            SETTABLE
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, d)| d.map(str::to_string))
        })
    }

    fn int(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    pub fn delay_seconds(&self) -> i64 {
        self.int("DelaySeconds")
    }
    pub fn max_message_size(&self) -> usize {
        self.int("MaximumMessageSize").max(1024) as usize
    }
    pub fn retention_seconds(&self) -> i64 {
        self.int("MessageRetentionPeriod")
    }
    pub fn receive_wait_seconds(&self) -> i64 {
        self.int("ReceiveMessageWaitTimeSeconds")
    }
    pub fn visibility_timeout(&self) -> i64 {
        self.int("VisibilityTimeout")
    }
    pub fn content_based_dedup(&self) -> bool {
        self.0
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true")
    }
    /// Deduplication per message group rather than per queue.
    pub fn dedup_per_group(&self) -> bool {
        self.0
            .get("DeduplicationScope")
            .is_some_and(|v| v == "messageGroup")
    }
    /// Whether this queue's RedriveAllowPolicy lets the queue `source_arn` dead-letter to it
    /// (no policy allows every queue).
    pub fn allows_source(&self, source_arn: &str) -> bool {
        let Some(policy) = self
            .0
            .get("RedriveAllowPolicy")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            return true;
        };
        match policy.get("redrivePermission").and_then(Value::as_str) {
            Some("denyAll") => false,
            Some("byQueue") => policy
                .get("sourceQueueArns")
                .and_then(Value::as_array)
                .is_some_and(|arns| arns.iter().any(|a| a.as_str() == Some(source_arn))),
            _ => true,
        }
    }

    pub fn redrive_policy(&self) -> Option<RedrivePolicy> {
        self.0
            .get("RedrivePolicy")
            .and_then(|v| parse_redrive(v).ok())
    }
}

/// Parses a RedrivePolicy (`maxReceiveCount` as number or text).
pub fn parse_redrive(text: &str) -> Result<RedrivePolicy, SqsError> {
    let bad = |why: &str| {
        SqsError::InvalidAttributeValue(format!(
            "Value {text} for parameter RedrivePolicy is invalid. Reason: {why}"
        ))
    };
    let value: Value =
        serde_json::from_str(text).map_err(|_| bad("Redrive policy is not a valid JSON map."))?;
    let arn = value
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        })?;
    let count = match value.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| bad("Redrive policy does not contain mandatory attribute: maxReceiveCount."))?;
    if !(1..=1000).contains(&count) {
        return Err(bad(
            "Invalid value for maxReceiveCount: must be between 1 and 1000.",
        ));
    }
    if !arn.starts_with("arn:") || arn.rsplit(':').next().is_none_or(str::is_empty) {
        return Err(bad("Invalid value for deadLetterTargetArn."));
    }
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_string(),
        max_receive_count: count as u32,
    })
}

fn check_redrive_allow(text: &str) -> Result<(), SqsError> {
    let bad = || {
        SqsError::InvalidAttributeValue(format!(
            "Value {text} for parameter RedriveAllowPolicy is invalid."
        ))
    };
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    match value.get("redrivePermission").and_then(Value::as_str) {
        Some("allowAll" | "denyAll") => Ok(()),
        Some("byQueue") if value.get("sourceQueueArns").is_some_and(Value::is_array) => Ok(()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_checked_against_sqs_limits() {
        assert!(QueueAttributes::create(false, &given(&[("DelaySeconds", "900")])).is_ok());
        assert!(QueueAttributes::create(false, &given(&[("DelaySeconds", "901")])).is_err());
        assert!(QueueAttributes::create(false, &given(&[("VisibilityTimeout", "x")])).is_err());
        let e = QueueAttributes::create(false, &given(&[("Nope", "1")])).unwrap_err();
        assert_eq!(e, SqsError::InvalidAttributeName("Nope".into()));
        let e = QueueAttributes::create(false, &given(&[("ContentBasedDeduplication", "true")]));
        assert!(e.is_err(), "FIFO-only attribute on a standard queue");
        assert!(QueueAttributes::create(false, &given(&[("FifoQueue", "true")])).is_err());
    }

    #[test]
    fn defaults_show_and_redrive_parses() {
        let mut a = QueueAttributes::create(true, &BTreeMap::new()).unwrap();
        assert_eq!(a.get("VisibilityTimeout").as_deref(), Some("30"));
        assert_eq!(a.get("FifoQueue").as_deref(), Some("true"));
        a.set(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#,
            true,
        )
        .unwrap();
        assert_eq!(a.redrive_policy().unwrap().max_receive_count, 3);
        a.set("RedrivePolicy", "", true).unwrap();
        assert_eq!(a.redrive_policy(), None);
        assert!(
            a.set("RedrivePolicy", r#"{"maxReceiveCount":3}"#, true)
                .is_err()
        );
    }

    #[test]
    fn redrive_allow_policies_name_who_may_dead_letter_here() {
        let mut a = QueueAttributes::default();
        assert!(a.allows_source("arn:x:a"));
        a.set(
            "RedriveAllowPolicy",
            r#"{"redrivePermission":"denyAll"}"#,
            false,
        )
        .unwrap();
        assert!(!a.allows_source("arn:x:a"));
        a.set(
            "RedriveAllowPolicy",
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:x:a"]}"#,
            false,
        )
        .unwrap();
        assert!(a.allows_source("arn:x:a"));
        assert!(!a.allows_source("arn:x:b"));
    }
}

//! The SQS queues that exist: name, topic, attributes, tags and times (kept in the broker's
//! metadata, see `registry_store`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::queue_attributes::QueueAttributes;

/// The topic holding an SQS queue's messages.
pub fn topic_for_queue(name: &str) -> String {
    format!("sqs.{name}")
}

/// The SQS queue a topic holds, if it is one.
pub fn queue_for_topic(topic: &str) -> Option<&str> {
    topic.strip_prefix("sqs.").filter(|n| valid_queue_name(n))
}

/// SQS's queue names: 1 to 80 alphanumerics, hyphens and underscores, `.fifo` included.
pub fn valid_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 80
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMeta {
    pub name: String,
    pub topic: String,
    pub attributes: QueueAttributes,
    pub tags: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub created: i64,
    pub modified: i64,
}

impl QueueMeta {
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

/// Every queue, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Registry {
    pub queues: BTreeMap<String, QueueMeta>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(valid_queue_name("jobs-1_a"));
        assert!(valid_queue_name("orders.fifo"));
        assert!(!valid_queue_name(".fifo"));
        assert!(!valid_queue_name("a.b"));
        assert!(!valid_queue_name(&"x".repeat(81)));
        assert_eq!(queue_for_topic("sqs.jobs"), Some("jobs"));
        assert_eq!(queue_for_topic("orders"), None);
    }
}

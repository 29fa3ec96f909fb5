//! Kafka's topic-name rules.

use crate::error::BrokerError;

/// Longest topic name Kafka allows.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks `name` against Kafka's rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let reason = if name.is_empty() {
        "topic name is empty"
    } else if name == "." || name == ".." {
        "topic name cannot be \".\" or \"..\""
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        "topic name is longer than 249 characters"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        "topic name may contain only ASCII letters, digits, '.', '_' and '-'"
    } else {
        return Ok(());
    };
    Err(BrokerError::InvalidTopic {
        name: name.to_string(),
        reason: reason.to_string(),
    })
}

/// What every queue cursor topic's name starts with (see `queues/cursor_topic.rs`).
pub const CURSOR_TOPIC_PREFIX: &str = "__cursor.";

/// Whether `name` is a queue's cursor topic.
pub fn is_cursor_topic(name: &str) -> bool {
    name.starts_with(CURSOR_TOPIC_PREFIX)
}

/// Whether `name` is a topic the brokers keep for themselves (Kafka's internal topics, and
/// the queues' cursor topics).
pub fn is_internal(name: &str) -> bool {
    name == crate::groups::OFFSETS_TOPIC || is_cursor_topic(name)
}

/// Refuses a client's creation, growth, deletion of or write to an internal topic.
pub fn refuse_internal(name: &str) -> Result<(), BrokerError> {
    if !is_internal(name) {
        return Ok(());
    }
    Err(BrokerError::InvalidTopic {
        name: name.to_string(),
        reason: "an internal topic is managed by the brokers".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules() {
        for ok in ["a", "orders", "my.topic_1-x", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }
}

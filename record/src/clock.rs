//! The wall clock record timestamps come from.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (Kafka's timestamp unit); 0 if the clock is before it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

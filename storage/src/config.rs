//! Per-log configuration, with Kafka's defaults.

/// Which timestamp a batch carries in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept.
    #[default]
    CreateTime,
    /// The broker stamps each batch with the time it was appended.
    LogAppendTime,
}

/// When appended data is fsynced, and when an acknowledgement waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// fsync after this many messages; `1` (the default) means every append is durable before
    /// a durable acknowledgement, with one fsync covering all appends waiting at once.
    pub messages: u64,
    /// fsync at least this often (milliseconds) while unflushed data exists; `None` for never.
    pub ms: Option<u64>,
}

impl FlushPolicy {
    /// Durable before acknowledged: Neo's default.
    pub const DURABLE: FlushPolicy = FlushPolicy {
        messages: 1,
        ms: None,
    };

    /// True when a durable acknowledgement must wait for fsync.
    pub fn acks_wait_for_fsync(&self) -> bool {
        self.messages <= 1
    }
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self::DURABLE
    }
}

/// Configuration of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment when it would grow past this many bytes (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment when its first batch is older than this (`segment.ms`).
    pub segment_ms: Option<u64>,
    /// Delete the oldest segments while the log is larger than this (`retention.bytes`).
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this (`retention.ms`).
    pub retention_ms: Option<u64>,
    /// Bytes between two sparse index entries (`index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// Size an index file may grow to before the segment rolls (`segment.index.bytes`).
    pub max_index_bytes: u32,
    /// Largest batch accepted (`max.message.bytes`).
    pub max_message_bytes: u32,
    /// Durability policy (`flush.messages`, `flush.ms`).
    pub flush: FlushPolicy,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            index_interval_bytes: 4096,
            max_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1_048_588,
            flush: FlushPolicy::DURABLE,
            timestamp_type: TimestampType::CreateTime,
        }
    }
}

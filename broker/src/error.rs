//! Errors of the broker API, in the front-ends' terms.

use neo_record::BatchError;
use neo_storage::LogError;

/// Failure of a broker operation. Each front-end maps these to its protocol's codes in one place.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition { topic: String, partition: i32 },
    #[error("topic {0} already exists")]
    TopicAlreadyExists(String),
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: String },
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    #[error("replication factor {factor}: {brokers} brokers are live")]
    InvalidReplicationFactor { factor: i16, brokers: usize },
    #[error("invalid replica assignment: {0}")]
    InvalidReplicaAssignment(String),
    #[error("invalid config {key}={value:?}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    /// Bytes that are not a valid record batch (or one the topic refuses as it is).
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// The partition was deleted, or the broker is stopping, while the operation ran.
    #[error("partition closed (deleted, or the broker is stopping)")]
    PartitionClosed,
    /// The disk failed: an I/O error or a corrupt file.
    #[error("storage failure: {0}")]
    Storage(#[source] LogError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata file {path} is corrupt: {reason}")]
    MetadataCorrupt {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("metrics registry: {0}")]
    Metrics(String),
    #[error("producer {producer_id}: sequence {sequence} where {expected} was expected")]
    OutOfOrderSequence {
        producer_id: i64,
        sequence: i32,
        expected: i32,
    },
    #[error("producer {producer_id}: epoch {epoch} is older than the current {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// Records the topic refuses (Kafka: INVALID_RECORD with per-record errors).
    #[error("{message}")]
    InvalidRecord {
        message: String,
        /// Positions of the refused records within their batch.
        record_indexes: Vec<i32>,
    },
    #[error("broker is shutting down")]
    ShuttingDown,
    /// This broker does not lead the partition; `leader` does, if one is known.
    #[error("not the leader of {partition} (leader: {leader:?})")]
    NotLeader {
        partition: String,
        leader: Option<u64>,
    },
    /// The caller's leader epoch is older than the leader's: it missed a leader change.
    #[error("leader epoch {epoch} of {partition} is fenced (current {current})")]
    FencedLeaderEpoch {
        partition: String,
        epoch: u64,
        current: u64,
    },
    /// The caller's leader epoch is newer than this broker knows: it has not caught up yet.
    #[error("leader epoch {epoch} of {partition} is not known here (current {current})")]
    UnknownLeaderEpoch {
        partition: String,
        epoch: u64,
        current: u64,
    },
    /// Fewer replicas are in sync than the topic's `min.insync.replicas` asks for an
    /// `acks=all` write.
    #[error("{partition}: {in_sync} replicas in sync, min.insync.replicas is {required}")]
    NotEnoughReplicas {
        partition: String,
        in_sync: usize,
        required: i64,
    },
    /// An append was made but will not be committed (its leader lost leadership).
    #[error("append to {topic}-{partition} not committed")]
    NotCommitted { topic: String, partition: i32 },
    /// The partition's replication failed.
    #[error("replication failure: {0}")]
    Replication(String),
    /// The cluster RPC failed (listening, or a call to another broker).
    #[error("cluster: {0}")]
    Cluster(String),
    /// A partition's leadership could not be moved where it was asked to.
    #[error("leadership of {partition} not moved: {reason}")]
    LeaderNotMoved { partition: String, reason: String },
    /// The controller group could not take a metadata change.
    #[error("metadata change not taken: {0}")]
    Controller(String),
}

impl From<LogError> for BrokerError {
    /// A storage failure in the broker's terms: what happened, not which call failed.
    fn from(e: LogError) -> BrokerError {
        match e {
            LogError::InvalidBatch(batch) => BrokerError::InvalidBatch(batch),
            LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            } => BrokerError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            },
            LogError::Closed(_) => BrokerError::PartitionClosed,
            e @ (LogError::Io { .. } | LogError::SegmentCorrupt { .. }) => BrokerError::Storage(e),
        }
    }
}

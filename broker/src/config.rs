//! Broker and per-topic configuration (placeholder until the broker core lands).

use std::path::PathBuf;

/// Per-topic configuration with Kafka's config names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig {}

/// Configuration of one broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where partitions and metadata live.
    pub data_dir: PathBuf,
    /// Defaults for topics created without explicit configs.
    pub topic_defaults: TopicConfig,
}

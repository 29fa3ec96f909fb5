//! How the group coordinator treats sessions, rebalances and old offsets.

use std::time::Duration;

/// Coordinator settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub initial_rebalance_delay: Duration,
    /// `offsets.retention.minutes`: offsets of a group without members are dropped this long
    /// after its last commit.
    pub offsets_retention: Duration,
    /// `offsets.topic.num.partitions`: partitions of the offsets topic, fixed when the topic
    /// is created. Each is a Raft group and coordinates the groups that hash to it.
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor`: replicas of each offsets partition, at most the
    /// number of brokers in the voters list.
    pub offsets_topic_replication_factor: i16,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            initial_rebalance_delay: Duration::from_millis(300),
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            offsets_topic_partitions: 8,
            offsets_topic_replication_factor: 3,
        }
    }
}

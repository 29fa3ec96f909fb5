//! Which Raft group a message is for.

use serde::{Deserialize, Serialize};

/// A Raft group of the cluster: the controller (metadata) or one partition's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupId {
    /// The group over all brokers holding the cluster's metadata.
    Controller,
    /// The replicas of one partition: the topic's id (Kafka's topic UUID) and the partition.
    Partition { topic_id: u128, partition: u32 },
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupId::Controller => f.write_str("controller"),
            GroupId::Partition {
                topic_id,
                partition,
            } => write!(f, "{topic_id:032x}-{partition}"),
        }
    }
}

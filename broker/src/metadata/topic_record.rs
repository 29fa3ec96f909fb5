//! What the metadata keeps of topics, brokers and partition leaders.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What is remembered about one topic across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    /// Configs set on the topic (overrides of the broker defaults), under Kafka's names.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Each partition's replicas (broker ids), the preferred leader first. Empty in metadata
    /// written before clusters: every partition is then on the broker that has its data.
    #[serde(default)]
    pub replicas: Vec<Vec<u64>>,
    /// Partitions being moved to another replica set (`neo cluster reassign`), by partition:
    /// the set they move to. Until the move finishes, `replicas` is the set in effect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reassigning: BTreeMap<i32, Vec<u64>>,
}

impl TopicRecord {
    /// The replicas of `partition`; `local` when the record predates replica sets.
    pub fn replicas_of(&self, partition: i32, local: u64) -> Vec<u64> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.replicas.get(p))
            .cloned()
            .unwrap_or_else(|| vec![local])
    }

    /// The brokers that hold, or are to hold, a replica of `partition`: its replicas, then
    /// those a reassignment adds.
    pub fn hosts_of(&self, partition: i32, local: u64) -> Vec<u64> {
        let mut hosts = self.replicas_of(partition, local);
        for id in self.reassigning.get(&partition).into_iter().flatten() {
            if !hosts.contains(id) {
                hosts.push(*id);
            }
        }
        hosts
    }
}

/// A broker of the cluster, as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRecord {
    /// Where the other brokers reach it.
    pub cluster_address: String,
    /// Where clients reach it, by protocol (`kafka` → `host:port`).
    pub endpoints: BTreeMap<String, String>,
}

/// Who leads a partition, as its leader last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub leader: u64,
    /// The Raft term of its leadership: Kafka's leader epoch.
    pub epoch: u64,
}

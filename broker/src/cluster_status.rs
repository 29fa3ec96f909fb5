//! What `neo cluster status` shows: the brokers of the cluster and where every partition's
//! replicas and leader are, as the answering broker knows them.

use serde::{Deserialize, Serialize};

use crate::broker::Broker;

/// The cluster as one broker sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The cluster's id.
    pub cluster_id: String,
    /// The broker that answered.
    pub answered_by: u64,
    /// The broker leading the controller group, if one is known.
    pub controller: Option<u64>,
    /// Every registered broker, by id.
    pub brokers: Vec<BrokerStatus>,
    /// Every partition of every topic, by topic and index.
    pub partitions: Vec<PartitionStatus>,
}

/// One registered broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokerStatus {
    /// Its id.
    pub id: u64,
    /// Where the other brokers reach it.
    pub cluster_address: String,
    /// Where clients of each protocol reach it (`kafka`, `admin`).
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// Whether the answering broker heard from it lately (within two election timeouts).
    pub live: bool,
    /// Whether it is a voter of the controller group.
    #[serde(default)]
    pub voter: bool,
}

/// One partition's replicas and leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionStatus {
    /// Its topic.
    pub topic: String,
    /// Its index.
    pub partition: i32,
    /// The brokers holding a replica, the preferred leader first.
    pub replicas: Vec<u64>,
    /// Its leader, `None` during an election.
    pub leader: Option<u64>,
    /// The leader's epoch (its Raft term).
    pub epoch: u64,
    /// The replicas in sync with the leader.
    pub in_sync: Vec<u64>,
    /// The replica set it is moving to, while a reassignment is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassigning: Option<Vec<u64>>,
}

impl Broker {
    /// The cluster as this broker sees it.
    pub fn cluster_status(&self) -> ClusterStatus {
        let live = self.live_broker_ids();
        let voters = self.metadata().voters();
        let brokers = self.metadata().read(|s| {
            s.brokers
                .iter()
                .map(|(id, b)| BrokerStatus {
                    id: *id,
                    cluster_address: b.cluster_address.clone(),
                    endpoints: b.endpoints.clone(),
                    live: live.contains(id),
                    voter: voters.contains(id),
                })
                .collect()
        });
        let partitions = self
            .topics()
            .iter()
            .flat_map(|topic| {
                (0..topic.partition_count()).map(move |index| {
                    let placement = self.placement(topic, index);
                    PartitionStatus {
                        topic: topic.name().to_string(),
                        partition: index,
                        replicas: placement.replicas,
                        leader: placement.leader,
                        epoch: placement.epoch,
                        in_sync: placement.in_sync,
                        reassigning: self.metadata().read(|s| {
                            s.topics
                                .get(topic.name())
                                .and_then(|t| t.reassigning.get(&index).cloned())
                        }),
                    }
                })
            })
            .collect();
        ClusterStatus {
            cluster_id: self.cluster_id().to_string(),
            answered_by: self.config().node_id,
            controller: self.controller(),
            brokers,
            partitions,
        }
    }
}

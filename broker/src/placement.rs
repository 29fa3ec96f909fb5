//! Where a partition lives: its replicas, its leader as this broker knows it, and which
//! replicas are in sync; and the lookups that refuse a partition this broker does not lead.

use std::sync::Arc;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;
use crate::topic::Topic;

/// One partition's replicas and leader, as this broker knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The brokers holding a replica, the preferred leader first.
    pub replicas: Vec<u64>,
    /// The leader, or `None` while an election runs or the leader's broker seems gone.
    pub leader: Option<u64>,
    /// The leader's Raft term: Kafka's leader epoch.
    pub epoch: u64,
    /// The replicas caught up with the leader (Kafka's ISR).
    pub in_sync: Vec<u64>,
}

impl Broker {
    /// Where partition `index` of `topic` lives. A replica here knows its group's leader; for
    /// the others, the leader is the one last reported to the controller.
    pub fn placement(&self, topic: &Topic, index: i32) -> Placement {
        let node = self.config().node_id;
        let (replicas, reported) = self.metadata().read(|s| {
            (
                s.topics
                    .get(topic.name())
                    .map(|r| r.replicas_of(index, node)),
                s.leaders
                    .get(topic.name())
                    .and_then(|l| l.get(&index))
                    .cloned(),
            )
        });
        let replicas = replicas.unwrap_or_else(|| vec![node]);
        let (leader, epoch) = match (topic.partition(index), reported) {
            (Some(partition), _) => partition.replica().leadership(),
            (None, Some(reported)) => (Some(reported.leader), reported.epoch),
            // A partition's only replica leads it from the start, in epoch 0 unless it
            // reported another.
            (None, None) if replicas.len() == 1 => (replicas.first().copied(), 0),
            (None, None) => (None, 0),
        };
        // A leader whose broker went silent, or whose connection was lost, is most likely
        // gone: clients told there is no leader look again shortly (and find the one elected
        // meanwhile), where clients told of the old one would wait on reconnecting to it.
        let silence = self.config().cluster.election_timeout / 2;
        let leader = leader.filter(|l| self.cluster().seems_alive(*l, silence));
        let lag = self.config().cluster.replica_lag_time_max;
        let in_sync = match topic.partition(index) {
            Some(partition) if leader == Some(node) => partition.replica().in_sync(lag),
            // Only the leader knows; the others tell the replicas they hear from.
            _ => replicas
                .iter()
                .copied()
                .filter(|id| *id == node || self.cluster().heard_within(*id, lag))
                .collect(),
        };
        Placement {
            replicas,
            leader,
            epoch,
            in_sync,
        }
    }

    /// Partition `partition` of `topic` if a replica of it is here; NotLeader if the topic
    /// has it but another broker holds it.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BrokerError> {
        let unknown = || BrokerError::UnknownTopicOrPartition {
            topic: topic.to_string(),
            partition,
        };
        let found = self.topic(topic).ok_or_else(unknown)?;
        match found.partition(partition) {
            Some(p) => Ok(p),
            None if (0..found.partition_count()).contains(&partition) => {
                Err(BrokerError::NotLeader {
                    partition: format!("{topic}-{partition}"),
                    leader: self.placement(&found, partition).leader,
                })
            }
            None => Err(unknown()),
        }
    }

    /// Partition `partition` of `topic` if this broker leads it, checking the leader epoch the
    /// caller knows (`None`: no check): an older one is fenced, a newer one is not known yet.
    pub fn leader_partition(
        &self,
        topic: &str,
        partition: i32,
        epoch: Option<u64>,
    ) -> Result<Arc<Partition>, BrokerError> {
        let found = self.partition(topic, partition)?;
        let (leader, current) = found.replica().leadership();
        if leader != Some(self.config().node_id) {
            return Err(BrokerError::NotLeader {
                partition: format!("{topic}-{partition}"),
                leader,
            });
        }
        match epoch {
            Some(epoch) if epoch < current => Err(BrokerError::FencedLeaderEpoch {
                partition: format!("{topic}-{partition}"),
                epoch,
                current,
            }),
            Some(epoch) if epoch > current => Err(BrokerError::UnknownLeaderEpoch {
                partition: format!("{topic}-{partition}"),
                epoch,
                current,
            }),
            _ => Ok(found),
        }
    }
}

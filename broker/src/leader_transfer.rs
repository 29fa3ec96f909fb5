//! Moving a partition's leadership by hand (`neo cluster transfer-leader`): to a named
//! replica, or back to the preferred one. Any broker takes the request; the leader does it.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::cluster::ClusterCall;
use crate::error::BrokerError;

/// How long a transfer may take: the target catches up, then wins the election it starts.
const TRANSFER_WAIT: Duration = Duration::from_secs(10);

/// A leader transfer's outcome as one broker tells another.
pub(crate) type TransferReply = Result<u64, String>;

impl Broker {
    /// Makes broker `to` (by default the preferred replica, the first of the set) lead
    /// partition `partition` of `topic`; returns the leader afterwards.
    pub async fn transfer_leader(
        &self,
        topic: &str,
        partition: i32,
        to: Option<u64>,
    ) -> Result<u64, BrokerError> {
        let found = self.existing_topic(topic)?;
        if !(0..found.partition_count()).contains(&partition) {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            });
        }
        let placement = self.placement(&found, partition);
        let name = format!("{topic}-{partition}");
        let refused = |reason: String| BrokerError::LeaderNotMoved {
            partition: name.clone(),
            reason,
        };
        let target = to
            .or(placement.replicas.first().copied())
            .unwrap_or_default();
        if !placement.replicas.contains(&target) {
            return Err(refused(format!("broker {target} holds no replica of it")));
        }
        let me = self.config().node_id;
        match placement.leader {
            Some(leader) if leader == target => Ok(target),
            Some(leader) if leader == me => {
                let partition = self.partition(topic, partition)?;
                if partition.replica().transfer_to(target, TRANSFER_WAIT).await {
                    Ok(target)
                } else {
                    Err(refused(format!(
                        "broker {target} did not take the leadership within {TRANSFER_WAIT:?} \
                         (not caught up, or not reachable)"
                    )))
                }
            }
            Some(leader) => self.ask_to_transfer(leader, topic, partition, target).await,
            None => Err(refused(
                "it has no leader now (an election is running)".into(),
            )),
        }
    }

    /// Has `leader`, the partition's leader, transfer its leadership.
    async fn ask_to_transfer(
        &self,
        leader: u64,
        topic: &str,
        partition: i32,
        to: u64,
    ) -> Result<u64, BrokerError> {
        let call = ClusterCall::TransferLeader {
            topic: topic.to_string(),
            partition,
            to,
        };
        let encoded = serde_json::to_vec(&call).map_err(|e| BrokerError::Cluster(e.to_string()))?;
        let reply = self
            .cluster()
            .call(leader, Bytes::from(encoded))
            .await
            .map_err(|e| BrokerError::Cluster(e.to_string()))?;
        let reply: TransferReply =
            serde_json::from_slice(&reply).map_err(|e| BrokerError::Cluster(e.to_string()))?;
        reply.map_err(|reason| BrokerError::LeaderNotMoved {
            partition: format!("{topic}-{partition}"),
            reason: format!("broker {leader}, its leader: {reason}"),
        })
    }

    /// Answers another broker's [`ClusterCall::TransferLeader`]: transfers only if this broker
    /// still leads (no second forward).
    pub(crate) async fn transfer_for_peer(&self, topic: &str, partition: i32, to: u64) -> Bytes {
        let me = self.config().node_id;
        let reply: TransferReply = match self.topic(topic) {
            Some(found) if self.placement(&found, partition).leader == Some(me) => self
                .transfer_leader(topic, partition, Some(to))
                .await
                .map_err(|e| e.to_string()),
            _ => Err(format!("broker {me} does not lead {topic}-{partition}")),
        };
        Bytes::from(serde_json::to_vec(&reply).unwrap_or_default())
    }
}

/// What the admin endpoint takes for a transfer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    /// The partition's topic.
    pub topic: String,
    /// Its index.
    pub partition: i32,
    /// The replica to lead it (default: the preferred replica).
    pub to: Option<u64>,
}

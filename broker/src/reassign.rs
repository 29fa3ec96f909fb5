//! Moving a partition to another replica set (`neo cluster reassign`). The target set is
//! recorded in the metadata; every broker it names opens a replica (an empty one waits to be
//! brought up to date); the partition's leader adds the new replicas to its group as learners,
//! waits until they caught up, makes the target set the voters (joint consensus), then
//! records the move as finished. Brokers left out then delete their replicas.
//!
//! A partition's only replica runs no Raft group: gaining replicas, it first becomes a group
//! of one, whose log it makes reachable as a snapshot (its records predate every entry); a
//! group left with one replica goes back to running none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use neo_replication::partition::replica::PartitionReplica;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, TopicRecord};
use crate::partition::{Partition, replication_error};
use crate::partition_open::{group_id, open_replica};
use crate::topic::Topic;

/// A reassignment as `neo cluster reassign` asks one broker for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReassignRequest {
    pub topic: String,
    pub partition: i32,
    /// The new replica set, the preferred leader first.
    pub replicas: Vec<u64>,
}

/// How long a leader left out of a move waits for a replica that stays to take over.
const HAND_OVER_WAIT: Duration = Duration::from_secs(5);
/// How long a failed step waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What this broker does next about one of its replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Its broker is no longer among the partition's hosts: delete it.
    Delete,
    /// It is alone but others join: become a group of one first.
    BecomeGroup,
    /// Its group has this replica alone left: go on without Raft.
    BecomeSolo,
    /// It leads a partition being moved to `replicas`: carry the move out.
    Move(Vec<u64>),
}

impl Broker {
    /// Starts moving partition `partition` of `topic` to `replicas` (broker ids, the
    /// preferred leader first). Returns once the move is recorded; [`Broker::placement`] shows
    /// the new set once it is done.
    pub async fn reassign(
        &self,
        topic: &str,
        partition: i32,
        replicas: Vec<u64>,
    ) -> Result<(), BrokerError> {
        self.check_running()?;
        self.metadata()
            .apply(MetadataCommand::ReassignPartition {
                topic: topic.to_string(),
                partition,
                replicas,
            })
            .await?;
        self.reconcile().await
    }

    /// Takes the next step for `partition`'s replica here, as the metadata `record` asks (in
    /// a task of its own: steps wait for other brokers). One step at a time per partition.
    pub(crate) fn follow_assignment(
        &self,
        record: &TopicRecord,
        topic: &Arc<Topic>,
        partition: &Arc<Partition>,
    ) {
        if self.next_step(record, partition).is_none() {
            return;
        }
        let key = (record.name.clone(), partition.index());
        if !self.changing_replicas().lock().insert(key.clone()) {
            return;
        }
        let Some(broker) = self.weak_self().upgrade() else {
            return;
        };
        let (topic, partition) = (Arc::clone(topic), Arc::clone(partition));
        tokio::spawn(async move {
            loop {
                let record = broker
                    .metadata()
                    .read(|s| s.topics.get(topic.name()).cloned())
                    .filter(|r| r.id == topic.id());
                let step = record
                    .as_ref()
                    .and_then(|r| broker.next_step(r, &partition));
                let (Some(record), Some(step)) = (record, step) else {
                    break;
                };
                if broker.check_running().is_err() {
                    break;
                }
                match broker.take_step(&record, &topic, &partition, &step).await {
                    Ok(()) if step == Step::Delete => break,
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(topic = topic.name(), partition = partition.index(), ?step, error = %e, "a replica change failed: trying again");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
            broker.changing_replicas().lock().remove(&key);
        });
    }

    /// What `partition`'s replica here must do next, if anything.
    fn next_step(&self, record: &TopicRecord, partition: &Partition) -> Option<Step> {
        let node = self.config().node_id;
        let index = partition.index();
        let hosts = record.hosts_of(index, node);
        let target = record.reassigning.get(&index);
        let replica = partition.replica();
        match (&*replica, target) {
            _ if !hosts.contains(&node) => Some(Step::Delete),
            (PartitionReplica::Solo(_), _) if hosts.len() > 1 => Some(Step::BecomeGroup),
            (PartitionReplica::Group(_), None) if hosts == [node] => Some(Step::BecomeSolo),
            (PartitionReplica::Group(group), Some(target)) if group.is_leader() => {
                Some(Step::Move(target.clone()))
            }
            _ => None,
        }
    }

    async fn take_step(
        &self,
        record: &TopicRecord,
        topic: &Topic,
        partition: &Arc<Partition>,
        step: &Step,
    ) -> Result<(), BrokerError> {
        match step {
            Step::Delete => {
                topic.clear_partition(partition.index());
                self.delete_replica(partition, record.id).await;
                tracing::info!(
                    topic = topic.name(),
                    partition = partition.index(),
                    "replica moved off this broker: deleted"
                );
                Ok(())
            }
            Step::BecomeGroup => self.become_group(record, topic, partition).await,
            Step::BecomeSolo => self.become_solo(record, topic, partition).await,
            Step::Move(replicas) => self.move_replicas(record, partition, replicas).await,
        }
    }

    /// A replica alone becomes a group of one over the same log, leading it (the move then
    /// makes the log reachable as a snapshot for the replicas to come).
    async fn become_group(
        &self,
        record: &TopicRecord,
        topic: &Topic,
        partition: &Arc<Partition>,
    ) -> Result<(), BrokerError> {
        let old = partition.replica();
        let PartitionReplica::Solo(solo) = &*old else {
            return Ok(());
        };
        // No append from here until the group takes over; if it cannot, the replica alone
        // takes appends again (and the step is tried again).
        solo.fence(true);
        let replica = match self.reopen(record, topic, partition, true).await {
            Ok(replica) => replica,
            Err(e) => {
                solo.fence(false);
                return Err(e);
            }
        };
        if let PartitionReplica::Group(group) = &replica
            && let Err(e) = group.lead_alone().await
        {
            let _ = group.shutdown().await;
            self.cluster()
                .transport()
                .unregister(group_id(record.id, partition.index()));
            solo.fence(false);
            return Err(replication_error(e));
        }
        partition.set_replica(replica);
        solo.close();
        tracing::info!(
            topic = topic.name(),
            partition = partition.index(),
            "the partition's replica here became a Raft group to take in others"
        );
        Ok(())
    }

    /// A group left with this replica alone stops; the partition goes on without Raft.
    async fn become_solo(
        &self,
        record: &TopicRecord,
        topic: &Topic,
        partition: &Arc<Partition>,
    ) -> Result<(), BrokerError> {
        let old = partition.replica();
        let PartitionReplica::Group(group) = &*old else {
            return Ok(());
        };
        group.retire_alone().await.map_err(replication_error)?;
        self.cluster()
            .transport()
            .unregister(group_id(record.id, partition.index()));
        let replica = self.reopen(record, topic, partition, false).await?;
        partition.set_replica(replica);
        tracing::info!(
            topic = topic.name(),
            partition = partition.index(),
            "the partition's other replicas left: it runs without Raft here"
        );
        Ok(())
    }

    /// A replica of the other kind over `partition`'s log: a group member (`replicated`), or
    /// the only replica.
    async fn reopen(
        &self,
        record: &TopicRecord,
        topic: &Topic,
        partition: &Partition,
        replicated: bool,
    ) -> Result<PartitionReplica, BrokerError> {
        let durable = topic.with_config(|c| c.is_durable());
        let log = partition.log();
        let index = partition.index();
        open_replica(
            self,
            &record.name,
            record.id,
            index,
            durable,
            log,
            replicated,
        )
        .await
    }

    /// On the leader: brings the group's voters to `replicas`, then records the move done.
    async fn move_replicas(
        &self,
        record: &TopicRecord,
        partition: &Partition,
        replicas: &[u64],
    ) -> Result<(), BrokerError> {
        let PartitionReplica::Group(group) = &*partition.replica() else {
            return Ok(());
        };
        let node = self.config().node_id;
        if !replicas.contains(&node) {
            // A leader left out would step down once the set changed, leaving the group
            // without a leader until an election: the move goes on from a replica that stays.
            let lag = self.config().cluster.replica_lag_time_max;
            let voters = group.voters();
            let successor = group
                .in_sync(lag)
                .into_iter()
                .find(|id| *id != node && voters.contains(id) && replicas.contains(id));
            if let Some(to) = successor
                && group.transfer_to(to, HAND_OVER_WAIT).await
            {
                tracing::info!(
                    topic = record.name,
                    partition = partition.index(),
                    to,
                    "leadership handed over to a replica that stays"
                );
                return Ok(());
            }
        }
        let addresses: BTreeMap<u64, String> = self.metadata().read(|s| {
            replicas
                .iter()
                .map(|id| {
                    let address = s.brokers.get(id).map(|b| b.cluster_address.clone());
                    (*id, address.unwrap_or_default())
                })
                .collect()
        });
        group
            .change_replicas(&addresses)
            .await
            .map_err(replication_error)?;
        self.metadata()
            .apply(MetadataCommand::FinishReassignment {
                topic: record.name.clone(),
                partition: partition.index(),
                replicas: replicas.to_vec(),
            })
            .await?;
        tracing::info!(
            topic = record.name,
            partition = partition.index(),
            ?replicas,
            "partition moved"
        );
        Ok(())
    }
}

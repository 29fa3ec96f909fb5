//! The offsets topic, `__consumer_offsets`: groups' committed offsets are records in its
//! partitions, each a Raft group, so they are replicated like any record. Group G belongs to
//! partition hash(G) % partitions (Kafka's hash: Java's `String.hashCode`), and its coordinator
//! is that partition's leader. The brokers create the topic themselves once enough of them
//! are live for its replication factor; it is internal: clients cannot create, grow, write
//! to or delete it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::error::GroupError;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, TopicRecord};
use crate::partition::Partition;

use super::offsets_partition::{OFFSETS_TOPIC, offsets_partition_for};

/// How long a starting broker waits for the offsets partitions it leads to load.
const LOAD_WAIT: Duration = Duration::from_secs(60);
/// How often a starting broker checks again which offsets partitions it leads.
const LOAD_RECHECK: Duration = Duration::from_millis(100);
/// How often a broker that could not create the offsets topic yet tries again (besides at
/// every metadata change).
const CREATE_RETRY: Duration = Duration::from_secs(1);

/// The configs of the offsets topic: kept forever (offsets expire by group, see
/// `offsets_retention`), fsynced before a commit is acknowledged, whatever the topic defaults.
fn offsets_topic_configs() -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "104857600"),
        ("flush.messages", "1"),
        ("compression.type", "producer"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Broker {
    /// The broker coordinating `group`: the leader of its offsets partition.
    /// CoordinatorNotAvailable while the offsets topic does not exist yet or that partition
    /// has no leader.
    pub fn group_coordinator(&self, group: &str) -> Result<u64, GroupError> {
        let topic = self
            .topic(OFFSETS_TOPIC)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let index = offsets_partition_for(group, topic.partition_count());
        self.placement(&topic, index)
            .leader
            .ok_or(GroupError::CoordinatorNotAvailable)
    }

    /// Has the group coordinator follow a replica opened here, if it is an offsets partition.
    pub(crate) fn coordinate(&self, partition: &Arc<Partition>, partitions: i32) {
        if partition.topic() == OFFSETS_TOPIC {
            self.groups()
                .follow(Arc::clone(partition), partitions, self.config().node_id);
        }
    }

    /// Readies the group coordinator at start: creates the offsets topic (or keeps trying
    /// until enough brokers are live), waits until the offsets partitions led here are
    /// loaded, and takes over the offsets log of a data directory from before clusters.
    pub(crate) async fn start_group_coordinator(self: &Arc<Self>) -> Result<(), BrokerError> {
        match self.create_offsets_topic().await {
            Ok(true) => {}
            Ok(false) => self.create_offsets_topic_later(),
            // A cluster still forming (a broker not heard from yet, no controller leader):
            // tried again, as at every later metadata change.
            Err(e) => {
                tracing::warn!(error = %e, "cannot create the offsets topic yet");
                self.create_offsets_topic_later();
            }
        }
        self.wait_for_led_offsets().await;
        self.take_over_legacy_offsets().await
    }

    /// Creates the offsets topic if it is missing and enough brokers are live for its
    /// replication factor; whether it exists now.
    async fn create_offsets_topic(&self) -> Result<bool, BrokerError> {
        let exists = || {
            self.metadata()
                .read(|s| s.topics.contains_key(OFFSETS_TOPIC))
        };
        if exists() {
            return Ok(true);
        }
        let config = &self.config().groups;
        let voters = self.metadata().voters().len();
        let factor = usize::try_from(config.offsets_topic_replication_factor)
            .unwrap_or(1)
            .clamp(1, voters.max(1));
        // Replicas go on live brokers only (as for any topic): a broker that registered but
        // was not heard from yet counts once it is.
        if self.live_broker_ids().len() < factor {
            return Ok(false);
        }
        let _admin = self.admin_lock().await;
        if exists() {
            return Ok(true);
        }
        let partitions = config.offsets_topic_partitions;
        let record = TopicRecord {
            name: OFFSETS_TOPIC.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs: offsets_topic_configs(),
            replicas: self.assign_replicas(0, partitions, factor as i16)?,
            reassigning: Default::default(),
        };
        match self
            .metadata()
            .apply(MetadataCommand::CreateTopic(record))
            .await
        {
            Ok(()) => tracing::info!(
                partitions,
                replication_factor = factor,
                "created the offsets topic"
            ),
            // Another broker created it first.
            Err(BrokerError::TopicAlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        self.reconcile().await?;
        Ok(true)
    }

    /// Creates the offsets topic once enough brokers are live (checked at each metadata
    /// change, and every [`CREATE_RETRY`]).
    fn create_offsets_topic_later(self: &Arc<Self>) {
        let broker = Arc::downgrade(self);
        let mut changes = self.metadata().watch_changes();
        tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(CREATE_RETRY, changes.changed()).await;
                let Some(broker) = broker.upgrade() else {
                    return;
                };
                if broker.check_running().is_err() {
                    return;
                }
                match broker.create_offsets_topic().await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot create the offsets topic yet"),
                }
            }
        });
    }

    /// Waits (at most [`LOAD_WAIT`]) until every offsets partition this broker leads is
    /// loaded, so that a single broker serves groups from its first request.
    async fn wait_for_led_offsets(&self) {
        let Some(topic) = self.topic(OFFSETS_TOPIC) else {
            return;
        };
        let coordinator = self.groups();
        let mut changes = coordinator.shard_changes.subscribe();
        let deadline = tokio::time::Instant::now() + LOAD_WAIT;
        loop {
            changes.mark_unchanged();
            let loading = topic
                .partitions()
                .iter()
                .filter(|p| p.replica().is_leader() && !coordinator.is_loaded(p.index()))
                .count();
            if loading == 0 {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    partitions = loading,
                    "offsets partitions led here are still loading"
                );
                return;
            }
            // A leadership that ends (a leader restored at start that learns of a newer one)
            // changes no shard: checked again now and then, not only at a load.
            let _ = tokio::time::timeout(LOAD_RECHECK, changes.changed()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_where_kafka_puts_them() {
        // Java: "abc".hashCode() == 96354; a negative hash is masked as Kafka's Utils.abs.
        assert_eq!(offsets_partition_for("abc", 50), 96354 % 50);
        let negative = "polygenelubricants";
        let java_hash: i32 = -2147483648;
        assert_eq!(
            offsets_partition_for(negative, 50),
            (java_hash & 0x7fff_ffff) % 50
        );
        assert_eq!(offsets_partition_for("", 8), 0);
    }
}

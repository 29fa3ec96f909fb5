//! Bringing this broker's topics and replicas in line with the metadata: every broker applies
//! the same metadata changes, then opens the replicas it is given, closes and deletes those of
//! deleted topics, and takes up config changes. Runs after each change (and at start).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use neo_replication::partition::replica::PartitionReplica;
use neo_storage::PartitionLog;

use crate::broker::Broker;
use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, TopicRecord};
use crate::partition::Partition;
use crate::partition_open::{group_id, open_log, open_partition};
use crate::topic::Topic;

/// One replica to open here.
struct Opening {
    topic: Arc<Topic>,
    record: TopicRecord,
    config: TopicConfig,
    index: i32,
    /// The brokers holding a replica, or gaining one in a reassignment.
    replicas: Vec<u64>,
}

impl Broker {
    /// Opens, closes and reconfigures this broker's topics and replicas as the metadata says.
    pub(crate) async fn reconcile(&self) -> Result<(), BrokerError> {
        let _one_at_a_time = self.reconciling().lock().await;
        self.follow_members();
        let records: Vec<TopicRecord> = self
            .metadata()
            .read(|s| s.topics.values().cloned().collect());
        let gone: Vec<Arc<Topic>> = self
            .topics()
            .into_iter()
            .filter(|t| !records.iter().any(|r| r.name == t.name() && r.id == t.id()))
            .collect();
        for topic in gone {
            self.remove_local_topic(&topic).await;
        }
        let node = self.config().node_id;
        let mut openings = Vec::new();
        for record in records {
            let config = match self.config().topic_defaults.with_overrides(&record.configs) {
                Ok(config) => config,
                Err(e) => {
                    tracing::error!(topic = record.name, error = %e, "a topic's configs are invalid here");
                    continue;
                }
            };
            let topic = self.topic(&record.name).unwrap_or_else(|| {
                let topic = Arc::new(Topic::new(
                    &record.name,
                    record.id,
                    record.partitions,
                    record.configs.clone(),
                    config.clone(),
                ));
                self.insert_topic(Arc::clone(&topic));
                topic
            });
            if topic.overrides() != record.configs {
                topic.set_config(record.configs.clone(), config.clone());
            }
            topic.grow(record.partitions);
            for index in 0..record.partitions {
                let hosts = record.hosts_of(index, node);
                match topic.partition(index) {
                    Some(partition) => self.follow_assignment(&record, &topic, &partition),
                    None if hosts.contains(&node) => openings.push(Opening {
                        topic: Arc::clone(&topic),
                        record: record.clone(),
                        config: config.clone(),
                        index,
                        replicas: hosts,
                    }),
                    None => {}
                }
            }
        }
        self.open_replicas(openings).await
    }

    /// Opens the logs of `openings` together (on threads), then their groups.
    async fn open_replicas(&self, openings: Vec<Opening>) -> Result<(), BrokerError> {
        if openings.is_empty() {
            return Ok(());
        }
        let jobs: Vec<(String, TopicConfig, i32)> = openings
            .iter()
            .map(|o| (o.record.name.clone(), o.config.clone(), o.index))
            .collect();
        let logs: Vec<Result<PartitionLog, BrokerError>> = {
            let (config, flusher) = (self.config().clone(), Arc::clone(self.flusher()));
            tokio::task::spawn_blocking(move || {
                crate::parallel::map(&jobs, |(topic, topic_config, p)| {
                    open_log(&config, &flusher, topic, *p, topic_config)
                })
            })
            .await
            .map_err(|e| BrokerError::Replication(e.to_string()))?
        };
        let addresses: BTreeMap<u64, String> = self.metadata().read(|s| {
            s.brokers
                .iter()
                .map(|(id, b)| (*id, b.cluster_address.clone()))
                .collect()
        });
        let opened = join_all(openings.iter().zip(logs).map(|(o, log)| {
            let addresses = &addresses;
            async move {
                let partition = open_partition(
                    self,
                    &o.record.name,
                    o.record.id,
                    o.index,
                    &o.config,
                    log?,
                    o.replicas.len() > 1,
                )
                .await?;
                self.start_replica(&partition, &o.replicas, addresses)
                    .await?;
                Ok::<_, BrokerError>(partition)
            }
        }))
        .await;
        let mut first_error = None;
        for (opening, result) in openings.iter().zip(opened) {
            match result {
                Ok(partition) => {
                    self.coordinate(&partition, opening.record.partitions);
                    opening.topic.set_partition(opening.index, partition);
                }
                Err(e) => {
                    tracing::error!(topic = opening.record.name, partition = opening.index, error = %e, "cannot open a replica");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Starts a replica: a partition's only replica leads from the start; the first of a
    /// replica set forms the group (once), the others wait to be contacted. Each leadership
    /// won here is reported to the controller (Kafka clients learn leaders from the metadata).
    async fn start_replica(
        &self,
        partition: &Arc<Partition>,
        replicas: &[u64],
        addresses: &BTreeMap<u64, String>,
    ) -> Result<(), BrokerError> {
        let node = self.config().node_id;
        if let PartitionReplica::Group(group) = &*partition.replica() {
            // A group that already had a leader was formed: a replica whose data was lost
            // waits to be brought up to date by it instead of starting an election of its
            // own. A partition being reassigned has a group, or a replica alone, that takes
            // the others in.
            let formed = self.metadata().read(|s| {
                s.leaders
                    .get(partition.topic())
                    .is_some_and(|l| l.contains_key(&partition.index()))
                    || s.topics
                        .get(partition.topic())
                        .is_some_and(|t| t.reassigning.contains_key(&partition.index()))
            });
            if replicas.first() == Some(&node) && !formed {
                let members = replicas
                    .iter()
                    .map(|id| (*id, addresses.get(id).cloned().unwrap_or_default()))
                    .collect();
                group
                    .form(members)
                    .await
                    .map_err(crate::partition::replication_error)?;
            }
        }
        self.spawn_leadership_reports(partition);
        Ok(())
    }

    /// Reports to the controller each time this broker becomes `partition`'s leader.
    fn spawn_leadership_reports(&self, partition: &Arc<Partition>) {
        let Some(broker) = self.weak_self().upgrade() else {
            return;
        };
        let partition = Arc::clone(partition);
        tokio::spawn(async move {
            let node = broker.config().node_id;
            let mut known = (None, 0);
            while let Some(now) = partition.leadership_changed(known).await {
                known = now;
                let (Some(leader), epoch) = now else {
                    continue;
                };
                if leader == node {
                    broker.report_leader(&partition, leader, epoch).await;
                }
            }
        });
    }

    /// Records in the metadata that `leader` leads `partition` in `epoch`, unless it says so
    /// already (with no leader recorded, a partition's only replica is taken to lead in epoch
    /// 0, see `placement`).
    async fn report_leader(&self, partition: &Partition, leader: u64, epoch: u64) {
        let recorded = self.metadata().read(|s| {
            s.leaders
                .get(partition.topic())
                .and_then(|l| l.get(&partition.index()))
                .copied()
        });
        let known = match recorded {
            Some(r) => r.leader == leader && r.epoch == epoch,
            None => epoch == 0,
        };
        if known {
            return;
        }
        tracing::info!(
            topic = partition.topic(),
            partition = partition.index(),
            leader,
            epoch,
            "new partition leader"
        );
        let command = MetadataCommand::SetPartitionLeader {
            topic: partition.topic().to_string(),
            partition: partition.index(),
            leader,
            epoch,
        };
        if let Err(e) = self.metadata().apply(command).await {
            tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "cannot report a partition's leader");
        }
    }

    /// Closes a topic's replicas here and deletes their data (the topic was deleted).
    async fn remove_local_topic(&self, topic: &Arc<Topic>) {
        let name = topic.name();
        self.remove_topic_entry(name);
        self.close_queue(name).await;
        for partition in topic.partitions() {
            self.delete_replica(&partition, topic.id()).await;
        }
        self.metrics().remove_topic(name);
        tracing::info!(topic = name, "deleted topic");
    }
}

impl Broker {
    /// Stops a replica for good and deletes its data (its topic was deleted, or it was moved
    /// off this broker). The directory is renamed first, so a crash midway leaves no
    /// half-deleted partition to open.
    pub(crate) async fn delete_replica(&self, partition: &Partition, topic_id: uuid::Uuid) {
        if let Err(e) = partition.retire().await {
            tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "cannot stop a deleted replica");
        }
        self.cluster()
            .transport()
            .unregister(group_id(topic_id, partition.index()));
        let log = partition.log().clone();
        let dir = log.dir().to_path_buf();
        let doomed = dir.with_file_name(format!(
            "{}.{}-delete",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            topic_id.simple()
        ));
        if let Err(e) = std::fs::rename(&dir, &doomed) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot rename a deleted replica");
        }
        let _ = log.close();
        if let Err(e) = std::fs::remove_dir_all(&doomed) {
            tracing::warn!(dir = %doomed.display(), error = %e, "cannot remove a deleted replica");
        }
    }
}

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
use crate::partition_open::{open_log, open_partition};
use crate::topic::Topic;

/// One replica to open here.
struct Opening {
    topic: Arc<Topic>,
    record: TopicRecord,
    config: TopicConfig,
    index: i32,
    replicas: Vec<u64>,
}

impl Broker {
    /// Opens, closes and reconfigures this broker's topics and replicas as the metadata says.
    pub(crate) async fn reconcile(&self) -> Result<(), BrokerError> {
        let _one_at_a_time = self.reconciling().lock().await;
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
                let replicas = record.replicas_of(index, node);
                if topic.partition(index).is_none() && replicas.contains(&node) {
                    openings.push(Opening {
                        topic: Arc::clone(&topic),
                        record: record.clone(),
                        config: config.clone(),
                        index,
                        replicas,
                    });
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

    /// Starts a replica: a partition's only replica leads from the start (it reports its
    /// epoch if the metadata could not guess it, see `placement`); the first of a replica set
    /// forms the group (once), the others wait to be contacted. A replica of a set reports each
    /// leadership it wins to the controller (Kafka clients learn leaders from the metadata).
    async fn start_replica(
        &self,
        partition: &Arc<Partition>,
        replicas: &[u64],
        addresses: &BTreeMap<u64, String>,
    ) -> Result<(), BrokerError> {
        let node = self.config().node_id;
        let group = match partition.replica() {
            PartitionReplica::Solo(solo) => {
                let (epoch, topic, index) = (solo.epoch(), partition.topic(), partition.index());
                let reported = self
                    .metadata()
                    .read(|s| s.leaders.get(topic).and_then(|l| l.get(&index)).cloned());
                let known =
                    reported.map_or(0, |r| if r.leader == node { r.epoch } else { u64::MAX });
                if epoch != known {
                    self.report_leader(partition, node, epoch).await;
                }
                return Ok(());
            }
            PartitionReplica::Group(group) => group,
        };
        // A group that already had a leader was formed: a replica whose data was lost waits
        // to be brought up to date by it instead of starting an election of its own.
        let formed = self.metadata().read(|s| {
            s.leaders
                .get(partition.topic())
                .is_some_and(|l| l.contains_key(&partition.index()))
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
            while let Some(now) = partition.replica().leadership_changed(known).await {
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

    /// Records in the metadata that `leader` leads `partition` in `epoch`.
    async fn report_leader(&self, partition: &Partition, leader: u64, epoch: u64) {
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
        self.close_queue(name);
        for partition in topic.partitions() {
            if let Err(e) = partition.replica().shutdown().await {
                tracing::warn!(topic = name, partition = partition.index(), error = %e, "cannot stop a deleted partition's group");
            }
            let log = partition.log().clone();
            let dir = log.dir().to_path_buf();
            let doomed = dir.with_file_name(format!(
                "{}.{}-delete",
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                topic.id().simple()
            ));
            if let Err(e) = std::fs::rename(&dir, &doomed) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot rename deleted partition");
            }
            let _ = log.close();
            if let Err(e) = std::fs::remove_dir_all(&doomed) {
                tracing::warn!(dir = %doomed.display(), error = %e, "cannot remove deleted partition");
            }
        }
        self.metrics().remove_topic(name);
        tracing::info!(topic = name, "deleted topic");
    }
}

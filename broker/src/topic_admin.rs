//! Creating, deleting, growing and reconfiguring topics: each is a metadata change proposed to
//! the controller; every broker then opens, closes or reconfigures its own replicas (see
//! `reconcile`), this one before the call returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::broker::{Broker, MAX_PARTITIONS};
use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, TopicRecord};
use crate::topic::Topic;
use crate::topic_name::{refuse_internal, validate_topic_name};

/// An alteration of one topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set the config to a value.
    Set(String, String),
    /// Remove the override: the broker default applies again.
    Delete(String),
}

impl Broker {
    /// Creates a topic with `partitions` partitions (`-1` for the broker's `num.partitions`),
    /// each on `replication_factor` brokers (`-1` for the broker's default), and the given
    /// config overrides. With `validate_only`, checks everything and creates nothing.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        self.check_running()?;
        validate_topic_name(name)?;
        refuse_internal(name)?;
        let partitions = if partitions == -1 {
            self.config().num_partitions
        } else {
            partitions
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        let effective = self.config().topic_defaults.with_overrides(&configs)?;
        let _admin = self.admin_lock().await;
        if self.topic(name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        let replicas = self.assign_replicas(0, partitions, replication_factor)?;
        let record = TopicRecord {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs,
            replicas,
            reassigning: Default::default(),
        };
        if validate_only {
            return Ok(Arc::new(Topic::new(
                name,
                record.id,
                partitions,
                record.configs,
                effective,
            )));
        }
        self.metadata()
            .apply(MetadataCommand::CreateTopic(record))
            .await?;
        self.reconcile().await?;
        tracing::info!(topic = name, partitions, "created topic");
        self.topic(name)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            })
    }

    /// Deletes a topic and, on every broker, its data.
    pub async fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.check_running()?;
        refuse_internal(name)?;
        let _admin = self.admin_lock().await;
        if self.topic(name).is_none() {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            });
        }
        self.metadata()
            .apply(MetadataCommand::DeleteTopic {
                name: name.to_string(),
            })
            .await?;
        self.delete_cursor_topic(name).await?;
        self.reconcile().await
    }

    /// Grows a topic to `total` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.check_running()?;
        refuse_internal(name)?;
        let _admin = self.admin_lock().await;
        let topic = self.existing_topic(name)?;
        let current = topic.partition_count();
        if total <= current || total > MAX_PARTITIONS {
            return Err(BrokerError::InvalidPartitions(total));
        }
        if validate_only {
            return Ok(());
        }
        let factor = self
            .metadata()
            .read(|s| {
                s.topics
                    .get(name)
                    .map(|t| t.replicas.first().map_or(1, Vec::len))
            })
            .unwrap_or(1);
        let added = self.assign_replicas(current, total - current, factor as i16)?;
        self.metadata()
            .apply(MetadataCommand::SetPartitionCount {
                name: name.to_string(),
                partitions: total,
                added,
            })
            .await?;
        self.reconcile().await?;
        tracing::info!(topic = name, from = current, to = total, "added partitions");
        Ok(())
    }

    /// Applies config changes to a topic. `incremental=false` replaces every override with the
    /// `Set` changes (Kafka's AlterConfigs); `true` applies them one by one
    /// (IncrementalAlterConfigs).
    pub async fn alter_topic_config(
        &self,
        name: &str,
        changes: Vec<ConfigChange>,
        incremental: bool,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        self.check_running()?;
        let _admin = self.admin_lock().await;
        let topic = self.existing_topic(name)?;
        let mut overrides = if incremental {
            topic.overrides()
        } else {
            BTreeMap::new()
        };
        for change in changes {
            match change {
                ConfigChange::Set(key, value) => {
                    overrides.insert(key, value);
                }
                ConfigChange::Delete(key) => {
                    if !TopicConfig::is_known_key(&key) {
                        return Err(BrokerError::InvalidConfig {
                            key,
                            value: String::new(),
                            reason: "unknown topic config".to_string(),
                        });
                    }
                    overrides.remove(&key);
                }
            }
        }
        self.config().topic_defaults.with_overrides(&overrides)?;
        if validate_only {
            return Ok(());
        }
        self.metadata()
            .apply(MetadataCommand::SetTopicConfigs {
                name: name.to_string(),
                configs: overrides,
            })
            .await?;
        self.reconcile().await
    }

    /// Replica sets for `count` partitions starting at `first`, each of `factor` live brokers
    /// (`-1`: the broker default): successive brokers from a point that moves with the
    /// partition and the topic count, so that leaders (the first of each set) spread.
    pub(crate) fn assign_replicas(
        &self,
        first: i32,
        count: i32,
        factor: i16,
    ) -> Result<Vec<Vec<u64>>, BrokerError> {
        let brokers = self.live_broker_ids();
        let factor = if factor == -1 {
            self.config().default_replication_factor
        } else {
            factor
        };
        let wanted = usize::try_from(factor).unwrap_or(0);
        if wanted == 0 || wanted > brokers.len() {
            return Err(BrokerError::InvalidReplicationFactor {
                factor,
                brokers: brokers.len(),
            });
        }
        let start = self.metadata().read(|s| s.topics.len());
        Ok((first..first + count)
            .map(|p| {
                (0..wanted)
                    .map(|k| brokers[(start + p as usize + k) % brokers.len()])
                    .collect()
            })
            .collect())
    }
}

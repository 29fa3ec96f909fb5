//! A topic: its partitions and configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::{ConfigEntry, TopicConfig};
use crate::partition::Partition;

/// A topic and the partitions this broker has a replica of.
#[derive(Debug)]
pub struct Topic {
    name: String,
    id: uuid::Uuid,
    /// One slot per partition of the topic; empty where another broker has the replicas.
    partitions: RwLock<Vec<Option<Arc<Partition>>>>,
    overrides: RwLock<BTreeMap<String, String>>,
    config: RwLock<TopicConfig>,
}

impl Topic {
    /// A topic of `count` partitions, none of them open here yet.
    pub(crate) fn new(
        name: &str,
        id: uuid::Uuid,
        count: i32,
        overrides: BTreeMap<String, String>,
        config: TopicConfig,
    ) -> Topic {
        Topic {
            name: name.to_string(),
            id,
            partitions: RwLock::new(vec![None; usize::try_from(count).unwrap_or_default()]),
            overrides: RwLock::new(overrides),
            config: RwLock::new(config),
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic's id (Kafka's topic UUID).
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }

    /// Partition `index`, if this broker has a replica of it.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.read().get(i).cloned().flatten())
    }

    /// The partitions this broker has a replica of, in order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().iter().flatten().cloned().collect()
    }

    /// Grows the topic to `count` partitions.
    pub(crate) fn grow(&self, count: i32) {
        let count = usize::try_from(count).unwrap_or_default();
        let mut partitions = self.partitions.write();
        if partitions.len() < count {
            partitions.resize(count, None);
        }
    }

    /// Puts the replica of partition `index` in its slot.
    pub(crate) fn set_partition(&self, index: i32, partition: Arc<Partition>) {
        if let Ok(i) = usize::try_from(index)
            && let Some(slot) = self.partitions.write().get_mut(i)
        {
            *slot = Some(partition);
        }
    }

    /// Empties the slot of partition `index` (its replica here was moved away).
    pub(crate) fn clear_partition(&self, index: i32) {
        if let Ok(i) = usize::try_from(index)
            && let Some(slot) = self.partitions.write().get_mut(i)
        {
            *slot = None;
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> TopicConfig {
        self.config.read().clone()
    }

    /// Looks at the effective configuration without copying it.
    pub(crate) fn with_config<R>(&self, look: impl FnOnce(&TopicConfig) -> R) -> R {
        look(&self.config.read())
    }

    /// Configs set on this topic (overrides of broker defaults).
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.overrides.read().clone()
    }

    /// Every config with its effective value and whether it is a default.
    pub fn describe_configs(&self) -> Vec<ConfigEntry> {
        self.config.read().describe(&self.overrides.read())
    }

    pub(crate) fn set_config(&self, overrides: BTreeMap<String, String>, config: TopicConfig) {
        for partition in self.partitions.read().iter().flatten() {
            partition.apply_config(&config);
        }
        *self.overrides.write() = overrides;
        *self.config.write() = config;
    }
}

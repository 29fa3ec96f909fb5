//! The broker's metadata as one in-memory value: topics and their configs, ACLs, reserved
//! producer ids and the front-ends' documents. Commands are checked against it, then applied;
//! the same commands in the same order always give the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::{DocumentKind, MetadataCommand};
use super::topic_record::{BrokerRecord, LeaderRecord, TopicRecord};
use crate::acls::AclBinding;
use crate::error::BrokerError;

/// The key of a refused producer-id reservation.
pub(crate) const PRODUCER_IDS: &str = "producer ids";
/// Why a reservation from an end that moved is refused.
pub(crate) const RESERVED_ELSEWHERE: &str = "another broker reserved ids from there first";

/// Everything the metadata store holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataState {
    pub topics: BTreeMap<String, TopicRecord>,
    pub acls: Vec<AclBinding>,
    /// Producer ids below this were reserved by earlier runs.
    pub producer_ids_reserved: i64,
    pub documents: BTreeMap<DocumentKind, BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub brokers: BTreeMap<u64, BrokerRecord>,
    /// Each partition's leader, by topic and partition.
    #[serde(default)]
    pub leaders: BTreeMap<String, BTreeMap<i32, LeaderRecord>>,
    /// The id every broker of the cluster reports (Kafka's cluster id).
    #[serde(default)]
    pub cluster_id: Option<String>,
}

impl MetadataState {
    /// Whether `command` can be applied; the error is the broker's refusal.
    pub fn check(&self, command: &MetadataCommand) -> Result<(), BrokerError> {
        let unknown = |name: &str| BrokerError::UnknownTopicOrPartition {
            topic: name.to_string(),
            partition: -1,
        };
        match command {
            MetadataCommand::CreateTopic(record) if self.topics.contains_key(&record.name) => {
                Err(BrokerError::TopicAlreadyExists(record.name.clone()))
            }
            MetadataCommand::DeleteTopic { name }
            | MetadataCommand::SetTopicConfigs { name, .. }
                if !self.topics.contains_key(name) =>
            {
                Err(unknown(name))
            }
            MetadataCommand::SetPartitionCount {
                name, partitions, ..
            } => match self.topics.get(name) {
                None => Err(unknown(name)),
                Some(t) if *partitions <= t.partitions => {
                    Err(BrokerError::InvalidPartitions(*partitions))
                }
                Some(_) => Ok(()),
            },
            MetadataCommand::ReassignPartition {
                topic,
                partition,
                replicas,
            } => self.check_reassignment(topic, *partition, replicas),
            MetadataCommand::UnregisterBroker { id } => match self.replicas_on(*id).first() {
                Some((topic, partition)) => Err(BrokerError::InvalidReplicaAssignment(format!(
                    "broker {id} still holds a replica of {topic}-{partition}"
                ))),
                None => Ok(()),
            },
            MetadataCommand::ReserveProducerIds { count, .. } if *count <= 0 => {
                Err(BrokerError::InvalidConfig {
                    key: PRODUCER_IDS.into(),
                    value: count.to_string(),
                    reason: "a reservation must be positive".into(),
                })
            }
            MetadataCommand::ReserveProducerIds {
                from: Some(from), ..
            } if *from != self.producer_ids_reserved => Err(BrokerError::InvalidConfig {
                key: PRODUCER_IDS.into(),
                value: from.to_string(),
                reason: RESERVED_ELSEWHERE.into(),
            }),
            _ => Ok(()),
        }
    }

    /// Applies a command [`Self::check`] accepted.
    pub fn apply(&mut self, command: MetadataCommand) {
        match command {
            MetadataCommand::CreateTopic(record) => {
                self.topics.insert(record.name.clone(), record);
            }
            MetadataCommand::DeleteTopic { name } => {
                self.topics.remove(&name);
                self.leaders.remove(&name);
            }
            MetadataCommand::SetPartitionCount {
                name,
                partitions,
                added,
            } => {
                if let Some(topic) = self.topics.get_mut(&name) {
                    topic.partitions = partitions;
                    if !topic.replicas.is_empty() {
                        topic.replicas.extend(added);
                    }
                }
            }
            MetadataCommand::SetTopicConfigs { name, configs } => {
                if let Some(topic) = self.topics.get_mut(&name) {
                    topic.configs = configs;
                }
            }
            MetadataCommand::CreateAcls(bindings) => {
                for binding in bindings {
                    if !self.acls.contains(&binding) {
                        self.acls.push(binding);
                    }
                }
            }
            MetadataCommand::DeleteAcls(bindings) => {
                self.acls.retain(|b| !bindings.contains(b));
            }
            MetadataCommand::ReserveProducerIds { count, .. } => {
                self.producer_ids_reserved = self.producer_ids_reserved.saturating_add(count);
            }
            MetadataCommand::ChangeDocuments(changes) => {
                for change in changes {
                    let documents = self.documents.entry(change.kind).or_default();
                    match change.value {
                        Some(value) => {
                            documents.insert(change.name, value);
                        }
                        None => {
                            documents.remove(&change.name);
                        }
                    }
                }
                self.documents.retain(|_, documents| !documents.is_empty());
            }
            MetadataCommand::RegisterBroker { id, broker } => {
                self.brokers.insert(id, broker);
            }
            MetadataCommand::UnregisterBroker { id } => {
                self.brokers.remove(&id);
            }
            MetadataCommand::SetPartitionLeader {
                topic,
                partition,
                leader,
                epoch,
            } => {
                if self.topics.contains_key(&topic) {
                    let leaders = self.leaders.entry(topic).or_default();
                    if leaders
                        .get(&partition)
                        .is_none_or(|known| known.epoch < epoch)
                    {
                        leaders.insert(partition, LeaderRecord { leader, epoch });
                    }
                }
            }
            MetadataCommand::SetClusterId(id) => {
                self.cluster_id.get_or_insert(id);
            }
            MetadataCommand::ReassignPartition {
                topic,
                partition,
                replicas,
            } => {
                if let Some(record) = self.topics.get_mut(&topic) {
                    if record.replicas_of(partition, 0) == replicas {
                        record.reassigning.remove(&partition);
                    } else {
                        record.reassigning.insert(partition, replicas);
                    }
                }
            }
            MetadataCommand::FinishReassignment {
                topic,
                partition,
                replicas,
            } => {
                if let Some(record) = self.topics.get_mut(&topic)
                    && record.reassigning.get(&partition) == Some(&replicas)
                    && let Some(set) = usize::try_from(partition)
                        .ok()
                        .and_then(|p| record.replicas.get_mut(p))
                {
                    *set = replicas;
                    record.reassigning.remove(&partition);
                }
            }
        }
    }

    /// Whether `topic`'s partition `partition` may move to `replicas`: registered brokers,
    /// each once, at least one; a topic with replica sets (not one from before clusters).
    fn check_reassignment(
        &self,
        topic: &str,
        partition: i32,
        replicas: &[u64],
    ) -> Result<(), BrokerError> {
        let record = self
            .topics
            .get(topic)
            .filter(|t| (0..t.partitions).contains(&partition))
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            })?;
        let invalid = |reason: String| BrokerError::InvalidReplicaAssignment(reason);
        if record.replicas.is_empty() {
            return Err(invalid(format!(
                "{topic} predates replica sets: restart its broker as a cluster member first"
            )));
        }
        if replicas.is_empty() {
            return Err(invalid("a partition needs at least one replica".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for id in replicas {
            if !seen.insert(id) {
                return Err(invalid(format!("broker {id} is named twice")));
            }
            if !self.brokers.contains_key(id) {
                return Err(invalid(format!("broker {id} is not in the cluster")));
            }
        }
        Ok(())
    }

    /// The partitions broker `id` holds or is to hold a replica of (records that predate
    /// replica sets name no broker).
    pub fn replicas_on(&self, id: u64) -> Vec<(String, i32)> {
        let mut found = Vec::new();
        for (name, record) in &self.topics {
            for partition in 0..record.partitions {
                if record.hosts_of(partition, u64::MAX).contains(&id) {
                    found.push((name.clone(), partition));
                }
            }
        }
        found
    }

    /// The documents of one kind, by name.
    pub fn documents(&self, kind: DocumentKind) -> BTreeMap<String, serde_json::Value> {
        self.documents.get(&kind).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::DocumentChange;

    fn topic(name: &str, partitions: i32) -> TopicRecord {
        TopicRecord {
            name: name.into(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs: BTreeMap::new(),
            replicas: Vec::new(),
            reassigning: Default::default(),
        }
    }

    fn run(state: &mut MetadataState, command: MetadataCommand) -> Result<(), BrokerError> {
        state.check(&command)?;
        state.apply(command);
        Ok(())
    }

    #[test]
    fn topics_are_created_once_grow_only_and_go() {
        let mut state = MetadataState::default();
        run(&mut state, MetadataCommand::CreateTopic(topic("t", 1))).unwrap();
        assert!(matches!(
            run(&mut state, MetadataCommand::CreateTopic(topic("t", 2))),
            Err(BrokerError::TopicAlreadyExists(_))
        ));
        let grow = |partitions| MetadataCommand::SetPartitionCount {
            name: "t".into(),
            partitions,
            added: Vec::new(),
        };
        assert!(matches!(
            run(&mut state, grow(1)),
            Err(BrokerError::InvalidPartitions(1))
        ));
        run(&mut state, grow(3)).unwrap();
        assert_eq!(state.topics["t"].partitions, 3);
        run(
            &mut state,
            MetadataCommand::DeleteTopic { name: "t".into() },
        )
        .unwrap();
        assert!(matches!(
            run(
                &mut state,
                MetadataCommand::DeleteTopic { name: "t".into() }
            ),
            Err(BrokerError::UnknownTopicOrPartition { .. })
        ));
    }

    #[test]
    fn documents_are_put_replaced_and_removed_together() {
        let mut state = MetadataState::default();
        let put = |name: &str, value: i64| DocumentChange {
            kind: DocumentKind::SqsQueue,
            name: name.into(),
            value: Some(value.into()),
        };
        run(
            &mut state,
            MetadataCommand::ChangeDocuments(vec![put("a", 1), put("b", 2), put("a", 3)]),
        )
        .unwrap();
        assert_eq!(state.documents(DocumentKind::SqsQueue)["a"], 3);
        let remove = |name: &str| DocumentChange {
            kind: DocumentKind::SqsQueue,
            name: name.into(),
            value: None,
        };
        run(
            &mut state,
            MetadataCommand::ChangeDocuments(vec![remove("a"), remove("b")]),
        )
        .unwrap();
        assert!(state.documents.is_empty());
    }
}

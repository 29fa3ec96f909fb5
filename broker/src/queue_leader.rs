//! Where a queue is served: on the broker leading its partition, which also leads the queue's
//! cursor topic (created beside the queue with the same replicas) and has loaded the cursor
//! from it. After a failover the new leader takes the cursor topic's leadership too, and the
//! cursor with it: acknowledged records stay settled, held ones are held until their locks
//! end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, TopicRecord};
use crate::partition::Partition;
use crate::queues::{Queue, QueueConfig, cursor_topic_configs, cursor_topic_for, snapshot_offset};
use crate::topic::Topic;
use crate::topic_name::CURSOR_TOPIC_PREFIX;

/// Directory of the queue cursor logs of data directories from before replicated cursors.
const LEGACY_QUEUES_DIR: &str = "queues";
/// Replicas of a queue's topic on a cluster of enough brokers.
const QUEUE_REPLICAS: usize = 3;
/// How long a queue's leader waits to lead its cursor topic too.
const CURSOR_LEAD_WAIT: Duration = Duration::from_secs(10);
/// How often it checks meanwhile.
const CURSOR_LEAD_RECHECK: Duration = Duration::from_millis(50);

impl Broker {
    /// The queue over partition 0 of `topic`, served by this broker if it leads that
    /// partition: opened on first use with `config`, its cursor loaded from its cursor topic
    /// (created on first use) once this broker leads that too. Later calls return the same
    /// queue. [`BrokerError::NotLeader`] when another broker leads the queue.
    pub async fn queue(&self, topic: &str, config: QueueConfig) -> Result<Arc<Queue>, BrokerError> {
        self.check_running()?;
        let data = self.partition(topic, 0)?;
        let me = self.config().node_id;
        let leader = data.replica().leadership().0;
        if leader != Some(me) {
            return Err(BrokerError::NotLeader {
                partition: format!("{topic}-0"),
                leader,
            });
        }
        let queue = {
            let mut queues = self.queues().lock();
            match queues.get(topic) {
                Some(queue) if Arc::ptr_eq(queue.partition(), &data) => Arc::clone(queue),
                _ => {
                    let queue = Arc::new(Queue::new(Arc::clone(&data), config));
                    queues.insert(topic.to_string(), Arc::clone(&queue));
                    queue
                }
            }
        };
        if queue.is_loaded() {
            return Ok(queue);
        }
        let cursor_topic = cursor_topic_for(topic);
        let cursor_log = self.lead_cursor_topic(topic, &cursor_topic).await?;
        let legacy = self.legacy_cursor_dir(topic);
        queue
            .load(cursor_log, Some((&legacy, self.flusher())))
            .await?;
        Ok(queue)
    }

    /// The replication factor of a new queue's topic: three, or the live brokers if fewer (as
    /// RabbitMQ's quorum queues; a single broker's queues have one replica).
    pub fn queue_replication_factor(&self) -> i16 {
        i16::try_from(self.live_broker_ids().len().clamp(1, QUEUE_REPLICAS)).unwrap_or(1)
    }

    /// The cursor topic's partition, once this broker leads it: created if missing, its
    /// leadership asked for when another broker has it.
    async fn lead_cursor_topic(
        &self,
        topic: &str,
        cursor_topic: &str,
    ) -> Result<Arc<Partition>, BrokerError> {
        if self.topic(cursor_topic).is_none() {
            self.create_cursor_topic(topic, cursor_topic).await?;
        }
        let me = self.config().node_id;
        let deadline = tokio::time::Instant::now() + CURSOR_LEAD_WAIT;
        let mut asked = false;
        loop {
            if let Ok(partition) = self.partition(cursor_topic, 0) {
                let leader = partition.replica().leadership().0;
                if leader == Some(me) {
                    return Ok(partition);
                }
                if leader.is_some() && !asked {
                    asked = true;
                    if let Err(e) = self.transfer_leader(cursor_topic, 0, Some(me)).await {
                        tracing::debug!(topic = cursor_topic, error = %e, "cannot take a queue cursor's leadership yet");
                        asked = false;
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::NotLeader {
                    partition: format!("{cursor_topic}-0"),
                    leader: self
                        .topic(cursor_topic)
                        .and_then(|t| self.placement(&t, 0).leader),
                });
            }
            tokio::time::sleep(CURSOR_LEAD_RECHECK).await;
        }
    }

    /// Creates the cursor topic of queue topic `topic`, with the queue partition's replicas
    /// in the same order (so both prefer the same leader).
    async fn create_cursor_topic(
        &self,
        topic: &str,
        cursor_topic: &str,
    ) -> Result<(), BrokerError> {
        let _admin = self.admin_lock().await;
        if self.topic(cursor_topic).is_some() {
            return Ok(());
        }
        let me = self.config().node_id;
        let replicas = self
            .metadata()
            .read(|s| s.topics.get(topic).map(|r| r.replicas_of(0, me)))
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition: 0,
            })?;
        let record = TopicRecord {
            name: cursor_topic.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions: 1,
            configs: cursor_topic_configs(),
            replicas: vec![replicas],
            reassigning: Default::default(),
        };
        match self
            .metadata()
            .apply(MetadataCommand::CreateTopic(record))
            .await
        {
            Ok(()) | Err(BrokerError::TopicAlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        drop(_admin);
        self.reconcile().await
    }

    /// Deletes the cursor topic of deleted queue topic `topic`, if it has one (the caller
    /// holds the admin lock).
    pub(crate) async fn delete_cursor_topic(&self, topic: &str) -> Result<(), BrokerError> {
        let cursor_topic = cursor_topic_for(topic);
        if self.topic(&cursor_topic).is_none() {
            return Ok(());
        }
        match self
            .metadata()
            .apply(MetadataCommand::DeleteTopic { name: cursor_topic })
            .await
        {
            Ok(()) | Err(BrokerError::UnknownTopicOrPartition { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Forgets the queue of a deleted topic, and the cursor log a data directory from before
    /// replicated cursors kept for it.
    pub(crate) async fn close_queue(&self, topic: &str) {
        let queue = self.queues().lock().remove(topic);
        if let Some(queue) = queue {
            let _ = queue.close().await;
        }
        let dir = self.legacy_cursor_dir(topic);
        if dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a deleted queue's cursor");
        }
    }

    /// Deletes the records of a cursor log before its last snapshot (any replica, from its
    /// last batch: see `queues/cursor_topic.rs`).
    pub(crate) fn trim_cursor_log(&self, partition: &Partition) {
        let end = partition.high_watermark();
        if end <= partition.log_start_offset() {
            return;
        }
        let Ok(last) = partition.read(end - 1, 1) else {
            return;
        };
        let Some(snapshot) = snapshot_offset(&last.records) else {
            return;
        };
        if snapshot > partition.log_start_offset()
            && let Err(e) = partition.delete_records(snapshot)
        {
            tracing::warn!(topic = partition.topic(), error = %e, "cannot trim a queue cursor log");
        }
    }

    /// For a cursor topic, `Some` of its queue's topic (`None` inside when it is not known
    /// here, or its name was too long to keep whole); `None` for any other topic.
    pub(crate) fn queue_topic_of(&self, name: &str) -> Option<Option<Arc<Topic>>> {
        let queue_topic = name.strip_prefix(CURSOR_TOPIC_PREFIX)?;
        Some(
            self.topic(queue_topic)
                .filter(|_| cursor_topic_for(queue_topic) == name),
        )
    }

    fn legacy_cursor_dir(&self, topic: &str) -> PathBuf {
        self.config().data_dir.join(LEGACY_QUEUES_DIR).join(topic)
    }
}

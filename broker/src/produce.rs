//! Produce: append record batches to a partition, acknowledged at the level asked for.

use bytes::Bytes;

use crate::appended::{Acks, Appended, ProduceOutcome};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::topic_name::refuse_internal;

impl Broker {
    /// Appends `records` (one or more RecordBatch v2; the leader assigns the offsets) to a partition
    /// and returns once it is in the leader's log, before it is committed. `acks` is the
    /// acknowledgement the caller will wait for: an `acks=all` write is refused up front when
    /// too few replicas are in sync.
    pub async fn append(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: Acks,
    ) -> Result<Appended, BrokerError> {
        refuse_internal(topic)?;
        if acks == Acks::All {
            self.check_in_sync(topic, partition)?;
        }
        self.partition(topic, partition)?.append(records).await
    }

    /// Refuses an `acks=all` write to a partition with fewer replicas in sync than its
    /// `min.insync.replicas` (checked before the write, as Kafka does).
    fn check_in_sync(&self, topic: &str, partition: i32) -> Result<(), BrokerError> {
        let found = self.existing_topic(topic)?;
        let required = found.with_config(|c| c.min_insync_replicas);
        if required <= 1 {
            return Ok(());
        }
        let in_sync = self.placement(&found, partition).in_sync.len();
        if (in_sync as i64) < required {
            return Err(BrokerError::NotEnoughReplicas {
                partition: format!("{topic}-{partition}"),
                in_sync,
                required,
            });
        }
        Ok(())
    }

    /// Appends `records` and waits for the acknowledgement level `acks`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: Acks,
    ) -> Result<ProduceOutcome, BrokerError> {
        self.append(topic, partition, records, acks)
            .await?
            .acknowledged(acks)
            .await
    }
}

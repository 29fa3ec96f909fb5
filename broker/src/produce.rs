//! Produce: append record batches to a partition, acknowledged at the level asked for.

use bytes::Bytes;

use crate::appended::{Acks, Appended, ProduceOutcome};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::topic_name::refuse_internal;

impl Broker {
    /// Appends `records` (one or more RecordBatch v2; the leader assigns the offsets) to a partition
    /// and returns once it is in the leader's log, before it is committed.
    pub async fn append(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> Result<Appended, BrokerError> {
        refuse_internal(topic)?;
        self.partition(topic, partition)?.append(records).await
    }

    /// Appends `records` and waits for the acknowledgement level `acks`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: Acks,
    ) -> Result<ProduceOutcome, BrokerError> {
        self.append(topic, partition, records)
            .await?
            .acknowledged(acks)
            .await
    }
}

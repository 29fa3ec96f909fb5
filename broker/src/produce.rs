//! Produce: append record batches to a partition, acknowledged at the level asked for.

use crate::appended::{Acks, Appended, ProduceOutcome};
use crate::broker::Broker;
use crate::error::BrokerError;

impl Broker {
    /// Appends `records` (one or more RecordBatch v2, offsets assigned in place) to a partition
    /// and returns once it is in the log, before any fsync.
    pub fn append(
        &self,
        topic: &str,
        partition: i32,
        records: &mut [u8],
    ) -> Result<Appended, BrokerError> {
        self.partition(topic, partition)?.append(records)
    }

    /// Appends `records` and waits for the acknowledgement level `acks`.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &mut [u8],
        acks: Acks,
    ) -> Result<ProduceOutcome, BrokerError> {
        self.append(topic, partition, records)?
            .acknowledged(acks)
            .await
    }
}

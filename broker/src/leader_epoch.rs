//! OffsetForLeaderEpoch: where a leader epoch ends in a partition's log, so a consumer can
//! tell after a leader change whether records it read were truncated (KIP-320).

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;

/// Where a leader epoch ends in a partition's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    /// The largest epoch at or below the one asked for that wrote records here (the one asked
    /// for when it is below every epoch still in the log).
    pub leader_epoch: i32,
    /// The offset after that epoch's last record: the next epoch's first offset, or the log
    /// end offset for the latest epoch.
    pub end_offset: i64,
}

impl Partition {
    /// Where leader epoch `epoch` ends in this replica's log, the partition's current term
    /// counting as its leader's epoch from the log end on until it writes a record; `None`
    /// when the log cannot say (a negative epoch, or one newer than the current term).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<EpochEnd> {
        let current = i32::try_from(self.replica().term()).unwrap_or(i32::MAX);
        self.log()
            .end_offset_for_epoch(epoch, Some(current))
            .map(|found| EpochEnd {
                leader_epoch: found.epoch,
                end_offset: found.end_offset,
            })
    }
}

impl Broker {
    /// Where leader epoch `epoch` ends in a partition this broker leads (see
    /// [`Partition::end_offset_for_epoch`]), checking the caller's current leader epoch as
    /// [`Broker::leader_partition`] does. The latest epoch ends at the leader's log end, not
    /// the high watermark, as in Kafka: no record below it can be taken back while this leader
    /// leads.
    pub fn end_offset_for_epoch(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: Option<u64>,
        epoch: i32,
    ) -> Result<Option<EpochEnd>, BrokerError> {
        Ok(self
            .leader_partition(topic, partition, current_leader_epoch)?
            .end_offset_for_epoch(epoch))
    }
}

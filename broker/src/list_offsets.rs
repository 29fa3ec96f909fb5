//! ListOffsets and DeleteRecords: offsets by position or time, and moving the log start.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the next offset a consumer can read).
    Latest,
    /// The record with the largest timestamp.
    MaxTimestamp,
    /// The first record with timestamp at or after this (ms).
    Timestamp(i64),
}

/// An offset found, with the timestamp of its record (-1 when not a time lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
    /// The leader epoch (Raft term) of the leader that answered.
    pub leader_epoch: u64,
}

impl Partition {
    /// Looks up an offset, never at or past the high watermark; `None` when no record
    /// matches a timestamp lookup.
    pub fn list_offset(&self, spec: OffsetSpec) -> Result<Option<OffsetAndTimestamp>, BrokerError> {
        let log = self.log();
        let hw = self.high_watermark();
        let leader_epoch = self.replica().term();
        let found = match spec {
            OffsetSpec::Earliest => Some(OffsetAndTimestamp {
                offset: log.log_start_offset(),
                timestamp: -1,
                leader_epoch,
            }),
            OffsetSpec::Latest => Some(OffsetAndTimestamp {
                offset: hw,
                timestamp: -1,
                leader_epoch,
            }),
            OffsetSpec::MaxTimestamp => log
                .max_timestamp()?
                .filter(|&(_, offset)| offset < hw)
                .map(|(timestamp, offset)| OffsetAndTimestamp {
                    offset,
                    timestamp,
                    leader_epoch,
                }),
            OffsetSpec::Timestamp(ts) => log
                .offset_for_timestamp(ts)?
                .filter(|&(offset, _)| offset < hw)
                .map(|(offset, timestamp)| OffsetAndTimestamp {
                    offset,
                    timestamp,
                    leader_epoch,
                }),
        };
        Ok(found)
    }
}

impl Broker {
    /// Looks up an offset of a partition this broker leads (see [`Partition::list_offset`]),
    /// checking the caller's leader epoch as [`Broker::leader_partition`] does.
    pub fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
        leader_epoch: Option<u64>,
    ) -> Result<Option<OffsetAndTimestamp>, BrokerError> {
        self.leader_partition(topic, partition, leader_epoch)?
            .list_offset(spec)
    }

    /// Moves a partition's log start offset to `offset` (`-1` for the high watermark), deleting
    /// the records before it. Returns the new low watermark.
    pub fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, BrokerError> {
        let partition = self.leader_partition(topic, partition, None)?;
        let target = if offset == -1 {
            partition.high_watermark()
        } else {
            offset
        };
        if target > partition.high_watermark() {
            return Err(BrokerError::OffsetOutOfRange {
                offset: target,
                log_start: partition.log_start_offset(),
                log_end: partition.high_watermark(),
            });
        }
        Ok(partition.delete_records(target)?)
    }
}

//! ListOffsets and DeleteRecords: offsets by position or time, and moving the log start.

use crate::broker::Broker;
use crate::error::BrokerError;

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

impl OffsetSpec {
    /// From Kafka's ListOffsets timestamp field (-2 earliest, -1 latest, -3 max timestamp).
    pub fn from_kafka(timestamp: i64) -> OffsetSpec {
        match timestamp {
            -2 => OffsetSpec::Earliest,
            -1 => OffsetSpec::Latest,
            -3 => OffsetSpec::MaxTimestamp,
            ts => OffsetSpec::Timestamp(ts),
        }
    }
}

/// An offset found, with the timestamp of its record (-1 when not a time lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    pub offset: i64,
    pub timestamp: i64,
}

impl Broker {
    /// Looks up an offset; `None` when no record matches a timestamp lookup.
    pub fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<OffsetAndTimestamp>, BrokerError> {
        let partition = self.partition(topic, partition)?;
        let log = partition.log();
        let hw = partition.high_watermark();
        let found = match spec {
            OffsetSpec::Earliest => Some(OffsetAndTimestamp {
                offset: log.log_start_offset(),
                timestamp: -1,
            }),
            OffsetSpec::Latest => Some(OffsetAndTimestamp {
                offset: hw,
                timestamp: -1,
            }),
            OffsetSpec::MaxTimestamp => log
                .max_timestamp()?
                .filter(|&(_, offset)| offset < hw)
                .map(|(timestamp, offset)| OffsetAndTimestamp { offset, timestamp }),
            OffsetSpec::Timestamp(ts) => log
                .offset_for_timestamp(ts)?
                .filter(|&(offset, _)| offset < hw)
                .map(|(offset, timestamp)| OffsetAndTimestamp { offset, timestamp }),
        };
        Ok(found)
    }

    /// Moves a partition's log start offset to `offset` (`-1` for the high watermark), deleting
    /// the records before it. Returns the new low watermark.
    pub fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, BrokerError> {
        let partition = self.partition(topic, partition)?;
        let target = if offset == -1 {
            partition.high_watermark()
        } else {
            offset
        };
        if target > partition.high_watermark() {
            let log = partition.log();
            return Err(BrokerError::Log(neo_storage::LogError::OffsetOutOfRange {
                offset: target,
                log_start: log.log_start_offset(),
                log_end: partition.high_watermark(),
            }));
        }
        Ok(partition.log().delete_records(target)?)
    }
}

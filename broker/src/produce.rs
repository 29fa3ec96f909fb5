//! Produce: append record batches to a partition, acknowledged at the level asked for.

use std::sync::Arc;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::{AppendResult, Partition};

/// How much an acknowledgement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No acknowledgement is sent (Kafka `acks=0`); the append still happens.
    None,
    /// The leader has the bytes (Kafka `acks=1`).
    Leader,
    /// Durable: on a durable topic, fsynced before acknowledging (Kafka `acks=all`, AMQP
    /// publisher confirms, SQS SendMessage).
    All,
}

impl Acks {
    /// From Kafka's `acks` field.
    pub fn from_kafka(acks: i16) -> Option<Acks> {
        match acks {
            0 => Some(Acks::None),
            1 => Some(Acks::Leader),
            -1 => Some(Acks::All),
            _ => None,
        }
    }
}

/// Where a produce landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp when the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
}

/// A batch appended but not yet acknowledged: [`Appended::acknowledged`] waits for what the
/// acknowledgement level promises. Splitting the two lets a front-end append requests in the
/// order they arrived and wait for their fsyncs concurrently.
#[derive(Debug)]
pub struct Appended {
    partition: Arc<Partition>,
    outcome: ProduceOutcome,
}

impl Appended {
    /// Where the batch landed (offsets are final; durability depends on `acks`).
    pub fn outcome(&self) -> ProduceOutcome {
        self.outcome
    }

    /// Waits until the append is as safe as `acks` asks: with [`Acks::All`] on a durable topic,
    /// fsynced.
    pub async fn acknowledged(self, acks: Acks) -> Result<ProduceOutcome, BrokerError> {
        if acks == Acks::All && self.partition.is_durable() {
            self.partition
                .log()
                .wait_durable(self.outcome.last_offset + 1)
                .await?;
        }
        Ok(self.outcome)
    }
}

impl Broker {
    /// Appends `records` (one or more RecordBatch v2, offsets assigned in place) to a partition
    /// and returns once it is in the log, before any fsync.
    pub fn append(
        &self,
        topic: &str,
        partition: i32,
        records: &mut [u8],
    ) -> Result<Appended, BrokerError> {
        let partition = self.partition(topic, partition)?;
        let log = partition.log();
        let info = match partition.append(records)? {
            AppendResult::Appended(info) => info,
            AppendResult::Duplicate {
                base_offset,
                last_offset,
            } => {
                let outcome = ProduceOutcome {
                    base_offset,
                    last_offset,
                    log_append_time: -1,
                    log_start_offset: log.log_start_offset(),
                };
                return Ok(Appended { partition, outcome });
            }
        };
        let metrics = self.metrics();
        metrics
            .bytes_appended
            .with_label_values(&[topic])
            .inc_by(info.bytes as u64);
        metrics
            .records_appended
            .with_label_values(&[topic])
            .inc_by(info.records);
        let outcome = ProduceOutcome {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time: info.log_append_time.unwrap_or(-1),
            log_start_offset: log.log_start_offset(),
        };
        Ok(Appended { partition, outcome })
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

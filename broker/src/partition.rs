//! One partition of a topic: its log and the high watermark readers may see.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use neo_record::batch_header::BatchHeader;
use neo_storage::{AppendInfo, LogError};
use parking_lot::{Mutex, RwLock};

use crate::append_policy::AppendPolicy;
use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::producer_state::{ProducerStates, SequenceCheck};

use neo_storage::PartitionLog;

/// A topic partition.
#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    log: PartitionLog,
    durable: AtomicBool,
    /// What the topic's configs demand of incoming batches.
    policy: RwLock<AppendPolicy>,
    /// Idempotent producers' recent batches; locked around check-and-append.
    producers: Mutex<ProducerStates>,
    /// Log end at the last compaction: a log that has not grown is not compacted again.
    compacted_at: AtomicI64,
}

/// Offsets at the end of the log whose batches rebuild producer state on open.
const PRODUCER_STATE_WINDOW: i64 = 20_000;

impl Partition {
    pub(crate) fn new(
        topic: &str,
        index: i32,
        log: PartitionLog,
        config: &TopicConfig,
    ) -> Partition {
        let producers = Mutex::new(rebuild_producer_state(&log));
        Partition {
            topic: topic.to_string(),
            index,
            log,
            durable: AtomicBool::new(config.is_durable()),
            policy: RwLock::new(AppendPolicy::of(config)),
            producers,
            compacted_at: AtomicI64::new(-1),
        }
    }

    /// Appends `records`, checking idempotent producers' sequence numbers first: a retried
    /// batch is not appended again but answered with the offsets it got the first time.
    /// Batches the topic wants in another codec are re-encoded first.
    pub(crate) fn append(&self, records: &mut [u8]) -> Result<AppendResult, BrokerError> {
        let policy = *self.policy.read();
        let mut reencoded = policy.apply(records, &self.topic, self.index)?;
        let records: &mut [u8] = match reencoded.as_mut() {
            Some(buffer) => buffer,
            None => records,
        };
        let header = BatchHeader::parse(records).map_err(LogError::from)?;
        if header.producer_id < 0 {
            return Ok(AppendResult::Appended(self.log.append(records)?));
        }
        if header.total_len() < records.len() {
            // Sequence numbers are checked per batch: as Kafka, an idempotent producer's
            // records come one batch at a time.
            return Err(BrokerError::InvalidRecord {
                message: "an idempotent producer's request must hold exactly one record batch \
                          per partition"
                    .into(),
                record_indexes: Vec::new(),
            });
        }
        let mut producers = self.producers.lock();
        if let SequenceCheck::Duplicate {
            base_offset,
            last_offset,
        } = producers.check(&header)?
        {
            return Ok(AppendResult::Duplicate {
                base_offset,
                last_offset,
            });
        }
        let info = self.log.append(records)?;
        producers.record(&header, info.base_offset, info.last_offset);
        Ok(AppendResult::Appended(info))
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The partition's log.
    pub fn log(&self) -> &PartitionLog {
        &self.log
    }

    /// The offset readers may read up to (exclusive). On a durable topic that is the fsynced
    /// end, so a consumer never sees a record that a crash could take back.
    pub fn high_watermark(&self) -> i64 {
        if self.durable.load(Ordering::Acquire) {
            self.log.durable_offset()
        } else {
            self.log.log_end_offset()
        }
    }

    /// Whether acknowledgements and reads wait for fsync.
    pub fn is_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire)
    }

    /// Compacts the sealed segments (`cleanup.policy=compact`) if the log grew since the last
    /// time; failures are logged and retried at the next pass.
    pub(crate) fn compact_if_grown(&self, now: i64, delete_retention_ms: i64) {
        let end = self.log.log_end_offset();
        if self.log.segment_count() < 2 || self.compacted_at.load(Ordering::Acquire) == end {
            return;
        }
        match self.log.compact(now, delete_retention_ms) {
            Ok(report) => {
                self.compacted_at.store(end, Ordering::Release);
                if report.records_removed > 0 {
                    tracing::info!(
                        topic = self.topic,
                        partition = self.index,
                        removed = report.records_removed,
                        bytes_before = report.bytes_before,
                        bytes_after = report.bytes_after,
                        "compacted"
                    );
                }
            }
            Err(e) => tracing::warn!(
                topic = self.topic,
                partition = self.index,
                error = %e,
                "compaction failed"
            ),
        }
    }

    /// Takes up a topic's changed configs.
    pub(crate) fn apply_config(&self, config: &TopicConfig) {
        self.durable.store(config.is_durable(), Ordering::Release);
        *self.policy.write() = AppendPolicy::of(config);
    }
}

/// What [`Partition::append`] did.
#[derive(Debug)]
pub(crate) enum AppendResult {
    Appended(AppendInfo),
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// Producer state from the batch headers of the last [`PRODUCER_STATE_WINDOW`] offsets.
fn rebuild_producer_state(log: &PartitionLog) -> ProducerStates {
    let mut states = ProducerStates::default();
    let from = log.log_end_offset() - PRODUCER_STATE_WINDOW;
    let replayed = log.for_each_batch(from, |batch| {
        if let Ok(header) = BatchHeader::parse(batch)
            && header.producer_id >= 0
        {
            let last = header.base_offset + i64::from(header.last_offset_delta);
            states.record(&header, header.base_offset, last);
        }
    });
    if let Err(e) = replayed {
        tracing::warn!(dir = %log.dir().display(), error = %e, "producer state rebuilt only in part");
    }
    states
}

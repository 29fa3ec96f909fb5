//! One partition of a topic: its log, the high watermark readers may see, and the one append
//! and read path every protocol goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_storage::PartitionLog;
use parking_lot::{Mutex, RwLock};

use crate::append_policy::AppendPolicy;
use crate::appended::{Appended, ProduceOutcome};
use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::metrics::TopicCounters;
use crate::position_watch::PositionWatch;
use crate::producer_state::{ProducerStates, SequenceCheck};

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
    counters: TopicCounters,
}

/// Whole batches read from a partition, never past its high watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecords {
    /// Whole record batches as stored (empty when nothing is readable at the offset).
    pub records: Bytes,
    /// The offset to read next.
    pub next_offset: i64,
    /// End of what readers may see when the read was made.
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
}

/// Offsets at the end of the log whose batches rebuild producer state on open.
const PRODUCER_STATE_WINDOW: i64 = 20_000;

impl Partition {
    pub(crate) fn new(
        topic: &str,
        index: i32,
        log: PartitionLog,
        config: &TopicConfig,
        counters: TopicCounters,
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
            counters,
        }
    }

    /// Appends `records` (one or more RecordBatch v2, offsets assigned in place), checking
    /// idempotent producers' sequence numbers first: a retried batch is not appended again but
    /// answered with the offsets it got the first time. Batches the topic wants in another
    /// codec are re-encoded first. Returns once the records are in the log, before any fsync:
    /// [`Appended::acknowledged`] waits for what the caller promises its client.
    pub(crate) fn append(self: &Arc<Self>, records: &mut [u8]) -> Result<Appended, BrokerError> {
        let policy = *self.policy.read();
        let mut reencoded = policy.apply(records, &self.topic, self.index)?;
        let records: &mut [u8] = match reencoded.as_mut() {
            Some(buffer) => buffer,
            None => records,
        };
        let header = BatchHeader::parse(records)?;
        let info = if header.producer_id < 0 {
            self.log.append(records)?
        } else {
            if header.total_len() < records.len() {
                // Sequence numbers are checked per batch: as Kafka, an idempotent producer's
                // records come one batch at a time.
                return Err(BrokerError::InvalidRecord {
                    message: "an idempotent producer's request must hold exactly one record \
                              batch per partition"
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
                return Ok(self.appended(base_offset, last_offset, -1));
            }
            let info = self.log.append(records)?;
            producers.record(&header, info.base_offset, info.last_offset);
            info
        };
        self.counters.bytes_appended.inc_by(info.bytes as u64);
        self.counters.records_appended.inc_by(info.records);
        Ok(self.appended(
            info.base_offset,
            info.last_offset,
            info.log_append_time.unwrap_or(-1),
        ))
    }

    fn appended(self: &Arc<Self>, base_offset: i64, last_offset: i64, time: i64) -> Appended {
        Appended::new(
            Arc::clone(self),
            ProduceOutcome {
                base_offset,
                last_offset,
                log_append_time: time,
                log_start_offset: self.log.log_start_offset(),
            },
        )
    }

    /// Reads whole batches from `offset` on, about `max_bytes` of them (at least one whole
    /// batch when one is readable), never past the high watermark. An offset outside
    /// [log start, log end] is [`BrokerError::OffsetOutOfRange`].
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadRecords, BrokerError> {
        let high_watermark = self.high_watermark();
        let slice = self.log.read(offset, max_bytes.max(1), high_watermark)?;
        self.counters.bytes_read.inc_by(slice.records.len() as u64);
        Ok(ReadRecords {
            records: slice.records,
            next_offset: slice.next_offset,
            high_watermark,
            log_start_offset: self.log.log_start_offset(),
        })
    }

    /// Counts bytes handed to consumers by a path that reads the log itself (queues).
    pub(crate) fn count_read(&self, bytes: usize) {
        self.counters.bytes_read.inc_by(bytes as u64);
    }

    /// Checks that a reader may start at `offset`: within [log start, log end].
    pub fn check_offset(&self, offset: i64) -> Result<i64, BrokerError> {
        let (log_start, log_end) = (self.log.log_start_offset(), self.log.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(BrokerError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        Ok(offset)
    }

    /// A watch that wakes when the partition's positions move (an append, an fsync, a
    /// truncation): what push consumers and long polls wait on.
    pub fn watch(&self) -> PositionWatch {
        PositionWatch::new(self.log.subscribe())
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The partition's log, for the broker's own use only: front-ends go through the methods
    /// above, so replication can sit behind them.
    pub(crate) fn log(&self) -> &PartitionLog {
        &self.log
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
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

    /// Bytes the partition's log takes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// Whether acknowledgements and reads wait for fsync.
    pub fn is_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire)
    }

    /// Waits until every offset below `end` is as safe as the topic's durability promises:
    /// on a durable topic, fsynced.
    pub(crate) async fn wait_committed(&self, end: i64) -> Result<(), BrokerError> {
        if self.is_durable() {
            self.log.wait_durable(end).await?;
        }
        Ok(())
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
        self.log.set_config(config.log_config());
        self.durable.store(config.is_durable(), Ordering::Release);
        *self.policy.write() = AppendPolicy::of(config);
    }
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

//! One partition of a topic: its log, the high watermark readers may see, and the one append
//! and read path every protocol goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_replication::error::ReplicationError;
use neo_replication::partition::replica::PartitionReplica;
use neo_replication::types::Admitted;
use neo_storage::{LogError, PartitionLog};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::append_policy::AppendPolicy;
use crate::appended::{Appended, ProduceOutcome};
use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::metrics::TopicCounters;
use crate::position_watch::PositionWatch;
use crate::producer_gate::ProducerGate;

/// A topic partition.
#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    log: PartitionLog,
    /// This broker's replica of the partition: every append goes through it. It changes kind
    /// when the partition gains or loses its other replicas (see `reassign`).
    replica: watch::Sender<Arc<PartitionReplica>>,
    /// Set once the replica stopped for good (the broker stops, the topic or the replica here
    /// is deleted), as opposed to giving way to one of another kind.
    retired: AtomicBool,
    durable: AtomicBool,
    /// What the topic's configs demand of incoming batches.
    policy: RwLock<AppendPolicy>,
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

impl Partition {
    pub(crate) fn new(
        topic: &str,
        index: i32,
        log: PartitionLog,
        replica: PartitionReplica,
        config: &TopicConfig,
        counters: TopicCounters,
    ) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log,
            replica: watch::Sender::new(Arc::new(replica)),
            retired: AtomicBool::new(false),
            durable: AtomicBool::new(config.is_durable()),
            policy: RwLock::new(AppendPolicy::of(config)),
            compacted_at: AtomicI64::new(-1),
            counters,
        }
    }

    /// The gate a partition's group checks idempotent producers' batches with.
    pub(crate) fn gate(log: &PartitionLog) -> Arc<ProducerGate> {
        Arc::new(ProducerGate::open(log.clone()))
    }

    /// Appends `records` (one or more RecordBatch v2) through the partition's replica (on a
    /// replicated partition, a proposal to its group): the leader's append checks idempotent producers' sequence numbers (a retried
    /// batch is not written again but answered with the offsets it got the first time) and
    /// assigns the offsets. Batches the topic wants in another codec are re-encoded first.
    /// Returns once the records are in the leader's log: [`Appended::acknowledged`] waits for
    /// what the caller promises its client.
    pub(crate) async fn append(self: &Arc<Self>, records: Bytes) -> Result<Appended, BrokerError> {
        let policy = *self.policy.read();
        let records = match policy.apply(&records, &self.topic, self.index)? {
            Some(reencoded) => reencoded.freeze(),
            None => records,
        };
        let header = BatchHeader::parse(&records)?;
        if header.producer_id >= 0 && header.total_len() < records.len() {
            // Sequence numbers are checked per batch: as Kafka, an idempotent producer's
            // records come one batch at a time.
            return Err(BrokerError::InvalidRecord {
                message: "an idempotent producer's request must hold exactly one record batch \
                          per partition"
                    .into(),
                record_indexes: Vec::new(),
            });
        }
        // Checked whole before it is proposed: what the leader writes, followers store.
        self.log.validate(&records)?;
        let bytes = records.len() as u64;
        let replica = self.replica();
        let replicated = matches!(*replica, PartitionReplica::Group(_));
        let appending = replica.append(records).await.map_err(replication_error)?;
        let outcome = |base_offset: i64, last_offset: i64, time: i64| ProduceOutcome {
            base_offset,
            last_offset,
            log_append_time: time,
            log_start_offset: self.log.log_start_offset(),
        };
        match appending.admitted.clone() {
            Admitted::Appended {
                base_offset,
                last_offset,
                log_append_time,
            } => {
                self.counters.bytes_appended.inc_by(bytes);
                self.counters
                    .records_appended
                    .inc_by((last_offset - base_offset + 1) as u64);
                // Timed from here (the leader wrote it) for the callers that wait for the
                // commit: the sample costs a clock read, no lock.
                let timer =
                    replicated.then(|| (self.counters.commit_seconds.clone(), Instant::now()));
                let committed = appending.committed();
                Ok(Appended::new(
                    &self.topic,
                    self.index,
                    outcome(base_offset, last_offset, log_append_time.unwrap_or(-1)),
                    async move {
                        let committed = committed.await;
                        if let (true, Some((seconds, appended_at))) = (committed, timer) {
                            seconds.observe(appended_at.elapsed().as_secs_f64());
                        }
                        committed
                    },
                ))
            }
            Admitted::Duplicate {
                base_offset,
                last_offset,
            } => Ok(Appended::new(
                &self.topic,
                self.index,
                outcome(base_offset, last_offset, -1),
                self.high_watermark_passes(last_offset + 1),
            )),
            Admitted::Refused(reason) => Err(ProducerGate::refusal(&reason)),
        }
    }

    /// Resolves true once the high watermark reaches `end` (a retried batch, already in the
    /// log, is acknowledged as its first copy is), false if the partition closes first.
    fn high_watermark_passes(self: &Arc<Self>, end: i64) -> impl Future<Output = bool> + use<> {
        let partition = Arc::clone(self);
        let mut watch = self.watch();
        async move {
            loop {
                watch.mark_unchanged();
                if partition.high_watermark() >= end {
                    return true;
                }
                if watch.changed().await.is_err() {
                    return false;
                }
            }
        }
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

    /// A watch that wakes when the high watermark moves: what push consumers and long polls
    /// wait on.
    pub fn watch(&self) -> PositionWatch {
        PositionWatch::new(self.replica().watch_high_watermark())
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

    /// The offset readers may read up to (exclusive): the end of the last committed batch
    /// (on a durable topic, fsynced), so a consumer never sees a record that a crash or a
    /// leader change could take back.
    pub fn high_watermark(&self) -> i64 {
        self.replica.borrow().high_watermark()
    }

    /// The partition's replica here, for the broker's own use (leadership, shutdown).
    pub(crate) fn replica(&self) -> Arc<PartitionReplica> {
        Arc::clone(&self.replica.borrow())
    }

    /// Makes `replica` the partition's replica here, in place of one of another kind.
    pub(crate) fn set_replica(&self, replica: PartitionReplica) {
        self.replica.send_replace(Arc::new(replica));
    }

    /// Stops the replica for good (the broker stops, or the replica here is deleted).
    pub(crate) async fn retire(&self) -> Result<(), BrokerError> {
        self.retired.store(true, Ordering::Release);
        self.replica.send_modify(|_| {});
        self.replica().shutdown().await.map_err(replication_error)
    }

    /// Waits until the leadership differs from `known`, across changes of the replica's kind;
    /// `None` once the replica is retired.
    pub(crate) async fn leadership_changed(
        &self,
        known: (Option<u64>, u64),
    ) -> Option<(Option<u64>, u64)> {
        let mut replicas = self.replica.subscribe();
        loop {
            if self.retired.load(Ordering::Acquire) {
                return None;
            }
            let replica = Arc::clone(&replicas.borrow_and_update());
            tokio::select! {
                now = replica.leadership_changed(known) => {
                    if let Some(now) = now {
                        return Some(now);
                    }
                    // Stopped: retired, or giving way to a replica of another kind.
                    replicas.changed().await.ok()?;
                }
                changed = replicas.changed() => changed.ok()?,
            }
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

    /// Runs retention: on a replicated partition the log start moves for readers at once,
    /// and segments go once no replica needs them. Returns how many segments were deleted.
    pub(crate) fn apply_retention(&self, now: i64) -> Result<usize, LogError> {
        self.replica().apply_retention(now)
    }

    /// Moves the log start to `offset` (DeleteRecords), deleting the segments below it that
    /// no replica needs. Returns the new log start.
    pub(crate) fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        self.replica().delete_records(offset)
    }

    /// Compacts the sealed segments (`cleanup.policy=compact`) if the log grew since the last
    /// time; failures are logged and retried at the next pass.
    pub(crate) fn compact_if_grown(&self, now: i64, delete_retention_ms: i64) {
        let end = self.log.log_end_offset();
        if self.log.segment_count() < 2 || self.compacted_at.load(Ordering::Acquire) == end {
            return;
        }
        let below = self.replica().compaction_bound();
        match self.log.compact_below(now, delete_retention_ms, below) {
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
        self.replica().set_durable(config.is_durable());
        self.durable.store(config.is_durable(), Ordering::Release);
        *self.policy.write() = AppendPolicy::of(config);
    }
}

/// A replication failure in the broker's terms.
pub(crate) fn replication_error(e: ReplicationError) -> BrokerError {
    match e {
        ReplicationError::ShuttingDown { .. } => BrokerError::PartitionClosed,
        ReplicationError::NotLeader { group, leader } => BrokerError::NotLeader {
            partition: group,
            leader,
        },
        ReplicationError::Storage { reason, .. } | ReplicationError::Raft { reason, .. } => {
            BrokerError::Replication(reason)
        }
    }
}

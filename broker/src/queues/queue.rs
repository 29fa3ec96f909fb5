//! A queue: a partition log read through a queue cursor whose changes are kept in a cursor
//! log. Gateways (AMQP, SQS, native) enqueue records, receive them with a lock, and settle
//! them; the same records stay readable as a Kafka topic partition.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_record::codec::{Header, decode_records};
use neo_storage::{Flusher, LogConfig, PartitionLog};
use parking_lot::{Mutex, MutexGuard};

use super::cursor::{Acquired, CursorConfig, CursorError, QueueCursor, RecordMeta};
use super::cursor_event::CursorEvent;
use super::cursor_store::{CursorStore, Replay};
use super::retired_holders::RetiredHolders;
use crate::appended::Appended;
use crate::error::BrokerError;
use crate::partition::Partition;

/// Header with the time (ms since the epoch, decimal) before which a record is not delivered.
pub const NOT_BEFORE_HEADER: &str = "neo.not-before";
/// Header with the time (ms since the epoch, decimal) from which a record is not delivered.
pub const EXPIRES_AT_HEADER: &str = "neo.expires-at";

/// How a queue behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueConfig {
    pub cursor: CursorConfig,
    /// Every record waits this long after its timestamp before delivery.
    pub delay_ms: i64,
    /// Records older than this are not delivered (dropped or dead-lettered).
    pub ttl_ms: Option<i64>,
    /// Most records loaded ahead of the in-flight ones while looking for deliverable records
    /// (delayed records and busy groups are passed over): the cursor's memory bound.
    pub scan_window: usize,
    /// A snapshot is written after this many cursor events.
    pub snapshot_every: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            cursor: CursorConfig::default(),
            delay_ms: 0,
            ttl_ms: None,
            scan_window: 10_000,
            snapshot_every: 10_000,
        }
    }
}

/// A record read from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// How many times it has been delivered, this time included (0 when not delivered).
    pub deliveries: u32,
}

/// What [`Queue::receive`] found.
#[derive(Debug, Default)]
pub struct Received {
    pub delivered: Vec<QueuedRecord>,
    /// Settled because their time-to-live passed: the caller dead-letters or drops them.
    pub expired: Vec<QueuedRecord>,
    /// Settled because they were delivered too often: the caller dead-letters them.
    pub dead: Vec<QueuedRecord>,
}

/// A queue over one partition. Its cursor is loaded from the cursor log by [`Queue::load`]
/// on the broker leading the queue, and changed there only while that lasts.
#[derive(Debug)]
pub struct Queue {
    partition: Arc<Partition>,
    config: QueueConfig,
    cursor: Mutex<QueueCursor>,
    store: CursorStore,
    /// Holders released for good: their late receives get nothing. Locked inside the
    /// cursor's lock.
    retired: Mutex<RetiredHolders>,
    /// Held while the cursor is loaded.
    loading: tokio::sync::Mutex<()>,
}

/// How long a new leader of a cursor log waits for the entries of earlier leaders to commit.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

/// Per record: settled, or why not; the whole call fails when the change cannot be written.
pub type Settled = Result<Vec<Result<(), CursorError>>, BrokerError>;

/// Most bytes read from the log at a time.
const READ_BYTES: usize = 1 << 20;

/// The holder of records taken by [`Queue::drop_oldest`].
const DROPPER: u64 = u64::MAX - 1;

/// Counts for queue attributes (SQS ApproximateNumberOf..., AMQP message counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueCounts {
    /// Not held by a consumer (delayed ones included).
    pub available: u64,
    /// Held by consumers.
    pub in_flight: u64,
}

impl Queue {
    /// A queue over `partition` whose cursor is not loaded yet: every change is refused
    /// until [`Self::load`].
    pub fn new(partition: Arc<Partition>, config: QueueConfig) -> Queue {
        Queue {
            partition,
            config,
            cursor: Mutex::new(QueueCursor::default()),
            store: CursorStore::new(),
            retired: Mutex::new(RetiredHolders::default()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// A queue over `partition` with its cursor loaded from `cursor_log`.
    pub async fn open(
        partition: Arc<Partition>,
        cursor_log: Arc<Partition>,
        config: QueueConfig,
    ) -> Result<Queue, BrokerError> {
        let queue = Queue::new(partition, config);
        queue.load(cursor_log, None).await?;
        Ok(queue)
    }

    /// Whether the cursor is loaded, and this broker still leads the cursor log it was
    /// loaded from under the same leadership.
    pub fn is_loaded(&self) -> bool {
        self.store.is_current()
    }

    /// Rebuilds the cursor from `cursor_log`, which this broker leads (unless it is already
    /// loaded from it under that leadership): from the last snapshot and the events after
    /// it, once the entries of earlier leaders are committed. A cursor log still empty takes
    /// over the local one a data directory from before replicated cursors kept in `legacy`.
    pub async fn load(
        &self,
        cursor_log: Arc<Partition>,
        legacy: Option<(&Path, &Arc<Flusher>)>,
    ) -> Result<(), BrokerError> {
        let _loading = self.loading.lock().await;
        if self.store.owns(&cursor_log) {
            return Ok(());
        }
        wait_caught_up(&cursor_log).await?;
        let end = cursor_log.high_watermark();
        let mut replay = Replay::read(cursor_log.log(), end, Path::new(cursor_log.topic()))?;
        let legacy = legacy.filter(|(dir, _)| dir.exists());
        if let Some((dir, flusher)) = legacy
            && replay.is_empty()
        {
            replay = read_legacy(dir, flusher)?;
        }
        let log_start = self.partition.log().log_start_offset();
        let mut cursor = replay
            .snapshot
            .as_ref()
            .and_then(|s| QueueCursor::from_snapshot(self.config.cursor, s))
            .unwrap_or_else(|| QueueCursor::new(self.config.cursor, log_start));
        for event in &replay.events {
            if let Some(offset) = event_offset(event) {
                self.load_through(&mut cursor, offset)?;
            }
            cursor.replay(event);
        }
        cursor.finish_replay();
        // Records retention deleted meanwhile are settled: there is nothing left to deliver.
        cursor.purge(log_start, true);
        // The holds the new leadership ended are written down (as a snapshot), so a later
        // replay does not see them as held.
        {
            let mut now = self.cursor.lock();
            self.store.take_over(cursor_log);
            self.store.stage(&[cursor.snapshot()]);
            *now = cursor;
        }
        self.store.sync().await?;
        if let Some((dir, _)) = legacy
            && let Err(e) = std::fs::remove_dir_all(dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a queue's former cursor log");
        }
        Ok(())
    }

    /// The partition holding the records.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// Appends one or more batches of records through the partition's one append path;
    /// callers that promise durability await [`Appended::acknowledged`].
    pub async fn enqueue(&self, records: Bytes) -> Result<Appended, BrokerError> {
        self.partition.append(records).await
    }

    /// Hands up to `max` records to `consumer`, each held until `deadline` (ms since the
    /// epoch). Holds that ended are released first.
    pub fn receive(
        &self,
        now: i64,
        max: usize,
        deadline: i64,
        consumer: u64,
    ) -> Result<Received, BrokerError> {
        self.receive_with(now, max, deadline, consumer, false)
    }

    /// [`Self::receive`], where an ordered queue may hand over several consecutive records of
    /// an idle group at once (SQS FIFO receives; see [`QueueCursor::acquire_runs`]).
    pub fn receive_group_runs(
        &self,
        now: i64,
        max: usize,
        deadline: i64,
        consumer: u64,
    ) -> Result<Received, BrokerError> {
        self.receive_with(now, max, deadline, consumer, true)
    }

    fn receive_with(
        &self,
        now: i64,
        max: usize,
        deadline: i64,
        consumer: u64,
        runs: bool,
    ) -> Result<Received, BrokerError> {
        let mut cursor = self.owned_cursor()?;
        if self.retired.lock().contains(consumer) {
            return Ok(Received::default());
        }
        let mut events = cursor.expire_locks(now);
        let mut acquired = Acquired::default();
        loop {
            let wanted = max - acquired.delivered.len();
            let (got, changes) = cursor.acquire_runs(now, wanted, deadline, consumer, runs);
            events.extend(changes);
            acquired.delivered.extend(got.delivered);
            acquired.expired.extend(got.expired);
            acquired.dead.extend(got.dead);
            if acquired.delivered.len() >= max || !self.load_more(&mut cursor, max)? {
                break;
            }
        }
        self.stage(&cursor, &events);
        drop(cursor);
        self.store.flush();
        let offsets: Vec<i64> = acquired
            .delivered
            .iter()
            .map(|d| d.offset)
            .chain(acquired.expired.iter().copied())
            .chain(acquired.dead.iter().copied())
            .collect();
        let mut records = self.read_records(&offsets)?;
        let mut take = |offset: i64, deliveries: u32| {
            records.remove(&offset).map(|mut r| {
                r.deliveries = deliveries;
                r
            })
        };
        Ok(Received {
            delivered: acquired
                .delivered
                .iter()
                .filter_map(|d| take(d.offset, d.deliveries))
                .collect(),
            expired: acquired
                .expired
                .iter()
                .filter_map(|o| take(*o, 0))
                .collect(),
            dead: acquired.dead.iter().filter_map(|o| take(*o, 0)).collect(),
        })
    }

    /// Settles records `consumer` (if given) holds, each with its own result. Durable once
    /// [`Self::sync`] returns; an error means the change could not be written.
    pub fn ack(&self, offsets: &[i64], consumer: Option<u64>) -> Settled {
        self.settle_each(offsets, |c, o| c.ack(o, consumer))
    }

    /// Settles records that were delivered and wait again because their lock ended (see
    /// [`QueueCursor::ack_redelivered`]), each with its own result.
    pub fn ack_redelivered(&self, offsets: &[i64]) -> Settled {
        self.settle_each(offsets, |c, o| c.ack_redelivered(o))
    }

    /// Settles held records without delivering them again (rejected, not requeued).
    pub fn archive(&self, offsets: &[i64], consumer: Option<u64>) -> Settled {
        self.settle_each(offsets, |c, o| c.archive(o, consumer))
    }

    /// Makes held records available again (requeue).
    pub fn release(&self, offsets: &[i64], consumer: Option<u64>) -> Settled {
        self.settle_each(offsets, |c, o| c.release(o, consumer))
    }

    /// Settles the waiting records whose time-to-live has passed (looking as far ahead as the
    /// scan window) and returns them, for dead-lettering.
    pub fn expire(&self, now: i64) -> Result<Vec<QueuedRecord>, BrokerError> {
        let mut cursor = self.owned_cursor()?;
        while self.load_more(&mut cursor, self.config.scan_window)? {}
        let (expired, events) = cursor.take_expired(now);
        self.stage(&cursor, &events);
        drop(cursor);
        self.store.flush();
        let mut records = self.read_records(&expired)?;
        Ok(expired.iter().filter_map(|o| records.remove(o)).collect())
    }

    /// The record at `offset`, if the log still has it.
    pub fn read(&self, offset: i64) -> Result<Option<QueuedRecord>, BrokerError> {
        Ok(self.read_records(&[offset])?.remove(&offset))
    }

    /// Settles up to `count` of the oldest waiting records and returns them (a queue over
    /// its length limit dropping from the head).
    pub fn drop_oldest(&self, count: usize) -> Result<Vec<QueuedRecord>, BrokerError> {
        let now = neo_record::now_ms();
        let got = self.receive(now, count, now, DROPPER)?;
        let offsets: Vec<i64> = got.delivered.iter().map(|r| r.offset).collect();
        self.archive(&offsets, Some(DROPPER))?;
        Ok(got.delivered)
    }

    /// Moves held records' deadline (SQS ChangeMessageVisibility), each with its own
    /// result; the change is in the cursor log, so a new leader keeps it.
    pub fn set_deadline(&self, offsets: &[i64], consumer: Option<u64>, deadline: i64) -> Settled {
        self.settle_each(offsets, |c, o| c.set_deadline(o, consumer, deadline))
    }

    /// Releases everything `consumer` holds (its broker seems gone).
    pub fn release_consumer(&self, consumer: u64) -> Result<(), BrokerError> {
        self.release_holds(consumer, false)
    }

    /// Releases everything `consumer` holds, for good: its channel, connection or
    /// subscription is gone, and a receive of its still on its way gets nothing.
    pub fn retire_consumer(&self, consumer: u64) -> Result<(), BrokerError> {
        self.release_holds(consumer, true)
    }

    fn release_holds(&self, consumer: u64, retire: bool) -> Result<(), BrokerError> {
        let mut cursor = self.owned_cursor()?;
        if retire {
            self.retired.lock().retire(consumer);
        }
        let events = cursor.release_consumer(consumer);
        self.stage(&cursor, &events);
        drop(cursor);
        self.store.flush();
        Ok(())
    }

    /// Settles every record in the queue now; held ones too with `in_flight` (SQS
    /// PurgeQueue) or not (AMQP queue.purge). Returns how many were settled.
    pub fn purge(&self, in_flight: bool) -> Result<u64, BrokerError> {
        let mut cursor = self.owned_cursor()?;
        let before = self.counts_of(&cursor);
        let end = self.partition.high_watermark();
        let event = cursor.purge(end, in_flight);
        self.stage(&cursor, &[event]);
        let after = self.counts_of(&cursor);
        drop(cursor);
        self.store.flush();
        Ok((before.available + before.in_flight).saturating_sub(after.available + after.in_flight))
    }

    /// How many records wait and how many are held.
    pub fn counts(&self) -> QueueCounts {
        self.counts_of(&self.cursor.lock())
    }

    /// Waiting records, counting those appended but not yet fsynced (for length limits,
    /// which must see what was just enqueued).
    pub fn depth(&self) -> u64 {
        let cursor = self.cursor.lock();
        waiting(&cursor, self.partition.log().log_end_offset())
    }

    /// Value bytes of the records waiting (not held; delayed ones included), appended ones
    /// not yet durable too, as [`Self::depth`] counts them. Loads every waiting record into
    /// the cursor, past its scan window: for queues whose depth a byte limit keeps small
    /// (AMQP `x-max-length-bytes`).
    pub fn waiting_bytes(&self) -> Result<u64, BrokerError> {
        let mut cursor = self.cursor.lock();
        let end = self.partition.log().log_end_offset();
        if cursor.head() < end {
            let head = cursor.head();
            self.load_range(&mut cursor, head, end)?;
        }
        Ok(cursor.available_bytes())
    }

    /// Records the cursor holds in memory (loaded and not settled): bounded by the in-flight
    /// records and the scan window, whatever the queue's depth.
    pub fn loaded(&self) -> usize {
        self.cursor.lock().len()
    }

    /// Waits until every cursor change so far is fsynced.
    pub async fn sync(&self) -> Result<(), BrokerError> {
        self.store.sync().await
    }

    /// Waits until every cursor change so far is committed (not fsynced): called before
    /// received records are handed out, so that after a failover they count as delivered
    /// (redelivered flag, receive count) and their deletion is known.
    pub async fn committed(&self) -> Result<(), BrokerError> {
        self.store.committed().await
    }

    /// Writes what is staged and a snapshot (so the next load replays little), then stops
    /// writing.
    pub async fn close(&self) -> Result<(), BrokerError> {
        if let Ok(cursor) = self.owned_cursor() {
            self.store.stage(&[cursor.snapshot()]);
        }
        self.store.close().await
    }

    /// The cursor, to change it: refused unless it is loaded under the cursor log's
    /// leadership of now.
    fn owned_cursor(&self) -> Result<MutexGuard<'_, QueueCursor>, BrokerError> {
        if !self.store.is_current() {
            return Err(BrokerError::NotLeader {
                partition: format!("{}-{}", self.partition.topic(), self.partition.index()),
                leader: self.partition.replica().leadership().0,
            });
        }
        Ok(self.cursor.lock())
    }

    fn counts_of(&self, cursor: &QueueCursor) -> QueueCounts {
        QueueCounts {
            available: waiting(cursor, self.partition.high_watermark()),
            in_flight: cursor.in_flight() as u64,
        }
    }

    fn settle_each(
        &self,
        offsets: &[i64],
        mut change: impl FnMut(&mut QueueCursor, i64) -> Result<CursorEvent, CursorError>,
    ) -> Settled {
        let mut cursor = self.owned_cursor()?;
        let mut events = Vec::new();
        let results = offsets
            .iter()
            .map(|o| change(&mut cursor, *o).map(|e| events.push(e)))
            .collect();
        self.stage(&cursor, &events);
        drop(cursor);
        self.store.flush();
        Ok(results)
    }

    /// Stages `events` for the cursor log, with a snapshot when one is due; the caller
    /// unlocks the cursor, then calls [`CursorStore::flush`].
    fn stage(&self, cursor: &QueueCursor, events: &[CursorEvent]) {
        self.store.stage(events);
        if self.store.since_snapshot() >= self.config.snapshot_every {
            self.store.stage(&[cursor.snapshot()]);
        }
    }

    /// Loads the next records after the head into the cursor; false when there is nothing
    /// more to load or the scan window is full.
    fn load_more(&self, cursor: &mut QueueCursor, max: usize) -> Result<bool, BrokerError> {
        let room = (cursor.in_flight() + self.config.scan_window).saturating_sub(cursor.len());
        let hw = self.partition.high_watermark();
        if room == 0 || cursor.head() >= hw {
            return Ok(false);
        }
        let want = room.min(max.max(64)) as i64;
        self.load_range(cursor, cursor.head(), (cursor.head() + want).min(hw))?;
        Ok(true)
    }

    /// Loads every record from the head through `offset` (replay).
    fn load_through(&self, cursor: &mut QueueCursor, offset: i64) -> Result<(), BrokerError> {
        let end = (offset + 1).min(self.partition.log().log_end_offset());
        if cursor.head() < end {
            self.load_range(cursor, cursor.head(), end)?;
        }
        Ok(())
    }

    /// Loads the records of offsets `from..to` into the cursor.
    fn load_range(&self, cursor: &mut QueueCursor, from: i64, to: i64) -> Result<(), BrokerError> {
        let log = self.partition.log();
        let from = from.max(log.log_start_offset());
        cursor.skip_to(from);
        let mut next = from;
        while next < to {
            let slice = log.read(next, read_budget((to - next) as usize), to)?;
            if slice.records.is_empty() {
                break;
            }
            let mut metas = Vec::new();
            for_each_record(&slice.records, |record| {
                if record.offset >= next && record.offset < to {
                    metas.push(self.meta(&record));
                }
            })?;
            cursor.load(metas);
            next = slice.next_offset.max(next + 1);
        }
        cursor.skip_to(to);
        Ok(())
    }

    fn meta(&self, record: &QueuedRecord) -> RecordMeta {
        let header_time = |name: &str| {
            record
                .headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value.as_ref())
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let ttl_end = self
            .config
            .ttl_ms
            .map(|ttl| record.timestamp.saturating_add(ttl));
        let expires_at = match (header_time(EXPIRES_AT_HEADER), ttl_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        RecordMeta {
            offset: record.offset,
            available_at: header_time(NOT_BEFORE_HEADER)
                .unwrap_or(i64::MIN)
                .max(record.timestamp.saturating_add(self.config.delay_ms)),
            expires_at,
            group: record.key.clone().filter(|_| self.config.cursor.ordered),
            size: record
                .value
                .as_ref()
                .map_or(0, |v| u32::try_from(v.len()).unwrap_or(u32::MAX)),
        }
    }

    /// The records at `offsets`, read batch by batch.
    fn read_records(&self, offsets: &[i64]) -> Result<HashMap<i64, QueuedRecord>, BrokerError> {
        let mut wanted: Vec<i64> = offsets.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = HashMap::with_capacity(wanted.len());
        let log = self.partition.log();
        let end = log.log_end_offset();
        let mut next = 0;
        while let Some(&offset) = wanted.get(next) {
            if offset < log.log_start_offset() {
                next += 1;
                continue;
            }
            // Records delivered together are mostly neighbours: one read covers a run of them.
            let slice = log.read(offset, read_budget(wanted.len() - next), end)?;
            self.partition.count_read(slice.records.len());
            for_each_record(&slice.records, |record| {
                if wanted.binary_search(&record.offset).is_ok() {
                    found.entry(record.offset).or_insert(record);
                }
            })?;
            next += 1;
            while wanted.get(next).is_some_and(|o| found.contains_key(o)) {
                next += 1;
            }
        }
        Ok(found)
    }
}

/// Bytes to read from the log for about `records` records: a read is not cut short by the
/// offset it stops at, so it is sized to what is wanted (a larger record is read whole anyway).
fn read_budget(records: usize) -> usize {
    records.saturating_mul(2048).clamp(4096, READ_BYTES)
}

/// Records not held: those loaded and available, and those not loaded yet below `end`.
fn waiting(cursor: &QueueCursor, end: i64) -> u64 {
    (end - cursor.head()).max(0) as u64 + cursor.available() as u64
}

/// Waits (at most [`CATCH_UP_WAIT`]) until everything in `log`, which this broker leads, is
/// committed: the entries earlier leaders wrote commit with the new leader's first.
async fn wait_caught_up(log: &Arc<Partition>) -> Result<(), BrokerError> {
    let mut watch = log.watch();
    let caught_up = tokio::time::timeout(CATCH_UP_WAIT, async {
        loop {
            watch.mark_unchanged();
            if log.high_watermark() >= log.log().log_end_offset() {
                return true;
            }
            if watch.changed().await.is_err() {
                return false;
            }
        }
    })
    .await;
    if caught_up == Ok(true) {
        return Ok(());
    }
    Err(BrokerError::NotLeader {
        partition: format!("{}-{}", log.topic(), log.index()),
        leader: log.replica().leadership().0,
    })
}

/// The cursor log a data directory from before replicated cursors kept in `dir`.
fn read_legacy(dir: &Path, flusher: &Arc<Flusher>) -> Result<Replay, BrokerError> {
    let config = LogConfig {
        segment_bytes: 16 << 20,
        retention_ms: None,
        retention_bytes: None,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir, config, Arc::clone(flusher))?;
    let replay = Replay::read(&log, log.log_end_offset(), dir);
    log.close()?;
    replay
}

/// The offset an event is about, if it is about one record.
fn event_offset(event: &CursorEvent) -> Option<i64> {
    match *event {
        CursorEvent::Acquired { offset, .. }
        | CursorEvent::Deadline { offset, .. }
        | CursorEvent::Acked { offset }
        | CursorEvent::Archived { offset }
        | CursorEvent::Released { offset } => Some(offset),
        CursorEvent::Purged { .. } | CursorEvent::Snapshot { .. } => None,
    }
}

/// Calls `visit` with every record of the whole batches in `bytes`.
fn for_each_record(bytes: &[u8], mut visit: impl FnMut(QueuedRecord)) -> Result<(), BrokerError> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = BatchHeader::parse(rest)?;
        let len = header.total_len().min(rest.len());
        let (batch, tail) = rest.split_at(len);
        for record in decode_records(batch)? {
            let timestamp = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                record.timestamp(header.base_timestamp)
            };
            visit(QueuedRecord {
                offset: record.offset(header.base_offset),
                timestamp,
                key: record.key,
                value: record.value,
                headers: record.headers,
                deliveries: 0,
            });
        }
        rest = tail;
    }
    Ok(())
}

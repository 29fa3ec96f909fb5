//! The partition log: an ordered list of segments with one writer and many readers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::checkpoint::{self, LOG_START, RECOVERY_POINT};
use crate::config::{LogConfig, TimestampType};
use neo_record::batch_header::{self, BatchHeader, LOG_OVERHEAD};
use neo_record::{BatchError, now_ms};

use crate::error::LogError;
use crate::flusher::{Flusher, SyncState, SyncTarget};
use crate::recovery::{Recovered, RecoveryReport, recover};
use crate::segment::{BatchMeta, Segment};

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp when the log stamps LogAppendTime, else `None`.
    pub log_append_time: Option<i64>,
    /// Number of batches appended.
    pub batches: usize,
    /// Number of records appended.
    pub records: u64,
    /// Bytes appended.
    pub bytes: usize,
}

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSlice {
    /// Whole record batches, as stored.
    pub records: Bytes,
    /// Offset after the last batch returned (equal to the requested offset when empty).
    pub next_offset: i64,
}

/// The positions of a log that waiters care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPositions {
    /// Offset the next append gets.
    pub log_end: i64,
    /// Every offset below this is fsynced.
    pub durable: i64,
    /// An fsync failed: nothing further is acknowledged as durable.
    pub failed: bool,
}

pub(crate) struct Writer {
    pub(crate) unsynced: Vec<Arc<Segment>>,
    pub(crate) unflushed_messages: u64,
}

pub(crate) struct LogInner {
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<Vec<Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) log_start: AtomicI64,
    pub(crate) log_end: AtomicI64,
    pub(crate) last_sync_ms: AtomicI64,
    pub(crate) positions: watch::Sender<LogPositions>,
    pub(crate) sync_state: Mutex<SyncState>,
    pub(crate) flusher: Arc<Flusher>,
    pub(crate) leader_epoch: AtomicI32,
    pub(crate) closed: AtomicBool,
    pub(crate) bytes_appended: AtomicU64,
    /// Held by work that replaces or removes whole segments (compaction, retention), so
    /// they never act on the same segment at once.
    pub(crate) maintenance: Mutex<()>,
    pub(crate) me: Weak<LogInner>,
}

/// A partition's log. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct PartitionLog {
    pub(crate) inner: Arc<LogInner>,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.inner.dir)
            .field("log_start", &self.log_start_offset())
            .field("log_end", &self.log_end_offset())
            .finish()
    }
}

impl PartitionLog {
    /// Opens the log in `dir` (creating it if missing), recovering after an unclean shutdown.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        flusher: Arc<Flusher>,
    ) -> Result<PartitionLog, LogError> {
        Self::open_with_report(dir, config, flusher).map(|(log, _)| log)
    }

    /// As [`PartitionLog::open`], also saying what recovery did.
    pub fn open_with_report(
        dir: &Path,
        config: LogConfig,
        flusher: Arc<Flusher>,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        let started = Instant::now();
        let now = now_ms();
        let Recovered {
            segments,
            log_start,
            mut report,
        } = recover(dir, &config, now)?;
        let log_end = segments.last().map_or(0, |s| s.next_offset());
        let positions = LogPositions {
            log_end,
            durable: log_end,
            failed: false,
        };
        let inner = Arc::new_cyclic(|me| LogInner {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                unsynced: Vec::new(),
                unflushed_messages: 0,
            }),
            log_start: AtomicI64::new(log_start),
            log_end: AtomicI64::new(log_end),
            last_sync_ms: AtomicI64::new(now),
            positions: watch::Sender::new(positions),
            sync_state: Mutex::new(SyncState::default()),
            flusher,
            leader_epoch: AtomicI32::new(0),
            closed: AtomicBool::new(false),
            bytes_appended: AtomicU64::new(0),
            maintenance: Mutex::new(()),
            me: me.clone(),
        });
        report.duration = started.elapsed();
        Ok((PartitionLog { inner }, report))
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.log_start.load(Ordering::Acquire)
    }

    /// The offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.log_end.load(Ordering::Acquire)
    }

    /// Every offset below this is fsynced.
    pub fn durable_offset(&self) -> i64 {
        self.inner.positions.borrow().durable
    }

    /// Watches the log end and durable offsets (wakes long-polling readers).
    pub fn subscribe(&self) -> watch::Receiver<LogPositions> {
        self.inner.positions.subscribe()
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.inner.config.read().clone()
    }

    /// Replaces the configuration; takes effect on the next append, roll or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        *self.inner.config.write() = config;
    }

    /// The leader epoch stamped on appended batches.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.inner.leader_epoch.store(epoch, Ordering::Release);
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.inner.segments.read().len()
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.segments.read().iter().map(|s| s.size()).sum()
    }

    /// Total bytes appended since open.
    pub fn bytes_appended(&self) -> u64 {
        self.inner.bytes_appended.load(Ordering::Relaxed)
    }

    pub(crate) fn active(&self) -> Result<Arc<Segment>, LogError> {
        self.inner
            .segments
            .read()
            .last()
            .cloned()
            .ok_or_else(|| LogError::Closed(self.inner.dir.clone()))
    }

    pub(crate) fn check_open(&self) -> Result<(), LogError> {
        if self.inner.closed.load(Ordering::Acquire) || self.inner.positions.borrow().failed {
            return Err(LogError::Closed(self.inner.dir.clone()));
        }
        Ok(())
    }

    /// Checks `records` as [`Self::append`] would (whole batches, CRC, record counts, offset
    /// deltas, `max.message.bytes`) without writing them.
    pub fn validate(&self, records: &[u8]) -> Result<(), LogError> {
        validate_batches(records, &self.config()).map(drop)
    }

    /// Validates `records` (one or more v2 batches), assigns offsets and the leader epoch in
    /// place, and appends them. Returns once the bytes are written (not yet durable: see
    /// [`PartitionLog::wait_durable`]). Invalid input leaves the log unchanged.
    pub fn append(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        self.check_open()?;
        let config = self.config();
        let headers = validate_batches(records, &config)?;
        let mut writer = self.inner.writer.lock();
        let now = now_ms();
        let total = records.len() as u64;
        let active = self.active()?;
        let age_expired = config
            .segment_ms
            .is_some_and(|ms| now - active.created_ms() >= ms as i64);
        let would_overflow = active.size() + total > config.segment_bytes.min(i32::MAX as u64);
        if !active.is_empty() && (would_overflow || age_expired || active.index_full()) {
            self.roll(&mut writer, &config, now)?;
        }
        let active = self.active()?;
        let epoch = self.inner.leader_epoch.load(Ordering::Acquire);
        let append_time = (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let mut next = self.log_end_offset();
        let base_offset = next;
        let mut metas = Vec::with_capacity(headers.len());
        let mut position = 0usize;
        let mut record_count = 0u64;
        for header in &headers {
            let len = header.total_len();
            let Some(batch) = records.get_mut(position..position + len) else {
                return Err(BatchError::Truncated {
                    needed: position + len,
                    available: total as usize,
                }
                .into());
            };
            batch_header::set_base_offset(batch, next);
            batch_header::set_leader_epoch(batch, epoch);
            if let Some(ts) = append_time {
                batch_header::set_log_append_time(batch, ts);
            }
            metas.push(BatchMeta {
                base_offset: next,
                last_offset: next + i64::from(header.last_offset_delta),
                max_timestamp: append_time.unwrap_or(header.max_timestamp),
                len: len as u32,
            });
            next += i64::from(header.last_offset_delta) + 1;
            record_count += header.records_count.max(0) as u64;
            position += len;
        }
        active.append(records, &metas, config.index_interval_bytes)?;
        self.inner.log_end.store(next, Ordering::Release);
        self.inner
            .bytes_appended
            .fetch_add(total, Ordering::Relaxed);
        self.inner.positions.send_modify(|p| p.log_end = next);
        writer.unflushed_messages += record_count;
        let sync = config.flush.acks_wait_for_fsync()
            || writer.unflushed_messages >= config.flush.messages;
        if sync {
            writer.unflushed_messages = 0;
        }
        drop(writer);
        if sync {
            self.request_sync();
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: append_time,
            batches: headers.len(),
            records: record_count,
            bytes: total as usize,
        })
    }

    pub(crate) fn roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        now: i64,
    ) -> Result<(), LogError> {
        let old = self.active()?;
        old.seal()?;
        let base = self.log_end_offset();
        let segment = Arc::new(Segment::open(
            &self.inner.dir,
            base,
            Some(config.max_index_bytes),
            now,
        )?);
        segment.load_tail(config.index_interval_bytes)?;
        checkpoint::sync_dir(&self.inner.dir)?;
        self.inner.segments.write().push(segment);
        writer.unsynced.push(old);
        tracing::debug!(dir = %self.inner.dir.display(), base, "rolled segment");
        Ok(())
    }

    /// Asks the flusher to fsync this log soon (coalescing with syncs already pending).
    pub fn request_sync(&self) {
        if let Some(me) = self.inner.me.upgrade() {
            self.inner.flusher.request(me);
        }
    }

    /// Waits until every offset below `offset` is fsynced.
    pub async fn wait_durable(&self, offset: i64) -> Result<(), LogError> {
        let mut rx = self.inner.positions.subscribe();
        if rx.borrow().durable < offset {
            self.request_sync();
        }
        let positions = rx
            .wait_for(|p| p.failed || p.durable >= offset)
            .await
            .map_err(|_| LogError::Closed(self.inner.dir.clone()))?;
        if positions.failed && positions.durable < offset {
            return Err(LogError::Closed(self.inner.dir.clone()));
        }
        Ok(())
    }

    /// Appends and returns once the append is fsynced.
    pub async fn append_durable(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        let info = self.append(records)?;
        self.wait_durable(info.last_offset + 1).await?;
        Ok(info)
    }

    /// Syncs now if unflushed data is older than `flush.ms` (called by a periodic task).
    pub fn flush_if_due(&self, now: i64) {
        let Some(ms) = self.inner.config.read().flush.ms else {
            return;
        };
        let behind = self.durable_offset() < self.log_end_offset();
        if behind && now - self.inner.last_sync_ms.load(Ordering::Relaxed) >= ms as i64 {
            self.request_sync();
        }
    }

    /// Calls `visit` with every whole batch from the one containing `from` to the log end, in
    /// offset order (for replaying internal logs and rebuilding state on open).
    pub fn for_each_batch(&self, from: i64, mut visit: impl FnMut(&[u8])) -> Result<(), LogError> {
        let end = self.log_end_offset();
        let mut offset = from.max(self.log_start_offset());
        while offset < end {
            let slice = self.read(offset, 1 << 20, end)?;
            if slice.next_offset <= offset {
                break;
            }
            let mut batches = &slice.records[..];
            while let Some((_, len)) = batch_header::peek_offset_and_len(batches) {
                let len = LOG_OVERHEAD + len.max(0) as usize;
                let Some(batch) = batches.get(..len) else {
                    break;
                };
                visit(batch);
                batches = &batches[len..];
            }
            offset = slice.next_offset;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (at least one whole batch), not past `max_offset` (exclusive: e.g. the high watermark).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<ReadSlice, LogError> {
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let upper = max_offset.min(log_end);
        let empty = ReadSlice {
            records: Bytes::new(),
            next_offset: offset,
        };
        if offset >= upper {
            return Ok(empty);
        }
        let Some((segment, position, header)) = self.locate(offset)? else {
            return Ok(empty);
        };
        if header.base_offset >= upper {
            return Ok(empty);
        }
        let len = max_bytes.max(header.total_len());
        let mut bytes = segment.read_at(position, len)?;
        let mut kept = 0usize;
        let mut next = offset;
        while let Some((base, batch_len)) = bytes
            .get(kept..)
            .and_then(batch_header::peek_offset_and_len)
        {
            let end = kept + LOG_OVERHEAD + batch_len.max(0) as usize;
            if base >= upper || end > bytes.len() {
                break;
            }
            let Some(h) = bytes
                .get(kept..end)
                .and_then(|b| BatchHeader::parse(b).ok())
            else {
                break;
            };
            next = h.next_offset();
            kept = end;
        }
        bytes.truncate(kept);
        Ok(ReadSlice {
            records: Bytes::from(bytes),
            next_offset: next.max(offset),
        })
    }

    /// The segment, position and header of the first batch whose last offset is `>= offset`.
    fn locate(&self, offset: i64) -> Result<Option<(Arc<Segment>, u64, BatchHeader)>, LogError> {
        let mut index = {
            let segments = self.inner.segments.read();
            segments
                .partition_point(|s| s.base_offset() <= offset)
                .saturating_sub(1)
        };
        loop {
            let Some(segment) = self.inner.segments.read().get(index).cloned() else {
                return Ok(None);
            };
            if let Some((position, header)) = segment.find_batch(offset)? {
                return Ok(Some((segment, position, header)));
            }
            index += 1;
        }
    }

    /// Removes every record at or after `offset` (cut at a batch boundary), for replication.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.check_open()?;
        let config = self.config();
        let _writer = self.inner.writer.lock();
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let (removed, keep) = {
            let mut segments = self.inner.segments.write();
            let keep = segments
                .partition_point(|s| s.base_offset() < offset)
                .max(1);
            let removed: Vec<Arc<Segment>> = segments.drain(keep..).collect();
            (removed, segments.last().cloned())
        };
        for segment in &removed {
            segment.delete_files()?;
        }
        let Some(active) = keep else {
            return Err(LogError::Closed(self.inner.dir.clone()));
        };
        if !removed.is_empty() {
            active.unseal(config.max_index_bytes)?;
        }
        active.truncate_to(offset)?;
        active.sync()?;
        checkpoint::sync_dir(&self.inner.dir)?;
        let end = active.next_offset();
        self.inner.log_end.store(end, Ordering::Release);
        if self.log_start_offset() > end {
            self.inner.log_start.store(end, Ordering::Release);
            checkpoint::write_i64(&self.inner.dir, LOG_START, end)?;
        }
        self.inner.positions.send_modify(|p| {
            p.log_end = end;
            p.durable = p.durable.min(end);
        });
        Ok(())
    }

    /// Flushes everything, trims the active indexes and writes the clean-shutdown marker.
    /// Further appends fail with [`LogError::Closed`].
    pub fn close(&self) -> Result<(), LogError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _writer = self.inner.writer.lock();
        let segments = self.inner.segments.read().clone();
        for segment in &segments {
            segment.sync()?;
        }
        if let Some(active) = segments.last() {
            active.seal()?;
        }
        let end = self.log_end_offset();
        checkpoint::write_i64(&self.inner.dir, RECOVERY_POINT, end)?;
        checkpoint::mark_clean(&self.inner.dir)?;
        self.inner
            .positions
            .send_modify(|p| p.durable = p.durable.max(end));
        Ok(())
    }

    /// Closes the log and removes its directory.
    pub fn delete(self) -> Result<(), LogError> {
        self.inner.closed.store(true, Ordering::Release);
        let _writer = self.inner.writer.lock();
        std::fs::remove_dir_all(&self.inner.dir).map_err(LogError::io(&self.inner.dir))
    }
}

impl SyncTarget for LogInner {
    fn sync_now(&self) {
        let (end, segments) = {
            let mut writer = self.writer.lock();
            let mut segments = std::mem::take(&mut writer.unsynced);
            let rolled = segments.last().map(|s| s.next_offset());
            segments.extend(self.segments.read().last().cloned());
            (self.log_end.load(Ordering::Acquire), (segments, rolled))
        };
        let (segments, rolled) = segments;
        let failed = segments.iter().find_map(|s| s.sync().err());
        self.last_sync_ms.store(now_ms(), Ordering::Relaxed);
        if let Some(error) = failed {
            tracing::error!(dir = %self.dir.display(), %error, "fsync failed: log stops acknowledging");
            self.positions.send_modify(|p| p.failed = true);
            return;
        }
        if let Some(Err(error)) =
            rolled.map(|point| checkpoint::write_i64(&self.dir, RECOVERY_POINT, point))
        {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot write recovery point");
        }
        self.positions.send_if_modified(|p| {
            let advance = end > p.durable;
            p.durable = p.durable.max(end);
            advance
        });
    }

    fn sync_state(&self) -> &Mutex<SyncState> {
        &self.sync_state
    }
}

/// Checks every batch in `records` and returns their headers, in order.
fn validate_batches(records: &[u8], config: &LogConfig) -> Result<Vec<BatchHeader>, LogError> {
    let mut headers = Vec::new();
    let mut position = 0usize;
    while position < records.len() {
        let rest = records.get(position..).unwrap_or_default();
        let (_, batch_len) =
            batch_header::peek_offset_and_len(rest).ok_or(BatchError::Truncated {
                needed: LOG_OVERHEAD,
                available: rest.len(),
            })?;
        let len = LOG_OVERHEAD + batch_len.max(0) as usize;
        if len > config.max_message_bytes as usize {
            return Err(BatchError::TooLarge {
                size: len,
                max: config.max_message_bytes as usize,
            }
            .into());
        }
        let batch = rest.get(..len).ok_or(BatchError::Truncated {
            needed: len,
            available: rest.len(),
        })?;
        let header = batch_header::validate(batch)?;
        if header.records_count > 0 && header.last_offset_delta != header.records_count - 1 {
            return Err(BatchError::BadRecordCount {
                count: header.records_count,
                last_offset_delta: header.last_offset_delta,
            }
            .into());
        }
        if header.compression() == 0 {
            neo_record::codec::check_offset_deltas(batch)?;
        }
        headers.push(header);
        position += len;
    }
    if headers.is_empty() {
        return Err(BatchError::Empty.into());
    }
    Ok(headers)
}

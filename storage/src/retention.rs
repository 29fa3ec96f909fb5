//! Retention and DeleteRecords: moving the log start forward and deleting whole segments.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checkpoint::{self, LOG_START};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;

impl PartitionLog {
    /// Moves the log start offset forward to `offset` (Kafka's DeleteRecords) and deletes the
    /// segments that fall wholly below it. Returns the new log start offset.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let current = self.log_start_offset();
        let moved = self.move_log_start(offset)?;
        if moved > current {
            self.remove_segments_below(moved)?;
        }
        Ok(moved)
    }

    /// Moves the log start offset forward to `offset`, deleting nothing: readers no longer see
    /// the records below it, while their segments stay until [`Self::remove_segments_below`]
    /// (a replicated log keeps them until no replica needs them). Returns the new log start.
    pub fn move_log_start(&self, offset: i64) -> Result<i64, LogError> {
        self.check_open()?;
        let log_end = self.log_end_offset();
        let current = self.log_start_offset();
        if offset > log_end || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: current,
                log_end,
            });
        }
        if offset <= current {
            return Ok(current);
        }
        self.inner.log_start.store(offset, Ordering::Release);
        checkpoint::write_i64(&self.inner.dir, LOG_START, offset)?;
        self.trim_epochs_to_log_start()?;
        Ok(offset)
    }

    /// Deletes the segments that lie wholly below `offset` (never the active one). Returns how
    /// many were deleted.
    pub fn remove_segments_below(&self, offset: i64) -> Result<usize, LogError> {
        self.check_open()?;
        let segments = self.inner.segments.read().clone();
        let removable = segments
            .windows(2)
            .take_while(|w| matches!(w, [_, next] if next.base_offset() <= offset))
            .count();
        self.remove_oldest(removable)?;
        Ok(removable)
    }

    /// Deletes whole segments past `retention.ms` or beyond `retention.bytes`. The active
    /// segment is rolled first when all of it has expired. Returns how many were deleted.
    pub fn apply_retention(&self, now: i64) -> Result<usize, LogError> {
        let count = self.expired_segments(now)?;
        self.remove_oldest(count)?;
        Ok(count)
    }

    /// Where retention would move the log start (the base offset of the first segment it
    /// keeps), deleting nothing; the active segment is rolled first when all of it has
    /// expired, as [`Self::apply_retention`] does.
    pub fn retention_point(&self, now: i64) -> Result<i64, LogError> {
        let count = self.expired_segments(now)?;
        let first_kept = self
            .inner
            .segments
            .read()
            .get(count)
            .map_or_else(|| self.log_end_offset(), |s| s.base_offset());
        Ok(first_kept.max(self.log_start_offset()))
    }

    /// How many of the oldest segments retention removes, after rolling the active segment
    /// when all of it has expired.
    fn expired_segments(&self, now: i64) -> Result<usize, LogError> {
        self.check_open()?;
        let config = self.config();
        let expired = |s: &Segment| {
            config
                .retention_ms
                .is_some_and(|ms| s.max_timestamp() >= 0 && s.max_timestamp() < now - ms as i64)
        };
        let active = self.active()?;
        if !active.is_empty() && expired(&active) {
            let mut writer = self.inner.writer.lock();
            if Arc::ptr_eq(&active, &self.active()?) {
                self.roll(&mut writer, &config, now)?;
                drop(writer);
                self.request_sync();
            }
        }
        let segments = self.inner.segments.read().clone();
        let mut total: u64 = segments.iter().map(|s| s.size()).sum();
        let mut count = 0;
        for segment in segments.iter().take(segments.len().saturating_sub(1)) {
            let over_size = config
                .retention_bytes
                .is_some_and(|max| total.saturating_sub(segment.size()) >= max);
            if !(expired(segment) || over_size) {
                break;
            }
            total -= segment.size();
            count += 1;
        }
        Ok(count)
    }

    fn remove_oldest(&self, count: usize) -> Result<(), LogError> {
        if count == 0 {
            return Ok(());
        }
        let _maintenance = self.inner.maintenance.lock();
        let removed: Vec<Arc<Segment>> = {
            let mut segments = self.inner.segments.write();
            let count = count.min(segments.len().saturating_sub(1));
            segments.drain(..count).collect()
        };
        if let Some(first) = self.inner.segments.read().first() {
            self.inner
                .log_start
                .fetch_max(first.base_offset(), Ordering::AcqRel);
        }
        self.inner
            .writer
            .lock()
            .unsynced
            .retain(|s| !removed.iter().any(|r| Arc::ptr_eq(r, s)));
        for segment in &removed {
            segment.delete_files()?;
            tracing::debug!(path = %segment.log_path().display(), "deleted segment");
        }
        checkpoint::sync_dir(&self.inner.dir)?;
        self.trim_epochs_to_log_start()
    }
}

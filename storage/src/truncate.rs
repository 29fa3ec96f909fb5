//! Truncation: removing every record from an offset on (a replica's divergent tail).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checkpoint::{self, LOG_START, RECOVERY_POINT};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;

impl PartitionLog {
    /// Removes every record at or after `offset` (cut at a batch boundary), for replication.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.check_open()?;
        let config = self.config();
        // Compaction and retention must not act on segments this removes or reopens.
        let _maintenance = self.inner.maintenance.lock();
        let mut writer = self.inner.writer.lock();
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
        writer
            .unsynced
            .retain(|s| !removed.iter().any(|r| Arc::ptr_eq(r, s)));
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
        // Segments rolled after this one must be scanned after a crash, like new ones.
        let synced_below = writer.unsynced.first().map_or(end, |s| s.base_offset());
        if checkpoint::read_i64(&self.inner.dir, RECOVERY_POINT).is_some_and(|p| p > synced_below) {
            checkpoint::write_i64(&self.inner.dir, RECOVERY_POINT, synced_below)?;
        }
        self.truncate_epochs(end)?;
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
}

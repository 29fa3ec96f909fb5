//! Truncation: removing every record from an offset on (a replica's divergent tail).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checkpoint::{self, LOG_START};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;

impl PartitionLog {
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
}

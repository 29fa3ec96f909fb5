//! Durability: asking the shared flusher for an fsync, waiting for one, and what a sync does.

use std::sync::atomic::Ordering;

use neo_record::now_ms;
use parking_lot::Mutex;

use crate::append::AppendInfo;
use crate::checkpoint::{self, RECOVERY_POINT};
use crate::error::LogError;
use crate::flusher::{SyncState, SyncTarget};
use crate::log::{LogInner, PartitionLog};

impl PartitionLog {
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

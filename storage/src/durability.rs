//! Durability: asking the shared flusher for an fsync, waiting for one, and what a sync does.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use neo_record::now_ms;
use parking_lot::Mutex;

use crate::append::AppendInfo;
use crate::checkpoint::{self, RECOVERY_POINT};
use crate::error::LogError;
use crate::flusher::{SyncState, SyncTarget};
use crate::log::{LogInner, PartitionLog};
use crate::segment::Segment;

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
        let (end, rolled, dir_dirty) = {
            let mut writer = self.writer.lock();
            (
                self.log_end.load(Ordering::Acquire),
                std::mem::take(&mut writer.unsynced),
                std::mem::take(&mut writer.dir_dirty),
            )
        };
        // Read before any sync, so the companion's sync covers every write counted.
        let companion = self.companion.get();
        let companion_written = companion.map_or(0, |c| c.written());
        let active = self.segments.read().last().cloned();
        let synced = rolled
            .iter()
            .chain(active.as_ref())
            .try_for_each(|s| s.sync())
            .and_then(|()| match dir_dirty {
                true => checkpoint::sync_dir(&self.dir),
                false => Ok(()),
            })
            .and_then(|()| match companion {
                Some(c) => c.sync().map_err(LogError::io(&self.dir)),
                None => Ok(()),
            });
        self.last_sync_ms.store(now_ms(), Ordering::Relaxed);
        if let Err(error) = synced {
            tracing::error!(dir = %self.dir.display(), %error, "fsync failed: log stops acknowledging");
            self.positions.send_modify(|p| p.failed = true);
            return;
        }
        self.positions.send_if_modified(|p| {
            let advance = end > p.durable || companion_written > p.companion_synced;
            p.durable = p.durable.max(end);
            p.companion_synced = p.companion_synced.max(companion_written);
            advance
        });
        self.finish_rolls(rolled);
        self.prepare_spare();
    }

    fn sync_state(&self) -> &Mutex<SyncState> {
        &self.sync_state
    }
}

impl LogInner {
    /// Seals segments rolled since the last sync (now synced) and moves the recovery point
    /// past them.
    fn finish_rolls(&self, rolled: Vec<Arc<Segment>>) {
        let Some(point) = rolled.last().map(|s| s.next_offset()) else {
            return;
        };
        for (i, segment) in rolled.iter().enumerate() {
            if let Err(error) = segment.seal_if_rolled() {
                tracing::warn!(dir = %self.dir.display(), %error, "cannot seal a rolled segment: retrying at the next sync");
                let mut writer = self.writer.lock();
                let retry = rolled.get(i..).unwrap_or_default();
                writer.unsynced.splice(0..0, retry.iter().cloned());
                return;
            }
        }
        if let Err(error) = checkpoint::write_i64(&self.dir, RECOVERY_POINT, point) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot write recovery point");
        }
    }

    /// Makes the next segment's files if the active segment asked for them.
    fn prepare_spare(&self) {
        if !self.spare.wanted() || self.closed.load(Ordering::Acquire) {
            return;
        }
        let index_bytes = self.config.read().max_index_bytes;
        if let Err(error) = self.spare.prepare(&self.dir, index_bytes) {
            tracing::warn!(dir = %self.dir.display(), %error, "cannot prepare the next segment");
        }
    }
}

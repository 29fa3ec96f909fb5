//! A file kept beside a log whose writes must become durable together with the log's (the
//! Raft sidecar of a partition): every sync of the log syncs it too, in the same flusher
//! round, so appenders waiting for both share one group commit instead of an fsync each.

use std::sync::Arc;

use crate::error::LogError;
use crate::log::PartitionLog;

/// A file the log's flusher syncs with the log.
pub trait Companion: Send + Sync {
    /// A count that grows with every write to the file (a sync that starts after reading it
    /// covers every write counted).
    fn written(&self) -> u64;
    /// Makes every write so far durable.
    fn sync(&self) -> std::io::Result<()>;
}

impl PartitionLog {
    /// Has every later sync of this log also sync `companion`; a log has at most one (a
    /// second call is ignored).
    pub fn set_companion(&self, companion: Arc<dyn Companion>) {
        let _ = self.inner.companion.set(companion);
    }

    /// Waits until every offset below `offset` is fsynced and the companion's writes up to
    /// `written` (its [`Companion::written`] count) are synced.
    pub async fn wait_synced(&self, offset: i64, written: u64) -> Result<(), LogError> {
        let mut rx = self.inner.positions.subscribe();
        let done = |p: &crate::LogPositions| p.durable >= offset && p.companion_synced >= written;
        if !done(&rx.borrow()) {
            self.request_sync();
        }
        let positions = rx
            .wait_for(|p| p.failed || done(p))
            .await
            .map_err(|_| LogError::Closed(self.inner.dir.clone()))?;
        if positions.failed && !done(&positions) {
            return Err(LogError::Closed(self.inner.dir.clone()));
        }
        Ok(())
    }
}

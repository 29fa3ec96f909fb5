//! Syncing a log's companion with it: setting the companion, and waiting for both.

use std::sync::Arc;

use crate::companion::Companion;
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::log_positions::LogPositions;

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
        let done = |p: &LogPositions| p.durable >= offset && p.companion_synced >= written;
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

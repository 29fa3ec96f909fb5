//! A partition's high watermark as a watch: push consumers and long polls wait on it for new
//! records instead of polling.

use neo_replication::partition::replica::HighWatermarkWatch;

/// Wakes its holder when a partition's high watermark moves.
#[derive(Debug, Clone)]
pub struct PositionWatch(HighWatermarkWatch);

/// The partition was closed (deleted, or the broker stopped): nothing more will arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("partition closed")]
pub struct PartitionGone;

impl PositionWatch {
    pub(crate) fn new(receiver: HighWatermarkWatch) -> PositionWatch {
        PositionWatch(receiver)
    }

    /// Forgets changes seen so far: the next [`Self::changed`] waits for a new one. Call it
    /// before reading, so an append between the read and the wait is not missed.
    pub fn mark_unchanged(&mut self) {
        self.0.mark_unchanged();
    }

    /// Waits for the positions to move after the last [`Self::mark_unchanged`].
    pub async fn changed(&mut self) -> Result<(), PartitionGone> {
        self.0.changed().await.map_err(|_| PartitionGone)
    }
}

//! Rolling the active segment: the next segment takes the appends, the old one is sealed.

use std::sync::Arc;

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::LogError;
use crate::log::{PartitionLog, Writer};
use crate::segment::Segment;

impl PartitionLog {
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
}

//! Rolling the active segment: the next segment takes the appends, the old one is sealed.
//!
//! Only what must happen at once happens under the writer's lock: the next segment's files
//! (made ahead by the flusher, see `spare`) are renamed to its base offset and opened, and the
//! segment list changes. Sealing the old segment (flushing and trimming its indexes), its
//! fsync and the directory fsync are done by the flusher afterwards, before any offset in the
//! new segment is published as durable; recovery treats a segment rolled but not yet sealed as
//! one past the recovery point, and scans it.

use crate::config::LogConfig;
use crate::error::LogError;
use crate::log::{PartitionLog, Writer};
use crate::segment::Segment;

impl PartitionLog {
    /// Starts a new active segment at the log end. The caller holds the writer lock and must
    /// call [`PartitionLog::request_sync`] once it has released it.
    pub(crate) fn roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        now: i64,
    ) -> Result<(), LogError> {
        let old = self.active()?;
        let base = self.log_end_offset();
        let dir = &self.inner.dir;
        let prepared = self.inner.spare.install(dir, base).unwrap_or_else(|error| {
            tracing::warn!(dir = %dir.display(), %error, "cannot use the prepared segment");
            false
        });
        let cache = self.inner.flusher.segment_cache();
        let segment = Segment::open(dir, base, Some(config.max_index_bytes), now, cache)?;
        // The files are new and empty: a scan finds nothing and clears the preallocated
        // indexes, which would otherwise read as entries of zeros.
        segment.scan(config.index_interval_bytes)?;
        old.mark_rolled();
        self.inner.segments.write().push(segment);
        writer.unsynced.push(old);
        writer.dir_dirty = true;
        tracing::debug!(dir = %dir.display(), base, prepared, "rolled segment");
        Ok(())
    }

    /// Rolls the active segment now if it holds any record, so that everything written is in
    /// segments that will be sealed (a snapshot of sealed segments then covers the whole
    /// log). Whether it rolled.
    pub fn roll_now(&self) -> Result<bool, LogError> {
        let rolled = {
            let mut writer = self.inner.writer.lock();
            let config = self.inner.config.read().clone();
            if self.active()?.base_offset() >= self.log_end_offset() {
                false
            } else {
                self.roll(&mut writer, &config, neo_record::now_ms())?;
                true
            }
        };
        if rolled {
            self.request_sync();
        }
        Ok(rolled)
    }

    /// Asks the flusher to make the next segment's files once the active one is half full,
    /// so that the roll finds them ready.
    pub(crate) fn prepare_roll_if_due(&self, active: &Segment, config: &LogConfig) {
        let limit = config.segment_bytes.min(i32::MAX as u64);
        if active.size() >= limit / 2 && self.inner.spare.want() {
            self.request_sync();
        }
    }
}

//! Keeping the leader-epoch cache in step with the log, and answering from it.
//!
//! Every change happens under the writer lock: an append of a newer epoch adds an entry,
//! truncation cuts entries from the end, a new log start drops the entries wholly below it,
//! replaced segments rebuild the cache from their batch headers. The file is rewritten (atomically
//! and durably) only when the cache changes, before the batch that changed it is written, so
//! after a crash it can only be ahead of the log: opening cuts it back to the recovered log end
//! and checks it against the batches; a missing file, or one that disagrees, is rebuilt by
//! walking the batch headers.

use std::sync::Arc;

use neo_record::batch_header::BatchHeader;

use crate::epoch_cache::{EpochCache, EpochEndOffset, EpochEntry};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;

impl PartitionLog {
    /// The leader epochs the log's batches were written under and the first offset of each,
    /// oldest first (from the log start on).
    pub fn leader_epochs(&self) -> Vec<EpochEntry> {
        self.inner.epochs.lock().entries().to_vec()
    }

    /// Where leader epoch `epoch` ends, as Kafka's OffsetForLeaderEpoch answers: the largest
    /// epoch at or below it that wrote batches here and the first offset of the next one, or
    /// the log end offset when that is the latest. `current_epoch` is the epoch a leader is in
    /// now, which counts as starting at the log end until a batch of it is written (Kafka's
    /// leader writes it to its cache when elected). `None` when there is no answer (Kafka's
    /// UNDEFINED_EPOCH_OFFSET): a negative epoch, no epoch known, or one newer than all.
    pub fn end_offset_for_epoch(
        &self,
        epoch: i32,
        current_epoch: Option<i32>,
    ) -> Option<EpochEndOffset> {
        let log_end = self.log_end_offset();
        let cache = self.inner.epochs.lock();
        match current_epoch {
            Some(current) if cache.latest().is_none_or(|l| current > l.epoch) => {
                let mut with_current = cache.clone();
                drop(cache);
                with_current.push_current(current, log_end);
                with_current.end_offset_for(epoch, log_end)
            }
            _ => cache.end_offset_for(epoch, log_end),
        }
    }

    /// Records that batches of `epoch` are about to be written from `offset`, writing the
    /// file first when that starts a new epoch. The caller holds the writer lock.
    pub(crate) fn assign_epoch(&self, epoch: i32, offset: i64) -> Result<(), LogError> {
        if !self.inner.epochs.lock().would_assign(epoch, offset) {
            return Ok(());
        }
        self.change_epochs(|cache| cache.assign(epoch, offset))
    }

    /// Removes the epochs starting at or past `end` (the log was cut there). The caller holds
    /// the writer lock.
    pub(crate) fn truncate_epochs(&self, end: i64) -> Result<(), LogError> {
        self.change_epochs(|cache| cache.truncate_from_end(end))
    }

    /// Drops the epochs wholly below the log start (and, when no record is left, the one
    /// that would start at the end).
    pub(crate) fn trim_epochs_to_log_start(&self) -> Result<(), LogError> {
        let _writer = self.inner.writer.lock();
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        self.change_epochs(|cache| cache.fit_to(start, end))
    }

    /// Rebuilds the cache from the batch headers of the segments the log holds now (after
    /// they were replaced). The caller holds the writer lock.
    pub(crate) fn rebuild_epochs(&self) -> Result<(), LogError> {
        let segments = self.inner.segments.read().clone();
        let mut rebuilt = scan(&segments)?;
        rebuilt.fit_to(self.log_start_offset(), self.log_end_offset());
        rebuilt.write(&self.inner.dir)?;
        *self.inner.epochs.lock() = rebuilt;
        Ok(())
    }

    /// On open, after recovery: reads the file, cuts it back to the recovered log, and checks
    /// it against the batches; rebuilds it when missing or disagreeing.
    pub(crate) fn load_epochs(&self) -> Result<(), LogError> {
        let dir = &self.inner.dir;
        let saved = EpochCache::read(dir);
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        let mut cache = saved.clone().unwrap_or_default();
        cache.fit_to(start, end);
        if saved.is_none() || !self.epochs_agree(&cache)? {
            if saved.is_some() {
                tracing::warn!(dir = %dir.display(), "leader-epoch checkpoint disagrees with the log; rebuilding it");
            }
            let segments = self.inner.segments.read().clone();
            cache = scan(&segments)?;
            cache.fit_to(start, end);
        }
        // A log that never had a batch of any epoch needs no file yet.
        let unchanged = saved
            .as_ref()
            .map_or(cache.entries().is_empty(), |s| *s == cache);
        if !unchanged {
            cache.write(dir)?;
        }
        *self.inner.epochs.lock() = cache;
        Ok(())
    }

    /// Applies `change` to a copy of the cache; when it changed, writes it and puts it in
    /// place. Callers hold the writer lock, so changes never interleave.
    fn change_epochs(&self, change: impl FnOnce(&mut EpochCache) -> bool) -> Result<(), LogError> {
        let mut next = self.inner.epochs.lock().clone();
        if change(&mut next) {
            next.write(&self.inner.dir)?;
            *self.inner.epochs.lock() = next;
        }
        Ok(())
    }

    /// Whether `cache` says what the batches say: the batch at each entry's start offset (from
    /// the first one still held) is of that epoch and, but for an entry moved to the log start,
    /// begins there; and the last batch adds no newer epoch.
    fn epochs_agree(&self, cache: &EpochCache) -> Result<bool, LogError> {
        let first_held = self
            .inner
            .segments
            .read()
            .first()
            .map_or(0, |s| s.base_offset());
        let log_start = self.log_start_offset();
        for entry in cache.entries() {
            if entry.start_offset < first_held {
                continue;
            }
            let Some(header) = self.batch_holding(entry.start_offset)? else {
                return Ok(false);
            };
            let begins = header.base_offset == entry.start_offset
                || (entry.start_offset == log_start && header.base_offset < log_start);
            if header.partition_leader_epoch != entry.epoch || !begins {
                return Ok(false);
            }
        }
        let log_end = self.log_end_offset();
        if log_end <= first_held {
            return Ok(true);
        }
        Ok(match self.batch_holding(log_end - 1)? {
            Some(last) => !cache.would_assign(last.partition_leader_epoch, last.base_offset),
            None => false,
        })
    }

    /// The header of the batch holding `offset`, if a segment has it.
    fn batch_holding(&self, offset: i64) -> Result<Option<BatchHeader>, LogError> {
        Ok(self
            .locate(offset)?
            .map(|(_, _, header)| header)
            .filter(|h| h.base_offset <= offset))
    }
}

/// The cache the batch headers of `segments` say, walking only the headers.
fn scan(segments: &[Arc<Segment>]) -> Result<EpochCache, LogError> {
    let mut cache = EpochCache::default();
    for segment in segments {
        let mut position = 0;
        loop {
            let latest = cache.latest();
            let newer = |h: &BatchHeader| {
                latest.is_none_or(|l| h.partition_leader_epoch > l.epoch)
                    && h.partition_leader_epoch >= 0
            };
            let Some((at, header)) = segment.walk_from(position, newer)? else {
                break;
            };
            cache.assign(header.partition_leader_epoch, header.base_offset);
            position = at + header.total_len() as u64;
        }
    }
    Ok(cache)
}

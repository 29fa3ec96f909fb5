//! Copying sealed segments between replicas: listing the files of the sealed segments one
//! replica sends, and replacing a log's segments with the copies another received.
//!
//! A sealed segment's files are never written again (compaction writes a new file and
//! renames it over the old name; retention unlinks), so a hard link to them is a stable copy
//! that costs no space while the log keeps the same files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checkpoint::{self, LOG_START, RECOVERY_POINT};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;
use crate::segment_files::segment_path;

/// The extensions of a segment's files: the batches and the two indexes.
pub const SEGMENT_EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

/// A sealed segment's files, in [`SEGMENT_EXTENSIONS`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegment {
    /// Its first offset.
    pub base_offset: i64,
    /// The offset after its last batch.
    pub next_offset: i64,
    /// Where its `.log`, `.index` and `.timeindex` files are.
    pub files: [PathBuf; 3],
}

impl PartitionLog {
    /// The sealed segments holding offsets from the log start on that end at or before
    /// `end`, oldest first and contiguous, and the offset where they end (the base of the
    /// first segment not listed).
    pub fn sealed_segments(&self, end: i64) -> (Vec<SealedSegment>, i64) {
        let log_start = self.log_start_offset();
        let segments = self.inner.segments.read().clone();
        let mut listed = Vec::new();
        let mut listed_end = None;
        for (i, segment) in segments.iter().enumerate() {
            if segment.next_offset() <= log_start && i + 1 < segments.len() {
                continue;
            }
            let sealed = segment.is_sealed() && i + 1 < segments.len();
            if !sealed || segment.next_offset() > end {
                listed_end = Some(segment.base_offset());
                break;
            }
            listed.push(SealedSegment {
                base_offset: segment.base_offset(),
                next_offset: segment.next_offset(),
                files: SEGMENT_EXTENSIONS
                    .map(|e| segment_path(&self.inner.dir, segment.base_offset(), e)),
            });
        }
        let listed_end = listed_end
            .or_else(|| listed.last().map(|s| s.next_offset))
            .unwrap_or_else(|| self.log_end_offset());
        (listed, listed_end)
    }

    /// Links the files of [`Self::sealed_segments`] up to `end` into `target` (created if
    /// missing): a copy that stays unchanged whatever the log does next. Returns the linked
    /// segments (paths in `target`) and the offset where they end.
    pub fn link_sealed_segments(
        &self,
        end: i64,
        target: &Path,
    ) -> Result<(Vec<SealedSegment>, i64), LogError> {
        self.check_open()?;
        // Retention and compaction hold this lock while they remove or replace segments.
        let _maintenance = self.inner.maintenance.lock();
        let (listed, listed_end) = self.sealed_segments(end);
        std::fs::create_dir_all(target).map_err(LogError::io(target))?;
        let mut linked = Vec::with_capacity(listed.len());
        for segment in listed {
            let files = SEGMENT_EXTENSIONS.map(|e| segment_path(target, segment.base_offset, e));
            for (source, copy) in segment.files.iter().zip(&files) {
                link_or_copy(source, copy)?;
            }
            linked.push(SealedSegment { files, ..segment });
        }
        checkpoint::sync_dir(target)?;
        Ok((linked, listed_end))
    }

    /// The base offset of the segment appends go to.
    pub fn active_segment_base(&self) -> i64 {
        self.inner
            .segments
            .read()
            .last()
            .map_or_else(|| self.log_end_offset(), |s| s.base_offset())
    }

    /// Replaces every segment with `copies` (sealed segments received from another replica,
    /// oldest first, contiguous up to `end`; their files are linked into the log's directory,
    /// or copied when that fails): the log then holds exactly them, starts at `log_start`, and
    /// takes appends at `end`.
    pub fn replace_segments(
        &self,
        copies: &[SealedSegment],
        log_start: i64,
        end: i64,
    ) -> Result<(), LogError> {
        self.check_open()?;
        let config = self.config();
        let dir = &self.inner.dir;
        let _maintenance = self.inner.maintenance.lock();
        let mut writer = self.inner.writer.lock();
        let old: Vec<Arc<Segment>> = std::mem::take(&mut *self.inner.segments.write());
        writer.unsynced.clear();
        for segment in &old {
            segment.delete_files()?;
        }
        let now = neo_record::now_ms();
        let cache = self.inner.flusher.segment_cache();
        let mut fresh = Vec::with_capacity(copies.len() + 1);
        for copy in copies {
            for (source, extension) in copy.files.iter().zip(SEGMENT_EXTENSIONS) {
                link_or_copy(source, &segment_path(dir, copy.base_offset, extension))?;
            }
            let segment = Segment::open(dir, copy.base_offset, None, now, cache)?;
            if segment.indexes_consistent()? {
                segment.load_sealed(copy.next_offset)?;
            } else {
                segment.unseal(config.max_index_bytes)?;
                segment.scan(config.index_interval_bytes)?;
                segment.seal()?;
            }
            segment.close_files();
            fresh.push(segment);
        }
        let active = Segment::open(dir, end, Some(config.max_index_bytes), now, cache)?;
        active.scan(config.index_interval_bytes)?;
        active.sync()?;
        fresh.push(active);
        *self.inner.segments.write() = fresh;
        checkpoint::replace_i64(dir, LOG_START, log_start)?;
        checkpoint::replace_i64(dir, RECOVERY_POINT, end)?;
        checkpoint::sync_dir(dir)?;
        writer.dir_dirty = false;
        self.inner.log_start.store(log_start, Ordering::Release);
        self.inner.log_end.store(end, Ordering::Release);
        self.inner.positions.send_modify(|p| {
            p.log_end = end;
            p.durable = end;
        });
        self.rebuild_epochs()
    }
}

/// Makes `target` a hard link to `source`, or a copy of it (synced) on another file system.
fn link_or_copy(source: &Path, target: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(LogError::Io {
                path: target.to_path_buf(),
                source: e,
            });
        }
        _ => {}
    }
    if std::fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    std::fs::copy(source, target).map_err(LogError::io(source))?;
    std::fs::File::open(target)
        .and_then(|f| f.sync_all())
        .map_err(LogError::io(target))
}

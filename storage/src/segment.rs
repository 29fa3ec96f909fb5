//! One segment: a `.log` file of whole batches plus its two sparse indexes.
//!
//! The single writer appends with positional writes and then publishes the new size; readers
//! only read below the published size, so they never see a partial batch. What a segment knows
//! about itself (offsets, size, newest timestamp) stays in memory; its files are open while it
//! takes appends and, once sealed, only while the shared [`SegmentCache`] keeps them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::error::LogError;
use crate::offset_index::OffsetEntry;
use crate::segment_cache::{Cached, SegmentCache};
use crate::segment_files::{SegmentFiles, segment_path};
use crate::time_index::TimeEntry;
use neo_record::batch_header::{self, BatchHeader, LOG_OVERHEAD};

/// What the writer knows about each batch it appends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub len: u32,
}

/// Where a segment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Takes appends; its indexes are preallocated.
    Active,
    /// Takes no more appends; its indexes are not trimmed yet (the flusher seals it).
    Rolled,
    /// Indexes flushed and trimmed: its files may be closed and opened again on demand.
    Sealed,
}

/// A segment of a partition log.
pub(crate) struct Segment {
    base_offset: i64,
    dir: PathBuf,
    size: AtomicU64,
    next_offset: AtomicI64,
    max_timestamp: AtomicI64,
    created_ms: AtomicI64,
    bytes_since_index: AtomicU64,
    /// `None` while the segment is sealed and the cache has closed its files.
    files: Mutex<Option<Arc<SegmentFiles>>>,
    /// Serializes sealing and unsealing, which resize the index files.
    stage: Mutex<Stage>,
    /// Mirrors `stage == Sealed` for the cache, which must not wait for the stage lock.
    sealed: AtomicBool,
    last_used: AtomicU64,
    cache: Arc<SegmentCache>,
    me: Weak<Segment>,
}

impl Segment {
    /// Opens the segment starting at `base_offset` in `dir`, creating empty files if missing.
    /// `index_capacity` makes it the active segment (preallocated indexes); `None` opens a
    /// sealed one. Its size is the file's; its next offset is unknown until
    /// [`Segment::load_tail`], [`Segment::load_sealed`] or [`Segment::scan`].
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_capacity: Option<u32>,
        now_ms: i64,
        cache: &Arc<SegmentCache>,
    ) -> Result<Arc<Segment>, LogError> {
        let files = SegmentFiles::open(dir, base_offset, index_capacity)?;
        let size = files.log_len()?;
        let stage = match index_capacity {
            Some(_) => Stage::Active,
            None => Stage::Sealed,
        };
        Ok(Arc::new_cyclic(|me| Segment {
            base_offset,
            dir: dir.to_path_buf(),
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(-1),
            created_ms: AtomicI64::new(now_ms),
            bytes_since_index: AtomicU64::new(0),
            files: Mutex::new(Some(Arc::new(files))),
            stage: Mutex::new(stage),
            sealed: AtomicBool::new(stage == Stage::Sealed),
            last_used: AtomicU64::new(cache.tick()),
            cache: Arc::clone(cache),
            me: me.clone(),
        }))
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes of whole batches readers may see.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The offset after the last batch in this segment.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Largest batch max-timestamp in the segment, or -1.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// Wall-clock time (ms) the segment became active, for `segment.ms`.
    pub fn created_ms(&self) -> i64 {
        self.created_ms.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    pub fn log_path(&self) -> PathBuf {
        segment_path(&self.dir, self.base_offset, "log")
    }

    /// The open files, opening them if the cache closed them.
    pub(crate) fn files(&self) -> Result<Arc<SegmentFiles>, LogError> {
        self.last_used.store(self.cache.tick(), Ordering::Relaxed);
        let mut slot = self.files.lock();
        if let Some(files) = &*slot {
            return Ok(Arc::clone(files));
        }
        let files = Arc::new(SegmentFiles::open(&self.dir, self.base_offset, None)?);
        *slot = Some(Arc::clone(&files));
        drop(slot);
        self.cache.opened(self.me.clone() as Weak<dyn Cached>);
        Ok(files)
    }

    /// When the segment was last used, for the cache's least-recently-used order.
    pub(crate) fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// True once the segment is sealed: it takes no more appends and is on disk.
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// True when the segment is sealed with its files open: the cache may close them.
    pub(crate) fn evictable(&self) -> bool {
        self.sealed.load(Ordering::Acquire) && self.files.try_lock().is_none_or(|f| f.is_some())
    }

    /// Takes the files of a sealed segment for the cache to close; `None` when the segment is
    /// not sealed or busy changing stage (it stays open until a later eviction).
    pub(crate) fn close_if_sealed(&self) -> Option<Arc<SegmentFiles>> {
        let stage = self.stage.try_lock()?;
        if *stage != Stage::Sealed {
            return None;
        }
        self.files.try_lock()?.take()
    }

    /// Closes a sealed segment's files (recovery opens every segment once to check it).
    pub(crate) fn close_files(&self) {
        if *self.stage.lock() == Stage::Sealed {
            let files = self.files.lock().take();
            drop(files);
        }
    }

    /// True when the offset index has no room for another entry.
    pub fn index_full(&self) -> bool {
        self.files
            .lock()
            .as_ref()
            .is_some_and(|f| f.offset_index.is_full() || f.time_index.is_full())
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Writes `bytes` (whole batches described by `metas`) at the end, indexes them, publishes.
    pub fn append(
        &self,
        bytes: &[u8],
        metas: &[BatchMeta],
        index_interval: u32,
    ) -> Result<(), LogError> {
        let files = self.files()?;
        let start = self.size();
        std::os::unix::fs::FileExt::write_all_at(&files.log, bytes, start)
            .map_err(LogError::io(&files.log_path))?;
        let mut position = start;
        for meta in metas {
            self.index_batch(&files, meta, position, index_interval);
            position += u64::from(meta.len);
        }
        if let Some(last) = metas.last() {
            self.next_offset
                .store(last.last_offset + 1, Ordering::Release);
        }
        self.size
            .store(start + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    pub(crate) fn index_batch(
        &self,
        files: &SegmentFiles,
        meta: &BatchMeta,
        position: u64,
        index_interval: u32,
    ) {
        let since = self.bytes_since_index.load(Ordering::Relaxed);
        if position == 0 || since >= u64::from(index_interval) {
            files.offset_index.push(OffsetEntry {
                relative_offset: self.relative(meta.base_offset),
                position: position as u32,
            });
            self.bytes_since_index
                .store(u64::from(meta.len), Ordering::Relaxed);
        } else {
            self.bytes_since_index
                .store(since + u64::from(meta.len), Ordering::Relaxed);
        }
        if meta.max_timestamp > self.max_timestamp() {
            self.max_timestamp
                .store(meta.max_timestamp, Ordering::Release);
            let newer = files
                .time_index
                .last()
                .is_none_or(|e| e.timestamp < meta.max_timestamp);
            if newer && (position == 0 || since >= u64::from(index_interval)) {
                files.time_index.push(TimeEntry {
                    timestamp: meta.max_timestamp,
                    relative_offset: self.relative(meta.base_offset),
                });
            }
        }
    }

    /// Reads up to `len` bytes at `position`, fewer if the segment ends first.
    pub fn read_at(&self, position: u64, len: usize) -> Result<Vec<u8>, LogError> {
        self.files()?.read_at(position, len, self.size())
    }

    /// Position and header of the first batch whose last offset is `>= offset`, if any.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let files = self.files()?;
        self.find_batch_in(&files, offset)
    }

    fn find_batch_in(
        &self,
        files: &SegmentFiles,
        offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let start = files
            .offset_index
            .floor(|e| i64::from(e.relative_offset) + self.base_offset <= offset)
            .map_or(0, |e| u64::from(e.position));
        self.walk_in(files, start, |h| h.last_offset() >= offset)
    }

    /// Position and header of the first batch whose max timestamp is `>= timestamp`, if any.
    pub fn find_batch_by_time(
        &self,
        timestamp: i64,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let files = self.files()?;
        let from_offset = files
            .time_index
            .floor(|e| e.timestamp < timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            });
        let Some((start, _)) = self.find_batch_in(&files, from_offset)? else {
            return Ok(None);
        };
        self.walk_in(&files, start, |h| h.max_timestamp >= timestamp)
    }

    /// Position and header of the first batch at or after `position` for which `found` holds.
    pub fn walk_from(
        &self,
        position: u64,
        found: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let files = self.files()?;
        self.walk_in(&files, position, found)
    }

    pub(crate) fn walk_in(
        &self,
        files: &SegmentFiles,
        mut position: u64,
        found: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let end = self.size();
        while position < end {
            let Some(header) = files.header_at(position, end)? else {
                return Ok(None);
            };
            if found(&header) {
                return Ok(Some((position, header)));
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Calls `visit` with every whole batch of the segment, in order, reading it in chunks.
    pub fn for_each_batch(
        &self,
        mut visit: impl FnMut(&[u8]) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        const CHUNK: usize = 8 << 20;
        let files = self.files()?;
        let end = self.size();
        let mut position = 0u64;
        while position < end {
            let chunk = files.read_at(position, CHUNK, end)?;
            let mut rest = &chunk[..];
            let mut consumed = 0usize;
            while let Some((_, len)) = batch_header::peek_offset_and_len(rest) {
                let total = LOG_OVERHEAD + len.max(0) as usize;
                let Some(batch) = rest.get(..total) else {
                    break;
                };
                visit(batch)?;
                rest = &rest[total..];
                consumed += total;
            }
            if consumed == 0 {
                // A batch larger than the chunk: read it whole.
                let Some((_, len)) = batch_header::peek_offset_and_len(&chunk) else {
                    break;
                };
                let total = LOG_OVERHEAD + len.max(0) as usize;
                let whole = files.read_at(position, total, end)?;
                if whole.len() < total {
                    break;
                }
                visit(&whole)?;
                consumed = whole.len();
            }
            position += consumed as u64;
        }
        Ok(())
    }

    /// Base offset of the last batch, found by walking from the last index entry.
    fn last_batch_base(&self, files: &SegmentFiles) -> Result<i64, LogError> {
        let end = self.size();
        let mut position = files
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut base = self.base_offset;
        while let Some(h) = files.header_at(position, end)? {
            base = h.base_offset;
            position += h.total_len() as u64;
        }
        Ok(base)
    }

    /// fdatasync of the log file.
    pub fn sync(&self) -> Result<(), LogError> {
        self.files()?.sync()
    }

    /// fdatasync of the log file if it is open (a closed segment has nothing unsynced: the
    /// cache only closes sealed segments, which the flusher synced before sealing).
    pub fn sync_if_open(&self) -> Result<(), LogError> {
        let files = self.files.lock().clone();
        files.map_or(Ok(()), |f| f.sync())
    }

    /// The active segment takes no more appends; the flusher seals it later.
    pub fn mark_rolled(&self) {
        let mut stage = self.stage.lock();
        if *stage == Stage::Active {
            *stage = Stage::Rolled;
        }
    }

    /// Seals a rolled segment (see [`Segment::seal`]); does nothing to an active or sealed one
    /// (a truncation may have made a rolled segment active again).
    pub fn seal_if_rolled(&self) -> Result<(), LogError> {
        let mut stage = self.stage.lock();
        if *stage != Stage::Rolled {
            return Ok(());
        }
        self.seal_indexes()?;
        *stage = Stage::Sealed;
        self.sealed.store(true, Ordering::Release);
        drop(stage);
        self.cache.opened(self.me.clone() as Weak<dyn Cached>);
        Ok(())
    }

    /// The segment takes no more appends: record its final max timestamp, flush and trim its
    /// indexes. Its files may be closed from then on.
    pub fn seal(&self) -> Result<(), LogError> {
        let mut stage = self.stage.lock();
        self.seal_indexes()?;
        let was = std::mem::replace(&mut *stage, Stage::Sealed);
        self.sealed.store(true, Ordering::Release);
        drop(stage);
        if was != Stage::Sealed {
            self.cache.opened(self.me.clone() as Weak<dyn Cached>);
        }
        Ok(())
    }

    fn seal_indexes(&self) -> Result<(), LogError> {
        let files = self.files()?;
        let max_ts = self.max_timestamp();
        if files.time_index.last().is_none_or(|e| e.timestamp < max_ts) && max_ts >= 0 {
            let last = self.last_batch_base(&files)?;
            files.time_index.push(TimeEntry {
                timestamp: max_ts,
                relative_offset: self.relative(last),
            });
        }
        files.offset_index.seal()?;
        files.time_index.seal()
    }

    /// Makes a sealed segment the active one again (after truncation removed later segments,
    /// or for recovery to rebuild its indexes).
    pub fn unseal(&self, index_capacity: u32) -> Result<(), LogError> {
        let mut stage = self.stage.lock();
        let files = self.files()?;
        files.offset_index.unseal(index_capacity)?;
        files.time_index.unseal(index_capacity)?;
        *stage = Stage::Active;
        self.sealed.store(false, Ordering::Release);
        Ok(())
    }

    /// Removes the segment's files (open readers keep their descriptor until they finish).
    pub fn delete_files(&self) -> Result<(), LogError> {
        for extension in ["log", "index", "timeindex"] {
            let path = segment_path(&self.dir, self.base_offset, extension);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Io { path, source: e }),
            }
        }
        Ok(())
    }

    pub(crate) fn set_loaded(&self, size: u64, next_offset: i64, max_timestamp: i64) {
        self.size.store(size, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
        self.max_timestamp.store(max_timestamp, Ordering::Release);
    }

    pub(crate) fn set_bytes_since_index(&self, bytes: u64) {
        self.bytes_since_index.store(bytes, Ordering::Relaxed);
    }
}

impl Cached for Segment {
    fn last_used(&self) -> u64 {
        Segment::last_used(self)
    }

    fn evictable(&self) -> bool {
        Segment::evictable(self)
    }

    fn close_if_sealed(&self) -> Option<Box<dyn Send>> {
        Segment::close_if_sealed(self).map(|files| Box::new(files) as Box<dyn Send>)
    }
}

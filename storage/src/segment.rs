//! One segment: a `.log` file of whole batches plus its two sparse indexes.
//!
//! The single writer appends with positional writes and then publishes the new size; readers
//! only read below the published size, so they never see a partial batch.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::error::LogError;
use crate::offset_index::{OffsetEntry, OffsetIndex};
use crate::time_index::{TimeEntry, TimeIndex};
use neo_record::batch_header::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// The path of a segment file: the base offset, zero-padded to 20 digits, and an extension.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// What the writer knows about each batch it appends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub len: u32,
}

/// How a recovery scan of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanOutcome {
    /// Every byte of the file is whole, valid batches.
    Clean,
    /// The file was cut at this byte position: what followed was torn or corrupt.
    Truncated { position: u64 },
}

/// A segment of a partition log.
pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    file: File,
    size: AtomicU64,
    next_offset: AtomicI64,
    max_timestamp: AtomicI64,
    created_ms: AtomicI64,
    bytes_since_index: AtomicU64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

impl Segment {
    /// Opens the segment starting at `base_offset` in `dir`, creating empty files if missing.
    /// Its size and next offset are unknown until [`Segment::load_tail`] or [`Segment::scan`].
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_capacity: Option<u32>,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let log_path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        let size = file.metadata().map_err(LogError::io(&log_path))?.len();
        let offset_index =
            OffsetIndex::open(&segment_path(dir, base_offset, "index"), index_capacity)?;
        let time_index =
            TimeIndex::open(&segment_path(dir, base_offset, "timeindex"), index_capacity)?;
        Ok(Segment {
            base_offset,
            log_path,
            file,
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(-1),
            created_ms: AtomicI64::new(now_ms),
            bytes_since_index: AtomicU64::new(0),
            offset_index,
            time_index,
        })
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

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// True when the offset index has no room for another entry.
    pub fn index_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
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
        let start = self.size();
        self.file
            .write_all_at(bytes, start)
            .map_err(LogError::io(&self.log_path))?;
        let mut position = start;
        for meta in metas {
            self.index_batch(meta, position, index_interval);
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

    fn index_batch(&self, meta: &BatchMeta, position: u64, index_interval: u32) {
        let since = self.bytes_since_index.load(Ordering::Relaxed);
        if position == 0 || since >= u64::from(index_interval) {
            self.offset_index.push(OffsetEntry {
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
            let newer = self
                .time_index
                .last()
                .is_none_or(|e| e.timestamp < meta.max_timestamp);
            if newer && (position == 0 || since >= u64::from(index_interval)) {
                self.time_index.push(TimeEntry {
                    timestamp: meta.max_timestamp,
                    relative_offset: self.relative(meta.base_offset),
                });
            }
        }
    }

    /// Reads up to `len` bytes at `position`, fewer if the segment ends first.
    pub fn read_at(&self, position: u64, len: usize) -> Result<Vec<u8>, LogError> {
        let end = self.size();
        let len = len.min(end.saturating_sub(position) as usize);
        // Read into spare capacity: a fetch reads megabytes, and zero-filling them first
        // costs as much as the read.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let offset = position + buf.len() as u64;
            let read =
                rustix::io::pread(&self.file, rustix::buffer::spare_capacity(&mut buf), offset)
                    .map_err(|e| LogError::io(&self.log_path)(e.into()))?;
            if read == 0 {
                break; // truncated underneath us: return what is there
            }
        }
        Ok(buf)
    }

    /// Reads the batch header at `position`, if a whole header is there.
    pub fn header_at(&self, position: u64) -> Result<Option<BatchHeader>, LogError> {
        let bytes = self.read_at(position, HEADER_LEN)?;
        Ok(BatchHeader::parse(&bytes).ok())
    }

    /// Position and header of the first batch whose last offset is `>= offset`, if any.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let start = self
            .offset_index
            .floor(|e| i64::from(e.relative_offset) + self.base_offset <= offset)
            .map_or(0, |e| u64::from(e.position));
        self.walk_from(start, |h| h.last_offset() >= offset)
    }

    /// Position and header of the first batch whose max timestamp is `>= timestamp`, if any.
    pub fn find_batch_by_time(
        &self,
        timestamp: i64,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let from_offset = self
            .time_index
            .floor(|e| e.timestamp < timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            });
        let Some((start, _)) = self.find_batch(from_offset)? else {
            return Ok(None);
        };
        self.walk_from(start, |h| h.max_timestamp >= timestamp)
    }

    /// Position and header of the first batch at or after `position` for which `found` holds.
    pub fn walk_from(
        &self,
        mut position: u64,
        found: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let end = self.size();
        while position < end {
            let Some(header) = self.header_at(position)? else {
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
        let end = self.size();
        let mut position = 0u64;
        while position < end {
            let chunk = self.read_at(position, CHUNK)?;
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
                let whole = self.read_at(position, LOG_OVERHEAD + len.max(0) as usize)?;
                if whole.len() < LOG_OVERHEAD + len.max(0) as usize {
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
    fn last_batch_base(&self) -> Result<i64, LogError> {
        let mut position = self
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut base = self.base_offset;
        while let Some(h) = self.header_at(position)? {
            base = h.base_offset;
            position += h.total_len() as u64;
        }
        Ok(base)
    }

    /// A sealed segment from a clean shutdown: its end is where the next segment starts. The
    /// indexes are checked and rebuilt by a scan if they do not agree with the file.
    pub fn load_sealed(
        &self,
        next_offset: i64,
        index_interval: u32,
    ) -> Result<ScanOutcome, LogError> {
        if !self.indexes_consistent() {
            tracing::info!(path = %self.log_path.display(), "rebuilding inconsistent indexes");
            return self.scan(index_interval);
        }
        self.next_offset.store(next_offset, Ordering::Release);
        self.max_timestamp.store(
            self.time_index.last().map_or(-1, |e| e.timestamp),
            Ordering::Release,
        );
        Ok(ScanOutcome::Clean)
    }

    /// After a clean shutdown: walk batch headers from the last index entry to find the end.
    /// Falls back to a full scan when the headers there do not line up.
    pub fn load_tail(&self, index_interval: u32) -> Result<ScanOutcome, LogError> {
        let file_len = self.size();
        let start = self
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut position = start;
        let mut next = self.base_offset;
        let mut max_ts = self.time_index.last().map_or(-1, |e| e.timestamp);
        while position < file_len {
            match self.header_at(position)? {
                Some(h) if h.batch_length > 0 && position + h.total_len() as u64 <= file_len => {
                    next = h.next_offset();
                    max_ts = max_ts.max(h.max_timestamp);
                    position += h.total_len() as u64;
                }
                _ => return self.scan(index_interval),
            }
        }
        self.next_offset
            .store(next.max(self.base_offset), Ordering::Release);
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.bytes_since_index
            .store(position - start, Ordering::Relaxed);
        Ok(ScanOutcome::Clean)
    }

    /// Recovery: reads every batch, checks length, magic, CRC and offset order, rebuilds both
    /// indexes, and truncates the file at the first batch that fails.
    pub fn scan(&self, index_interval: u32) -> Result<ScanOutcome, LogError> {
        const CHUNK: usize = 8 << 20;
        let file_len = self
            .file
            .metadata()
            .map_err(LogError::io(&self.log_path))?
            .len();
        self.size.store(file_len, Ordering::Release);
        self.offset_index.clear();
        self.time_index.clear();
        self.max_timestamp.store(-1, Ordering::Release);
        self.bytes_since_index.store(0, Ordering::Relaxed);
        let mut position = 0u64;
        let mut next = self.base_offset;
        let mut chunk: Vec<u8> = Vec::new();
        let mut chunk_start = 0u64;
        let outcome = loop {
            if position >= file_len {
                break ScanOutcome::Clean;
            }
            let in_chunk = (position - chunk_start) as usize;
            let Some((_, batch_len)) = chunk
                .get(in_chunk..)
                .and_then(batch_header::peek_offset_and_len)
            else {
                chunk = self.read_at(position, CHUNK.max(LOG_OVERHEAD))?;
                chunk_start = position;
                if chunk.len() < LOG_OVERHEAD {
                    break ScanOutcome::Truncated { position };
                }
                continue;
            };
            let total = LOG_OVERHEAD as u64 + batch_len.max(0) as u64;
            if batch_len < (HEADER_LEN - LOG_OVERHEAD) as i32 || position + total > file_len {
                break ScanOutcome::Truncated { position };
            }
            let Some(batch) = chunk.get(in_chunk..in_chunk + total as usize) else {
                chunk = self.read_at(position, CHUNK.max(total as usize))?;
                chunk_start = position;
                if (chunk.len() as u64) < total {
                    break ScanOutcome::Truncated { position };
                }
                continue;
            };
            let header = match batch_header::validate(batch) {
                Ok(h) if h.base_offset == next => h,
                _ => break ScanOutcome::Truncated { position },
            };
            let meta = BatchMeta {
                base_offset: header.base_offset,
                last_offset: header.last_offset(),
                max_timestamp: header.max_timestamp,
                len: total as u32,
            };
            self.index_batch(&meta, position, index_interval);
            next = header.next_offset();
            position += total;
        };
        if let ScanOutcome::Truncated { position } = outcome {
            self.file
                .set_len(position)
                .map_err(LogError::io(&self.log_path))?;
            self.file.sync_all().map_err(LogError::io(&self.log_path))?;
        }
        self.size.store(position.min(file_len), Ordering::Release);
        self.next_offset.store(next, Ordering::Release);
        Ok(outcome)
    }

    /// Cuts the segment so that its last batch ends before `offset` (at a batch boundary).
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let position = match self.find_batch(offset)? {
            Some((pos, header)) if header.base_offset < offset => pos,
            Some((pos, _)) => pos,
            None => return Ok(()),
        };
        let new_next = match position {
            0 => self.base_offset,
            _ => self.last_batch_end_before(position)?,
        };
        self.file
            .set_len(position)
            .map_err(LogError::io(&self.log_path))?;
        self.size.store(position, Ordering::Release);
        self.next_offset.store(new_next, Ordering::Release);
        self.offset_index
            .truncate_from(|e| u64::from(e.position) >= position);
        self.time_index
            .truncate_from(|e| i64::from(e.relative_offset) + self.base_offset >= new_next);
        let max_ts = self.max_timestamp_before(position)?;
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.bytes_since_index
            .store(u64::from(u32::MAX), Ordering::Relaxed);
        Ok(())
    }

    fn last_batch_end_before(&self, position: u64) -> Result<i64, LogError> {
        let start = self
            .offset_index
            .floor(|e| u64::from(e.position) < position)
            .map_or(0, |e| u64::from(e.position));
        let mut pos = start;
        let mut next = self.base_offset;
        while pos < position {
            let Some(h) = self.header_at(pos)? else { break };
            next = h.next_offset();
            pos += h.total_len() as u64;
        }
        Ok(next)
    }

    fn max_timestamp_before(&self, position: u64) -> Result<i64, LogError> {
        let mut pos = 0;
        let mut max_ts = -1;
        while pos < position {
            let Some(h) = self.header_at(pos)? else { break };
            max_ts = max_ts.max(h.max_timestamp);
            pos += h.total_len() as u64;
        }
        Ok(max_ts)
    }

    /// fdatasync of the log file.
    pub fn sync(&self) -> Result<(), LogError> {
        self.file.sync_data().map_err(LogError::io(&self.log_path))
    }

    /// The segment takes no more appends: record its final max timestamp, flush and trim its
    /// indexes.
    pub fn seal(&self) -> Result<(), LogError> {
        let max_ts = self.max_timestamp();
        if self.time_index.last().is_none_or(|e| e.timestamp < max_ts) && max_ts >= 0 {
            let last = self.last_batch_base()?;
            self.time_index.push(TimeEntry {
                timestamp: max_ts,
                relative_offset: self.relative(last),
            });
        }
        self.offset_index.seal()?;
        self.time_index.seal()
    }

    /// Makes a sealed segment the active one again (after truncation removed later segments).
    pub fn unseal(&self, index_capacity: u32) -> Result<(), LogError> {
        self.offset_index.unseal(index_capacity)?;
        self.time_index.unseal(index_capacity)
    }

    /// Checks that a sealed segment's indexes agree with the log file; false means rebuild.
    pub fn indexes_consistent(&self) -> bool {
        let size = self.size();
        let entries = self.offset_index.entries();
        let ordered = entries.windows(2).all(|w| {
            matches!(w, [a, b] if a.relative_offset < b.relative_offset && a.position < b.position)
        });
        let in_bounds = entries.last().is_none_or(|e| u64::from(e.position) < size);
        let first_ok =
            entries.first().is_none_or(|e| e.position == 0) && (size == 0 || !entries.is_empty());
        let times = self.time_index.entries();
        let times_ok = times
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.timestamp < b.timestamp && a.relative_offset <= b.relative_offset));
        ordered && in_bounds && first_ok && times_ok
    }

    /// Removes the segment's files (open readers keep their descriptor until they finish).
    pub fn delete_files(&self) -> Result<(), LogError> {
        for path in [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Io { path, source: e }),
            }
        }
        Ok(())
    }
}

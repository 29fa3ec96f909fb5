//! Finding out what a segment on disk holds (after a clean shutdown, or by a full CRC-checked
//! scan after a crash) and cutting it at a batch boundary.

use neo_record::batch_header::{self, HEADER_LEN, LOG_OVERHEAD};

use crate::error::LogError;
use crate::segment::{BatchMeta, Segment};

/// How a recovery scan of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanOutcome {
    /// Every byte of the file is whole, valid batches.
    Clean,
    /// The file was cut at this byte position: what followed was torn or corrupt.
    Truncated { position: u64 },
}

impl Segment {
    /// A sealed segment from a clean shutdown whose indexes agree with its file: its end is
    /// where the next segment starts.
    pub fn load_sealed(&self, next_offset: i64) -> Result<(), LogError> {
        let files = self.files()?;
        let max_ts = files.time_index.last().map_or(-1, |e| e.timestamp);
        self.set_loaded(self.size(), next_offset, max_ts);
        Ok(())
    }

    /// After a clean shutdown: walk batch headers from the last index entry to find the end.
    /// Falls back to a full scan when the headers there do not line up.
    pub fn load_tail(&self, index_interval: u32) -> Result<ScanOutcome, LogError> {
        let files = self.files()?;
        let file_len = self.size();
        let start = files
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut position = start;
        let mut next = self.base_offset();
        let mut max_ts = files.time_index.last().map_or(-1, |e| e.timestamp);
        while position < file_len {
            match files.header_at(position, file_len)? {
                Some(h) if h.batch_length > 0 && position + h.total_len() as u64 <= file_len => {
                    next = h.next_offset();
                    max_ts = max_ts.max(h.max_timestamp);
                    position += h.total_len() as u64;
                }
                _ => return self.scan(index_interval),
            }
        }
        self.set_loaded(file_len, next.max(self.base_offset()), max_ts);
        self.set_bytes_since_index(position - start);
        Ok(ScanOutcome::Clean)
    }

    /// Recovery: reads every batch, checks length, magic, CRC and offset order, rebuilds both
    /// indexes, and truncates the file at the first batch that fails.
    pub fn scan(&self, index_interval: u32) -> Result<ScanOutcome, LogError> {
        const CHUNK: usize = 8 << 20;
        let files = self.files()?;
        let file_len = files.log_len()?;
        self.set_loaded(file_len, self.base_offset(), -1);
        files.offset_index.clear();
        files.time_index.clear();
        self.set_bytes_since_index(0);
        let mut position = 0u64;
        let mut next = self.base_offset();
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
                chunk = files.read_at(position, CHUNK.max(LOG_OVERHEAD), file_len)?;
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
                chunk = files.read_at(position, CHUNK.max(total as usize), file_len)?;
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
            self.index_batch(&files, &meta, position, index_interval);
            next = header.next_offset();
            position += total;
        };
        if let ScanOutcome::Truncated { position } = outcome {
            files
                .log
                .set_len(position)
                .map_err(LogError::io(&files.log_path))?;
            files
                .log
                .sync_all()
                .map_err(LogError::io(&files.log_path))?;
        }
        self.set_loaded(position.min(file_len), next, self.max_timestamp());
        Ok(outcome)
    }

    /// Cuts the segment so that its last batch ends before `offset` (at a batch boundary).
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let files = self.files()?;
        let position = match self.find_batch(offset)? {
            Some((pos, _)) => pos,
            None => return Ok(()),
        };
        let new_next = match position {
            0 => self.base_offset(),
            _ => self.last_batch_end_before(position)?,
        };
        files
            .log
            .set_len(position)
            .map_err(LogError::io(&files.log_path))?;
        files
            .offset_index
            .truncate_from(|e| u64::from(e.position) >= position);
        let base = self.base_offset();
        files
            .time_index
            .truncate_from(|e| i64::from(e.relative_offset) + base >= new_next);
        let max_ts = self.max_timestamp_before(position)?;
        self.set_loaded(position, new_next, max_ts);
        self.set_bytes_since_index(u64::from(u32::MAX));
        Ok(())
    }

    fn last_batch_end_before(&self, position: u64) -> Result<i64, LogError> {
        let files = self.files()?;
        let start = files
            .offset_index
            .floor(|e| u64::from(e.position) < position)
            .map_or(0, |e| u64::from(e.position));
        let mut pos = start;
        let mut next = self.base_offset();
        while pos < position {
            let Some(h) = files.header_at(pos, position)? else {
                break;
            };
            next = h.next_offset();
            pos += h.total_len() as u64;
        }
        Ok(next)
    }

    fn max_timestamp_before(&self, position: u64) -> Result<i64, LogError> {
        let files = self.files()?;
        let mut pos = 0;
        let mut max_ts = -1;
        while pos < position {
            let Some(h) = files.header_at(pos, position)? else {
                break;
            };
            max_ts = max_ts.max(h.max_timestamp);
            pos += h.total_len() as u64;
        }
        Ok(max_ts)
    }

    /// Checks that a sealed segment's indexes agree with the log file; false means rebuild.
    pub fn indexes_consistent(&self) -> Result<bool, LogError> {
        let files = self.files()?;
        let size = self.size();
        let entries = files.offset_index.entries();
        let ordered = entries.windows(2).all(|w| {
            matches!(w, [a, b] if a.relative_offset < b.relative_offset && a.position < b.position)
        });
        let in_bounds = entries.last().is_none_or(|e| u64::from(e.position) < size);
        let first_ok =
            entries.first().is_none_or(|e| e.position == 0) && (size == 0 || !entries.is_empty());
        let times = files.time_index.entries();
        let times_ok = times
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.timestamp < b.timestamp && a.relative_offset <= b.relative_offset));
        Ok(ordered && in_bounds && first_ok && times_ok)
    }
}

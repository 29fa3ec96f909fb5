//! The read path: whole batches from the segment holding an offset, bounded by a high watermark.

use std::sync::Arc;

use bytes::Bytes;
use neo_record::batch_header::{self, BatchHeader, LOG_OVERHEAD};

use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;

/// Whole batches read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSlice {
    /// Whole record batches, as stored.
    pub records: Bytes,
    /// Offset after the last batch returned (equal to the requested offset when empty).
    pub next_offset: i64,
}

impl PartitionLog {
    /// Calls `visit` with every whole batch from the one containing `from` to the log end, in
    /// offset order (for replaying internal logs and rebuilding state on open).
    pub fn for_each_batch(&self, from: i64, mut visit: impl FnMut(&[u8])) -> Result<(), LogError> {
        let end = self.log_end_offset();
        let mut offset = from.max(self.log_start_offset());
        while offset < end {
            let slice = self.read(offset, 1 << 20, end)?;
            if slice.next_offset <= offset {
                break;
            }
            let mut batches = &slice.records[..];
            while let Some((_, len)) = batch_header::peek_offset_and_len(batches) {
                let len = LOG_OVERHEAD + len.max(0) as usize;
                let Some(batch) = batches.get(..len) else {
                    break;
                };
                visit(batch);
                batches = &batches[len..];
            }
            offset = slice.next_offset;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (at least one whole batch), not past `max_offset` (exclusive: e.g. the high watermark).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<ReadSlice, LogError> {
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let upper = max_offset.min(log_end);
        self.read_below(offset, max_bytes, upper).map_err(|error| {
            // Retention may have deleted the segment while it was closed: that is a read
            // below the (new) log start, not an I/O failure.
            let log_start = self.log_start_offset();
            match offset < log_start {
                true => LogError::OffsetOutOfRange {
                    offset,
                    log_start,
                    log_end,
                },
                false => error,
            }
        })
    }

    /// As [`Self::read`], from any offset still in a segment, below the log start too: a
    /// replicated log's entries stay readable until no replica needs them, whatever readers
    /// may see.
    pub fn read_retained(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<ReadSlice, LogError> {
        let log_end = self.log_end_offset();
        let first = self
            .inner
            .segments
            .read()
            .first()
            .map_or(log_end, |s| s.base_offset());
        if offset < first || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: first,
                log_end,
            });
        }
        self.read_below(offset, max_bytes, max_offset.min(log_end))
    }

    fn read_below(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<ReadSlice, LogError> {
        let empty = ReadSlice {
            records: Bytes::new(),
            next_offset: offset,
        };
        if offset >= upper {
            return Ok(empty);
        }
        let Some((segment, position, header)) = self.locate(offset)? else {
            return Ok(empty);
        };
        if header.base_offset >= upper {
            return Ok(empty);
        }
        let len = max_bytes.max(header.total_len());
        let mut bytes = segment.read_at(position, len)?;
        let mut kept = 0usize;
        let mut next = offset;
        while let Some((base, batch_len)) = bytes
            .get(kept..)
            .and_then(batch_header::peek_offset_and_len)
        {
            let end = kept + LOG_OVERHEAD + batch_len.max(0) as usize;
            if base >= upper || end > bytes.len() {
                break;
            }
            let Some(h) = bytes
                .get(kept..end)
                .and_then(|b| BatchHeader::parse(b).ok())
            else {
                break;
            };
            next = h.next_offset();
            kept = end;
        }
        bytes.truncate(kept);
        Ok(ReadSlice {
            records: Bytes::from(bytes),
            next_offset: next.max(offset),
        })
    }

    /// The segment, position and header of the first batch whose last offset is `>= offset`.
    pub(crate) fn locate(
        &self,
        offset: i64,
    ) -> Result<Option<(Arc<Segment>, u64, BatchHeader)>, LogError> {
        let mut index = {
            let segments = self.inner.segments.read();
            segments
                .partition_point(|s| s.base_offset() <= offset)
                .saturating_sub(1)
        };
        loop {
            let Some(segment) = self.inner.segments.read().get(index).cloned() else {
                return Ok(None);
            };
            if let Some((position, header)) = segment.find_batch(offset)? {
                return Ok(Some((segment, position, header)));
            }
            index += 1;
        }
    }
}

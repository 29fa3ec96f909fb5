//! The open files of one segment: the `.log` file and its two memory-mapped indexes.
//!
//! Only the `.log` file keeps a descriptor; the indexes are mappings (see `sparse_index`). A
//! sealed segment's files are opened on demand and closed again by the [`SegmentCache`].
//!
//! [`SegmentCache`]: crate::segment_cache::SegmentCache

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use neo_record::batch_header::{BatchHeader, HEADER_LEN};

use crate::error::LogError;
use crate::offset_index::OffsetIndex;
use crate::time_index::TimeIndex;

/// The name a segment's file has in a partition directory.
pub fn segment_file_name(base_offset: i64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// The path of a segment file: the base offset, zero-padded to 20 digits, and an extension.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(segment_file_name(base_offset, extension))
}

/// A segment's open `.log` file and mapped indexes.
pub(crate) struct SegmentFiles {
    pub log_path: PathBuf,
    pub log: File,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
}

impl SegmentFiles {
    /// Opens the files of the segment at `base_offset`, creating empty ones if missing.
    /// `index_capacity` preallocates the indexes of an active segment; `None` maps a sealed
    /// one's as they are.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_capacity: Option<u32>,
    ) -> Result<SegmentFiles, LogError> {
        let log_path = segment_path(dir, base_offset, "log");
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        let offset_index =
            OffsetIndex::open(&segment_path(dir, base_offset, "index"), index_capacity)?;
        let time_index =
            TimeIndex::open(&segment_path(dir, base_offset, "timeindex"), index_capacity)?;
        Ok(SegmentFiles {
            log_path,
            log,
            offset_index,
            time_index,
        })
    }

    /// Length of the `.log` file on disk.
    pub fn log_len(&self) -> Result<u64, LogError> {
        Ok(self
            .log
            .metadata()
            .map_err(LogError::io(&self.log_path))?
            .len())
    }

    /// Reads up to `len` bytes at `position`, not past `end`.
    pub fn read_at(&self, position: u64, len: usize, end: u64) -> Result<Vec<u8>, LogError> {
        let len = len.min(end.saturating_sub(position) as usize);
        // Read into spare capacity: a fetch reads megabytes, and zero-filling them first
        // costs as much as the read.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            let offset = position + buf.len() as u64;
            let read =
                rustix::io::pread(&self.log, rustix::buffer::spare_capacity(&mut buf), offset)
                    .map_err(|e| LogError::io(&self.log_path)(e.into()))?;
            if read == 0 {
                break; // truncated underneath us: return what is there
            }
        }
        Ok(buf)
    }

    /// The batch header at `position`, if a whole header is there below `end`.
    pub fn header_at(&self, position: u64, end: u64) -> Result<Option<BatchHeader>, LogError> {
        let bytes = self.read_at(position, HEADER_LEN, end)?;
        Ok(BatchHeader::parse(&bytes).ok())
    }

    /// fdatasync of the `.log` file.
    pub fn sync(&self) -> Result<(), LogError> {
        self.log.sync_data().map_err(LogError::io(&self.log_path))
    }
}

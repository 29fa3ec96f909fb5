//! The next segment's files, made ahead of a roll so the roll itself only renames them.
//!
//! Creating three files and preallocating two indexes is metadata I/O that can wait on the
//! file system's journal; a roll happens under the partition's writer lock, where that would
//! stall every producer of the partition. The flusher makes the spare once the active segment
//! is half full, and the roll renames it to the new base offset. The spare's names end in
//! `.tmp`, so a crash before the rename leaves files that the next open removes, and after it
//! a new empty (or partly written) segment that recovery reads like any other.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::LogError;
use crate::offset_index::OffsetEntry;
use crate::segment_files::segment_path;
use crate::sparse_index::IndexEntry;
use crate::time_index::TimeEntry;

/// Each file's extension and the size of its entries (the log has none).
const FILES: [(&str, usize); 3] = [
    ("log", 0),
    ("index", OffsetEntry::SIZE),
    ("timeindex", TimeEntry::SIZE),
];

/// Whether a log has a spare segment, wants one, or neither.
#[derive(Default)]
pub(crate) struct SpareState(AtomicU8);

const NONE: u8 = 0;
const WANTED: u8 = 1;
const READY: u8 = 2;

impl SpareState {
    /// Marks a spare as wanted; true if nobody had asked for one yet.
    pub fn want(&self) -> bool {
        self.0
            .compare_exchange(NONE, WANTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True when a spare was asked for and not made yet.
    pub fn wanted(&self) -> bool {
        self.0.load(Ordering::Acquire) == WANTED
    }

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Release);
    }

    /// Makes the spare's files in `dir`, the indexes preallocated to `index_bytes`.
    pub fn prepare(&self, dir: &Path, index_bytes: u32) -> Result<(), LogError> {
        for (extension, entry_size) in FILES {
            let path = spare_path(dir, extension);
            let file = create(&path)?;
            // As the index will size itself: whole entries.
            if let Some(entries) = (index_bytes as usize).checked_div(entry_size) {
                file.set_len((entries * entry_size) as u64)
                    .map_err(LogError::io(&path))?;
            }
        }
        self.set(READY);
        Ok(())
    }

    /// Renames a ready spare to the segment at `base_offset`; false when there is none.
    pub fn install(&self, dir: &Path, base_offset: i64) -> Result<bool, LogError> {
        if self.0.load(Ordering::Acquire) != READY {
            return Ok(false);
        }
        self.set(NONE);
        for (extension, _) in FILES {
            let from = spare_path(dir, extension);
            let to = segment_path(dir, base_offset, extension);
            std::fs::rename(&from, &to).map_err(LogError::io(&from))?;
        }
        Ok(true)
    }
}

fn spare_path(dir: &Path, extension: &str) -> std::path::PathBuf {
    dir.join(format!("next-segment.{extension}.tmp"))
}

fn create(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(LogError::io(path))
}

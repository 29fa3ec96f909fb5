//! A sparse, sorted, memory-mapped index file of fixed-size entries.
//!
//! The active segment's index is preallocated to its maximum size and mapped; a sealed one is
//! trimmed to its entries. Entries are only ever appended in key order, so lookups are binary
//! searches. The lock guards memory only: no I/O happens while it is held except `seal`/`flush`.
//!
//! No descriptor stays open: the mapping outlives it, so an index costs a mapping but none of
//! the process's open-file limit. Resizing (seal, unseal) reopens the file by path and checks
//! it is still the same inode: compaction may have put a new segment's index at that path.

#![allow(unsafe_code)] // memory-mapping a file is unsafe in memmap2; see `map` below.

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;
use parking_lot::Mutex;

use crate::error::LogError;

/// One fixed-size entry of an index file.
pub(crate) trait IndexEntry: Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decodes an entry from exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Encodes into exactly `SIZE` bytes.
    fn encode(&self, out: &mut [u8]);
}

struct Mapped {
    map: Option<MmapMut>,
    entries: usize,
    capacity: usize,
}

/// An index file of `E` entries.
pub(crate) struct SparseIndex<E: IndexEntry> {
    path: PathBuf,
    /// The file's inode: a resize leaves a file that has replaced it at `path` alone.
    inode: u64,
    inner: Mutex<Mapped>,
    _entry: PhantomData<E>,
}

fn open_rw(path: &Path, create: bool) -> Result<File, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(LogError::io(path))
}

/// Maps `file` (of non-zero length) into memory.
fn map(file: &File, path: &Path) -> Result<MmapMut, LogError> {
    // SAFETY: the index file belongs to this process's partition directory; Neo never truncates
    // a mapped index without first dropping the map (see `seal`, `resize`), and no other process
    // writes the data directory.
    unsafe { MmapMut::map_mut(file) }.map_err(LogError::io(path))
}

impl<E: IndexEntry> SparseIndex<E> {
    /// Opens (creating if missing) the index at `path`. `capacity_bytes` is the preallocated size
    /// for an active segment, or `None` for a sealed one that will take no more entries.
    pub fn open(path: &Path, capacity_bytes: Option<u32>) -> Result<Self, LogError> {
        let file = open_rw(path, true)?;
        let metadata = file.metadata().map_err(LogError::io(path))?;
        let len = metadata.len() as usize;
        if !len.is_multiple_of(E::SIZE) {
            return Err(LogError::SegmentCorrupt {
                path: path.to_path_buf(),
                position: len as u64,
                reason: format!("index size {len} is not a multiple of {}", E::SIZE),
            });
        }
        let entries = len / E::SIZE;
        let index = Self {
            path: path.to_path_buf(),
            inode: metadata.ino(),
            inner: Mutex::new(Mapped {
                map: None,
                entries,
                capacity: entries,
            }),
            _entry: PhantomData,
        };
        let capacity = capacity_bytes.map_or(entries, |c| (c as usize / E::SIZE).max(entries));
        index.resize_file(&file, &mut index.inner.lock(), capacity, len)?;
        Ok(index)
    }

    /// Resizes the file to `capacity` entries and maps it again; a no-op when the file at
    /// `path` is gone or is no longer this index's (its segment was replaced or removed).
    fn resize(&self, capacity: usize) -> Result<(), LogError> {
        let file = match open_rw(&self.path, false) {
            Ok(file) => file,
            Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let metadata = file.metadata().map_err(LogError::io(&self.path))?;
        if metadata.ino() != self.inode {
            return Ok(());
        }
        self.resize_file(
            &file,
            &mut self.inner.lock(),
            capacity,
            metadata.len() as usize,
        )
    }

    fn resize_file(
        &self,
        file: &File,
        m: &mut Mapped,
        capacity: usize,
        len: usize,
    ) -> Result<(), LogError> {
        m.map = None;
        if len != capacity * E::SIZE {
            file.set_len((capacity * E::SIZE) as u64)
                .map_err(LogError::io(&self.path))?;
        }
        m.capacity = capacity;
        if capacity > 0 {
            m.map = Some(map(file, &self.path)?);
        }
        Ok(())
    }

    fn entry(m: &Mapped, i: usize) -> Option<E> {
        let map = m.map.as_ref()?;
        map.get(i * E::SIZE..(i + 1) * E::SIZE).map(E::decode)
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<E> {
        let m = self.inner.lock();
        m.entries.checked_sub(1).and_then(|i| Self::entry(&m, i))
    }

    /// All entries, in order (used by consistency checks and tests).
    pub fn entries(&self) -> Vec<E> {
        let m = self.inner.lock();
        (0..m.entries).filter_map(|i| Self::entry(&m, i)).collect()
    }

    /// Appends an entry; returns false when the index is full (the segment must roll).
    pub fn push(&self, entry: E) -> bool {
        let mut m = self.inner.lock();
        if m.entries >= m.capacity {
            return false;
        }
        let at = m.entries * E::SIZE;
        let Some(slot) = m.map.as_mut().and_then(|map| map.get_mut(at..at + E::SIZE)) else {
            return false;
        };
        entry.encode(slot);
        m.entries += 1;
        true
    }

    /// True when no further entry fits.
    pub fn is_full(&self) -> bool {
        let m = self.inner.lock();
        m.entries >= m.capacity
    }

    /// The last entry for which `before(entry)` holds, given `before` is true for a prefix.
    pub fn floor(&self, before: impl Fn(&E) -> bool) -> Option<E> {
        let m = self.inner.lock();
        let (mut lo, mut hi) = (0usize, m.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match Self::entry(&m, mid) {
                Some(e) if before(&e) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| Self::entry(&m, i))
    }

    /// Drops every entry from the first one for which `from(entry)` holds (a suffix).
    pub fn truncate_from(&self, from: impl Fn(&E) -> bool) {
        let mut m = self.inner.lock();
        let (mut lo, mut hi) = (0usize, m.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match Self::entry(&m, mid) {
                Some(e) if !from(&e) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        m.entries = lo;
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.inner.lock().entries = 0;
    }

    /// Writes mapped entries to disk.
    pub fn flush(&self) -> Result<(), LogError> {
        let m = self.inner.lock();
        if let Some(map) = &m.map {
            map.flush().map_err(LogError::io(&self.path))?;
        }
        Ok(())
    }

    /// Trims the file to its entries: the segment takes no more.
    pub fn seal(&self) -> Result<(), LogError> {
        self.flush()?;
        let entries = self.inner.lock().entries;
        self.resize(entries)
    }

    /// Reopens a sealed index for appending, preallocating `capacity_bytes`.
    pub fn unseal(&self, capacity_bytes: u32) -> Result<(), LogError> {
        let entries = self.inner.lock().entries;
        self.resize((capacity_bytes as usize / E::SIZE).max(entries))
    }
}

//! The sidecar of a partition's Raft log: one fixed-size record per Raft entry (index, term,
//! kind, and for a data entry the offsets of its batch in the partition log), so entry `i` is
//! found without reading the log, and entries that take no Kafka offset (a new leader's blank
//! entry, a membership change, a refused batch) exist without touching the log. Records after
//! the last purge are also held in memory.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of one record: index, term, kind, base offset, last offset, CRC-32C of the rest.
pub const RECORD_LEN: usize = 8 + 8 + 1 + 8 + 8 + 4;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A record batch at `base..=last` in the partition log.
    Data { base: i64, last: i64 },
    /// No data: a leader's blank entry, or a refused batch.
    Blank,
    /// A membership change (its contents are in the membership file).
    Membership,
}

/// One entry's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub index: u64,
    pub term: u64,
    pub kind: Kind,
}

impl Record {
    fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        let (kind, base, last) = match self.kind {
            Kind::Data { base, last } => (0u8, base, last),
            Kind::Blank => (1, -1, -1),
            Kind::Membership => (2, -1, -1),
        };
        out[..8].copy_from_slice(&self.index.to_le_bytes());
        out[8..16].copy_from_slice(&self.term.to_le_bytes());
        out[16] = kind;
        out[17..25].copy_from_slice(&base.to_le_bytes());
        out[25..33].copy_from_slice(&last.to_le_bytes());
        let crc = crc32c::crc32c(&out[..33]);
        out[33..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The record in `bytes`, or `None` when it is torn or corrupt.
    fn decode(bytes: &[u8; RECORD_LEN]) -> Option<Record> {
        let word = |at: usize| -> [u8; 8] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            w
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[33..]);
        if crc32c::crc32c(&bytes[..33]) != u32::from_le_bytes(crc) {
            return None;
        }
        let base = i64::from_le_bytes(word(17));
        let last = i64::from_le_bytes(word(25));
        let kind = match bytes[16] {
            0 if base >= 0 && last >= base => Kind::Data { base, last },
            1 => Kind::Blank,
            2 => Kind::Membership,
            _ => return None,
        };
        Some(Record {
            index: u64::from_le_bytes(word(0)),
            term: u64::from_le_bytes(word(8)),
            kind,
        })
    }
}

/// The sidecar file and its records after the last purge.
#[derive(Debug)]
pub struct Sidecar {
    path: PathBuf,
    /// Shared with whoever syncs it (see [`Self::handle`]); no second descriptor.
    file: Arc<File>,
    /// Records kept, in index order; `records[0]` is at file position `first_position`.
    records: VecDeque<Record>,
    first_position: u64,
}

impl Sidecar {
    /// Opens the sidecar at `path`: reads every whole, intact record with consecutive
    /// indexes, and cuts the file after the last one (a torn or corrupt tail goes).
    pub fn open(path: &Path) -> io::Result<Sidecar> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut records = VecDeque::new();
        for chunk in bytes.chunks_exact(RECORD_LEN) {
            let mut raw = [0u8; RECORD_LEN];
            raw.copy_from_slice(chunk);
            let Some(record) = Record::decode(&raw) else {
                break;
            };
            if records
                .back()
                .is_some_and(|prev: &Record| prev.index + 1 != record.index)
            {
                break;
            }
            records.push_back(record);
        }
        let mut sidecar = Sidecar {
            path: path.to_path_buf(),
            file: Arc::new(file),
            records,
            first_position: 0,
        };
        sidecar.cut_file()?;
        Ok(sidecar)
    }

    /// The records held, oldest first.
    pub fn records(&self) -> &VecDeque<Record> {
        &self.records
    }

    /// The last record, if any.
    pub fn last(&self) -> Option<&Record> {
        self.records.back()
    }

    /// The record of entry `index`, if held.
    pub fn get(&self, index: u64) -> Option<&Record> {
        let first = self.records.front()?.index;
        let at = usize::try_from(index.checked_sub(first)?).ok()?;
        self.records.get(at)
    }

    /// Appends records (written to the page cache; [`Self::sync`] makes them durable). Their
    /// indexes must follow the last record's.
    pub fn append(&mut self, new: &[Record]) -> io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(new.len() * RECORD_LEN);
        for record in new {
            if let Some(last) = self.records.back()
                && last.index + 1 != record.index
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "raft entry {} does not follow {} in {}",
                        record.index,
                        last.index,
                        self.path.display()
                    ),
                ));
            }
            bytes.extend_from_slice(&record.encode());
            self.records.push_back(*record);
        }
        let end = self.end_position() - bytes.len() as u64;
        self.file.write_all_at(&bytes, end)
    }

    /// Removes the records after entry `index` (all of them for `None`); returns the first
    /// removed data record's base offset, where the partition log must be cut.
    pub fn truncate_after(&mut self, index: Option<u64>) -> io::Result<Option<i64>> {
        let keep = match (index, self.records.front()) {
            (None, _) | (_, None) => 0,
            (Some(index), Some(first)) => {
                usize::try_from((index + 1).saturating_sub(first.index)).unwrap_or(usize::MAX)
            }
        };
        if keep >= self.records.len() {
            return Ok(None);
        }
        let cut_at = self.records.iter().skip(keep).find_map(|r| match r.kind {
            Kind::Data { base, .. } => Some(base),
            _ => None,
        });
        self.records.truncate(keep);
        self.cut_file()?;
        Ok(cut_at)
    }

    /// Forgets the records up to and including entry `index` (the file keeps them until it
    /// is rewritten by [`Self::compact`]).
    pub fn purge(&mut self, index: u64) {
        while self.records.front().is_some_and(|r| r.index <= index) {
            self.records.pop_front();
            self.first_position += RECORD_LEN as u64;
        }
    }

    /// Rewrites the file with only the records held, when purged records take most of it.
    pub fn compact(&mut self) -> io::Result<()> {
        if self.first_position < (self.records.len() * RECORD_LEN) as u64 + (1 << 20) {
            return Ok(());
        }
        let tmp = crate::small_file::temporary(&self.path);
        let mut out = File::create(&tmp)?;
        for record in &self.records {
            out.write_all(&record.encode())?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = Arc::new(OpenOptions::new().read(true).write(true).open(&self.path)?);
        self.first_position = 0;
        Ok(())
    }

    /// Empties the file and forgets every record (the log was replaced by a snapshot's).
    pub fn reset(&mut self) -> io::Result<()> {
        self.records.clear();
        self.first_position = 0;
        self.cut_file()
    }

    /// Makes every appended record durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// The open file, for syncing without holding the sidecar.
    pub fn handle(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    fn end_position(&self) -> u64 {
        self.first_position + (self.records.len() * RECORD_LEN) as u64
    }

    fn cut_file(&mut self) -> io::Result<()> {
        self.file.set_len(self.end_position())?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(index: u64, base: i64) -> Record {
        Record {
            index,
            term: 1,
            kind: Kind::Data {
                base,
                last: base + 9,
            },
        }
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.entries");
        let mut sidecar = Sidecar::open(&path).unwrap();
        let blank = Record {
            index: 3,
            term: 2,
            kind: Kind::Blank,
        };
        sidecar.append(&[data(1, 0), data(2, 10), blank]).unwrap();
        drop(sidecar);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&data(4, 20).encode()[..20]).unwrap();
        drop(file);
        let mut sidecar = Sidecar::open(&path).unwrap();
        assert_eq!(sidecar.records().len(), 3);
        assert_eq!(sidecar.get(3), Some(&blank));
        assert!(sidecar.append(&[data(5, 20)]).is_err());
        sidecar.append(&[data(4, 20)]).unwrap();
        assert_eq!(sidecar.truncate_after(Some(2)).unwrap(), Some(20));
        assert_eq!(sidecar.last(), Some(&data(2, 10)));
        drop(sidecar);
        assert_eq!(Sidecar::open(&path).unwrap().records().len(), 2);
    }

    #[test]
    fn purged_records_are_forgotten_and_compaction_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.entries");
        let mut sidecar = Sidecar::open(&path).unwrap();
        let many: Vec<Record> = (1..=40_000).map(|i| data(i, (i as i64) * 10)).collect();
        sidecar.append(&many).unwrap();
        sidecar.purge(39_990);
        assert_eq!(sidecar.get(39_990), None);
        assert_eq!(sidecar.get(39_991), Some(&many[39_990]));
        sidecar.compact().unwrap();
        sidecar.append(&[data(40_001, 400_010)]).unwrap();
        drop(sidecar);
        let sidecar = Sidecar::open(&path).unwrap();
        assert_eq!(sidecar.records().len(), 11);
        assert_eq!(sidecar.records().front().map(|r| r.index), Some(39_991));
    }
}

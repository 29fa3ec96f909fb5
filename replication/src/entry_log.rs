//! A Raft log kept whole: each entry serialized into one record of a partition log, and held
//! decoded in memory between the last purge and the end (the controller's log, which snapshots
//! keep short). The vote, the committed log id and the last purged log id are small files
//! beside it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use parking_lot::Mutex;

use crate::small_file;
use crate::types::NeoRaft;

const RECORDS_DIR: &str = "entries";
const VOTE_FILE: &str = "vote";
const COMMITTED_FILE: &str = "committed";
const PURGED_FILE: &str = "purged";

/// The log; clones share it (the storage handle and its readers).
#[derive(Clone)]
pub struct EntryLog {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    dir: PathBuf,
    records: PartitionLog,
    /// Entries not purged, by index, with the offset of the record holding each.
    entries: BTreeMap<u64, (i64, EntryOf<NeoRaft>)>,
    vote: Option<VoteOf<NeoRaft>>,
    last_purged: Option<LogIdOf<NeoRaft>>,
}

impl Debug for EntryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryLog")
            .field("dir", &self.inner.lock().dir)
            .finish_non_exhaustive()
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl EntryLog {
    /// Opens (recovering) the log in `dir`.
    pub fn open(dir: &Path, flusher: Arc<Flusher>) -> io::Result<EntryLog> {
        std::fs::create_dir_all(dir)?;
        let config = LogConfig {
            segment_bytes: 16 << 20,
            segment_ms: None,
            retention_ms: None,
            retention_bytes: None,
            // An entry may carry a whole snapshot-sized command.
            max_message_bytes: 1 << 30,
            ..LogConfig::default()
        };
        let records = PartitionLog::open(&dir.join(RECORDS_DIR), config, flusher).map_err(other)?;
        let mut entries = BTreeMap::new();
        let mut failure = None;
        records
            .for_each_batch(records.log_start_offset(), |batch| {
                let Ok(header) = neo_record::batch_header::BatchHeader::parse(batch) else {
                    failure.get_or_insert_with(|| invalid("unreadable batch header"));
                    return;
                };
                match decode_records(batch) {
                    Ok(decoded) => {
                        for record in decoded {
                            let offset = record.offset(header.base_offset);
                            let value = record.value.unwrap_or_default();
                            match postcard::from_bytes::<EntryOf<NeoRaft>>(&value) {
                                Ok(entry) => {
                                    entries.insert(entry.log_id.index, (offset, entry));
                                }
                                Err(e) => {
                                    failure.get_or_insert_with(|| invalid(e));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        failure.get_or_insert_with(|| invalid(e));
                    }
                }
            })
            .map_err(other)?;
        if let Some(e) = failure {
            return Err(e);
        }
        let vote = small_file::read(&dir.join(VOTE_FILE))?;
        let last_purged: Option<LogIdOf<NeoRaft>> = small_file::read(&dir.join(PURGED_FILE))?;
        if let Some(purged) = &last_purged {
            entries.retain(|index, _| *index > purged.index);
        }
        Ok(EntryLog {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                records,
                entries,
                vote,
                last_purged,
            })),
        })
    }

    /// Closes the records' log cleanly.
    pub fn close(&self) -> io::Result<()> {
        self.inner.lock().records.close().map_err(other)
    }
}

impl RaftLogReader<NeoRaft> for EntryLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<NeoRaft>>, io::Error> {
        let inner = self.inner.lock();
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        Ok(inner
            .entries
            .range::<u64, (Bound<u64>, Bound<u64>)>(range)
            .map(|(_, (_, entry))| entry.clone())
            .collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<NeoRaft>>, io::Error> {
        Ok(self.inner.lock().vote)
    }
}

impl RaftLogStorage<NeoRaft> for EntryLog {
    type LogReader = EntryLog;

    async fn get_log_state(&mut self) -> Result<LogState<NeoRaft>, io::Error> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<NeoRaft>) -> Result<(), io::Error> {
        let mut inner = self.inner.lock();
        small_file::write_durably(&inner.dir.join(VOTE_FILE), vote)?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        // Not fsynced: a committed id lost in a crash only makes the restart re-apply later,
        // once the cluster commits again.
        let dir = self.inner.lock().dir.clone();
        small_file::write(&dir.join(COMMITTED_FILE), &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<NeoRaft>>, io::Error> {
        let dir = self.inner.lock().dir.clone();
        Ok(small_file::read::<Option<LogIdOf<NeoRaft>>>(&dir.join(COMMITTED_FILE))?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<NeoRaft>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<NeoRaft>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<EntryOf<NeoRaft>> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        for entry in &entries {
            let value = postcard::to_stdvec(entry).map_err(invalid)?;
            builder.push(now, None, Some(&value), &[]);
        }
        let mut batch = builder.build().map_err(invalid)?;
        let records = {
            let mut inner = self.inner.lock();
            let info = inner.records.append(&mut batch).map_err(other)?;
            for (i, entry) in entries.into_iter().enumerate() {
                inner
                    .entries
                    .insert(entry.log_id.index, (info.base_offset + i as i64, entry));
            }
            (inner.records.clone(), info.last_offset + 1)
        };
        tokio::spawn(async move {
            let (log, end) = records;
            callback.io_completed(log.wait_durable(end).await.map_err(other));
        });
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        let mut inner = self.inner.lock();
        let from = last_log_id.map_or(0, |id| id.index + 1);
        let removed = inner.entries.split_off(&from);
        if let Some((offset, _)) = removed.values().next() {
            inner.records.truncate_to(*offset).map_err(other)?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<NeoRaft>) -> Result<(), io::Error> {
        let mut inner = self.inner.lock();
        small_file::write_durably(&inner.dir.join(PURGED_FILE), &log_id)?;
        inner.last_purged = Some(log_id);
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        let first_kept = inner.entries.values().next().map(|(offset, _)| *offset);
        let start = first_kept.unwrap_or_else(|| inner.records.log_end_offset());
        // Failing to delete the records only keeps them longer: reopening skips what the
        // purged file says is gone.
        if let Err(e) = inner.records.delete_records(start) {
            tracing::warn!(error = %e, "cannot delete purged raft entries");
        }
        Ok(())
    }
}

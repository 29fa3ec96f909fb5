//! The cursor log: a queue cursor's changes, appended to a log of their own (one record per
//! event), with a snapshot of the whole cursor every so often. On open, replay starts at the
//! last snapshot; the log before it is deleted.
//!
//! Changes are staged while the cursor is locked, in the order they were made, and written
//! after it is unlocked: one write carries what every caller staged meanwhile, and the cursor
//! is not held across the write.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use parking_lot::Mutex;

use super::cursor_event::CursorEvent;
use crate::error::BrokerError;

/// A cursor log and what was read back from it on open.
#[derive(Debug)]
pub struct CursorStore {
    log: PartitionLog,
    since_snapshot: Mutex<u64>,
    staged: Mutex<Staged>,
    /// Held while writing, so staged events reach the log in the order they were staged.
    writing: Mutex<()>,
}

/// Encoded events waiting to be written, in order.
#[derive(Debug, Default)]
struct Staged {
    events: Vec<Bytes>,
    /// Position of the last snapshot among them: the log before it goes once it is written.
    last_snapshot: Option<usize>,
}

impl Staged {
    /// Puts `later` after these.
    fn extend(&mut self, later: Staged) {
        if let Some(i) = later.last_snapshot {
            self.last_snapshot = Some(self.events.len() + i);
        }
        self.events.extend(later.events);
    }
}

/// The state to rebuild a cursor from: the last snapshot and the events after it.
#[derive(Debug, Default)]
pub struct Replay {
    pub snapshot: Option<CursorEvent>,
    pub events: Vec<CursorEvent>,
}

impl CursorStore {
    /// Opens (recovering) the cursor log in `dir` and reads it back from its last snapshot.
    pub fn open(dir: &Path, flusher: Arc<Flusher>) -> Result<(CursorStore, Replay), BrokerError> {
        let config = LogConfig {
            segment_bytes: 16 << 20,
            retention_ms: None,
            retention_bytes: None,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir, config, flusher)?;
        let mut replay = Replay::default();
        let mut undecodable = None;
        log.for_each_batch(log.log_start_offset(), |batch| {
            let records = match decode_records(batch) {
                Ok(records) => records,
                Err(e) => {
                    undecodable.get_or_insert(e.into());
                    return;
                }
            };
            for value in records.into_iter().filter_map(|r| r.value) {
                match CursorEvent::decode(value) {
                    Ok(event @ CursorEvent::Snapshot { .. }) => {
                        replay.snapshot = Some(event);
                        replay.events.clear();
                    }
                    Ok(event) => replay.events.push(event),
                    Err(e) => {
                        undecodable.get_or_insert(BrokerError::MetadataCorrupt {
                            path: dir.to_path_buf(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        })?;
        if let Some(e) = undecodable {
            return Err(e);
        }
        let since = replay.events.len() as u64;
        Ok((
            CursorStore {
                log,
                since_snapshot: Mutex::new(since),
                staged: Mutex::new(Staged::default()),
                writing: Mutex::new(()),
            },
            replay,
        ))
    }

    /// Stages `events` to be written by the next [`Self::flush`], after those staged before.
    pub fn stage(&self, events: &[CursorEvent]) {
        let mut staged = self.staged.lock();
        let mut since = self.since_snapshot.lock();
        for event in events {
            if matches!(event, CursorEvent::Snapshot { .. }) {
                staged.last_snapshot = Some(staged.events.len());
                *since = 0;
            } else {
                *since += 1;
            }
            staged.events.push(event.encode());
        }
    }

    /// Writes every staged event (this caller's and others') as one batch. When it returns
    /// `Ok`, what this caller staged before is written; on an error the events stay staged
    /// for the next flush.
    pub fn flush(&self) -> Result<(), BrokerError> {
        let _writing = self.writing.lock();
        let staged = std::mem::take(&mut *self.staged.lock());
        if staged.events.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.write(&staged) {
            let mut now = self.staged.lock();
            let later = std::mem::take(&mut *now);
            *now = staged;
            now.extend(later);
            return Err(e);
        }
        Ok(())
    }

    fn write(&self, staged: &Staged) -> Result<(), BrokerError> {
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        for event in &staged.events {
            builder.push(now, None, Some(event), &[]);
        }
        let mut batch = builder.build()?;
        let info = self.log.append(&mut batch)?;
        if let Some(i) = staged.last_snapshot {
            // Replay starts at the last snapshot: what came before it is no longer needed.
            // Failing to delete it only keeps it longer.
            if let Err(e) = self.log.delete_records(info.base_offset + i as i64) {
                tracing::warn!(error = %e, "cannot trim a cursor log before its snapshot");
            }
        }
        Ok(())
    }

    /// Events written or staged since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        *self.since_snapshot.lock()
    }

    /// Writes `snapshot` now and deletes the log before it.
    pub fn snapshot(&self, snapshot: &CursorEvent) -> Result<(), BrokerError> {
        self.stage(std::slice::from_ref(snapshot));
        self.flush()
    }

    /// Waits until everything appended so far is fsynced.
    pub async fn sync(&self) -> Result<(), BrokerError> {
        Ok(self.log.wait_durable(self.log.log_end_offset()).await?)
    }

    /// Closes the log cleanly.
    pub fn close(&self) -> Result<(), BrokerError> {
        Ok(self.log.close()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_events_are_written_in_order_and_replay_from_the_last_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let flusher = Flusher::new(1);
        let (store, replay) = CursorStore::open(dir.path(), Arc::clone(&flusher)).unwrap();
        assert!(replay.events.is_empty() && replay.snapshot.is_none());
        let snapshot = CursorEvent::Snapshot {
            head: 2,
            entries: Vec::new(),
        };
        store.stage(&[CursorEvent::Acked { offset: 0 }]);
        store.stage(&[snapshot.clone(), CursorEvent::Acked { offset: 1 }]);
        assert_eq!(store.since_snapshot(), 1);
        store.flush().unwrap();
        // Nothing staged: a flush has nothing to do.
        store.flush().unwrap();
        store.stage(&[CursorEvent::Released { offset: 2 }]);
        store.flush().unwrap();
        store.close().unwrap();
        let (_, replay) = CursorStore::open(dir.path(), flusher).unwrap();
        assert_eq!(replay.snapshot, Some(snapshot));
        assert_eq!(
            replay.events,
            [
                CursorEvent::Acked { offset: 1 },
                CursorEvent::Released { offset: 2 }
            ]
        );
    }
}

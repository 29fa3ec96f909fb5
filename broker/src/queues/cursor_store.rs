//! The cursor log: a queue cursor's changes, appended to a log of their own (one record per
//! event), with a snapshot of the whole cursor every so often. On open, replay starts at the
//! last snapshot; the log before it is deleted.

use std::path::Path;
use std::sync::Arc;

use neo_storage::codec::{BatchBuilder, Compression, decode_records};
use neo_storage::{Flusher, LogConfig, LogError, PartitionLog, now_ms};
use parking_lot::Mutex;

use super::cursor_event::CursorEvent;
use crate::error::BrokerError;

/// A cursor log and what was read back from it on open.
#[derive(Debug)]
pub struct CursorStore {
    log: PartitionLog,
    since_snapshot: Mutex<u64>,
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
                    undecodable.get_or_insert(LogError::from(e).into());
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
            },
            replay,
        ))
    }

    /// Appends `events` (one batch); returns the cursor log's end after them.
    pub fn append(&self, events: &[CursorEvent]) -> Result<i64, BrokerError> {
        if events.is_empty() {
            return Ok(self.log.log_end_offset());
        }
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        for event in events {
            builder.push(now, None, Some(&event.encode()), &[]);
        }
        let mut batch = builder.build().map_err(LogError::from)?;
        let info = self.log.append(&mut batch)?;
        *self.since_snapshot.lock() += events.len() as u64;
        Ok(info.last_offset + 1)
    }

    /// Events written since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        *self.since_snapshot.lock()
    }

    /// Writes `snapshot` and deletes the log before it.
    pub fn snapshot(&self, snapshot: &CursorEvent) -> Result<(), BrokerError> {
        let end = self.append(std::slice::from_ref(snapshot))?;
        *self.since_snapshot.lock() = 0;
        self.log.delete_records(end - 1)?;
        Ok(())
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

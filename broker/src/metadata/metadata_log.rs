//! The metadata log: every command the store applied, one record each, fsynced before the
//! change is answered, and every so often a snapshot of the whole state (the log before it is
//! then deleted). Opening replays from the last snapshot; a torn tail is cut by the log's
//! recovery, so a change is either whole or absent.

use std::path::Path;
use std::sync::Arc;

use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use serde::{Deserialize, Serialize};

use super::command::MetadataCommand;
use super::state::MetadataState;
use crate::error::BrokerError;

/// Commands between two snapshots.
const SNAPSHOT_EVERY: u64 = 1_000;

/// One record of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Command(MetadataCommand),
    Snapshot(MetadataState),
}

/// The log under `meta/log`.
#[derive(Debug)]
pub(crate) struct MetadataLog {
    log: PartitionLog,
    since_snapshot: u64,
}

impl MetadataLog {
    /// Opens (recovering) the log in `dir` and replays it; `None` when it holds nothing yet.
    pub fn open(
        dir: &Path,
        flusher: Arc<Flusher>,
    ) -> Result<(MetadataLog, Option<MetadataState>), BrokerError> {
        let config = LogConfig {
            segment_bytes: 16 << 20,
            segment_ms: None,
            retention_ms: None,
            retention_bytes: None,
            // A snapshot is one record: it may be large.
            max_message_bytes: 1 << 30,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir, config, flusher)?;
        let mut state: Option<MetadataState> = None;
        let mut since_snapshot = 0;
        let mut failure = None;
        log.for_each_batch(log.log_start_offset(), |batch| {
            let records = match decode_records(batch) {
                Ok(records) => records,
                Err(e) => {
                    failure.get_or_insert(e.to_string());
                    return;
                }
            };
            for value in records.into_iter().filter_map(|r| r.value) {
                match serde_json::from_slice::<Entry>(&value) {
                    Ok(Entry::Snapshot(snapshot)) => {
                        state = Some(snapshot);
                        since_snapshot = 0;
                    }
                    Ok(Entry::Command(command)) => {
                        // Only checked commands are written: replay applies them as they were.
                        state.get_or_insert_with(Default::default).apply(command);
                        since_snapshot += 1;
                    }
                    Err(e) => {
                        failure.get_or_insert(e.to_string());
                    }
                }
            }
        })?;
        if let Some(reason) = failure {
            return Err(BrokerError::MetadataCorrupt {
                path: dir.to_path_buf(),
                reason,
            });
        }
        Ok((
            MetadataLog {
                log,
                since_snapshot,
            },
            state,
        ))
    }

    /// Writes `command` durably; after it, a snapshot of `after` (the state with the command
    /// applied) when one is due.
    pub async fn append(
        &mut self,
        command: &MetadataCommand,
        after: impl FnOnce() -> MetadataState,
    ) -> Result<(), BrokerError> {
        self.write(&Entry::Command(command.clone())).await?;
        self.since_snapshot += 1;
        if self.since_snapshot >= SNAPSHOT_EVERY {
            self.snapshot(after()).await?;
        }
        Ok(())
    }

    /// Writes a snapshot of `state` durably and deletes the log before it.
    pub async fn snapshot(&mut self, state: MetadataState) -> Result<(), BrokerError> {
        let offset = self.write(&Entry::Snapshot(state)).await?;
        self.since_snapshot = 0;
        // Failing to delete only keeps the older entries longer: replay skips them.
        if let Err(e) = self.log.delete_records(offset) {
            tracing::warn!(error = %e, "cannot trim the metadata log before its snapshot");
        }
        Ok(())
    }

    /// Appends one entry and waits for its fsync; returns its offset.
    async fn write(&self, entry: &Entry) -> Result<i64, BrokerError> {
        let value = serde_json::to_vec(entry).map_err(|e| BrokerError::MetadataCorrupt {
            path: self.log.dir().to_path_buf(),
            reason: e.to_string(),
        })?;
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        builder.push(now, None, Some(&value), &[]);
        let mut batch = builder.build()?;
        let info = self.log.append_durable(&mut batch).await?;
        Ok(info.base_offset)
    }

    /// Closes the log cleanly.
    pub fn close(&self) -> Result<(), BrokerError> {
        Ok(self.log.close()?)
    }
}

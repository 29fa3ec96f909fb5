//! A partition group's state machine: what is committed. Applying a data entry moves the
//! high watermark to its batch's end; readers never read past it. The applied position is
//! written down now and then (without fsync), so a restart re-applies only the entries after
//! it, not the whole log.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use neo_record::batch_header::BatchHeader;
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::install_marker;
use super::raft_log::PartitionRaftLog;
use super::snapshot_store::{self, SnapshotStore};
use crate::small_file;
use crate::transport::SnapshotFiles;
use crate::types::NeoRaft;

const APPLIED_FILE: &str = "raft.applied";

/// How often the applied position is written down while entries apply.
const SAVE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Applied {
    applied: Option<LogIdOf<NeoRaft>>,
    membership: StoredMembershipOf<NeoRaft>,
    high_watermark: i64,
}

/// The state machine openraft drives for one partition.
pub struct PartitionMachine {
    log: PartitionRaftLog,
    store: SnapshotStore,
    state: Applied,
    high_watermark: watch::Sender<i64>,
    path: PathBuf,
    saved_at: Instant,
}

impl PartitionMachine {
    /// The machine over `log`, resuming from the applied position last written down. A
    /// partition with data and no Raft history yet (written before it was replicated) starts
    /// with everything in it committed.
    pub fn open(log: &PartitionRaftLog) -> io::Result<PartitionMachine> {
        let path = log.partition_log().dir().join(APPLIED_FILE);
        let stored = small_file::read::<Applied>(&path)?;
        let first_open = stored.is_none();
        let state = match stored {
            Some(mut state) => {
                // Never past what the log still holds (its tail may have been cut on recovery).
                let end = log.partition_log().log_end_offset();
                state.high_watermark = state.high_watermark.min(end);
                state
            }
            None => Applied {
                applied: None,
                membership: StoredMembershipOf::<NeoRaft>::default(),
                high_watermark: log.partition_log().log_end_offset(),
            },
        };
        let (high_watermark, _) = watch::channel(state.high_watermark);
        let mut machine = PartitionMachine {
            log: log.clone(),
            store: SnapshotStore::new(log.partition_log().dir()),
            state,
            high_watermark,
            path,
            saved_at: Instant::now(),
        };
        if first_open {
            // What was there before the group existed counts as committed, now and later.
            machine.save()?;
        }
        Ok(machine)
    }

    /// A receiver of the high watermark.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    fn save(&mut self) -> io::Result<()> {
        self.saved_at = Instant::now();
        small_file::write(&self.path, &self.state)
    }
}

/// Builds a partition snapshot: links to the sealed segments up to the high watermark, and
/// the entry where they end (see [`SnapshotStore`]).
pub struct PartitionSnapshotBuilder {
    log: PartitionRaftLog,
    store: SnapshotStore,
    state: Applied,
}

impl RaftSnapshotBuilder<NeoRaft> for PartitionSnapshotBuilder {
    type SnapshotData = SnapshotFiles;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<NeoRaft, SnapshotFiles>, io::Error> {
        let current = self.store.current()?;
        let mut candidates = vec![self.state.membership.clone()];
        candidates.extend(
            current
                .as_ref()
                .map(|(s, _)| s.meta.last_membership.clone()),
        );
        if let Some(applied) = self.state.applied {
            let log = &self.log;
            let built =
                self.store
                    .build(log.partition_log(), self.state.high_watermark, |boundary| {
                        log.snapshot_point(boundary, applied, &candidates)
                    })?;
            if built.is_some() {
                tracing::debug!(dir = %log.partition_log().dir().display(), "partition snapshot built");
            }
        }
        match self.store.current_snapshot()? {
            Some(snapshot) => Ok(snapshot),
            // Nothing to stand for yet: openraft keeps no snapshot older than its own.
            None => Ok(SnapshotOf::<NeoRaft, SnapshotFiles> {
                meta: SnapshotMetaOf::<NeoRaft> {
                    last_log_id: None,
                    last_membership: StoredMembershipOf::<NeoRaft>::default(),
                },
                snapshot: SnapshotFiles::default(),
            }),
        }
    }
}

impl RaftStateMachine<NeoRaft> for PartitionMachine {
    type SnapshotData = SnapshotFiles;
    type SnapshotBuilder = PartitionSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<NeoRaft>>, StoredMembershipOf<NeoRaft>), io::Error> {
        Ok((self.state.applied, self.state.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<NeoRaft>, io::Error>> + Unpin + OptionalSend,
    {
        let mut responders = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            self.state.applied = Some(entry.log_id);
            match &entry.payload {
                EntryPayload::Normal(proposal) => {
                    if let Some(end) = end_offset(&proposal.bytes) {
                        self.state.high_watermark = self.state.high_watermark.max(end);
                    }
                }
                EntryPayload::Membership(membership) => {
                    self.state.membership =
                        StoredMembershipOf::<NeoRaft>::new(Some(entry.log_id), membership.clone());
                }
                EntryPayload::Blank => {}
            }
            responders.extend(responder);
        }
        // The high watermark moves before any proposer hears its entry applied, so a read
        // right after an acknowledged write sees it.
        self.high_watermark.send_replace(self.state.high_watermark);
        for responder in responders {
            responder.send(Bytes::new());
        }
        if self.saved_at.elapsed() >= SAVE_EVERY {
            self.save()?;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        PartitionSnapshotBuilder {
            log: self.log.clone(),
            store: self.store.clone(),
            state: self.state.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<NeoRaft>,
        snapshot: SnapshotFiles,
    ) -> Result<(), io::Error> {
        let (state, segments) = snapshot_store::received(&snapshot)?;
        let Some(point) = meta.last_log_id else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a partition snapshot without a last entry",
            ));
        };
        if state.meta.last_log_id != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a partition snapshot whose state names another entry",
            ));
        }
        // A replica that holds the entry has the same data up to it: its log stays, and the
        // entries after it with it.
        let dir = self.log.partition_log().dir().to_path_buf();
        install_marker::begin(&dir)?;
        if !self.log.holds(point) {
            self.log
                .install_snapshot(point, &segments, state.log_start, state.data_end)?;
        }
        tracing::info!(
            dir = %self.log.partition_log().dir().display(),
            entry = %point,
            segments = segments.len(),
            data_end = state.data_end,
            "partition snapshot installed"
        );
        self.store.keep_received(&state, &snapshot)?;
        self.state = Applied {
            applied: Some(point),
            membership: meta.last_membership.clone(),
            high_watermark: state.data_end,
        };
        self.high_watermark.send_replace(state.data_end);
        self.saved_at = Instant::now();
        small_file::write_durably(&self.path, &self.state)?;
        install_marker::finish(&dir)
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<NeoRaft, SnapshotFiles>>, io::Error> {
        self.store.current_snapshot()
    }
}

/// The offset after the last record of the batches in `bytes`.
fn end_offset(bytes: &[u8]) -> Option<i64> {
    let mut rest = bytes;
    let mut end = None;
    while let Ok(header) = BatchHeader::parse(rest) {
        end = Some(header.base_offset + i64::from(header.last_offset_delta) + 1);
        rest = rest.get(header.total_len()..).unwrap_or_default();
    }
    end
}

impl Drop for PartitionMachine {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot write the applied position");
        }
    }
}

//! A state machine that keeps the applied proposals in memory and snapshots them as files: a
//! `state` file (the proposals) and a `segment.log` of filler bytes standing for a partition's
//! sealed segments.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use neo_replication::transport::{SnapshotFile, SnapshotFiles};
use neo_replication::types::NeoRaft;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use tokio::sync::Mutex;

#[derive(Default)]
struct State {
    last_applied: Option<LogIdOf<NeoRaft>>,
    membership: StoredMembershipOf<NeoRaft>,
    values: Vec<Bytes>,
    current: Option<SnapshotOf<NeoRaft, SnapshotFiles>>,
}

/// The test state machine; clones share the state.
#[derive(Clone)]
pub struct MemStateMachine {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
    segment_bytes: usize,
    files_made: Arc<AtomicU64>,
}

impl MemStateMachine {
    /// A state machine keeping its snapshot files in `dir`, with a segment file of
    /// `segment_bytes` in each snapshot.
    pub fn new(dir: &Path, segment_bytes: usize) -> Self {
        Self {
            state: Arc::default(),
            dir: dir.to_owned(),
            segment_bytes,
            files_made: Arc::default(),
        }
    }

    /// The proposals applied so far, in order.
    pub async fn values(&self) -> Vec<Bytes> {
        self.state.lock().await.values.clone()
    }

    /// The files of the current snapshot (built here or installed from a leader).
    pub async fn snapshot_files(&self) -> Option<SnapshotFiles> {
        let state = self.state.lock().await;
        state.current.as_ref().map(|s| s.snapshot.clone())
    }

    fn new_dir(&self, kind: &str) -> PathBuf {
        let n = self.files_made.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{kind}-{n}"))
    }
}

/// The filler content of a snapshot's segment file.
pub fn segment_content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl RaftSnapshotBuilder<NeoRaft> for MemStateMachine {
    type SnapshotData = SnapshotFiles;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<NeoRaft, SnapshotFiles>, io::Error> {
        let mut state = self.state.lock().await;
        let dir = self.new_dir("built");
        tokio::fs::create_dir_all(&dir).await?;
        let contents = [
            (
                "state",
                postcard::to_stdvec(&state.values).map_err(invalid)?,
            ),
            ("segment.log", segment_content(self.segment_bytes)),
        ];
        let mut files = Vec::new();
        for (name, content) in contents {
            let path = dir.join(name);
            tokio::fs::write(&path, &content).await?;
            files.push(SnapshotFile {
                name: name.to_owned(),
                path,
                len: content.len() as u64,
            });
        }
        let snapshot = SnapshotOf::<NeoRaft, SnapshotFiles> {
            meta: SnapshotMetaOf::<NeoRaft> {
                last_log_id: state.last_applied,
                last_membership: state.membership.clone(),
            },
            snapshot: SnapshotFiles { files },
        };
        state.current = Some(snapshot.clone());
        Ok(snapshot)
    }
}

impl RaftStateMachine<NeoRaft> for MemStateMachine {
    type SnapshotData = SnapshotFiles;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<NeoRaft>>, StoredMembershipOf<NeoRaft>), io::Error> {
        let state = self.state.lock().await;
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<NeoRaft>, io::Error>> + Unpin + Send,
    {
        let mut state = self.state.lock().await;
        while let Some((entry, responder)) = entries.try_next().await? {
            state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(proposal) => state.values.push(proposal.bytes),
                EntryPayload::Membership(membership) => {
                    state.membership =
                        StoredMembershipOf::<NeoRaft>::new(Some(entry.log_id), membership)
                }
            }
            if let Some(responder) = responder {
                responder.send(Bytes::new());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<NeoRaft>,
        snapshot: SnapshotFiles,
    ) -> Result<(), io::Error> {
        let dir = self.new_dir("installed");
        tokio::fs::create_dir_all(&dir).await?;
        let mut kept = Vec::new();
        let mut values = None;
        for file in snapshot.files {
            // Staged files are moved out, as a partition moves received segments into its log.
            let path = dir.join(&file.name);
            tokio::fs::rename(&file.path, &path).await?;
            if file.name == "state" {
                let content = tokio::fs::read(&path).await?;
                values = Some(postcard::from_bytes::<Vec<Bytes>>(&content).map_err(invalid)?);
            }
            kept.push(SnapshotFile { path, ..file });
        }
        let mut state = self.state.lock().await;
        state.values = values.ok_or_else(|| invalid("snapshot without a state file"))?;
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        state.current = Some(SnapshotOf::<NeoRaft, SnapshotFiles> {
            meta: meta.clone(),
            snapshot: SnapshotFiles { files: kept },
        });
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<NeoRaft, SnapshotFiles>>, io::Error> {
        Ok(self.state.lock().await.current.clone())
    }
}

//! The controller group's state machine: the broker's metadata, as an opaque
//! [`ReplicatedState`] that applies committed commands in log order, snapshotted whole.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::small_file;
use crate::transport::{SnapshotFile, SnapshotFiles};
use crate::types::NeoRaft;

/// What the controller replicates: a deterministic state machine over opaque commands.
pub trait ReplicatedState: Send + Sync + 'static {
    /// Applies a committed command; returns the reply for its proposer.
    fn apply(&mut self, command: &[u8]) -> Bytes;
    /// The whole state, serialized.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state with a serialized one.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}

/// The name of the one file of a controller snapshot.
const STATE_FILE: &str = "state";
/// The snapshot's metadata, beside its state file.
const META_FILE: &str = "meta";

/// The state machine openraft drives; `state` is shared with the broker, which reads it.
pub struct ControllerMachine<S: ReplicatedState> {
    state: Arc<RwLock<S>>,
    applied: Option<LogIdOf<NeoRaft>>,
    membership: StoredMembershipOf<NeoRaft>,
    /// Where the current snapshot is kept.
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct StoredMeta {
    meta: SnapshotMetaOf<NeoRaft>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl<S: ReplicatedState> ControllerMachine<S> {
    /// The machine over `state`, restored from the snapshot in `dir` if there is one.
    pub fn open(dir: &Path, state: Arc<RwLock<S>>) -> io::Result<ControllerMachine<S>> {
        let dir = dir.join("snapshot");
        std::fs::create_dir_all(&dir)?;
        let mut machine = ControllerMachine {
            state,
            applied: None,
            membership: StoredMembershipOf::<NeoRaft>::default(),
            dir,
        };
        if let Some(stored) = small_file::read::<StoredMeta>(&machine.dir.join(META_FILE))? {
            let bytes = std::fs::read(machine.dir.join(STATE_FILE))?;
            machine.state.write().restore(&bytes).map_err(other)?;
            machine.applied = stored.meta.last_log_id;
            machine.membership = stored.meta.last_membership;
        }
        Ok(machine)
    }

    fn files(&self) -> io::Result<SnapshotFiles> {
        let path = self.dir.join(STATE_FILE);
        let len = std::fs::metadata(&path)?.len();
        Ok(state_file(path, len))
    }

    /// Writes the state and its metadata as the current snapshot (state first, then the
    /// metadata that makes it current).
    fn store(&self, meta: &SnapshotMetaOf<NeoRaft>, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(STATE_FILE))?;
        small_file::write_durably(
            &self.dir.join(META_FILE),
            &StoredMeta { meta: meta.clone() },
        )
    }
}

/// The one file of a controller snapshot.
fn state_file(path: PathBuf, len: u64) -> SnapshotFiles {
    SnapshotFiles {
        files: vec![SnapshotFile {
            name: STATE_FILE.to_string(),
            path,
            len,
        }],
    }
}

/// Builds a controller snapshot from the state as applied when it was asked for.
pub struct ControllerSnapshotBuilder {
    meta: SnapshotMetaOf<NeoRaft>,
    bytes: Vec<u8>,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<NeoRaft> for ControllerSnapshotBuilder {
    type SnapshotData = SnapshotFiles;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<NeoRaft, SnapshotFiles>, io::Error> {
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, &self.bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(STATE_FILE))?;
        small_file::write_durably(
            &self.dir.join(META_FILE),
            &StoredMeta {
                meta: self.meta.clone(),
            },
        )?;
        Ok(SnapshotOf::<NeoRaft, SnapshotFiles> {
            meta: self.meta.clone(),
            snapshot: state_file(self.dir.join(STATE_FILE), self.bytes.len() as u64),
        })
    }
}

impl<S: ReplicatedState> RaftStateMachine<NeoRaft> for ControllerMachine<S> {
    type SnapshotData = SnapshotFiles;
    type SnapshotBuilder = ControllerSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<NeoRaft>>, StoredMembershipOf<NeoRaft>), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<NeoRaft>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.applied = Some(entry.log_id);
            let reply = match &entry.payload {
                EntryPayload::Normal(proposal) => self.state.write().apply(&proposal.bytes),
                EntryPayload::Membership(membership) => {
                    self.membership =
                        StoredMembershipOf::<NeoRaft>::new(Some(entry.log_id), membership.clone());
                    Bytes::new()
                }
                EntryPayload::Blank => Bytes::new(),
            };
            if let Some(responder) = responder {
                responder.send(reply);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        ControllerSnapshotBuilder {
            meta: SnapshotMetaOf::<NeoRaft> {
                last_log_id: self.applied,
                last_membership: self.membership.clone(),
            },
            bytes: self.state.read().snapshot(),
            dir: self.dir.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<NeoRaft>,
        snapshot: SnapshotFiles,
    ) -> Result<(), io::Error> {
        let file = snapshot
            .files
            .iter()
            .find(|f| f.name == STATE_FILE)
            .ok_or_else(|| other("a controller snapshot without its state file"))?;
        let bytes = std::fs::read(&file.path)?;
        self.state.write().restore(&bytes).map_err(other)?;
        self.store(meta, &bytes)?;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<NeoRaft, SnapshotFiles>>, io::Error> {
        let Some(stored) = small_file::read::<StoredMeta>(&self.dir.join(META_FILE))? else {
            return Ok(None);
        };
        Ok(Some(SnapshotOf::<NeoRaft, SnapshotFiles> {
            meta: stored.meta,
            snapshot: self.files()?,
        }))
    }
}

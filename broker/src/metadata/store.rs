//! The metadata store: the state, and the one way to change it. A change is a
//! [`MetadataCommand`] proposed to the controller group; once committed (written to the
//! controller's log and fsynced by a majority) every broker applies it, checked against the
//! state, in log order. Readers see the state before or after a change, never half of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use neo_replication::controller_group::{ControllerGroup, ControllerTiming};
use neo_replication::error::ReplicationError;
use neo_replication::group_id::GroupId;
use neo_storage::Flusher;
use parking_lot::RwLock;

use super::command::MetadataCommand;
use super::legacy;
use super::machine::{MetadataMachine, Outcome};
use super::state::MetadataState;
use crate::cluster::{ClusterCall, ClusterNode};
use crate::error::BrokerError;

/// Directory of the store under the data directory.
const DIR: &str = "meta";
/// The controller group's log and snapshots, under [`DIR`].
const RAFT_DIR: &str = "raft";
/// How long a starting broker waits for the controller group to have a leader.
const BOOTSTRAP_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// The cluster id file, under [`DIR`].
const CLUSTER_ID_FILE: &str = "cluster.id";

/// The broker's metadata (`<data>/meta`).
pub struct MetadataStore {
    dir: PathBuf,
    machine: Arc<RwLock<MetadataMachine>>,
    controller: ControllerGroup<MetadataMachine>,
    cluster: Arc<ClusterNode>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl MetadataStore {
    /// Opens the store under `data_dir`: starts this broker's member of the controller group
    /// (forming the group if it was never formed) and waits until the group has a leader. A
    /// data directory of the first format (JSON files) is taken over into the new group.
    pub async fn open(
        data_dir: &Path,
        cluster: Arc<ClusterNode>,
        flusher: Arc<Flusher>,
    ) -> Result<MetadataStore, BrokerError> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|source| BrokerError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let machine = Arc::new(RwLock::new(MetadataMachine::default()));
        let timing = ControllerTiming {
            heartbeat_interval_ms: cluster.heartbeat_interval().as_millis() as u64,
            election_timeout_ms: cluster.election_timeout().as_millis() as u64,
        };
        let controller = ControllerGroup::open(
            &dir.join(RAFT_DIR),
            cluster.node_id(),
            flusher,
            Arc::clone(&machine),
            cluster.network(GroupId::Controller),
            timing,
        )
        .await
        .map_err(controller_error)?;
        controller.register_with(cluster.transport());
        controller
            .bootstrap(&cluster.voters(), BOOTSTRAP_WAIT)
            .await
            .map_err(controller_error)?;
        let store = MetadataStore {
            dir,
            machine,
            controller,
            cluster,
        };
        store.take_over_legacy().await?;
        Ok(store)
    }

    /// Proposes the contents of the first format's files, when the group holds nothing yet.
    async fn take_over_legacy(&self) -> Result<(), BrokerError> {
        if self.read(|s| *s != MetadataState::default()) {
            return Ok(());
        }
        let legacy = legacy::read_state(&self.dir)?;
        for topic in legacy.topics.into_values() {
            self.apply(MetadataCommand::CreateTopic(topic)).await?;
        }
        if !legacy.acls.is_empty() {
            self.apply(MetadataCommand::CreateAcls(legacy.acls)).await?;
        }
        if legacy.producer_ids_reserved > 0 {
            self.apply(MetadataCommand::ReserveProducerIds {
                count: legacy.producer_ids_reserved,
            })
            .await?;
        }
        legacy::retire_state_files(&self.dir);
        Ok(())
    }

    /// Proposes `command`; returns once it is committed and applied, with its outcome.
    pub async fn apply(&self, command: MetadataCommand) -> Result<(), BrokerError> {
        // Refused early when it cannot apply; checked again when it applies, in log order.
        self.read(|s| s.check(&command))?;
        let encoded = serde_json::to_vec(&command).map_err(|e| BrokerError::MetadataCorrupt {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let reply = match self.controller.propose(Bytes::from(encoded)).await {
            Ok(reply) => reply,
            // Another broker leads the controller: it proposes the change for this one.
            Err(ReplicationError::NotLeader {
                leader: Some(leader),
                ..
            }) if leader != self.cluster.node_id() => {
                let call = serde_json::to_vec(&ClusterCall::ProposeMetadata(command))
                    .map_err(|e| BrokerError::Controller(e.to_string()))?;
                self.cluster.call(leader, Bytes::from(call)).await?
            }
            Err(e) => return Err(controller_error(e)),
        };
        let outcome: Outcome =
            serde_json::from_slice(&reply).map_err(|e| BrokerError::MetadataCorrupt {
                path: self.dir.clone(),
                reason: e.to_string(),
            })?;
        outcome.map_err(|refusal| refusal.into_error())
    }

    /// Reads the state.
    pub fn read<R>(&self, read: impl FnOnce(&MetadataState) -> R) -> R {
        read(&self.machine.read().state)
    }

    /// A front-end's metadata file of the first format (`meta/<name>`), while it is still
    /// there: the front-end takes its contents over, then calls [`Self::retire_legacy`].
    pub fn legacy_file(&self, name: &str) -> Result<Option<String>, BrokerError> {
        legacy::read(&self.dir, name)
    }

    /// Sets a front-end's first-format file aside once its contents are in the store.
    pub fn retire_legacy(&self, name: &str) {
        legacy::retire(&self.dir, name);
    }

    /// The cluster's id, chosen once when the data directory is new (`meta/cluster.id`).
    pub fn cluster_id(&self) -> Result<String, BrokerError> {
        if let Some(id) = legacy::read(&self.dir, CLUSTER_ID_FILE)?
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_string());
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        write_atomically(&self.dir, CLUSTER_ID_FILE, id.as_bytes())?;
        Ok(id)
    }

    /// Proposes `command` on behalf of another broker (this one should lead the controller);
    /// the outcome, encoded for the caller.
    pub async fn apply_for_peer(&self, command: MetadataCommand) -> Bytes {
        let outcome: Outcome = match self.apply(command).await {
            Ok(()) => Ok(()),
            Err(e) => Err(super::machine::Refusal::of(e)),
        };
        Bytes::from(serde_json::to_vec(&outcome).unwrap_or_default())
    }

    /// A receiver that wakes at every change applied (by any broker's proposal).
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.machine.read().changes.subscribe()
    }

    /// The controller's leader, as this broker knows it.
    pub fn controller_leader(&self) -> Option<u64> {
        self.controller.leader()
    }

    /// Stops this broker's member of the controller group.
    pub async fn close(&self) -> Result<(), BrokerError> {
        self.controller.shutdown().await.map_err(controller_error)
    }
}

fn controller_error(e: ReplicationError) -> BrokerError {
    match e {
        ReplicationError::ShuttingDown { .. } => BrokerError::ShuttingDown,
        other => BrokerError::Controller(other.to_string()),
    }
}

/// Temporary file, fsync, rename, fsync directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), BrokerError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BrokerError::DataDir { path, source }
    };
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut out = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    out.write_all(bytes).map_err(io(&tmp))?;
    out.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

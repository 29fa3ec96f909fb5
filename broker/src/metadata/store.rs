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
use neo_replication::transport::TransportError;
use neo_storage::Flusher;
use parking_lot::RwLock;

use super::command::{MetadataCommand, VoterChange};
use super::legacy;
use super::machine::{MetadataMachine, Outcome, Refusal};
use super::state::MetadataState;
use crate::cluster::{ClusterCall, ClusterNode};
use crate::error::BrokerError;

/// Directory of the store under the data directory.
const DIR: &str = "meta";
/// The controller group's log and snapshots, under [`DIR`].
const RAFT_DIR: &str = "raft";
/// How long a starting broker waits for the controller group to have a leader.
const BOOTSTRAP_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// How long a change waits for the controller to have a reachable leader.
const PROPOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a change of the controller's voters may take (a new broker catches up first).
const VOTER_CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);
/// The cluster id file of a data directory from before clusters, under [`DIR`].
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
                from: None,
            })
            .await?;
        }
        legacy::retire_state_files(&self.dir);
        Ok(())
    }

    /// Proposes `command`; returns once it is committed and applied, with its outcome.
    /// While the controller has no leader (an election), or its leader cannot be reached, the
    /// change is sent again until [`PROPOSE_WAIT`] passes: it was not proposed, so it cannot
    /// apply twice.
    pub async fn apply(&self, command: MetadataCommand) -> Result<(), BrokerError> {
        // Refused early when it cannot apply; checked again when it applies, in log order.
        self.read(|s| s.check(&command))?;
        let encoded = Bytes::from(serde_json::to_vec(&command).map_err(|e| {
            BrokerError::MetadataCorrupt {
                path: self.dir.clone(),
                reason: e.to_string(),
            }
        })?);
        let deadline = tokio::time::Instant::now() + PROPOSE_WAIT;
        let mut backoff = std::time::Duration::from_millis(10);
        loop {
            let why = match self.propose_once(&command, &encoded).await? {
                Attempt::Done(outcome) => return outcome.map_err(Refusal::into_error),
                Attempt::NotSent(why) => why,
            };
            if tokio::time::Instant::now() + backoff > deadline {
                return Err(BrokerError::Controller(why));
            }
            tracing::debug!(reason = why, "metadata change not sent yet: trying again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Proposes `command` here if this broker leads the controller, else sends it to the
    /// leader.
    async fn propose_once(
        &self,
        command: &MetadataCommand,
        encoded: &Bytes,
    ) -> Result<Attempt, BrokerError> {
        let leader = match self.controller.propose(encoded.clone()).await {
            Ok((_, reply)) => return Ok(Attempt::Done(self.decode(&reply)?)),
            Err(ReplicationError::NotLeader {
                leader: Some(leader),
                ..
            }) if leader != self.cluster.node_id() => leader,
            Err(ReplicationError::NotLeader { .. }) => {
                return Ok(Attempt::NotSent("the controller has no leader".into()));
            }
            Err(e) => return Err(controller_error(e)),
        };
        let call = serde_json::to_vec(&ClusterCall::ProposeMetadata(command.clone()))
            .map_err(|e| BrokerError::Controller(e.to_string()))?;
        let reply = match self.cluster.call(leader, Bytes::from(call)).await {
            Ok(reply) => reply,
            Err(e @ TransportError::Unreachable(_)) => return Ok(Attempt::NotSent(e.to_string())),
            Err(e) => return Err(BrokerError::Cluster(e.to_string())),
        };
        let reply: PeerReply = self.decode(&reply)?;
        if reply.outcome == Err(Refusal::NotLeader) {
            return Ok(Attempt::NotSent(format!(
                "node {leader} no longer leads the controller"
            )));
        }
        // Read-your-writes: the caller reads this broker's copy next.
        if let Some(index) = reply.index {
            self.controller
                .wait_applied(index, PROPOSE_WAIT)
                .await
                .map_err(controller_error)?;
        }
        Ok(Attempt::Done(reply.outcome))
    }

    /// Decodes a reply of the controller or of another broker.
    fn decode<T: serde::de::DeserializeOwned>(&self, reply: &[u8]) -> Result<T, BrokerError> {
        serde_json::from_slice(reply).map_err(|e| BrokerError::MetadataCorrupt {
            path: self.dir.clone(),
            reason: e.to_string(),
        })
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

    /// The cluster's id, the same on every broker: the first broker to start proposes the id
    /// its data directory had (`meta/cluster.id`, from before clusters) or a new one.
    pub async fn cluster_id(&self) -> Result<String, BrokerError> {
        if let Some(id) = self.read(|s| s.cluster_id.clone()) {
            return Ok(id);
        }
        let id = match legacy::read(&self.dir, CLUSTER_ID_FILE)? {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => uuid::Uuid::new_v4().simple().to_string(),
        };
        self.apply(MetadataCommand::SetClusterId(id)).await?;
        self.read(|s| s.cluster_id.clone())
            .ok_or_else(|| BrokerError::Controller("the cluster id was not recorded".into()))
    }

    /// Proposes `command` on behalf of another broker, if this one leads the controller
    /// (never forwarded further: the caller tries again); the outcome and the index of its
    /// entry, encoded for the caller.
    pub async fn apply_for_peer(&self, command: MetadataCommand) -> Bytes {
        let proposed = match self.read(|s| s.check(&command)) {
            Err(e) => Err(Refusal::of(e)),
            Ok(()) => match serde_json::to_vec(&command) {
                Err(e) => Err(Refusal::Undecodable(e.to_string())),
                Ok(encoded) => match self.controller.propose(Bytes::from(encoded)).await {
                    Ok((index, reply)) => self
                        .decode::<Outcome>(&reply)
                        .map(|outcome| (index, outcome))
                        .map_err(Refusal::of),
                    Err(ReplicationError::NotLeader { .. }) => Err(Refusal::NotLeader),
                    Err(e) => Err(Refusal::of(controller_error(e))),
                },
            },
        };
        let reply = match proposed {
            Ok((index, outcome)) => PeerReply {
                index: Some(index),
                outcome,
            },
            Err(refusal) => PeerReply {
                index: None,
                outcome: Err(refusal),
            },
        };
        Bytes::from(serde_json::to_vec(&reply).unwrap_or_default())
    }

    /// Makes the controller's voters change as `change` says, on its leader (this broker or
    /// the one it is sent to). While the controller has no leader, or its leader cannot be
    /// reached, the change is sent again until [`PROPOSE_WAIT`] passes.
    pub async fn change_voters(&self, change: &VoterChange) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + PROPOSE_WAIT;
        let mut backoff = std::time::Duration::from_millis(10);
        loop {
            let why = match self.change_voters_here(change).await {
                Ok(()) => return Ok(()),
                Err(ReplicationError::NotLeader {
                    leader: Some(leader),
                    ..
                }) if leader != self.cluster.node_id() => {
                    match self.send_voter_change(leader, change).await? {
                        None => return Ok(()),
                        Some(why) => why,
                    }
                }
                Err(ReplicationError::NotLeader { .. }) => "the controller has no leader".into(),
                Err(e) => return Err(controller_error(e)),
            };
            if tokio::time::Instant::now() + backoff > deadline {
                return Err(BrokerError::Controller(why));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Makes `change` if this broker leads the controller.
    async fn change_voters_here(&self, change: &VoterChange) -> Result<(), ReplicationError> {
        match change {
            VoterChange::Add { node, address } => {
                if let Ok(addr) = address.parse() {
                    self.cluster.transport().set_peer(*node, addr);
                }
                self.controller.add_voter(*node, address).await
            }
            VoterChange::Remove { node } => self.controller.remove_voter(*node).await,
        }
    }

    /// Sends `change` to the controller's leader `leader`: `None` once made, or why it was
    /// not (safe to send again).
    async fn send_voter_change(
        &self,
        leader: u64,
        change: &VoterChange,
    ) -> Result<Option<String>, BrokerError> {
        let call = serde_json::to_vec(&ClusterCall::ChangeVoters(change.clone()))
            .map_err(|e| BrokerError::Controller(e.to_string()))?;
        let reply = match self
            .cluster
            .call_within(leader, Bytes::from(call), VOTER_CHANGE_WAIT)
            .await
        {
            Ok(reply) => reply,
            Err(e @ TransportError::Unreachable(_)) => return Ok(Some(e.to_string())),
            Err(e) => return Err(BrokerError::Cluster(e.to_string())),
        };
        match self.decode::<Outcome>(&reply)? {
            Ok(()) => Ok(None),
            Err(Refusal::NotLeader) => Ok(Some(format!(
                "node {leader} no longer leads the controller"
            ))),
            Err(refusal) => Err(refusal.into_error()),
        }
    }

    /// Makes `change` on behalf of another broker, if this one leads the controller (never
    /// sent further: the caller tries again); its outcome, encoded for the caller.
    pub async fn change_voters_for_peer(&self, change: VoterChange) -> Bytes {
        let outcome: Outcome = match self.change_voters_here(&change).await {
            Ok(()) => Ok(()),
            Err(ReplicationError::NotLeader { .. }) => Err(Refusal::NotLeader),
            Err(e) => Err(Refusal::of(controller_error(e))),
        };
        Bytes::from(serde_json::to_vec(&outcome).unwrap_or_default())
    }

    /// The controller's voters.
    pub fn voters(&self) -> std::collections::BTreeSet<u64> {
        self.controller.voters()
    }

    /// Every member of the controller (voters and brokers being added) and its cluster
    /// address.
    pub fn members(&self) -> std::collections::BTreeMap<u64, String> {
        self.controller.members()
    }

    /// A receiver that wakes at every change applied (by any broker's proposal).
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.machine.read().changes.subscribe()
    }

    /// Why this broker's controller node stopped by itself (a storage error), if it did.
    pub fn controller_failure(&self) -> Option<String> {
        self.controller.failure()
    }

    /// The controller's leader, as this broker knows it.
    pub fn controller_leader(&self) -> Option<u64> {
        self.controller.leader()
    }

    /// How far this broker has applied the controller's log, and what the leader committed.
    pub fn controller_progress(&self) -> neo_replication::controller_group::ControllerProgress {
        self.controller.progress()
    }

    /// Hands the controller's leadership to another voter if this broker has it; whether
    /// another broker leads it now.
    pub async fn hand_over(&self, wait: std::time::Duration) -> bool {
        self.controller.hand_over(wait).await
    }

    /// Stops this broker's member of the controller group.
    pub async fn close(&self) -> Result<(), BrokerError> {
        self.controller.shutdown().await.map_err(controller_error)
    }
}

/// The controller leader's answer to a change another broker sent it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PeerReply {
    /// The change's entry, when it was proposed.
    index: Option<u64>,
    outcome: Outcome,
}

/// One try at proposing a change.
enum Attempt {
    /// Proposed and applied (here too): its outcome.
    Done(Outcome),
    /// Not proposed (why): safe to try again.
    NotSent(String),
}

fn controller_error(e: ReplicationError) -> BrokerError {
    match e {
        ReplicationError::ShuttingDown { .. } => BrokerError::ShuttingDown,
        other => BrokerError::Controller(other.to_string()),
    }
}

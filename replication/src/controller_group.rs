//! The controller group of a broker: its Raft instance over the entry log and the
//! [`ControllerMachine`], and the calls the broker makes on it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_storage::Flusher;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, RaftNetworkFactory, SnapshotPolicy};
use parking_lot::RwLock;

use openraft::async_runtime::WatchReceiver;

use crate::controller::{ControllerMachine, ReplicatedState};
use crate::entry_log::EntryLog;
use crate::error::ReplicationError;
use crate::group_id::GroupId;
use crate::transport::ClusterTransport;
use crate::transport::SnapshotFiles;
use crate::types::{NeoRaft, NodeId, Proposal};

pub(crate) const GROUP: &str = "controller";

/// Commands between two controller snapshots.
const SNAPSHOT_EVERY: u64 = 1_000;

/// Timing of the controller group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerTiming {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
}

impl Default for ControllerTiming {
    fn default() -> Self {
        ControllerTiming {
            heartbeat_interval_ms: 150,
            election_timeout_ms: 1_000,
        }
    }
}

/// How far this broker's member of the controller group has come, from its Raft metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerProgress {
    /// The group's leader, as this broker knows it.
    pub leader: Option<NodeId>,
    /// The index of the last entry this broker applied to its metadata.
    pub applied: Option<u64>,
    /// The index of the last entry the leader reported committed by a majority.
    pub committed: Option<u64>,
}

impl ControllerProgress {
    /// Committed entries this broker has yet to apply.
    pub fn lag(&self) -> u64 {
        self.committed
            .unwrap_or(0)
            .saturating_sub(self.applied.unwrap_or(0))
    }
}

/// One broker's member of the controller group.
pub struct ControllerGroup<S: ReplicatedState> {
    pub(crate) raft: Raft<NeoRaft, ControllerMachine<S>>,
    log: EntryLog,
    pub(crate) node_id: NodeId,
}

fn storage(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Storage {
        group: GROUP.into(),
        reason: e.to_string(),
    }
}

pub(crate) fn raft_error(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Raft {
        group: GROUP.into(),
        reason: e.to_string(),
    }
}

impl<S: ReplicatedState> ControllerGroup<S> {
    /// Opens the group's log and snapshot under `dir` and starts its Raft instance over
    /// `state`, talking to peers through `network`.
    pub async fn open<N>(
        dir: &Path,
        node_id: NodeId,
        flusher: Arc<Flusher>,
        state: Arc<RwLock<S>>,
        network: N,
        timing: ControllerTiming,
    ) -> Result<ControllerGroup<S>, ReplicationError>
    where
        N: RaftNetworkFactory<NeoRaft>,
        N::Network: openraft::network::NetSnapshot<NeoRaft, SnapshotData = SnapshotFiles>,
    {
        let log = EntryLog::open(&dir.join("log"), flusher).map_err(storage)?;
        let machine = ControllerMachine::open(dir, state).map_err(storage)?;
        let config = Config {
            cluster_name: "neo".into(),
            heartbeat_interval: timing.heartbeat_interval_ms,
            election_timeout_min: timing.election_timeout_ms,
            election_timeout_max: timing.election_timeout_ms * 3 / 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
            max_in_snapshot_log_to_keep: 100,
            // A follower whose data directory was lost starts over from an empty log; the
            // leader then replicates to it from the start instead of stopping.
            allow_log_reversion: Some(true),
            ..Config::default()
        }
        .validate()
        .map_err(raft_error)?;
        let raft = Raft::new(node_id, Arc::new(config), network, log.clone(), machine)
            .await
            .map_err(raft_error)?;
        Ok(ControllerGroup { raft, log, node_id })
    }

    /// Has `transport` deliver the other brokers' messages for the controller to this group.
    pub fn register_with(&self, transport: &ClusterTransport) {
        transport.register(GroupId::Controller, &self.raft);
    }

    /// Forms the controller group of `voters` (node id → cluster address) if it was never
    /// formed: the voter with the lowest id does it. Then waits until the group has a leader
    /// and this broker has applied the log up to the leader's first entry. A cluster of one
    /// leads at once.
    pub async fn bootstrap(
        &self,
        voters: &[(NodeId, SocketAddr)],
        wait: Duration,
    ) -> Result<(), ReplicationError> {
        if let [(only, address)] = voters
            && *only == self.node_id
        {
            return self.bootstrap_alone(&address.to_string()).await;
        }
        if !voters.iter().any(|(id, _)| *id == self.node_id) {
            return self.wait_until_added().await;
        }
        let first = voters.iter().map(|(id, _)| *id).min();
        if first == Some(self.node_id) && !self.raft.is_initialized().await.map_err(raft_error)? {
            let members: BTreeMap<NodeId, BasicNode> = voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr.to_string())))
                .collect();
            self.raft.initialize(members).await.map_err(raft_error)?;
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut metrics = self.raft.metrics();
        loop {
            let leader = metrics.borrow_watched().current_leader;
            if leader.is_some() {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, metrics.changed())
                .await
                .is_err()
            {
                return Err(ReplicationError::Raft {
                    group: GROUP.into(),
                    reason: format!("no controller leader within {wait:?}: are the voters up?"),
                });
            }
        }
    }

    /// Why this broker's controller node stopped by itself (a storage error), if it did.
    pub fn failure(&self) -> Option<String> {
        match &self.raft.metrics().borrow_watched().running_state {
            Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
            Err(fatal) => Some(fatal.to_string()),
        }
    }

    /// The controller's leader, as this broker knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// How far this broker's member has come: read from the group's metrics, no I/O.
    pub fn progress(&self) -> ControllerProgress {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        ControllerProgress {
            leader: metrics
                .current_leader
                .filter(|_| metrics.running_state.is_ok()),
            applied: metrics.last_applied.as_ref().map(|id| id.index),
            committed: metrics.cluster_committed.as_ref().map(|id| id.index),
        }
    }

    /// Makes this broker a cluster of one, if the group was never initialized; then waits
    /// until it leads and has applied its log.
    pub async fn bootstrap_alone(&self, address: &str) -> Result<(), ReplicationError> {
        if self.raft.is_initialized().await.map_err(raft_error)? {
            // The only voter: no need to wait out an election timeout to lead again.
            self.raft.trigger().elect(false).await.map_err(raft_error)?;
        } else {
            let members = BTreeMap::from([(self.node_id, BasicNode::new(address))]);
            self.raft.initialize(members).await.map_err(raft_error)?;
        }
        self.raft
            .wait(Some(Duration::from_secs(30)))
            .current_leader(self.node_id, "controller leads")
            .await
            .map_err(raft_error)?;
        // A blank entry of the new term, committed: everything before it is applied.
        self.raft
            .write_blank()
            .await
            .map_err(|e| write_error(e, GROUP))?;
        Ok(())
    }

    /// Proposes `command`; returns the state machine's reply once it is committed and
    /// applied, with the index of its entry.
    pub async fn propose(&self, command: Bytes) -> Result<(u64, Bytes), ReplicationError> {
        self.raft
            .client_write(Proposal::new(command))
            .await
            .map(|response| (response.log_id.index, response.data))
            .map_err(|e| write_error(e, GROUP))
    }

    /// Waits until this broker has applied the entry at `index` (proposed through another
    /// broker), so that what it reads next includes it.
    pub async fn wait_applied(&self, index: u64, wait: Duration) -> Result<(), ReplicationError> {
        self.raft
            .wait(Some(wait))
            .applied_index_at_least(Some(index), "a change made elsewhere is applied here")
            .await
            .map(|_| ())
            .map_err(raft_error)
    }

    /// If this broker leads the controller, hands leadership to the voter furthest along
    /// and waits up to `wait`; whether another broker leads now.
    pub async fn hand_over(&self, wait: Duration) -> bool {
        crate::hand_over::hand_over(&self.raft, self.node_id, None, wait).await
    }

    /// Stops the group and closes its log.
    pub async fn shutdown(&self) -> Result<(), ReplicationError> {
        self.raft.shutdown().await.map_err(raft_error)?;
        self.log.close().map_err(storage)
    }
}

pub(crate) fn write_error(
    e: RaftError<NeoRaft, ClientWriteError<NeoRaft>>,
    group: &str,
) -> ReplicationError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            ReplicationError::NotLeader {
                group: group.into(),
                leader: forward.leader_id,
            }
        }
        RaftError::Fatal(fatal) => ReplicationError::ShuttingDown {
            group: format!("{group} ({fatal})"),
        },
        other => ReplicationError::Raft {
            group: group.into(),
            reason: other.to_string(),
        },
    }
}

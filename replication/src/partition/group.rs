//! A partition group on one broker: its Raft instance over the partition's log, and the
//! calls the broker makes on it (propose a batch, learn the high watermark, lead alone).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_storage::{LogError, PartitionLog};
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, ForwardReason, LinearizableReadError, RaftError};
use openraft::raft::ClientWriteResult;
use openraft::vote::RaftLeaderId as _;
use openraft::{BasicNode, Config, Raft, RaftNetworkFactory, ReadPolicy, SnapshotPolicy};
use tokio::sync::{Notify, oneshot, watch};

use super::append_gate::AppendGate;
use super::machine::PartitionMachine;
use super::raft_log::PartitionRaftLog;
use crate::error::ReplicationError;
use crate::group_id::GroupId;
use crate::transport::ClusterTransport;
use crate::transport::SnapshotFiles;
use crate::types::{Admitted, AppendNotice, NeoRaft, NodeId, Proposal, QuietResponder};

/// Timing of partition groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionTiming {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    /// Entries the Raft log keeps below its last snapshot: a follower at most this far behind
    /// catches up entry by entry, one further gets the snapshot.
    pub entries_kept_after_snapshot: u64,
}

impl Default for PartitionTiming {
    fn default() -> Self {
        PartitionTiming {
            heartbeat_interval_ms: 150,
            election_timeout_ms: 1_000,
            entries_kept_after_snapshot: 1_000,
        }
    }
}

/// One broker's replica of a partition.
pub struct PartitionGroup {
    pub(super) name: String,
    pub(super) raft: Raft<NeoRaft, PartitionMachine>,
    pub(super) log: PartitionRaftLog,
    pub(super) node_id: NodeId,
    high_watermark: watch::Receiver<i64>,
    /// Asks the group's snapshot task for a snapshot now.
    snapshot_wanted: Arc<Notify>,
}

/// A batch proposed and written by the leader, not yet committed.
#[derive(Debug)]
pub struct Proposed {
    /// What the leader's append did with it.
    pub admitted: Admitted,
    applied: oneshot::Receiver<ClientWriteResult<NeoRaft>>,
}

impl Proposed {
    /// Waits until the entry is committed (a majority has it, as durable as the topic asks)
    /// and applied (the high watermark includes it); false if it never will be.
    pub async fn committed(self) -> bool {
        matches!(self.applied.await, Ok(Ok(_)))
    }
}

impl std::fmt::Debug for PartitionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionGroup")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartitionGroup {
    /// Starts the group over `log` (opened and recovered), named `name` in errors, talking to
    /// peers through `network`.
    #[allow(clippy::too_many_arguments)]
    pub async fn open<N>(
        name: String,
        log: PartitionLog,
        gate: Arc<dyn AppendGate>,
        durable: bool,
        node_id: NodeId,
        network: N,
        timing: PartitionTiming,
    ) -> Result<PartitionGroup, ReplicationError>
    where
        N: RaftNetworkFactory<NeoRaft>,
        N::Network: openraft::network::NetSnapshot<NeoRaft, SnapshotData = SnapshotFiles>,
    {
        let storage = |e: std::io::Error| ReplicationError::Storage {
            group: name.clone(),
            reason: e.to_string(),
        };
        let raft_log = PartitionRaftLog::open(log, gate, durable).map_err(storage)?;
        let machine = PartitionMachine::open(&raft_log).map_err(storage)?;
        let high_watermark = machine.watch_high_watermark();
        let config = Config {
            cluster_name: "neo".into(),
            // Heartbeats and elections are the transport's clock's (`register_quiet`); here
            // the interval only bounds how long a heartbeat's answer may take.
            heartbeat_interval: (timing.election_timeout_ms / 2).max(timing.heartbeat_interval_ms),
            election_timeout_min: timing.election_timeout_ms,
            election_timeout_max: timing.election_timeout_ms * 3 / 2,
            // Snapshots are taken when a segment seals (see `snapshot_when_sealed`): a
            // snapshot stands for the entry where the sealed segments end.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: timing.entries_kept_after_snapshot,
            // The transport's clock drives the group (`register_quiet`): thousands of idle
            // groups wake nothing.
            enable_tick: false,
            // A follower whose data directory was lost starts over from an empty log; the
            // leader then replicates to it from the start instead of stopping.
            allow_log_reversion: Some(true),
            // Latency statistics kept per stage (only with openraft's `runtime-stats`);
            // 1,024 slots each cost every group ~0.15 MB.
            log_stage_capacity: Some(16),
            ..Config::default()
        }
        .validate()
        .map_err(|e| raft_error(&name, e))?;
        let raft = Raft::new(
            node_id,
            Arc::new(config),
            network,
            raft_log.clone(),
            machine,
        )
        .await
        .map_err(|e| raft_error(&name, e))?;
        let snapshot_wanted = Arc::new(Notify::new());
        tokio::spawn(snapshot_when_sealed(
            raft.clone(),
            raft_log.partition_log().clone(),
            high_watermark.clone(),
            Arc::clone(&snapshot_wanted),
        ));
        Ok(PartitionGroup {
            name,
            raft,
            log: raft_log,
            node_id,
            high_watermark,
            snapshot_wanted,
        })
    }

    /// Retention (`retention.ms`, `retention.bytes`): moves the log start for readers, and
    /// deletes the segments wholly below it that no replica needs any more (see
    /// [`Self::needed_from`]). Returns how many segments were deleted.
    pub fn apply_retention(&self, now: i64) -> Result<usize, LogError> {
        let log = self.log.partition_log();
        let point = log.retention_point(now)?;
        if point > log.log_start_offset() {
            log.move_log_start(point)?;
        }
        self.remove_unneeded(point.min(log.log_start_offset()))
    }

    /// DeleteRecords: moves the log start to `offset` for readers, and deletes the segments
    /// below it that no replica needs any more. Returns the new log start.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let log = self.log.partition_log();
        let start = log.move_log_start(offset)?;
        self.remove_unneeded(start)?;
        Ok(start)
    }

    fn remove_unneeded(&self, below: i64) -> Result<usize, LogError> {
        let removed = self
            .log
            .partition_log()
            .remove_segments_below(below.min(self.needed_from()))?;
        if removed > 0 {
            // The current snapshot links the removed segments: a new one lets them go.
            self.snapshot_wanted.notify_one();
        }
        Ok(removed)
    }

    /// The lowest offset a replica may still need from this one's log: the first data entry
    /// the Raft log holds (a follower behind it gets a snapshot), and on the leader, where
    /// each follower's log ends if it matched an entry the Raft log still holds.
    pub fn needed_from(&self) -> i64 {
        let own = self.log.needed_from();
        let metrics = self.raft.metrics();
        let matched: Vec<_> = metrics
            .borrow_watched()
            .replication
            .as_ref()
            .map(|replication| {
                replication
                    .iter()
                    .filter(|(id, _)| **id != self.node_id)
                    .filter_map(|(_, matched)| *matched)
                    .collect()
            })
            .unwrap_or_default();
        matched
            .into_iter()
            .filter_map(|m| self.log.data_end_of(m))
            .fold(own, i64::min)
    }

    /// Has `transport` deliver the other replicas' messages for `group` to this one. The
    /// group is quiet: no timers of its own, the transport's clock drives its heartbeats and
    /// elections.
    pub fn register_with(&self, transport: &ClusterTransport, group: GroupId) {
        transport.register_quiet(group, &self.raft);
    }

    /// Makes this broker the partition's only replica if the group was never initialized;
    /// then waits until it leads.
    pub async fn lead_alone(&self) -> Result<(), ReplicationError> {
        let name = &self.name;
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| raft_error(name, e))?
        {
            self.raft
                .trigger()
                .elect(false)
                .await
                .map_err(|e| raft_error(name, e))?;
        } else {
            let members = BTreeMap::from([(self.node_id, BasicNode::new(""))]);
            self.raft
                .initialize(members)
                .await
                .map_err(|e| raft_error(name, e))?;
        }
        self.raft
            .wait(Some(Duration::from_secs(30)))
            .current_leader(self.node_id, "partition leads")
            .await
            .map_err(|e| raft_error(name, e))?;
        Ok(())
    }

    /// Forms the group of `replicas` (node id → cluster address) if it was never formed; only
    /// one replica should (the first of the replica set). The others wait to be contacted.
    pub async fn form(&self, replicas: BTreeMap<NodeId, String>) -> Result<(), ReplicationError> {
        let name = &self.name;
        if !self
            .raft
            .is_initialized()
            .await
            .map_err(|e| raft_error(name, e))?
        {
            let members = replicas
                .into_iter()
                .map(|(id, addr)| (id, BasicNode::new(addr)))
                .collect::<BTreeMap<_, _>>();
            self.raft
                .initialize(members)
                .await
                .map_err(|e| raft_error(name, e))?;
            // The first replica leads at once (no timer would make it stand).
            self.raft
                .trigger()
                .elect(false)
                .await
                .map_err(|e| raft_error(name, e))?;
        }
        Ok(())
    }

    /// Why this replica's Raft node stopped by itself (a storage error: a full or failing
    /// disk), if it did; not a shutdown.
    pub fn failure(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        match &metrics.running_state {
            Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
            Err(fatal) => Some(fatal.to_string()),
        }
    }

    /// Whether this replica leads the partition now.
    pub fn is_leader(&self) -> bool {
        self.leadership().0 == Some(self.node_id)
    }

    /// The partition's leader as this replica knows it, and the term; no leader once this
    /// replica has stopped (its view would be stale).
    pub fn leadership(&self) -> (Option<NodeId>, u64) {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let leader = metrics
            .current_leader
            .filter(|_| metrics.running_state.is_ok());
        (leader, metrics.current_term)
    }

    /// On the leader, the replicas in sync: itself and each follower that acknowledged the
    /// leader within `lag` (appends and heartbeats are acknowledged only by a follower whose
    /// log matches the leader's). Elsewhere, empty: only the leader knows.
    pub fn in_sync(&self, lag: Duration) -> Vec<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let Some(heartbeats) = &metrics.heartbeat else {
            return Vec::new();
        };
        let mut in_sync: Vec<NodeId> = heartbeats
            .iter()
            .filter(|(id, acked)| {
                **id == self.node_id || acked.as_ref().is_some_and(|at| at.elapsed() <= lag)
            })
            .map(|(id, _)| *id)
            .collect();
        if !in_sync.contains(&self.node_id) {
            in_sync.push(self.node_id);
            in_sync.sort_unstable();
        }
        in_sync
    }

    /// If this replica leads, hands leadership to the follower furthest along and waits up
    /// to `wait` for it to take over (graceful shutdown: clients move without an election
    /// timeout). Whether another replica leads now.
    pub async fn hand_over(&self, wait: Duration) -> bool {
        crate::hand_over::hand_over(&self.raft, self.node_id, None, wait).await
    }

    /// If this replica leads, hands leadership to replica `to` and waits up to `wait`;
    /// whether `to` leads now.
    pub async fn transfer_to(&self, to: NodeId, wait: Duration) -> bool {
        crate::hand_over::hand_over(&self.raft, self.node_id, Some(to), wait).await
            && self.leadership().0 == Some(to)
    }

    /// Waits until the leadership differs from `known` (or the group stops: `None`).
    pub async fn leadership_changed(
        &self,
        known: (Option<NodeId>, u64),
    ) -> Option<(Option<NodeId>, u64)> {
        // The server metrics change with votes and leaders only; the full metrics change
        // with every heartbeat acknowledgement, which would wake every waiter of every group.
        let mut server = self.raft.server_metrics();
        loop {
            let now = {
                let m = server.borrow_watched();
                (m.current_leader, m.vote.leader_id().term())
            };
            if now != known {
                return Some(now);
            }
            server.changed().await.ok()?;
        }
    }

    /// Proposes a record batch; returns once the leader has written it (or refused it), with
    /// a handle to wait for its commit.
    pub async fn propose(&self, batch: Bytes) -> Result<Proposed, ReplicationError> {
        match self.propose_once(batch.clone()).await? {
            Ok(proposed) => Ok(proposed),
            // The lease lapsed while the partition was idle: renewed, the write goes through.
            Err(ClientWriteError::ForwardToLeader(forward))
                if forward.reason == ForwardReason::LeaseExpired =>
            {
                self.renew_lease().await?;
                self.propose_once(batch)
                    .await?
                    .map_err(|e| write_error(&self.name, e))
            }
            Err(e) => Err(write_error(&self.name, e)),
        }
    }

    /// Renews this leader's lease with one round of heartbeats. A quiet group's idle leader
    /// lets it lapse (its keepalive comes every three election timeouts, the lease lasts one)
    /// and openraft refuses writes without it: clients would be told there is no leader until
    /// the next keepalive. NotLeader when no majority answers within the lease.
    pub(super) async fn renew_lease(&self) -> Result<(), ReplicationError> {
        match self.confirm_leadership().await {
            Err(ReplicationError::Raft { reason, .. }) => {
                tracing::debug!(group = %self.name, reason, "leader lease not renewed");
                Err(ReplicationError::NotLeader {
                    group: self.name.clone(),
                    leader: None,
                })
            }
            other => other,
        }
    }

    /// One proposal: written, refused by Raft (the error says why), or the group stopped.
    async fn propose_once(
        &self,
        batch: Bytes,
    ) -> Result<Result<Proposed, ClientWriteError<NeoRaft>>, ReplicationError> {
        let (notice, admitted) = AppendNotice::new();
        let (responder, _committed, applied) = QuietResponder::new();
        let proposal = Proposal {
            bytes: batch,
            notice: Some(notice),
        };
        self.raft
            .client_write_ff(proposal, Some(responder))
            .await
            .map_err(|e| ReplicationError::ShuttingDown {
                group: format!("{} ({e})", self.name),
            })?;
        match admitted.await {
            Ok(admitted) => Ok(Ok(Proposed { admitted, applied })),
            // Not written: the proposal failed before the append; its result says why.
            Err(_) => match applied.await {
                Ok(Err(e)) => Ok(Err(e)),
                _ => Err(ReplicationError::ShuttingDown {
                    group: self.name.clone(),
                }),
            },
        }
    }

    /// Confirms with a majority that this replica leads (its first entry as leader is
    /// committed, and the others still follow it), then waits until everything committed
    /// before is applied: from then on the high watermark covers every committed batch, so a
    /// state rebuilt from the partition is complete (a linearizable read). A replica that does
    /// not lead, or a leader that lost its majority (one restarted with a stale view, say),
    /// gets an error.
    pub async fn confirm_leadership(&self) -> Result<(), ReplicationError> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                Err(ReplicationError::NotLeader {
                    group: self.name.clone(),
                    leader: forward.leader_id,
                })
            }
            Err(e) => Err(raft_error(&self.name, e)),
        }
    }

    /// The offset readers may read up to (exclusive): the end of the last committed batch.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver of the high watermark, for readers waiting for new records.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.clone()
    }

    /// Takes up the topic's durability (whether appends count only once fsynced).
    pub fn set_durable(&self, durable: bool) {
        self.log.set_durable(durable);
    }

    /// The current term: the leader epoch Kafka clients see.
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow_watched().current_term
    }

    /// Stops the group.
    pub async fn shutdown(&self) -> Result<(), ReplicationError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| raft_error(&self.name, e))
    }
}

/// Has the group take a snapshot each time a segment rolls with all of it committed (the
/// sealed segments then reach further), or when asked (retention removed segments the
/// current snapshot links). Ends with the group.
async fn snapshot_when_sealed(
    raft: Raft<NeoRaft, PartitionMachine>,
    log: PartitionLog,
    mut high_watermark: watch::Receiver<i64>,
    wanted: Arc<Notify>,
) {
    let mut snapshotted_below = log.active_segment_base();
    loop {
        tokio::select! {
            changed = high_watermark.changed() => {
                if changed.is_err() {
                    return;
                }
                let active = log.active_segment_base();
                if active <= snapshotted_below || active > *high_watermark.borrow() {
                    continue;
                }
                snapshotted_below = active;
            }
            () = wanted.notified() => {}
        }
        if raft.trigger().snapshot().await.is_err() {
            return;
        }
    }
}

pub(super) fn raft_error(group: &str, e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Raft {
        group: group.into(),
        reason: e.to_string(),
    }
}

pub(super) fn write_error(group: &str, e: ClientWriteError<NeoRaft>) -> ReplicationError {
    match e {
        ClientWriteError::ForwardToLeader(forward) => ReplicationError::NotLeader {
            group: group.into(),
            leader: forward.leader_id,
        },
        other => raft_error(group, other),
    }
}

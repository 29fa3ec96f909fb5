//! The groups open on this node, by id: where incoming requests are dispatched and whose
//! leaders the heartbeat ticker drives.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use openraft::async_runtime::WatchReceiver;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::storage::RaftStateMachine;
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use openraft::{Raft, Snapshot};
use parking_lot::RwLock;

use super::quiet_group::{Progress, QuietGroup};
use super::snapshot_files::SnapshotFiles;
use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// A group's Raft as the transport serves it, whatever its state machine. Errors are openraft's
/// (the group's Raft stopped), as text for the wire.
pub(crate) trait RaftGroup: Send + Sync + 'static {
    fn append_entries(
        &self,
        rpc: AppendEntriesRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<AppendEntriesResponse<NeoRaft>, String>>;

    fn vote(
        &self,
        rpc: VoteRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<VoteResponse<NeoRaft>, String>>;

    fn pre_vote(
        &self,
        rpc: VoteRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<VoteResponse<NeoRaft>, String>>;

    fn transfer_leader(
        &self,
        rpc: TransferLeaderRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<TransferLeaderResponse<NeoRaft>, String>>;

    fn install_snapshot(
        &self,
        vote: VoteOf<NeoRaft>,
        meta: SnapshotMetaOf<NeoRaft>,
        files: SnapshotFiles,
    ) -> BoxFuture<'_, Result<SnapshotResponse<NeoRaft>, String>>;

    /// The leader as this node knows it, and what a heartbeat of this node as leader tells.
    fn view(&self) -> (Option<NodeId>, Progress);

    /// Stands for election now (a pre-vote round first).
    fn elect(&self) -> BoxFuture<'_, ()>;

    /// Has the group's leader send a heartbeat to every follower now.
    fn send_heartbeat(&self) -> BoxFuture<'_, ()>;
}

impl<SM> RaftGroup for Raft<NeoRaft, SM>
where
    SM: RaftStateMachine<NeoRaft, SnapshotData = SnapshotFiles>,
{
    fn append_entries(
        &self,
        rpc: AppendEntriesRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<AppendEntriesResponse<NeoRaft>, String>> {
        Box::pin(async move {
            Raft::append_entries(self, rpc)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn vote(
        &self,
        rpc: VoteRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<VoteResponse<NeoRaft>, String>> {
        Box::pin(async move { Raft::vote(self, rpc).await.map_err(|e| e.to_string()) })
    }

    fn pre_vote(
        &self,
        rpc: VoteRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<VoteResponse<NeoRaft>, String>> {
        Box::pin(async move { Raft::pre_vote(self, rpc).await.map_err(|e| e.to_string()) })
    }

    fn transfer_leader(
        &self,
        rpc: TransferLeaderRequest<NeoRaft>,
    ) -> BoxFuture<'_, Result<TransferLeaderResponse<NeoRaft>, String>> {
        Box::pin(async move {
            self.handle_transfer_leader(rpc)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn install_snapshot(
        &self,
        vote: VoteOf<NeoRaft>,
        meta: SnapshotMetaOf<NeoRaft>,
        files: SnapshotFiles,
    ) -> BoxFuture<'_, Result<SnapshotResponse<NeoRaft>, String>> {
        let snapshot = Snapshot {
            meta,
            snapshot: files,
        };
        Box::pin(async move {
            self.install_full_snapshot(vote, snapshot)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn view(&self) -> (Option<NodeId>, Progress) {
        let metrics = self.metrics();
        let metrics = metrics.borrow_watched();
        let committed = metrics
            .cluster_committed
            .as_ref()
            .map(|log_id| log_id.index);
        (metrics.current_leader, (metrics.last_log_index, committed))
    }

    fn elect(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Fails only when the group's Raft stopped; it is unregistered soon after.
            let _ = self.trigger().elect(true).await;
        })
    }

    fn send_heartbeat(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Fails only when the group's Raft stopped; it is unregistered soon after.
            let _ = self.trigger().heartbeat().await;
        })
    }
}

/// An open group: its Raft, and for a quiet group its clock state on this node.
pub(crate) struct Registered {
    pub(crate) raft: Arc<dyn RaftGroup>,
    pub(crate) quiet: Option<QuietGroup>,
}

/// The open groups of this node.
#[derive(Default)]
pub(crate) struct GroupRegistry {
    groups: RwLock<HashMap<GroupId, Arc<Registered>>>,
}

impl GroupRegistry {
    pub(crate) fn insert(&self, group: GroupId, registered: Registered) {
        self.groups.write().insert(group, Arc::new(registered));
    }

    pub(crate) fn remove(&self, group: GroupId) {
        self.groups.write().remove(&group);
    }

    pub(crate) fn get(&self, group: GroupId) -> Option<Arc<Registered>> {
        self.groups.read().get(&group).cloned()
    }

    /// Every open group.
    pub(crate) fn all(&self) -> Vec<Arc<Registered>> {
        self.groups.read().values().cloned().collect()
    }
}

//! The network of a cluster of one: there is no peer to send to.

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2};

use crate::transport::SnapshotFiles;
use crate::types::{NeoRaft, NodeId};

/// A network with no peers: every send fails as unreachable (a one-member group never sends).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPeers;

fn unreachable() -> Unreachable<NeoRaft> {
    Unreachable::new(&openraft::AnyError::error("a cluster of one has no peers"))
}

impl RaftNetworkFactory<NeoRaft> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: NodeId, _node: &BasicNode) -> NoPeers {
        NoPeers
    }
}

impl RaftNetworkV2<NeoRaft> for NoPeers {
    type SnapshotData = SnapshotFiles;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<NeoRaft>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NeoRaft>, RPCError<NeoRaft>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NeoRaft>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NeoRaft>, RPCError<NeoRaft>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: VoteOf<NeoRaft>,
        _snapshot: SnapshotOf<NeoRaft, SnapshotFiles>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NeoRaft>, StreamingError<NeoRaft>> {
        Err(StreamingError::Unreachable(unreachable()))
    }
}

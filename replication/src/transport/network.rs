//! openraft's network for one group: every RPC to a peer goes over this node's one connection
//! to that peer, and heartbeats go through the peer's batcher.

use std::future::Future;
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{
    BasicNode, ErrorSubject, ErrorVerb, RPCTypes, RaftNetworkFactory, RaftNetworkV2, StorageError,
};
use tokio::time::Instant;

use super::error::CallError;
use super::frame::FrameError;
use super::message::{Request, Response};
use super::peers::{Peer, Peers};
use super::snapshot_files::SnapshotFiles;
use super::snapshot_send::{SnapshotSendLimits, send_snapshot};
use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// Room left in a frame for everything of an AppendEntries but its entries (frame header,
/// message tag, group id, vote, two log ids, the entry count), with room to spare.
const APPEND_FRAMING_BYTES: usize = 256;

/// Creates the network clients one group's Raft uses; get it from
/// [`ClusterTransport::network`](super::ClusterTransport::network).
#[derive(Clone)]
pub struct GroupNetworkFactory {
    group: GroupId,
    node_id: NodeId,
    peers: Arc<Peers>,
    max_frame_bytes: usize,
    snapshot_chunk_bytes: usize,
}

impl GroupNetworkFactory {
    pub(crate) fn new(
        group: GroupId,
        node_id: NodeId,
        peers: Arc<Peers>,
        max_frame_bytes: usize,
        snapshot_chunk_bytes: usize,
    ) -> Self {
        Self {
            group,
            node_id,
            peers,
            max_frame_bytes,
            snapshot_chunk_bytes,
        }
    }

    fn client(&self, target: NodeId, heartbeats: bool) -> GroupNetwork {
        GroupNetwork {
            factory: self.clone(),
            target,
            heartbeats,
            peer: None,
        }
    }
}

impl RaftNetworkFactory<NeoRaft> for GroupNetworkFactory {
    type Network = GroupNetwork;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> GroupNetwork {
        self.client(target, false)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, _node: &BasicNode) -> GroupNetwork {
        self.client(target, true)
    }
}

/// One group's client to one peer.
pub struct GroupNetwork {
    factory: GroupNetworkFactory,
    target: NodeId,
    /// Whether openraft made this client for heartbeats: its empty AppendEntries are batched.
    heartbeats: bool,
    peer: Option<Arc<Peer>>,
}

impl GroupNetwork {
    fn peer(&mut self) -> Result<Arc<Peer>, CallError> {
        if let Some(peer) = &self.peer {
            return Ok(peer.clone());
        }
        let peer = self.factory.peers.get(self.target)?;
        self.peer = Some(peer.clone());
        Ok(peer)
    }

    async fn call(&mut self, request: Request, option: &RPCOption) -> Result<Response, CallError> {
        let deadline = Instant::now() + option.soft_ttl();
        self.peer()?.link.call(&request, deadline).await
    }

    fn rpc_error(&self, action: RPCTypes, error: CallError) -> RPCError<NeoRaft> {
        match error {
            CallError::Timeout { timeout, .. } => RPCError::Timeout(Timeout {
                action,
                id: self.factory.node_id,
                target: self.target,
                timeout,
            }),
            other => RPCError::Unreachable(Unreachable::new(&other)),
        }
    }

    /// How many of `rpc`'s entries fit in one frame.
    fn entries_that_fit(&self, rpc: &AppendEntriesRequest<NeoRaft>) -> usize {
        let mut room = self
            .factory
            .max_frame_bytes
            .saturating_sub(APPEND_FRAMING_BYTES);
        rpc.entries
            .iter()
            .take_while(|entry| {
                let size = postcard::experimental::serialized_size(entry).unwrap_or(usize::MAX);
                let fits = size <= room;
                room = room.saturating_sub(size);
                fits
            })
            .count()
    }

    async fn send_vote(
        &mut self,
        request: Request,
        option: RPCOption,
    ) -> Result<VoteResponse<NeoRaft>, RPCError<NeoRaft>> {
        match self.call(request, &option).await {
            Ok(Response::Vote(response)) => Ok(response),
            Ok(other) => Err(CallError::unexpected(self.target, other, "vote")),
            Err(error) => Err(error),
        }
        .map_err(|e| self.rpc_error(RPCTypes::Vote, e))
    }
}

impl RaftNetworkV2<NeoRaft> for GroupNetwork {
    type SnapshotData = SnapshotFiles;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<NeoRaft>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NeoRaft>, RPCError<NeoRaft>> {
        let error = |this: &Self, e| this.rpc_error(RPCTypes::AppendEntries, e);
        if self.heartbeats && rpc.entries.is_empty() {
            let peer = self.peer().map_err(|e| error(self, e))?;
            let deadline = Instant::now() + option.soft_ttl();
            return peer
                .heartbeats
                .send(self.factory.group, rpc, deadline)
                .await
                .map_err(|e| error(self, e));
        }

        // Entries that do not fit in one frame wait for the next request: openraft resends
        // from the partial success's log id.
        let fit = self.entries_that_fit(&rpc);
        if fit == 0
            && let Some(first) = rpc.entries.first()
        {
            let too_large = CallError::Encode(FrameError::TooLarge {
                length: postcard::experimental::serialized_size(first).unwrap_or(usize::MAX),
                max: self.factory.max_frame_bytes,
            });
            tracing::error!(
                group = %self.factory.group,
                error = %too_large,
                "a Raft entry does not fit in a cluster frame: raise max_frame_bytes"
            );
            return Err(error(self, too_large));
        }
        let cut = (fit < rpc.entries.len()).then(|| {
            rpc.entries.truncate(fit);
            rpc.entries.last().map(|entry| entry.log_id())
        });
        let request = Request::AppendEntries {
            group: self.factory.group,
            rpc,
        };
        match self.call(request, &option).await {
            Ok(Response::AppendEntries(AppendEntriesResponse::Success)) if cut.is_some() => {
                Ok(AppendEntriesResponse::PartialSuccess(cut.flatten()))
            }
            Ok(Response::AppendEntries(response)) => Ok(response),
            Ok(other) => Err(error(
                self,
                CallError::unexpected(self.target, other, "append entries"),
            )),
            Err(e) => Err(error(self, e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NeoRaft>,
        option: RPCOption,
    ) -> Result<VoteResponse<NeoRaft>, RPCError<NeoRaft>> {
        let group = self.factory.group;
        self.send_vote(Request::Vote { group, rpc }, option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<NeoRaft>,
        option: RPCOption,
    ) -> Result<VoteResponse<NeoRaft>, RPCError<NeoRaft>> {
        let group = self.factory.group;
        self.send_vote(Request::PreVote { group, rpc }, option)
            .await
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<NeoRaft>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<NeoRaft>, RPCError<NeoRaft>> {
        let group = self.factory.group;
        match self
            .call(Request::TransferLeader { group, rpc }, &option)
            .await
        {
            Ok(Response::TransferLeader(response)) => Ok(response),
            Ok(other) => Err(CallError::unexpected(self.target, other, "transfer leader")),
            Err(error) => Err(error),
        }
        .map_err(|e| self.rpc_error(RPCTypes::TransferLeader, e))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<NeoRaft>,
        snapshot: SnapshotOf<NeoRaft, SnapshotFiles>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NeoRaft>, StreamingError<NeoRaft>> {
        let signature = snapshot.meta.signature();
        let limits = SnapshotSendLimits {
            chunk_bytes: self.factory.snapshot_chunk_bytes,
            step_timeout: option.soft_ttl(),
        };
        let group = self.factory.group;
        let result = match self.peer() {
            Ok(peer) => tokio::select! {
                result = send_snapshot(&peer.link, group, vote, snapshot, limits) => result,
                closed = cancel => return Err(StreamingError::Closed(closed)),
            },
            Err(error) => Err(error),
        };
        result.map_err(|error| match error {
            // A newer snapshot replaced this one (and removed its files) during the transfer:
            // openraft sends the current one at its next attempt.
            CallError::SnapshotRead { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                StreamingError::Network(NetworkError::new(&*source))
            }
            CallError::SnapshotRead { source, .. } => {
                StreamingError::StorageError(StorageError::from_io_error(
                    ErrorSubject::Snapshot(Some(signature)),
                    ErrorVerb::Read,
                    std::io::Error::new(source.kind(), source.to_string()),
                ))
            }
            other => match self.rpc_error(RPCTypes::InstallSnapshot, other) {
                RPCError::Timeout(timeout) => StreamingError::Timeout(timeout),
                RPCError::Unreachable(unreachable) => StreamingError::Unreachable(unreachable),
                RPCError::Network(network) => StreamingError::Network(network),
                RPCError::RemoteError(remote) => {
                    StreamingError::Unreachable(Unreachable::new(&remote))
                }
            },
        })
    }
}

//! What travels in a cluster RPC frame: the requests a broker sends to a peer and the
//! responses it gets back, for every group sharing the connection.

use bytes::Bytes;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use serde::{Deserialize, Serialize};

use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// A request from the broker that opened the connection.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// The first frame of a connection: who is calling, and for which cluster.
    Hello {
        /// The caller's node id.
        node_id: NodeId,
        /// The caller's cluster id; a connection from another cluster is refused.
        cluster_id: String,
    },
    /// Raft AppendEntries for one group.
    AppendEntries {
        /// The target group.
        group: GroupId,
        /// openraft's request.
        rpc: AppendEntriesRequest<NeoRaft>,
    },
    /// Raft RequestVote for one group.
    Vote {
        /// The target group.
        group: GroupId,
        /// openraft's request.
        rpc: VoteRequest<NeoRaft>,
    },
    /// Raft Pre-Vote for one group.
    PreVote {
        /// The target group.
        group: GroupId,
        /// openraft's request.
        rpc: VoteRequest<NeoRaft>,
    },
    /// A leader handing one group's leadership to the receiver.
    TransferLeader {
        /// The target group.
        group: GroupId,
        /// openraft's request.
        rpc: TransferLeaderRequest<NeoRaft>,
    },
    /// Heartbeats (empty AppendEntries) of many groups, answered by one
    /// [`Response::Heartbeats`] in the same order.
    Heartbeats(Vec<Heartbeat>),
    /// The start of a snapshot transfer: what the files are.
    SnapshotOffer(SnapshotOffer),
    /// Bytes of one file of a snapshot transfer, in order.
    SnapshotChunk {
        /// The transfer, as named by its offer.
        transfer: u64,
        /// The file's position in the offer's list.
        file: u32,
        /// Where in the file the bytes go; always the bytes received so far.
        offset: u64,
        /// The bytes.
        data: Bytes,
    },
    /// Every file was sent: install the snapshot.
    SnapshotDone {
        /// The transfer, as named by its offer.
        transfer: u64,
    },
    /// A call to the receiving broker itself, not to a group (a metadata change forwarded to
    /// the controller's leader, for instance): answered by [`Response::Reply`].
    Call(Bytes),
}

/// One group's heartbeat in a [`Request::Heartbeats`] batch.
#[derive(Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The target group.
    pub group: GroupId,
    /// An AppendEntries without entries.
    pub rpc: AppendEntriesRequest<NeoRaft>,
}

/// The start of a snapshot transfer.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotOffer {
    /// The group the snapshot is of.
    pub group: GroupId,
    /// The sender's id for this transfer, unique on the connection.
    pub transfer: u64,
    /// The leader's vote, checked by the receiving group when it installs.
    pub vote: VoteOf<NeoRaft>,
    /// What the snapshot covers.
    pub meta: SnapshotMetaOf<NeoRaft>,
    /// The files, sent in this order.
    pub files: Vec<SnapshotFileHeader>,
}

/// A file of a snapshot as announced in its offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFileHeader {
    /// The file's name, a single path component.
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
}

/// The answer to one [`Request`], with the request's correlation id.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// The hello was accepted by this node.
    Welcome {
        /// The answering node's id.
        node_id: NodeId,
    },
    /// The group's answer to AppendEntries.
    AppendEntries(AppendEntriesResponse<NeoRaft>),
    /// The group's answer to a vote or pre-vote.
    Vote(VoteResponse<NeoRaft>),
    /// The group's answer to a leadership transfer.
    TransferLeader(TransferLeaderResponse<NeoRaft>),
    /// One answer per heartbeat of the batch, in its order.
    Heartbeats(Vec<Result<AppendEntriesResponse<NeoRaft>, RemoteError>>),
    /// A snapshot offer or chunk was taken; send the next.
    SnapshotProgress,
    /// The snapshot was installed (or refused for a stale vote, which the response's vote says).
    SnapshotInstalled(SnapshotResponse<NeoRaft>),
    /// The request failed on the receiving node.
    Error(RemoteError),
    /// The answer to a [`Request::Call`].
    Reply(Bytes),
}

impl Response {
    /// The response's kind, for errors about an unexpected one.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Welcome { .. } => "welcome",
            Response::AppendEntries(_) => "append entries",
            Response::Vote(_) => "vote",
            Response::TransferLeader(_) => "transfer leader",
            Response::Heartbeats(_) => "heartbeats",
            Response::SnapshotProgress => "snapshot progress",
            Response::SnapshotInstalled(_) => "snapshot installed",
            Response::Error(_) => "error",
            Response::Reply(_) => "reply",
        }
    }
}

/// Why a receiving node could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RemoteError {
    /// The hello named another cluster.
    #[error("this node is in cluster {expected:?}, not {offered:?}")]
    ClusterMismatch {
        /// The receiver's cluster id.
        expected: String,
        /// The caller's.
        offered: String,
    },
    /// The connection did not start with a hello, or sent a second one.
    #[error("a hello must be the first frame of a connection, and only the first")]
    HelloOutOfPlace,
    /// The group is not open on the receiving node.
    #[error("group {0} is not open on this node")]
    UnknownGroup(GroupId),
    /// The group is open but its Raft stopped (shut down or failed).
    #[error("group {group} stopped: {reason}")]
    GroupStopped {
        /// The group.
        group: GroupId,
        /// openraft's error.
        reason: String,
    },
    /// A snapshot transfer step was refused (unknown transfer, bad file name or offset, disk
    /// error while staging); the transfer is abandoned.
    #[error("snapshot transfer refused: {0}")]
    SnapshotRefused(String),
    /// The receiving broker takes no calls (yet: it is starting).
    #[error("this node takes no calls")]
    NoCallHandler,
}

//! The openraft type configuration every group of a Neo cluster uses.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A broker's id (Kafka's broker id), also its Raft node id.
pub type NodeId = u64;

/// What a group's log entry carries: a metadata command (controller), or a record batch
/// (partition groups), as opaque bytes the group's state machine interprets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal(pub Bytes);

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proposal of {} bytes", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// The type configuration of Neo's Raft groups.
    pub NeoRaft:
        D = Proposal,
        R = bytes::Bytes,
        NodeId = NodeId,
        Node = openraft::impls::BasicNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
);

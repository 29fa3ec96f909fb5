//! Errors of the replication layer, in its callers' terms.

use crate::types::NodeId;

/// Why a proposal or a group operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// This broker does not lead the group; `leader` does, if one is known.
    #[error("not the leader of {group} (leader: {leader:?})")]
    NotLeader {
        group: String,
        leader: Option<NodeId>,
    },
    /// The group is stopping or stopped.
    #[error("{group} is shutting down")]
    ShuttingDown { group: String },
    /// The group's storage failed.
    #[error("{group}: storage failure: {reason}")]
    Storage { group: String, reason: String },
    /// Another failure of the Raft group.
    #[error("{group}: {reason}")]
    Raft { group: String, reason: String },
}

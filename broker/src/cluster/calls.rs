//! What one broker asks another (beside Raft's own messages), encoded for the cluster RPC.

use serde::{Deserialize, Serialize};

use crate::metadata::{MetadataCommand, VoterChange};

/// A call to another broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ClusterCall {
    /// A metadata change for the controller's leader to propose; answered with its outcome.
    ProposeMetadata(MetadataCommand),
    /// A change of the controller's voters for its leader to make; answered with its outcome.
    ChangeVoters(VoterChange),
    /// A partition's leadership to hand to replica `to`, sent to its leader; answered with
    /// the new leader or why not.
    TransferLeader {
        topic: String,
        partition: i32,
        to: u64,
    },
}

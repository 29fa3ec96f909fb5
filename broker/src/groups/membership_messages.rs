//! What members send and get back in a rebalance: JoinGroup's request and outcome, and
//! SyncGroup's outcome.

use bytes::Bytes;

/// A JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a new member.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// Whether a new member must first ask for an id (Kafka JoinGroup v4+).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A completed join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinedMember>,
}

/// A completed sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub protocol_type: String,
    pub protocol_name: String,
    pub assignment: Bytes,
}

//! One member of a classic consumer group.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::GroupError;
use super::membership_messages::{JoinOutcome, SyncOutcome};

/// A member and what it is waiting for.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// `(name, metadata)` in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    /// Set while the member waits in JoinGroup for the rebalance to complete.
    pub awaiting_join: Option<oneshot::Sender<Result<JoinOutcome, GroupError>>>,
    /// Set while the member waits in SyncGroup for the leader's assignment.
    pub awaiting_sync: Option<oneshot::Sender<Result<SyncOutcome, GroupError>>>,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether the member's session has run out at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.awaiting_join.is_none()
            && now.duration_since(self.last_heartbeat).as_millis() as u64 > self.session_timeout_ms
    }
}

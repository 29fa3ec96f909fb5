//! Handing a group's leadership to a follower: before this broker stops, or back to the
//! preferred replica.

use std::time::Duration;

use openraft::Raft;
use openraft::async_runtime::WatchReceiver;

use crate::types::{NeoRaft, NodeId};

/// Hands `raft`'s leadership (if `me` leads) to `to`, or to the follower with the longest
/// matching log; whether another node leads within `wait`.
pub(crate) async fn hand_over<SM>(
    raft: &Raft<NeoRaft, SM>,
    me: NodeId,
    to: Option<NodeId>,
    wait: Duration,
) -> bool
where
    SM: openraft::storage::RaftStateMachine<NeoRaft>,
{
    let target = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow_watched();
        if metrics.current_leader != Some(me) {
            return metrics.current_leader.is_some();
        }
        metrics.replication.as_ref().and_then(|followers| {
            followers
                .iter()
                .filter(|(id, _)| **id != me && to.is_none_or(|to| **id == to))
                .max_by_key(|(_, matched)| matched.map(|log_id| log_id.index))
                .map(|(id, _)| *id)
        })
    };
    let Some(target) = target else {
        return false;
    };
    if raft.trigger().transfer_leader(target).await.is_err() {
        return false;
    }
    raft.wait(Some(wait))
        .metrics(
            |m| m.current_leader.is_some_and(|leader| leader != me),
            "leadership handed over",
        )
        .await
        .is_ok()
}

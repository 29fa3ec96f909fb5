//! The node's one heartbeat clock: every interval, each group this node leads sends its
//! heartbeats at the same moment, so the per-peer batchers carry them all in one frame.
//!
//! Each group's own openraft heartbeat timer is turned off when it registers with the
//! transport: left on, the groups' heartbeats would go out at unrelated moments and no short
//! window could gather them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::MissedTickBehavior;

use super::registry::GroupRegistry;

/// Runs forever (until aborted), triggering heartbeats of the leaders in `registry`.
pub(crate) async fn run_heartbeat_ticker(registry: Arc<GroupRegistry>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let leaders = registry.leaders();
        join_all(leaders.iter().map(|group| group.send_heartbeat())).await;
    }
}

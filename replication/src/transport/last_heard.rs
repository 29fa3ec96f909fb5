//! When each peer was last heard from (any request it sent this node): what tells a follower
//! that a leader's broker has gone silent.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use crate::types::NodeId;

/// The last time each peer sent this node a request.
#[derive(Debug, Default)]
pub(crate) struct LastHeard(Mutex<HashMap<NodeId, Instant>>);

impl LastHeard {
    /// Notes a request from `node` now.
    pub(crate) fn heard(&self, node: NodeId) {
        self.0.lock().insert(node, Instant::now());
    }

    /// When `node` was last heard from, if ever since this node started.
    pub(crate) fn get(&self, node: NodeId) -> Option<Instant> {
        self.0.lock().get(&node).copied()
    }
}

//! Where each peer broker listens for cluster connections.

use std::collections::HashMap;
use std::net::SocketAddr;

use parking_lot::RwLock;

use crate::types::NodeId;

/// Node id → cluster address, changed as brokers join, move or leave. A change takes effect at
/// the next connection to that node.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    addresses: RwLock<HashMap<NodeId, SocketAddr>>,
}

impl PeerTable {
    pub(crate) fn set(&self, node: NodeId, addr: SocketAddr) {
        self.addresses.write().insert(node, addr);
    }

    pub(crate) fn remove(&self, node: NodeId) {
        self.addresses.write().remove(&node);
    }

    pub(crate) fn get(&self, node: NodeId) -> Option<SocketAddr> {
        self.addresses.read().get(&node).copied()
    }

    /// Every node with an address.
    pub(crate) fn nodes(&self) -> Vec<NodeId> {
        self.addresses.read().keys().copied().collect()
    }
}

//! The peers this node talks to: one link and one heartbeat batcher per peer, created on first
//! use and shared by every group.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::config::LONGEST_BATCH_WAIT_DIVISOR;
use super::dial::Dialer;
use super::error::CallError;
use super::heartbeat_batcher::{BatchWindow, HeartbeatBatcher, HeartbeatCounters};
use super::peer_link::{LinkCounters, PeerLink};
use crate::types::NodeId;

/// Traffic on the connection this node opened to one peer, since the transport started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Request frames sent (one per RPC, one per heartbeat batch).
    pub frames_sent: u64,
    /// Response frames received.
    pub frames_received: u64,
    /// Heartbeats sent, all groups together.
    pub heartbeats_sent: u64,
    /// Frames that carried those heartbeats.
    pub heartbeat_frames_sent: u64,
}

/// What this node keeps for one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) link: Arc<PeerLink>,
    pub(crate) heartbeats: HeartbeatBatcher,
    link_counters: Arc<LinkCounters>,
    heartbeat_counters: Arc<HeartbeatCounters>,
}

impl Peer {
    fn stats(&self) -> PeerStats {
        PeerStats {
            frames_sent: self.link_counters.frames_sent.load(Ordering::Relaxed),
            frames_received: self.link_counters.frames_received.load(Ordering::Relaxed),
            heartbeats_sent: self.heartbeat_counters.heartbeats.load(Ordering::Relaxed),
            heartbeat_frames_sent: self.heartbeat_counters.frames.load(Ordering::Relaxed),
        }
    }

    fn close(&self) {
        self.heartbeats.close();
        self.link.close();
    }
}

/// Every peer of this node, by id.
pub(crate) struct Peers {
    dialer: Dialer,
    state: Mutex<PeersState>,
}

#[derive(Default)]
struct PeersState {
    peers: HashMap<NodeId, Arc<Peer>>,
    closed: bool,
}

impl Peers {
    pub(crate) fn new(dialer: Dialer) -> Self {
        Self {
            dialer,
            state: Mutex::new(PeersState::default()),
        }
    }

    /// The peer `node`, created (with no connection yet) on first use.
    pub(crate) fn get(&self, node: NodeId) -> Result<Arc<Peer>, CallError> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(CallError::Closed);
        }
        let peer = state
            .peers
            .entry(node)
            .or_insert_with(|| Arc::new(self.spawn_peer(node)));
        Ok(peer.clone())
    }

    fn spawn_peer(&self, node: NodeId) -> Peer {
        let config = &self.dialer.config;
        let link_counters = Arc::new(LinkCounters::default());
        let heartbeat_counters = Arc::new(HeartbeatCounters::default());
        let link = Arc::new(PeerLink::spawn(
            node,
            self.dialer.clone(),
            config.max_in_flight,
            link_counters.clone(),
        ));
        let heartbeats = HeartbeatBatcher::spawn(
            link.clone(),
            BatchWindow {
                quiet: config.heartbeat_window,
                longest: config.heartbeat_interval / LONGEST_BATCH_WAIT_DIVISOR,
            },
            config.max_frame_bytes,
            heartbeat_counters.clone(),
        );
        Peer {
            link,
            heartbeats,
            link_counters,
            heartbeat_counters,
        }
    }

    /// Traffic to `node` so far (zero if nothing was ever sent to it).
    pub(crate) fn stats(&self, node: NodeId) -> PeerStats {
        self.state
            .lock()
            .peers
            .get(&node)
            .map(|peer| peer.stats())
            .unwrap_or_default()
    }

    /// Since when the connection to `node` is lost, if it was not opened again since (none
    /// while it was never tried).
    pub(crate) fn lost_since(&self, node: NodeId) -> Option<std::time::Instant> {
        self.state
            .lock()
            .peers
            .get(&node)
            .and_then(|peer| peer.link.lost_since())
    }

    /// Closes every connection; later requests fail with [`CallError::Closed`].
    pub(crate) fn close(&self) {
        let peers: Vec<Arc<Peer>> = {
            let mut state = self.state.lock();
            state.closed = true;
            state.peers.drain().map(|(_, peer)| peer).collect()
        };
        for peer in peers {
            peer.close();
        }
    }
}

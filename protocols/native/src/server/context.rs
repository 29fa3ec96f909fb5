//! What every connection of one server shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use neo_broker::Broker;

use super::config::NativeConfig;
use super::rpc;

/// What every connection of one server shares.
pub(crate) struct Context {
    pub broker: Arc<Broker>,
    pub config: NativeConfig,
    pub rpc: rpc::Registry,
    /// Which other broker a call no instance here serves is sent to first (round-robin).
    pub rpc_rotation: AtomicUsize,
    /// The next queue holder id's counter (see [`Context::next_holder`]).
    pub holders: AtomicU64,
}

/// Set in every native holder id, keeping them apart from the AMQP gateway's (which are
/// `node_id << 40` plus a counter, below it).
const NATIVE_HOLDER: u64 = 1 << 63;

impl Context {
    /// A queue holder id unique in the cluster: this broker's id, a counter, and the native
    /// protocol's bit (a restarted broker's old holders are released by the queue's leader).
    pub(crate) fn next_holder(&self) -> u64 {
        let node = self.broker.config().node_id & ((1 << 23) - 1);
        NATIVE_HOLDER
            | node << 40
            | (self.holders.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1))
    }
}

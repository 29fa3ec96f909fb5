//! What every connection of one server shares.

use std::sync::Arc;

use neo_broker::Broker;

use super::config::NativeConfig;
use super::rpc;

/// What every connection of one server shares.
pub(crate) struct Context {
    pub broker: Arc<Broker>,
    pub config: NativeConfig,
    pub rpc: rpc::Registry,
}

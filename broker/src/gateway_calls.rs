//! Calls between the same front-end on two brokers (an SQS request forwarded to the broker
//! leading its queue): a front-end answers its own service's calls, and the cluster RPC
//! carries them as bytes the broker does not read.

use bytes::Bytes;
use futures_util::future::BoxFuture;

/// An answer on its way.
pub type Answer = BoxFuture<'static, Bytes>;

/// A front-end's answers to its peers on other brokers.
pub trait GatewayCalls: Send + Sync {
    /// Answers `payload`, a call the same front-end on another broker made.
    fn call(&self, payload: Bytes) -> Answer;
}

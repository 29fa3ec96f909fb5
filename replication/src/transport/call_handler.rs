//! Calls between brokers that are not Raft messages: the broker answers them itself (a
//! metadata change forwarded to the controller's leader, a question about a partition).

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::types::NodeId;

/// What a broker answers [`crate::transport::ClusterTransport::call`]s from its peers with.
pub trait CallHandler: Send + Sync + 'static {
    /// The answer to `payload` from node `from`.
    fn call(&self, from: NodeId, payload: Bytes) -> BoxFuture<'static, Bytes>;
}

//! The transport's errors: starting it, and one call to a peer failing.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::frame::FrameError;
use super::message::{RemoteError, Response};
use crate::types::NodeId;

/// Why the cluster transport did not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A setting is out of range or disagrees with another.
    #[error("invalid cluster transport config: {0}")]
    InvalidConfig(String),
    /// The cluster listener could not bind its address.
    #[error("cannot listen for cluster connections on {addr}: {source}")]
    Listen {
        /// The listen address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The snapshot staging directory could not be created or cleaned up.
    #[error("cannot prepare the snapshot staging directory {path}: {source}")]
    StagingDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A call to a peer got no answer (it may or may not have been carried out).
    #[error("cluster call failed: {0}")]
    Call(String),
    /// A call could not be sent (no address, or no connection): it was not carried out.
    #[error("cluster call not sent: {0}")]
    Unreachable(String),
}

/// Why one request to a peer got no answer from its group.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// The peer table has no address for the node.
    #[error("no cluster address known for node {0}")]
    NoAddress(NodeId),
    /// Connecting, or the hello, failed.
    #[error("cannot connect to node {node} at {addr}: {reason}")]
    Connect {
        node: NodeId,
        addr: SocketAddr,
        reason: String,
    },
    /// The connection closed (or was being re-established) before the answer came.
    #[error("connection to node {node} lost: {reason}")]
    Disconnected { node: NodeId, reason: String },
    /// No answer within the caller's timeout.
    #[error("no answer from node {node} within {timeout:?}")]
    Timeout { node: NodeId, timeout: Duration },
    /// The request does not fit in a frame.
    #[error("request not sent: {0}")]
    Encode(FrameError),
    /// The peer answered with an error.
    #[error("node {node} refused: {error}")]
    Remote { node: NodeId, error: RemoteError },
    /// The peer answered with the wrong kind of response.
    #[error("node {node} answered {got} to {expected}")]
    UnexpectedResponse {
        node: NodeId,
        expected: &'static str,
        got: &'static str,
    },
    /// A local snapshot file could not be read.
    #[error("cannot read snapshot file {path}: {source}")]
    SnapshotRead {
        path: PathBuf,
        source: Arc<io::Error>,
    },
    /// The transport was shut down.
    #[error("the cluster transport is shut down")]
    Closed,
}

impl CallError {
    /// The error for `response` when `expected` was wanted: the peer's own error if it sent one.
    pub(crate) fn unexpected(node: NodeId, response: Response, expected: &'static str) -> Self {
        match response {
            Response::Error(error) => CallError::Remote { node, error },
            other => CallError::UnexpectedResponse {
                node,
                expected,
                got: other.kind(),
            },
        }
    }
}

//! Errors of the SDK.

use neo_native::wire::ErrorCode;

/// A failed client operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The broker could not be reached (after the configured reconnect attempts).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The connection closed before the answer arrived.
    #[error("connection closed")]
    Closed,
    /// The broker's ACLs refuse this client the operation (the AccessDenied code).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The broker refused the request.
    #[error("broker error {code:?}: {message}")]
    Broker {
        /// The error code (a wire contract, see PROTOCOL.md).
        code: ErrorCode,
        /// The broker's explanation.
        message: String,
    },
    /// The broker sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No answer within the time allowed.
    #[error("timed out")]
    Timeout,
    /// A record or batch could not be built or read.
    #[error("record batch: {0}")]
    Batch(String),
    /// The producer was closed.
    #[error("producer closed")]
    ProducerClosed,
}

impl ClientError {
    /// The error for a broker's Error frame.
    pub(crate) fn refused(code: ErrorCode, message: String) -> ClientError {
        match code {
            ErrorCode::AccessDenied => ClientError::AccessDenied(message),
            code => ClientError::Broker { code, message },
        }
    }

    /// Whether the request may succeed at the partition's leader as the metadata says now:
    /// the broker did not lead it, was stopping, or could not be reached.
    pub(crate) fn leader_moved(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Closed
                | ClientError::Broker {
                    code: ErrorCode::NotLeader | ErrorCode::ShuttingDown,
                    ..
                }
        )
    }

    /// The broker's error code, when the broker refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::AccessDenied(_) => Some(ErrorCode::AccessDenied),
            _ => None,
        }
    }
}

/// A failed brokered RPC call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// No live instance serves the method.
    #[error("no instance: {0}")]
    NoInstance(String),
    /// The instance did not reply in time.
    #[error("call timed out")]
    Timeout,
    /// The handler returned an error.
    #[error("handler error: {0}")]
    Handler(String),
    /// The call could not be made.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl From<ClientError> for RpcErrorFromBroker {
    fn from(e: ClientError) -> Self {
        RpcErrorFromBroker(e)
    }
}

/// Maps a broker refusal of a call to its RPC meaning.
pub(crate) struct RpcErrorFromBroker(pub ClientError);

impl From<RpcErrorFromBroker> for RpcError {
    fn from(RpcErrorFromBroker(e): RpcErrorFromBroker) -> Self {
        match e {
            ClientError::Broker {
                code: ErrorCode::NoInstance,
                message,
            } => RpcError::NoInstance(message),
            ClientError::Broker {
                code: ErrorCode::Timeout,
                ..
            }
            | ClientError::Timeout => RpcError::Timeout,
            ClientError::Broker {
                code: ErrorCode::HandlerError,
                message,
            } => RpcError::Handler(message),
            other => RpcError::Client(other),
        }
    }
}

//! Broker, group and ACL errors as native error codes: the one place they are mapped.

use neo_broker::acls::{Caller, Operation, Resource};
use neo_broker::{Broker, BrokerError, GroupError};

use crate::wire::{ErrorCode, Message};

/// The error frame for a broker failure.
pub(crate) fn broker_error(e: &BrokerError) -> Message {
    let code = match e {
        BrokerError::UnknownTopicOrPartition { .. } => ErrorCode::UnknownTopicOrPartition,
        BrokerError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
        BrokerError::InvalidTopic { .. } => ErrorCode::InvalidTopic,
        BrokerError::InvalidPartitions(_) | BrokerError::InvalidConfig { .. } => {
            ErrorCode::InvalidRequest
        }
        BrokerError::OutOfOrderSequence {
            sequence, expected, ..
        } => {
            // Below the expected one (and not among the batches remembered): appended long ago.
            if sequence < expected && expected - sequence < i32::MAX / 2 {
                ErrorCode::DuplicateSequence
            } else {
                ErrorCode::OutOfOrderSequence
            }
        }
        BrokerError::NotLeader { .. } => ErrorCode::NotLeader,
        BrokerError::InvalidRecord { .. } | BrokerError::InvalidProducerEpoch { .. } => {
            ErrorCode::InvalidRecords
        }
        BrokerError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        BrokerError::InvalidBatch(_) => ErrorCode::InvalidRecords,
        BrokerError::ShuttingDown | BrokerError::PartitionClosed => ErrorCode::ShuttingDown,
        _ => ErrorCode::Internal,
    };
    Message::Error {
        code,
        message: e.to_string(),
    }
}

/// The error frame for a group-coordinator failure.
pub(crate) fn group_error(e: &GroupError) -> Message {
    Message::Error {
        code: ErrorCode::GroupError,
        message: e.to_string(),
    }
}

/// Nothing when `caller` may do `operation` on `resource` by the broker's ACLs, else the
/// AccessDenied error frame.
pub(crate) fn authorize(
    broker: &Broker,
    caller: &Caller,
    operation: Operation,
    resource: Resource<'_>,
) -> Result<(), Message> {
    broker
        .authorize(caller, operation, resource)
        .map_err(|denied| error(ErrorCode::AccessDenied, denied.to_string()))
}

/// An error frame with `code`.
pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> Message {
    Message::Error {
        code,
        message: message.into(),
    }
}

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
            // Behind the expected one (sequences wrap at 2^31), and not among the batches
            // remembered: appended long ago.
            let behind = (i64::from(*expected) - i64::from(*sequence)).rem_euclid(1 << 31);
            if behind > 0 && behind < 1 << 30 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: BrokerError) -> ErrorCode {
        match broker_error(&e) {
            Message::Error { code, .. } => code,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn leadership_and_sequence_errors_have_their_own_codes() {
        let out_of_order = |sequence, expected| BrokerError::OutOfOrderSequence {
            producer_id: 7,
            sequence,
            expected,
        };
        let cases = [
            (
                BrokerError::NotLeader {
                    partition: "t-0".into(),
                    leader: Some(2),
                },
                ErrorCode::NotLeader,
            ),
            (out_of_order(9, 5), ErrorCode::OutOfOrderSequence),
            (out_of_order(3, 10), ErrorCode::DuplicateSequence),
            // Sequence numbers wrap at 2^31: before the wrap is behind, after it ahead.
            (out_of_order(i32::MAX - 2, 4), ErrorCode::DuplicateSequence),
            (out_of_order(3, i32::MAX - 2), ErrorCode::OutOfOrderSequence),
        ];
        for (error, expected) in cases {
            let shown = error.to_string();
            assert_eq!(code(error), expected, "{shown}");
        }
    }
}

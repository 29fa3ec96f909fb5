//! Broker errors in Kafka's terms: the error code a Kafka broker would answer with.

use kafka_protocol::error::ResponseError;
use neo_broker::BrokerError;
use neo_broker::acls::{Denied, ResourceType};
use neo_record::BatchError;

/// The Kafka error code for `error`.
pub fn code(error: &BrokerError) -> i16 {
    kind(error).code()
}

fn kind(error: &BrokerError) -> ResponseError {
    match error {
        BrokerError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
        BrokerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
        BrokerError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
        BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        BrokerError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
        BrokerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        BrokerError::ShuttingDown => ResponseError::NotLeaderOrFollower,
        BrokerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        BrokerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        BrokerError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        BrokerError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        BrokerError::InvalidBatch(batch) => match batch {
            BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
            BatchError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
            BatchError::UnknownCompression(_) => ResponseError::UnsupportedCompressionType,
            BatchError::Empty => ResponseError::InvalidRecord,
            _ => ResponseError::CorruptMessage,
        },
        // Retriable: a deleted partition is unknown on the retry, a stopping broker's
        // clients move to another one.
        BrokerError::PartitionClosed => ResponseError::NotLeaderOrFollower,
        // Retriable: the client refreshes its metadata and goes to the leader.
        BrokerError::NotLeader { .. } | BrokerError::NotCommitted { .. } => {
            ResponseError::NotLeaderOrFollower
        }
        BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        BrokerError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        BrokerError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        BrokerError::Replication(_) => ResponseError::KafkaStorageError,
        BrokerError::LeaderNotMoved { .. } => ResponseError::PreferredLeaderNotAvailable,
        // Retriable: the client sends the change again once the controller takes it.
        BrokerError::Controller(_) | BrokerError::Cluster(_) => ResponseError::NotController,
        BrokerError::Storage(_) => ResponseError::KafkaStorageError,
        BrokerError::DataDir { .. } => ResponseError::KafkaStorageError,
        BrokerError::MetadataCorrupt { .. } | BrokerError::Metrics(_) => {
            ResponseError::UnknownServerError
        }
    }
}

/// The code and the message to send beside it (APIs that carry an error message).
pub fn code_and_message(error: &BrokerError) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    (code(error), Some(error.to_string().into()))
}

/// The Kafka error code for an ACL refusal: its resource type's AUTHORIZATION_FAILED.
pub fn denied(denied: &Denied) -> i16 {
    match denied.resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        ResourceType::DelegationToken => ResponseError::DelegationTokenAuthorizationFailed,
        ResourceType::Cluster | ResourceType::User => ResponseError::ClusterAuthorizationFailed,
    }
    .code()
}

/// The Kafka error code for a group coordinator error.
pub fn group_code(error: &neo_broker::GroupError) -> i16 {
    use neo_broker::GroupError as G;
    match error {
        G::UnknownMemberId => ResponseError::UnknownMemberId,
        G::IllegalGeneration => ResponseError::IllegalGeneration,
        G::RebalanceInProgress => ResponseError::RebalanceInProgress,
        G::MemberIdRequired(_) => ResponseError::MemberIdRequired,
        G::FencedInstanceId => ResponseError::FencedInstanceId,
        G::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        G::InvalidGroupId => ResponseError::InvalidGroupId,
        G::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        G::GroupIdNotFound => ResponseError::GroupIdNotFound,
        G::NonEmptyGroup => ResponseError::NonEmptyGroup,
        G::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        // Retriable: the client tries the commit again.
        G::Storage => ResponseError::CoordinatorNotAvailable,
        // Retriable: the client finds the coordinator again.
        G::NotCoordinator => ResponseError::NotCoordinator,
        G::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        G::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
    }
    .code()
}

//! Why a group operation failed, in terms every front-end can map to its codes.

/// A group coordinator error. Kafka's front-end maps each to the error code of the same name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("illegal generation")]
    IllegalGeneration,
    #[error("rebalance in progress")]
    RebalanceInProgress,
    #[error("member id required: rejoin with member id {0}")]
    MemberIdRequired(String),
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    #[error("protocol type or protocols do not match the group")]
    InconsistentGroupProtocol,
    #[error("group id is invalid")]
    InvalidGroupId,
    #[error("session timeout outside the broker's allowed range")]
    InvalidSessionTimeout,
    #[error("group not found")]
    GroupIdNotFound,
    #[error("group has members")]
    NonEmptyGroup,
    #[error("the group is subscribed to this topic")]
    GroupSubscribedToTopic,
    #[error("storing offsets failed")]
    Storage,
    /// Another broker coordinates the group (or none does yet): the client finds it again.
    #[error("this broker is not the group's coordinator")]
    NotCoordinator,
    /// This broker became the group's coordinator and is still loading its offsets.
    #[error("the coordinator is loading the group's offsets")]
    CoordinatorLoadInProgress,
    /// No broker coordinates the group now (the offsets topic is being created, or its
    /// partition has no leader).
    #[error("no coordinator is available for the group")]
    CoordinatorNotAvailable,
}

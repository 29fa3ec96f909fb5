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
}

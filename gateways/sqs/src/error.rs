//! The errors SQS answers with: each has its JSON `__type`, its Query-protocol code, its HTTP
//! status and whether the sender is at fault. Mapped to the wire in exactly one place
//! ([`crate::response`]).

/// An SQS error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueNameExists(String),
    #[error(
        "You must wait 60 seconds after deleting a queue before you can create another with the same name."
    )]
    QueueDeletedRecently,
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error("There should be at least one {0} in the request.")]
    EmptyBatchRequest(String),
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("Message does not exist or is not available for visibility timeout change.")]
    MessageNotInflight,
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("Batch requests cannot be longer than {0} bytes.")]
    BatchRequestTooLong(usize),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("The action {0} is not valid for this web service.")]
    InvalidAction(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    MalformedRequest(String),
    #[error("Request body larger than {0} bytes.")]
    RequestTooLarge(usize),
    /// The broker's ACLs refuse the caller the action on the queue (`resource`, its ARN).
    #[error("User: {principal} is not authorized to perform: sqs:{action} on resource: {resource}")]
    AccessDenied {
        principal: String,
        action: String,
        resource: String,
    },
    #[error("The request processing has failed because of an unknown error.")]
    Internal,
}

impl SqsError {
    /// The error's name in the JSON protocol (after `com.amazonaws.sqs#`).
    pub fn json_type(&self) -> &'static str {
        match self {
            SqsError::QueueDoesNotExist => "QueueDoesNotExist",
            SqsError::QueueNameExists(_) => "QueueNameExists",
            SqsError::QueueDeletedRecently => "QueueDeletedRecently",
            SqsError::InvalidParameterValue(_) => "InvalidParameterValue",
            SqsError::MissingParameter(_) => "MissingParameter",
            SqsError::InvalidAttributeName(_) => "InvalidAttributeName",
            SqsError::InvalidAttributeValue(_) => "InvalidAttributeValue",
            SqsError::TooManyEntriesInBatchRequest(_) => "TooManyEntriesInBatchRequest",
            SqsError::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
            SqsError::EmptyBatchRequest(_) => "EmptyBatchRequest",
            SqsError::InvalidBatchEntryId => "InvalidBatchEntryId",
            SqsError::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
            SqsError::MessageNotInflight => "MessageNotInflight",
            SqsError::PurgeQueueInProgress(_) => "PurgeQueueInProgress",
            SqsError::InvalidMessageContents(_) => "InvalidMessageContents",
            SqsError::BatchRequestTooLong(_) => "BatchRequestTooLong",
            SqsError::ResourceNotFound(_) => "ResourceNotFoundException",
            SqsError::InvalidAction(_) => "InvalidAction",
            SqsError::UnsupportedOperation(_) => "UnsupportedOperation",
            SqsError::MalformedRequest(_) => "MalformedQueryString",
            SqsError::RequestTooLarge(_) => "RequestEntityTooLarge",
            SqsError::AccessDenied { .. } => "AccessDeniedException",
            SqsError::Internal => "InternalFailure",
        }
    }

    /// The JSON protocol's `__type`: the name in its namespace (an access denial is one of
    /// the errors common to all AWS services, not an SQS one).
    pub fn json_shape(&self) -> String {
        let namespace = match self {
            SqsError::AccessDenied { .. } => "com.amazon.coral.service",
            _ => "com.amazonaws.sqs",
        };
        format!("{namespace}#{}", self.json_type())
    }

    /// The error's code in the Query protocol (and the `x-amzn-query-error` header).
    pub fn query_code(&self) -> &'static str {
        match self {
            SqsError::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            SqsError::QueueNameExists(_) => "QueueAlreadyExists",
            SqsError::QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            SqsError::TooManyEntriesInBatchRequest(_) => {
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
            }
            SqsError::BatchEntryIdsNotDistinct(_) => {
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
            }
            SqsError::EmptyBatchRequest(_) => "AWS.SimpleQueueService.EmptyBatchRequest",
            SqsError::BatchRequestTooLong(_) => "AWS.SimpleQueueService.BatchRequestTooLong",
            SqsError::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            SqsError::MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            SqsError::PurgeQueueInProgress(_) => "AWS.SimpleQueueService.PurgeQueueInProgress",
            SqsError::UnsupportedOperation(_) => "AWS.SimpleQueueService.UnsupportedOperation",
            SqsError::AccessDenied { .. } => "AccessDenied",
            other => other.json_type(),
        }
    }

    /// The HTTP status SQS answers the error with.
    pub fn status(&self) -> u16 {
        match self {
            SqsError::AccessDenied { .. } => 403,
            SqsError::ResourceNotFound(_) => 404,
            SqsError::RequestTooLarge(_) => 413,
            SqsError::Internal => 500,
            _ => 400,
        }
    }

    /// Whether the caller caused it (`Sender`) or the server (`Receiver`).
    pub fn sender_fault(&self) -> bool {
        !matches!(self, SqsError::Internal)
    }

    /// An invalid value for `name`, in SQS's words.
    pub fn invalid_value(name: &str, value: impl std::fmt::Display, reason: &str) -> SqsError {
        SqsError::InvalidParameterValue(format!(
            "Value {value} for parameter {name} is invalid. Reason: {reason}"
        ))
    }
}

impl From<neo_broker::BrokerError> for SqsError {
    fn from(e: neo_broker::BrokerError) -> SqsError {
        tracing::error!(error = %e, "sqs: broker call failed");
        SqsError::Internal
    }
}

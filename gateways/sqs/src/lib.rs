//! SQS-compatible HTTP gateway. Not built yet: see the SQS gateway issue.

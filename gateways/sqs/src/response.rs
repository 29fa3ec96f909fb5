//! Answers on the wire: a result or an [`SqsError`] encoded in the request's protocol.
//! The one place errors become status codes, `__type`s and XML codes.

use serde_json::{Map, Value, json};

use crate::error::SqsError;
use crate::request::Protocol;
use crate::xml;

/// An encoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// `x-amzn-query-error` for JSON-protocol errors.
    pub query_error: Option<String>,
    pub body: Vec<u8>,
}

pub(crate) const JSON_TYPE: &str = "application/x-amz-json-1.0";
pub(crate) const XML_TYPE: &str = "text/xml";

/// A successful result of `action`.
pub fn success(protocol: Protocol, action: &str, result: &Map<String, Value>, id: &str) -> Reply {
    match protocol {
        Protocol::Json => Reply {
            status: 200,
            content_type: JSON_TYPE,
            query_error: None,
            body: serde_json::to_vec(result).unwrap_or_else(|_| b"{}".to_vec()),
        },
        Protocol::Query => Reply {
            status: 200,
            content_type: XML_TYPE,
            query_error: None,
            body: xml::response(action, result, id).into_bytes(),
        },
    }
}

/// An error answer.
pub fn failure(protocol: Protocol, error: &SqsError, id: &str) -> Reply {
    let fault = if error.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    match protocol {
        Protocol::Json => Reply {
            status: error.status(),
            content_type: JSON_TYPE,
            query_error: Some(format!("{};{fault}", error.query_code())),
            body: serde_json::to_vec(&json!({
                "__type": error.json_shape(),
                "message": error.to_string(),
            }))
            .unwrap_or_default(),
        },
        Protocol::Query => Reply {
            status: error.status(),
            content_type: XML_TYPE,
            query_error: None,
            body: xml::error(
                error.query_code(),
                &error.to_string(),
                error.sender_fault(),
                id,
            )
            .into_bytes(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_errors_carry_type_and_query_code() {
        let r = failure(Protocol::Json, &SqsError::QueueDoesNotExist, "id");
        assert_eq!(r.status, 400);
        assert_eq!(
            r.query_error.as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    }

    #[test]
    fn access_denied_is_403_in_both_protocols_as_aws_sends_it() {
        let denied = SqsError::AccessDenied {
            principal: "User:AKID".into(),
            action: "SendMessage".into(),
            resource: "arn:aws:sqs:us-east-1:000000000000:q".into(),
        };
        let json = failure(Protocol::Json, &denied, "id");
        assert_eq!(json.status, 403);
        assert_eq!(json.query_error.as_deref(), Some("AccessDenied;Sender"));
        let body: Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(
            body["__type"],
            "com.amazon.coral.service#AccessDeniedException"
        );
        assert_eq!(
            body["message"],
            "User: User:AKID is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:q"
        );
        let query = failure(Protocol::Query, &denied, "id");
        assert_eq!(query.status, 403);
        let text = String::from_utf8(query.body).unwrap();
        assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
        assert!(text.contains("<Type>Sender</Type>"), "{text}");
    }

    #[test]
    fn query_errors_are_error_responses() {
        let r = failure(
            Protocol::Query,
            &SqsError::MissingParameter("QueueUrl".into()),
            "id",
        );
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.contains("<Code>MissingParameter</Code>"), "{text}");
        assert!(text.contains("<Type>Sender</Type>"));
        assert!(text.contains("<RequestId>id</RequestId>"));
    }
}

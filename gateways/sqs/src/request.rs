//! Telling the two wire protocols apart and turning a request into an action name and its
//! parameters, shaped as the JSON protocol has them. Sans-I/O: bytes and header values in,
//! a [`Request`] or an error out.

use serde_json::{Map, Value};

use crate::error::SqsError;
use crate::params::Params;
use crate::query_params::query_to_json;

/// The protocol a request came in with, which its answer goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Protocol {
    /// AWS JSON 1.0: `X-Amz-Target: AmazonSQS.<Action>`, a JSON object body.
    Json,
    /// The Query protocol: form-encoded `Action=...`, XML answers.
    Query,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub protocol: Protocol,
    pub action: String,
    /// The parameters, in the JSON protocol's shape.
    pub params: Map<String, Value>,
    /// The queue named by the URL path (`/<account>/<queue>`), if any.
    pub path_queue: Option<String>,
    /// The access key id the request was signed with, if any: who the caller says it is
    /// (the signature is not checked).
    pub access_key: Option<String>,
}

impl Request {
    /// The name of the queue the request is about: its `QueueUrl`, else the URL path it was
    /// sent to.
    pub fn queue_name(&self) -> Result<String, SqsError> {
        match Params(&self.params).str("QueueUrl")? {
            Some(url) => Ok(url
                .split('?')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()),
            None => self
                .path_queue
                .clone()
                .ok_or_else(|| SqsError::MissingParameter("QueueUrl".into())),
        }
    }
}

/// What the parser needs of the HTTP request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawRequest<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub target: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    /// The `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// The prefix of `X-Amz-Target` values.
const TARGET_PREFIX: &str = "AmazonSQS.";

/// Which protocol `raw` speaks (to answer in it even when parsing fails).
pub fn protocol_of(raw: &RawRequest<'_>) -> Protocol {
    let json_type = raw
        .content_type
        .is_some_and(|c| c.starts_with(b"application/x-amz-json"));
    if raw.target.is_some() || json_type {
        Protocol::Json
    } else {
        Protocol::Query
    }
}

/// Parses a request of either protocol.
pub fn parse(raw: &RawRequest<'_>) -> Result<Request, SqsError> {
    let path_queue = queue_of_path(raw.path);
    let signed_by = raw.authorization.and_then(header_access_key);
    match protocol_of(raw) {
        Protocol::Json => {
            let target = raw
                .target
                .ok_or_else(|| SqsError::MissingParameter("X-Amz-Target".into()))?;
            let target = std::str::from_utf8(target)
                .map_err(|_| SqsError::InvalidAction("(not UTF-8)".into()))?;
            let action = target
                .strip_prefix(TARGET_PREFIX)
                .ok_or_else(|| SqsError::InvalidAction(target.to_string()))?;
            let params = if raw.body.iter().all(u8::is_ascii_whitespace) {
                Map::new()
            } else {
                match serde_json::from_slice::<Value>(raw.body) {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => {
                        return Err(SqsError::MalformedRequest(
                            "The request body must be a JSON object.".into(),
                        ));
                    }
                    Err(e) => {
                        return Err(SqsError::MalformedRequest(format!(
                            "The request body is not valid JSON: {e}"
                        )));
                    }
                }
            };
            Ok(Request {
                protocol: Protocol::Json,
                action: action.to_string(),
                params,
                path_queue,
                access_key: signed_by,
            })
        }
        Protocol::Query => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            if let Some(query) = raw.query {
                pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
            }
            pairs.extend(form_urlencoded::parse(raw.body).into_owned());
            let action = pairs
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
                .ok_or_else(|| SqsError::MissingParameter("Action".into()))?;
            let access_key = signed_by.or_else(|| query_access_key(&pairs));
            let params = query_to_json(
                pairs
                    .into_iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "Action" | "Version")),
            )?;
            Ok(Request {
                protocol: Protocol::Query,
                action,
                params,
                path_queue,
                access_key,
            })
        }
    }
}

/// The access key id of an `Authorization` header: SigV4's `Credential=<key>/<scope>`, or
/// SigV2's `AWS <key>:<signature>`.
fn header_access_key(header: &[u8]) -> Option<String> {
    let header = std::str::from_utf8(header).ok()?;
    let key = match header.split_once("Credential=") {
        Some((_, credential)) => credential.split('/').next()?,
        None => header.strip_prefix("AWS ")?.split(':').next()?,
    };
    (!key.is_empty()).then(|| key.to_string())
}

/// The access key id of a presigned Query request: SigV4's `X-Amz-Credential` parameter, or
/// SigV2's `AWSAccessKeyId`.
fn query_access_key(pairs: &[(String, String)]) -> Option<String> {
    pairs.iter().find_map(|(k, v)| {
        let key = match k.as_str() {
            "X-Amz-Credential" => v.split('/').next()?,
            "AWSAccessKeyId" => v.as_str(),
            _ => return None,
        };
        (!key.is_empty()).then(|| key.to_string())
    })
}

/// The queue name of a queue URL path (`/<account>/<queue>`).
fn queue_of_path(path: &str) -> Option<String> {
    let mut parts = path.trim_matches('/').split('/');
    let (_account, queue) = (parts.next()?, parts.next()?);
    (parts.next().is_none() && !queue.is_empty()).then(|| queue.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw<'a>(target: Option<&'a str>, body: &'a str) -> RawRequest<'a> {
        RawRequest {
            path: "/",
            query: None,
            target: target.map(str::as_bytes),
            content_type: None,
            authorization: None,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn json_requests_name_the_action_in_the_target() {
        let r = parse(&raw(Some("AmazonSQS.SendMessage"), r#"{"QueueUrl":"u"}"#)).unwrap();
        assert_eq!(r.protocol, Protocol::Json);
        assert_eq!(r.action, "SendMessage");
        assert_eq!(r.params["QueueUrl"], "u");
    }

    #[test]
    fn json_bodies_that_are_not_objects_are_refused() {
        for body in ["[1]", "{", "\"x\""] {
            let e = parse(&raw(Some("AmazonSQS.ListQueues"), body)).unwrap_err();
            assert_eq!(e.json_type(), "MalformedQueryString");
        }
        let e = parse(&raw(Some("Other.ListQueues"), "{}")).unwrap_err();
        assert_eq!(e.json_type(), "InvalidAction");
    }

    #[test]
    fn query_requests_take_the_action_from_the_form() {
        let r = parse(&raw(
            None,
            "Action=GetQueueUrl&QueueName=q&Version=2012-11-05",
        ))
        .unwrap();
        assert_eq!(r.protocol, Protocol::Query);
        assert_eq!(r.action, "GetQueueUrl");
        assert_eq!(r.params["QueueName"], "q");
        assert!(r.params.get("Version").is_none());
        let e = parse(&raw(None, "QueueName=q")).unwrap_err();
        assert_eq!(e, SqsError::MissingParameter("Action".into()));
    }

    #[test]
    fn the_access_key_comes_from_the_signature_header_or_the_presigned_query() {
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d67";
        let signed = RawRequest {
            authorization: Some(sigv4.as_bytes()),
            ..raw(Some("AmazonSQS.ListQueues"), "{}")
        };
        assert_eq!(
            parse(&signed).unwrap().access_key.as_deref(),
            Some("AKIDEXAMPLE")
        );
        let sigv2 = RawRequest {
            authorization: Some(b"AWS AKID2:c2ln"),
            ..raw(None, "Action=ListQueues")
        };
        assert_eq!(parse(&sigv2).unwrap().access_key.as_deref(), Some("AKID2"));
        let presigned = RawRequest {
            query: Some("X-Amz-Credential=AKID3%2F20150830%2Fus-east-1%2Fsqs%2Faws4_request"),
            ..raw(None, "Action=ListQueues")
        };
        assert_eq!(
            parse(&presigned).unwrap().access_key.as_deref(),
            Some("AKID3")
        );
        let anonymous = parse(&raw(Some("AmazonSQS.ListQueues"), "{}")).unwrap();
        assert_eq!(anonymous.access_key, None);
    }

    #[test]
    fn queue_url_paths_name_the_queue() {
        assert_eq!(queue_of_path("/000000000000/jobs").as_deref(), Some("jobs"));
        assert_eq!(queue_of_path("/"), None);
        assert_eq!(queue_of_path("/a/b/c"), None);
    }
}

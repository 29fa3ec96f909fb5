//! Requests about a queue another broker leads, forwarded there over the cluster RPC and
//! answered by that broker's gateway as if sent to it: any broker's endpoint serves every
//! queue, as one SQS endpoint does.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use neo_broker::gateway_calls::{Answer, GatewayCalls};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::request::{Protocol, Request};
use crate::response::{JSON_TYPE, Reply, XML_TYPE, failure, success};

/// The gateway's service name on the cluster RPC.
pub const SERVICE: &str = "sqs";

/// Longest a forwarded request may take: a long poll's 20 seconds, and some.
const FORWARD_WAIT: Duration = Duration::from_secs(25);

/// Actions any broker answers from the cluster's metadata, never forwarded.
const ANY_BROKER: &[&str] = &["CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue"];

/// A request as forwarded: parsed, with who sent it.
#[derive(Debug, Serialize, Deserialize)]
struct Forwarded {
    protocol: Protocol,
    action: String,
    params: Map<String, Value>,
    path_queue: Option<String>,
    access_key: Option<String>,
    /// The client's address, for ACLs.
    host: String,
}

impl Gateway {
    /// The broker leading the queue `request` is about, when that is another one.
    pub fn leader_elsewhere(&self, request: &Request) -> Option<u64> {
        if ANY_BROKER.contains(&request.action.as_str()) {
            return None;
        }
        let meta = self.lookup(&request.queue_name().ok()?)?;
        let topic = self.broker.topic(&meta.topic)?;
        let leader = self.broker.placement(&topic, 0).leader?;
        (leader != self.broker.config().node_id).then_some(leader)
    }

    /// Has the gateway answer the requests other brokers forward to it.
    pub fn answer_forwarded(self: &Arc<Self>) {
        let calls = ForwardedCalls {
            gateway: Arc::downgrade(self),
        };
        self.broker.answer_gateway_calls(SERVICE, Arc::new(calls));
    }
}

/// Forwards `request` (from `host`) to broker `leader`; its answer, or why there is none.
pub async fn forward(
    gateway: &Gateway,
    leader: u64,
    request: Request,
    host: String,
    request_id: &str,
) -> Reply {
    let protocol = request.protocol;
    let forwarded = Forwarded {
        protocol,
        action: request.action,
        params: request.params,
        path_queue: request.path_queue,
        access_key: request.access_key,
        host,
    };
    let answer = match serde_json::to_vec(&forwarded) {
        Ok(payload) => gateway
            .broker
            .call_gateway(leader, SERVICE, &payload, FORWARD_WAIT)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match answer.and_then(|bytes| decode_reply(bytes).ok_or_else(|| "undecodable".into())) {
        Ok(reply) => reply,
        Err(e) => {
            tracing::warn!(leader, error = %e, "sqs: a request forwarded to the queue's leader got no answer");
            failure(protocol, &SqsError::Internal, request_id)
        }
    }
}

/// Answers other brokers' forwarded requests.
struct ForwardedCalls {
    gateway: Weak<Gateway>,
}

impl GatewayCalls for ForwardedCalls {
    fn call(&self, payload: Bytes) -> Answer {
        let gateway = self.gateway.clone();
        Box::pin(async move {
            let request_id = crate::message::random_uuid().to_string();
            let Some(gateway) = gateway.upgrade() else {
                return Bytes::new();
            };
            let Ok(forwarded) = serde_json::from_slice::<Forwarded>(&payload) else {
                return Bytes::new();
            };
            let request = Request {
                protocol: forwarded.protocol,
                action: forwarded.action,
                params: forwarded.params,
                path_queue: forwarded.path_queue,
                access_key: forwarded.access_key,
            };
            let caller = crate::actions::caller(&request, forwarded.host);
            // Answered here, never forwarded again (a leadership that moved meanwhile is an
            // error the client retries).
            let reply = match crate::actions::handle(&gateway, &request, &caller).await {
                Ok(result) => success(request.protocol, &request.action, &result, &request_id),
                Err(e) => failure(request.protocol, &e, &request_id),
            };
            encode_reply(&reply)
        })
    }
}

/// A reply as it goes back: status, content type (0 JSON, 1 XML), the query error (a length
/// and its bytes; `u32::MAX` for none), then the body.
fn encode_reply(reply: &Reply) -> Bytes {
    let mut out = BytesMut::with_capacity(11 + reply.body.len());
    out.put_u16(reply.status);
    out.put_u8(u8::from(reply.content_type != JSON_TYPE));
    match &reply.query_error {
        Some(code) => {
            out.put_u32(u32::try_from(code.len()).unwrap_or(0));
            out.put_slice(code.as_bytes());
        }
        None => out.put_u32(u32::MAX),
    }
    out.put_slice(&reply.body);
    out.freeze()
}

fn decode_reply(mut bytes: Bytes) -> Option<Reply> {
    if bytes.remaining() < 7 {
        return None;
    }
    let status = bytes.get_u16();
    let content_type = if bytes.get_u8() == 0 {
        JSON_TYPE
    } else {
        XML_TYPE
    };
    let len = bytes.get_u32();
    let query_error = if len == u32::MAX {
        None
    } else {
        let len = usize::try_from(len).ok()?;
        if bytes.remaining() < len {
            return None;
        }
        Some(String::from_utf8(bytes.split_to(len).to_vec()).ok()?)
    };
    Some(Reply {
        status,
        content_type,
        query_error,
        body: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_come_back_as_sent() {
        for reply in [
            Reply {
                status: 200,
                content_type: JSON_TYPE,
                query_error: None,
                body: b"{}".to_vec(),
            },
            Reply {
                status: 400,
                content_type: XML_TYPE,
                query_error: Some("AWS.SimpleQueueService.NonExistentQueue;Sender".into()),
                body: b"<ErrorResponse/>".to_vec(),
            },
        ] {
            let back = decode_reply(encode_reply(&reply)).unwrap();
            assert_eq!(
                (back.status, back.content_type, back.query_error, back.body),
                (
                    reply.status,
                    reply.content_type,
                    reply.query_error,
                    reply.body
                )
            );
        }
        assert!(decode_reply(Bytes::from_static(b"\x00")).is_none());
    }
}

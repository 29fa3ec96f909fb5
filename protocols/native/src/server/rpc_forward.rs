//! Brokered RPC across a cluster: a call that no instance on this broker serves is sent to
//! the native front-end of the other live brokers in turn (over the cluster RPC, as a Call
//! frame), each answering from its own instances only, so a service registered through any
//! broker is callable through every one. No registry is shared: a broker learns where a
//! service is by asking, and asks only brokers heard from within two election timeouts, so
//! the instances of a broker that dies stop being called that soon after.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use neo_broker::gateway_calls::{Answer, GatewayCalls};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;

use super::context::Context;
use super::error_map::error;
use super::rpc::Caller;
use crate::wire::{ErrorCode, FrameDecoder, Message};

/// The native front-end's name among the front-ends a broker answers calls for.
pub(crate) const SERVICE: &str = "native-rpc";

/// Time for a forwarded call's trip beyond its own timeout.
const TRIP: Duration = Duration::from_secs(1);

/// Answers the calls other brokers forward: with this broker's instances only.
pub(crate) struct ForwardedCalls {
    pub context: Weak<Context>,
}

impl GatewayCalls for ForwardedCalls {
    fn call(&self, payload: Bytes) -> Answer {
        let context = self.context.upgrade();
        Box::pin(async move {
            let answer = match (context, decode(payload)) {
                (
                    Some(context),
                    Some(Message::Call {
                        service,
                        method,
                        timeout_ms,
                        payload,
                    }),
                ) => call_here(&context, &service, &method, payload, timeout_ms).await,
                (None, _) => no_instance("the native front-end is stopping"),
                (_, _) => error(ErrorCode::InvalidRequest, "not a forwarded call"),
            };
            answer.to_frame(0)
        })
    }
}

/// Calls `service/method` on an instance registered on another live broker: the first
/// answer other than NoInstance, or NoInstance when none has one.
pub(crate) async fn call_elsewhere(
    context: &Context,
    service: &str,
    method: &str,
    payload: Bytes,
    timeout_ms: u32,
) -> Message {
    let broker = &context.broker;
    let me = broker.config().node_id;
    let mut peers: Vec<u64> = broker
        .live_broker_ids()
        .into_iter()
        .filter(|id| *id != me)
        .collect();
    if !peers.is_empty() {
        let start = context.rpc_rotation.fetch_add(1, Ordering::Relaxed) % peers.len();
        peers.rotate_left(start);
    }
    let call = Message::Call {
        service: service.to_string(),
        method: method.to_string(),
        timeout_ms,
        payload,
    }
    .to_frame(0);
    let wait = Duration::from_millis(u64::from(timeout_ms)) + TRIP;
    for peer in peers {
        match broker.call_gateway(peer, SERVICE, &call, wait).await {
            Ok(answer) => match decode(answer) {
                Some(Message::Error {
                    code: ErrorCode::NoInstance,
                    ..
                })
                | None => {}
                Some(answer) => return answer,
            },
            Err(e) => {
                tracing::debug!(peer, error = %e, "a broker asked for an RPC instance did not answer");
            }
        }
    }
    no_instance(&format!("no live instance serves {service}/{method}"))
}

/// A call served by this broker's instances: the reply or the typed error.
async fn call_here(
    context: &Arc<Context>,
    service: &str,
    method: &str,
    payload: Bytes,
    timeout_ms: u32,
) -> Message {
    let (out, mut answers) = mpsc::channel(1);
    let caller = Caller {
        out,
        correlation: 0,
    };
    let timeout = Duration::from_millis(u64::from(timeout_ms));
    match context
        .rpc
        .call(service, method, payload, timeout, &caller)
        .await
    {
        Some(answer) => answer,
        // Written to the caller's channel: read it back.
        None => match answers.recv().await.and_then(decode) {
            Some(answer) => answer,
            None => error(ErrorCode::Internal, "a forwarded call's answer was lost"),
        },
    }
}

/// The message of one whole frame; `None` when it is not one.
fn decode(frame: Bytes) -> Option<Message> {
    let mut buffer = BytesMut::from(&frame[..]);
    let frame = FrameDecoder::new(usize::MAX).decode(&mut buffer).ok()??;
    Message::decode(frame.header.kind, frame.body).ok()
}

fn no_instance(message: &str) -> Message {
    error(ErrorCode::NoInstance, message)
}

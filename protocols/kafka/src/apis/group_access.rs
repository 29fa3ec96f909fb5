//! Group requests refused whole when the client may not READ the group (DELETE for
//! OffsetDelete), with Kafka's GROUP_AUTHORIZATION_FAILED, before they reach the coordinator.

use kafka_protocol::messages::{
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, OffsetDeleteResponse, RequestKind,
    ResponseKind, SyncGroupResponse,
};
use neo_broker::acls::{Operation, Resource};

use crate::context::Context;
use crate::handler::Handler;

/// The refusal for `request` if it is about a group the client may not READ.
pub fn refusal(
    handler: &Handler,
    context: &Context,
    request: &RequestKind,
) -> Option<ResponseKind> {
    let (group, op) = match request {
        RequestKind::JoinGroup(r) => (&r.group_id, Operation::Read),
        RequestKind::SyncGroup(r) => (&r.group_id, Operation::Read),
        RequestKind::Heartbeat(r) => (&r.group_id, Operation::Read),
        RequestKind::LeaveGroup(r) => (&r.group_id, Operation::Read),
        RequestKind::OffsetDelete(r) => (&r.group_id, Operation::Delete),
        _ => return None,
    };
    let code = handler.refusal(context, op, Resource::group(group.0.as_str()))?;
    Some(match request {
        RequestKind::JoinGroup(_) => {
            ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(code))
        }
        RequestKind::SyncGroup(_) => {
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code))
        }
        RequestKind::Heartbeat(_) => {
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::OffsetDelete(_) => {
            ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
        }
        _ => ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code)),
    })
}

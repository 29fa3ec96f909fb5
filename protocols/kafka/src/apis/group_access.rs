//! Group requests refused whole when the client may not READ the group (Kafka:
//! GROUP_AUTHORIZATION_FAILED), before they reach the coordinator.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, RequestKind, ResponseKind,
    SyncGroupResponse,
};
use neo_broker::acls::{operation, resource};

use crate::handler::{Context, Handler};

/// The refusal for `request` if it is about a group the client may not READ.
pub fn refusal(
    handler: &Handler,
    context: &Context,
    request: &RequestKind,
) -> Option<ResponseKind> {
    let code = ResponseError::GroupAuthorizationFailed.code();
    let group = match request {
        RequestKind::JoinGroup(r) => &r.group_id,
        RequestKind::SyncGroup(r) => &r.group_id,
        RequestKind::Heartbeat(r) => &r.group_id,
        RequestKind::LeaveGroup(r) => &r.group_id,
        _ => return None,
    };
    if handler.may(context, operation::READ, resource::GROUP, group.0.as_str()) {
        return None;
    }
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
        _ => ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code)),
    })
}

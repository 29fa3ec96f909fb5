//! Consumer groups over the broker's group coordinator: FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::GroupError;
use neo_broker::acls::{Operation, Resource};
use neo_broker::groups::JoinRequest;

use crate::context::Context;
use crate::error_codes::group_code;
use crate::handler::Handler;

/// FindCoordinator's key type of a group (1 is a transaction id).
const GROUP_KEY: i8 = 0;

fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// FindCoordinator: a group's coordinator is the leader of its offsets partition, reached at
/// the Kafka endpoint it registered; COORDINATOR_NOT_AVAILABLE while there is none. A
/// transaction id's is this broker (transactions are refused at InitProducerId).
pub fn find_coordinator(
    handler: &Arc<Handler>,
    context: &Context,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let brokers = handler.brokers(context);
    let find = |key: &str| -> Result<(BrokerId, String, i32), i16> {
        let node = if request.key_type == GROUP_KEY {
            let node = handler
                .broker
                .group_coordinator(key)
                .map_err(|e| group_code(&e))?;
            i32::try_from(node).map_err(|_| ResponseError::CoordinatorNotAvailable.code())?
        } else {
            handler.config.node_id
        };
        brokers
            .iter()
            .find(|(id, _, _)| id.0 == node)
            .cloned()
            .ok_or(ResponseError::CoordinatorNotAvailable.code())
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let found = Coordinator::default().with_key(key.clone());
                match find(key.as_str()) {
                    Ok((node, host, port)) => {
                        found.with_node_id(node).with_host(s(host)).with_port(port)
                    }
                    Err(code) => found
                        .with_error_code(code)
                        .with_node_id(BrokerId(-1))
                        .with_port(-1),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match find(request.key.as_str()) {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(s(host))
            .with_port(port),
        Err(code) => FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

pub async fn join(
    handler: &Arc<Handler>,
    context_host: String,
    client_id: String,
    version: i16,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let session = request.session_timeout_ms.max(0) as u64;
    let rebalance = if request.rebalance_timeout_ms > 0 {
        request.rebalance_timeout_ms as u64
    } else {
        session
    };
    let join = JoinRequest {
        group_id: request.group_id.0.as_str().to_string(),
        member_id: request.member_id.as_str().to_string(),
        instance_id: request.group_instance_id.map(|i| i.as_str().to_string()),
        client_id,
        client_host: context_host,
        session_timeout_ms: session,
        rebalance_timeout_ms: rebalance,
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    match handler.broker.groups().join(join).await {
        Ok(joined) => JoinGroupResponse::default()
            .with_generation_id(joined.generation)
            .with_protocol_type(Some(s(joined.protocol_type)))
            .with_protocol_name(Some(s(joined.protocol_name)))
            .with_leader(s(joined.leader))
            .with_member_id(s(joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|m| {
                        JoinGroupResponseMember::default()
                            .with_member_id(s(m.member_id))
                            .with_group_instance_id(m.instance_id.map(s))
                            .with_metadata(m.metadata)
                    })
                    .collect(),
            ),
        Err(error) => {
            let member_id = match &error {
                GroupError::MemberIdRequired(id) => id.clone(),
                _ => String::new(),
            };
            JoinGroupResponse::default()
                .with_error_code(group_code(&error))
                .with_generation_id(-1)
                .with_member_id(s(member_id))
                // Non-nullable before v7.
                .with_protocol_name((version < 7).then(StrBytes::new))
        }
    }
}

pub async fn sync(handler: &Arc<Handler>, request: SyncGroupRequest) -> SyncGroupResponse {
    let assignments = request
        .assignments
        .into_iter()
        .map(|a| (a.member_id.as_str().to_string(), a.assignment))
        .collect();
    let outcome = handler
        .broker
        .groups()
        .sync(
            request.group_id.0.as_str(),
            request.generation_id,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
            assignments,
        )
        .await;
    match outcome {
        Ok(synced) => SyncGroupResponse::default()
            .with_protocol_type(Some(s(synced.protocol_type)))
            .with_protocol_name(Some(s(synced.protocol_name)))
            .with_assignment(synced.assignment),
        Err(error) => SyncGroupResponse::default().with_error_code(group_code(&error)),
    }
}

pub fn heartbeat(handler: &Arc<Handler>, request: HeartbeatRequest) -> HeartbeatResponse {
    let result = handler.broker.groups().heartbeat(
        request.group_id.0.as_str(),
        request.generation_id,
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| group_code(&e)))
}

pub fn leave(
    handler: &Arc<Handler>,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    // v3+ leaves in batches; earlier versions name one member.
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    m.group_instance_id.as_deref().map(str::to_string),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.as_str().to_string(), None)]
    };
    let results = match handler
        .broker
        .groups()
        .leave(request.group_id.0.as_str(), &members)
    {
        Ok(results) => results,
        Err(e) => return LeaveGroupResponse::default().with_error_code(group_code(&e)),
    };
    if version < 3 {
        let code = results
            .first()
            .and_then(|r| r.as_ref().err())
            .map_or(0, group_code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let responses = members
        .into_iter()
        .zip(results)
        .map(|((member_id, instance_id), result)| {
            MemberResponse::default()
                .with_member_id(s(member_id))
                .with_group_instance_id(instance_id.map(s))
                .with_error_code(result.err().map_or(0, |e| group_code(&e)))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let resource = Resource::group(group_id.0.as_str());
            if let Some(code) = handler.refusal(context, Operation::Describe, resource) {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(code);
            }
            if let Err(e) = handler.broker.groups().check(group_id.0.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(group_id)
                    .with_error_code(group_code(&e));
            }
            let description = handler.broker.groups().describe(group_id.0.as_str());
            DescribedGroup::default()
                .with_group_id(group_id)
                .with_group_state(s(description.state.map_or("Dead", |st| st.name())))
                .with_protocol_type(s(description.protocol_type))
                .with_protocol_data(s(description.protocol))
                .with_members(
                    description
                        .members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(s(m.member_id))
                                .with_group_instance_id(m.instance_id.map(s))
                                .with_client_id(s(m.client_id))
                                .with_client_host(s(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// The groups the client may DESCRIBE (the others are left out, as in Kafka).
pub fn list(
    handler: &Arc<Handler>,
    context: &Context,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    // Every group here uses the classic protocol.
    let classic_wanted = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|f| f.as_str().eq_ignore_ascii_case("classic"));
    if !classic_wanted {
        return ListGroupsResponse::default();
    }
    let groups = handler
        .broker
        .groups()
        .list()
        .into_iter()
        .filter(|g| handler.may(context, Operation::Describe, Resource::group(&g.group_id)))
        .filter(|g| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|f| f.as_str().eq_ignore_ascii_case(g.state.name()))
        })
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(s(g.group_id)))
                .with_protocol_type(s(g.protocol_type))
                .with_group_state(s(g.state.name()))
                .with_group_type(s("classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete(
    handler: &Arc<Handler>,
    context: &Context,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let resource = Resource::group(group_id.0.as_str());
        if let Some(code) = handler.refusal(context, Operation::Delete, resource) {
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(group_id)
                    .with_error_code(code),
            );
            continue;
        }
        let outcome = handler
            .broker
            .groups()
            .delete_group(group_id.0.as_str())
            .await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(outcome.err().map_or(0, |e| group_code(&e))),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}

//! Joining, syncing, heartbeats and leaving: the classic rebalance protocol.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::coordinator::GroupCoordinator;
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::member::Member;
use super::membership_messages::{JoinOutcome, JoinRequest, SyncOutcome};

impl GroupCoordinator {
    /// JoinGroup: waits until the rebalance completes (or fails).
    pub async fn join(&self, request: JoinRequest) -> Result<JoinOutcome, GroupError> {
        let waiting = self.start_join(request)?;
        waiting
            .await
            .unwrap_or(Err(GroupError::RebalanceInProgress))
    }

    fn start_join(
        &self,
        request: JoinRequest,
    ) -> Result<oneshot::Receiver<Result<JoinOutcome, GroupError>>, GroupError> {
        if request.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        self.check(&request.group_id)?;
        let session = Duration::from_millis(request.session_timeout_ms);
        if session < self.config.min_session_timeout || session > self.config.max_session_timeout {
            return Err(GroupError::InvalidSessionTimeout);
        }
        let now = Instant::now();
        let delay = self.config.initial_rebalance_delay;
        let mut groups = self.groups.lock();
        let group = groups
            .entry(request.group_id.clone())
            .or_insert_with(Group::new);
        let known = !request.member_id.is_empty() && group.member(&request.member_id).is_some();
        if !known && !group.accepts(&request.protocol_type, &request.protocols) {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let (tx, rx) = oneshot::channel();
        let member_id = if request.member_id.is_empty() {
            let id = format!("{}-{}", request.client_id, uuid::Uuid::new_v4());
            match &request.instance_id {
                Some(instance) => {
                    // A static member coming back replaces its old incarnation.
                    if let Some(old) = group.static_member(instance).map(|m| m.id.clone()) {
                        if let Some(member) = group.member_mut(&old) {
                            if let Some(waiting) = member.awaiting_join.take() {
                                let _ = waiting.send(Err(GroupError::FencedInstanceId));
                            }
                            if let Some(waiting) = member.awaiting_sync.take() {
                                let _ = waiting.send(Err(GroupError::FencedInstanceId));
                            }
                            member.id = id.clone();
                        }
                        if group.leader.as_deref() == Some(old.as_str()) {
                            group.leader = Some(id.clone());
                        }
                    }
                }
                None if request.require_known_member_id => {
                    group.pending_ids.insert(id.clone(), now + session);
                    return Err(GroupError::MemberIdRequired(id));
                }
                None => {}
            }
            id
        } else {
            if group.pending_ids.remove(&request.member_id).is_none() && !known {
                return Err(match &request.instance_id {
                    Some(instance) if group.static_member(instance).is_some() => {
                        GroupError::FencedInstanceId
                    }
                    _ => GroupError::UnknownMemberId,
                });
            }
            // A known member rejoining under a static id another member now holds is fenced.
            if known && request.instance_id.is_some() {
                group.check_member(&request.member_id, request.instance_id.as_deref())?;
            }
            request.member_id.clone()
        };
        if group.members.is_empty() {
            group.protocol_type = Some(request.protocol_type.clone());
        }
        let changed = match group.member_mut(&member_id) {
            Some(member) => {
                let changed = member.protocols != request.protocols;
                member.protocols = request.protocols;
                member.session_timeout_ms = request.session_timeout_ms;
                member.rebalance_timeout_ms = request.rebalance_timeout_ms;
                member.last_heartbeat = now;
                member.awaiting_join = Some(tx);
                changed
            }
            None => {
                group.members.push(Member {
                    id: member_id.clone(),
                    instance_id: request.instance_id,
                    client_id: request.client_id,
                    client_host: request.client_host,
                    session_timeout_ms: request.session_timeout_ms,
                    rebalance_timeout_ms: request.rebalance_timeout_ms,
                    protocols: request.protocols,
                    assignment: Bytes::new(),
                    last_heartbeat: now,
                    awaiting_join: Some(tx),
                    awaiting_sync: None,
                });
                true
            }
        };
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance if !changed && !is_leader => {
                // The member missed its JoinGroup response (or rejoined without reason):
                // answer with the current generation instead of rebalancing everyone.
                let protocol = group.protocol.clone().unwrap_or_default();
                if let Some(member) = group.member_mut(&member_id)
                    && let Some(waiting) = member.awaiting_join.take()
                {
                    let _ = waiting.send(Ok(JoinOutcome {
                        generation: group.generation,
                        protocol_type: group.protocol_type.clone().unwrap_or_default(),
                        protocol_name: protocol,
                        leader: group.leader.clone().unwrap_or_default(),
                        member_id: member_id.clone(),
                        members: Vec::new(),
                    }));
                }
            }
            GroupState::PreparingRebalance => group.maybe_complete_join(now),
            _ => {
                group.prepare_rebalance(now, delay);
                group.maybe_complete_join(now);
            }
        }
        Ok(rx)
    }

    /// SyncGroup: the leader hands out assignments; everyone gets theirs.
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<SyncOutcome, GroupError> {
        self.check(group_id)?;
        let waiting = {
            let mut groups = self.groups.lock();
            let group = groups
                .get_mut(group_id)
                .ok_or(GroupError::UnknownMemberId)?;
            group.check_member(member_id, instance_id)?;
            if generation != group.generation {
                return Err(GroupError::IllegalGeneration);
            }
            match group.state {
                GroupState::Empty => return Err(GroupError::UnknownMemberId),
                GroupState::PreparingRebalance => return Err(GroupError::RebalanceInProgress),
                GroupState::Stable => {
                    let assignment = group
                        .member(member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default();
                    return Ok(SyncOutcome {
                        protocol_type: group.protocol_type.clone().unwrap_or_default(),
                        protocol_name: group.protocol.clone().unwrap_or_default(),
                        assignment,
                    });
                }
                GroupState::CompletingRebalance => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(member) = group.member_mut(member_id) {
                        member.awaiting_sync = Some(tx);
                    }
                    if group.leader.as_deref() == Some(member_id) {
                        group.complete_sync(assignments);
                    }
                    rx
                }
            }
        };
        waiting
            .await
            .unwrap_or(Err(GroupError::RebalanceInProgress))
    }

    /// Heartbeat: keeps the session alive and tells the member when to rejoin.
    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        self.check(group_id)?;
        let mut groups = self.groups.lock();
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        group.check_member(member_id, instance_id)?;
        if let Some(member) = group.member_mut(member_id) {
            member.last_heartbeat = Instant::now();
        }
        match group.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            _ if generation != group.generation => Err(GroupError::IllegalGeneration),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for each `(member id, instance id)`; one result per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<String, GroupError>>, GroupError> {
        self.check(group_id)?;
        let now = Instant::now();
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Ok(members
                .iter()
                .map(|_| Err(GroupError::UnknownMemberId))
                .collect());
        };
        Ok(members
            .iter()
            .map(|(member_id, instance_id)| {
                let id = match instance_id {
                    Some(instance) => {
                        let holder = group
                            .static_member(instance)
                            .map(|m| m.id.clone())
                            .ok_or(GroupError::UnknownMemberId)?;
                        if !member_id.is_empty() && *member_id != holder {
                            return Err(GroupError::FencedInstanceId);
                        }
                        holder
                    }
                    None => {
                        group.member(member_id).ok_or(GroupError::UnknownMemberId)?;
                        member_id.clone()
                    }
                };
                group.remove_member(&id, now, self.config.initial_rebalance_delay);
                Ok(id)
            })
            .collect())
    }
}

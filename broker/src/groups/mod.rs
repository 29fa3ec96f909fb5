//! The group coordinator: classic consumer groups (join, sync, heartbeat, leave) and their
//! committed offsets. Protocol-neutral: the Kafka front-end and the native protocol share it,
//! so both kinds of clients see the same groups and offsets.

pub mod consumer_protocol;
mod error;
mod group;
mod member;
mod offsets;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use neo_record::now_ms;
use neo_storage::Flusher;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use error::GroupError;
pub use group::GroupState;
pub use offsets::{CommittedOffset, OFFSETS_DIR, OffsetStore, TopicPartition};

use group::Group;
use member::Member;

/// Coordinator settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub initial_rebalance_delay: Duration,
    /// `offsets.retention.minutes`: offsets of a group without members are dropped this long
    /// after its last commit.
    pub offsets_retention: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout: Duration::from_millis(6_000),
            max_session_timeout: Duration::from_millis(1_800_000),
            initial_rebalance_delay: Duration::from_millis(300),
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a new member.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// Whether a new member must first ask for an id (Kafka JoinGroup v4+).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A completed join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinedMember>,
}

/// A completed sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub protocol_type: String,
    pub protocol_name: String,
    pub assignment: Bytes,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// `None` when the group does not exist (Kafka answers "Dead").
    pub state: Option<GroupState>,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// A commit of one partition's offset.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Groups and their offsets.
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: Mutex<HashMap<String, Group>>,
    offsets: OffsetStore,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator").finish_non_exhaustive()
    }
}

/// How often sessions and rebalance deadlines are checked.
const TICK: Duration = Duration::from_millis(100);

impl GroupCoordinator {
    /// Opens the offsets log under `data_dir` and starts the session timer.
    pub fn open(
        data_dir: &Path,
        flusher: Arc<Flusher>,
        config: GroupConfig,
    ) -> Result<Arc<GroupCoordinator>, crate::BrokerError> {
        let offsets = OffsetStore::open(data_dir, flusher)?;
        let coordinator = Arc::new(GroupCoordinator {
            config,
            groups: Mutex::new(HashMap::new()),
            offsets,
        });
        let weak = Arc::downgrade(&coordinator);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(coordinator) = weak.upgrade() else {
                    return;
                };
                coordinator.tick();
            }
        });
        Ok(coordinator)
    }

    fn tick(&self) {
        let now = Instant::now();
        let mut groups = self.groups.lock();
        for (id, group) in groups.iter_mut() {
            for member in group.tick(now, self.config.initial_rebalance_delay) {
                tracing::info!(group = id, member, "member session expired");
            }
        }
        groups.retain(|_, g| g.state != GroupState::Empty || !g.pending_ids.is_empty());
    }

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
    ) -> Vec<Result<String, GroupError>> {
        let now = Instant::now();
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return members
                .iter()
                .map(|_| Err(GroupError::UnknownMemberId))
                .collect();
        };
        members
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
            .collect()
    }

    /// OffsetCommit: stores offsets durably. A generation of -1 commits outside any
    /// generation (simple consumers, admin tools), allowed while the group has no members.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        commits: Vec<OffsetCommit>,
    ) -> Result<(), GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        {
            let groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) if !group.members.is_empty() || generation >= 0 => {
                    if generation < 0 && member_id.is_empty() {
                        return Err(GroupError::UnknownMemberId);
                    }
                    group.check_member(member_id, instance_id)?;
                    if group.state == GroupState::CompletingRebalance {
                        return Err(GroupError::RebalanceInProgress);
                    }
                    if generation != group.generation {
                        return Err(GroupError::IllegalGeneration);
                    }
                }
                None if generation >= 0 => return Err(GroupError::UnknownMemberId),
                _ => {}
            }
        }
        let now = now_ms();
        let offsets = commits
            .into_iter()
            .map(|c| {
                (
                    (c.topic, c.partition),
                    CommittedOffset {
                        offset: c.offset,
                        leader_epoch: c.leader_epoch,
                        metadata: c.metadata,
                        commit_timestamp: now,
                    },
                )
            })
            .collect();
        self.offsets.commit(group_id, offsets).await.map_err(|e| {
            tracing::error!(group = group_id, error = %e, "cannot store committed offsets");
            GroupError::Storage
        })
    }

    /// The committed offset of one partition, if any.
    pub fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<CommittedOffset> {
        self.offsets.get(group_id, topic, partition)
    }

    /// Every committed offset of a group.
    pub fn all_committed(&self, group_id: &str) -> Vec<(TopicPartition, CommittedOffset)> {
        self.offsets.all(group_id)
    }

    /// DescribeGroups for one group.
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let groups = self.groups.lock();
        match groups.get(group_id) {
            Some(group) => {
                let protocol = group.protocol.clone().unwrap_or_default();
                GroupDescription {
                    state: Some(group.state),
                    protocol_type: group.protocol_type.clone().unwrap_or_default(),
                    members: group
                        .members
                        .iter()
                        .map(|m| MemberDescription {
                            member_id: m.id.clone(),
                            instance_id: m.instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            metadata: m.metadata(&protocol),
                            assignment: m.assignment.clone(),
                        })
                        .collect(),
                    protocol,
                }
            }
            None if !self.offsets.all(group_id).is_empty() => GroupDescription {
                state: Some(GroupState::Empty),
                protocol_type: "consumer".to_string(),
                protocol: String::new(),
                members: Vec::new(),
            },
            None => GroupDescription {
                state: None,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        }
    }

    /// ListGroups: groups with members and groups that only have committed offsets.
    pub fn list(&self) -> Vec<GroupListing> {
        let groups = self.groups.lock();
        let mut out: Vec<GroupListing> = groups
            .iter()
            .map(|(id, g)| GroupListing {
                group_id: id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        for id in self.offsets.groups() {
            if !groups.contains_key(&id) {
                out.push(GroupListing {
                    group_id: id,
                    protocol_type: "consumer".to_string(),
                    state: GroupState::Empty,
                });
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups for one group: only an empty group can go.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        {
            let mut groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) if !group.members.is_empty() => return Err(GroupError::NonEmptyGroup),
                Some(_) => {
                    groups.remove(group_id);
                }
                None if self.offsets.all(group_id).is_empty() => {
                    return Err(GroupError::GroupIdNotFound);
                }
                None => {}
            }
        }
        self.offsets.delete(group_id, None).await.map_err(|e| {
            tracing::error!(group = group_id, error = %e, "cannot delete group offsets");
            GroupError::Storage
        })
    }

    /// OffsetDelete: drops committed offsets of partitions the group does not subscribe to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let subscribed = {
            let groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) => group.subscribed_topics(),
                None if self.offsets.all(group_id).is_empty() => {
                    return Err(GroupError::GroupIdNotFound);
                }
                None => Vec::new(),
            }
        };
        let (blocked, free): (Vec<_>, Vec<_>) = partitions
            .iter()
            .cloned()
            .partition(|(topic, _)| subscribed.contains(topic));
        self.offsets
            .delete(group_id, Some(&free))
            .await
            .map_err(|_| GroupError::Storage)?;
        Ok(partitions
            .iter()
            .map(|p| {
                if blocked.contains(p) {
                    Err(GroupError::GroupSubscribedToTopic)
                } else {
                    Ok(())
                }
            })
            .collect())
    }

    /// Drops offsets of member-less groups whose last commit is older than the retention.
    pub async fn expire_offsets(&self) {
        let cutoff = now_ms() - self.config.offsets_retention.as_millis() as i64;
        let stale: Vec<String> = {
            let groups = self.groups.lock();
            self.offsets
                .stale_groups(cutoff)
                .into_iter()
                .filter(|g| groups.get(g).is_none_or(|g| g.members.is_empty()))
                .collect()
        };
        for group in stale {
            if let Err(e) = self.offsets.delete(&group, None).await {
                tracing::warn!(group, error = %e, "cannot expire group offsets");
            } else {
                tracing::info!(group, "expired committed offsets");
            }
        }
    }

    /// Closes the offsets log.
    pub fn close(&self) -> Result<(), crate::BrokerError> {
        self.offsets.close()
    }
}

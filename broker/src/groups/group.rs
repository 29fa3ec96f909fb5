//! The classic group state machine: Empty → PreparingRebalance → CompletingRebalance → Stable,
//! as Kafka's group coordinator runs it. The assignment itself is computed by the leader
//! client; the broker chooses the protocol, the leader and the generation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::GroupError;
use super::consumer_protocol::decode_subscription;
use super::member::Member;
use super::membership_messages::{JoinOutcome, JoinedMember, SyncOutcome};

/// Where a group is in its rebalance cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// One group.
#[derive(Debug)]
pub struct Group {
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Members in the order they joined.
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used, with their deadline.
    pub pending_ids: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    join_not_before: Option<Instant>,
}

impl Group {
    pub fn new() -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending_ids: HashMap::new(),
            rebalance_deadline: None,
            join_not_before: None,
        }
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// The member id currently holding static `instance_id`.
    pub fn static_member(&self, instance_id: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// Checks `member_id` (and, for static members, `instance_id`) against the group.
    pub fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance) = instance_id
            && let Some(holder) = self.static_member(instance)
            && holder.id != member_id
        {
            return Err(GroupError::FencedInstanceId);
        }
        if self.member(member_id).is_none() {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    /// Whether a member with `protocol_type` and `protocols` can join.
    pub fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    /// Starts a rebalance: every member must rejoin before `rebalance timeout`.
    pub fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        if self.state == GroupState::CompletingRebalance {
            for member in &mut self.members {
                if let Some(waiting) = member.awaiting_sync.take() {
                    let _ = waiting.send(Err(GroupError::RebalanceInProgress));
                }
            }
        }
        let longest = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0);
        if self.state != GroupState::PreparingRebalance {
            // A new group waits a moment for more members, so they share one generation.
            self.join_not_before = (self.state == GroupState::Empty).then(|| now + initial_delay);
            self.rebalance_deadline = Some(now + Duration::from_millis(longest));
        }
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase when it is due: everyone rejoined (and a new group's initial
    /// delay passed), or the rebalance timeout ran out (members that did not rejoin leave).
    pub fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some());
        let delay_passed = self.join_not_before.is_none_or(|t| now >= t);
        let timed_out = self.rebalance_deadline.is_some_and(|t| now >= t);
        if !(all_joined && delay_passed || timed_out) {
            return;
        }
        self.members.retain(|m| m.awaiting_join.is_some());
        self.generation += 1;
        self.rebalance_deadline = None;
        self.join_not_before = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.protocol_type = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        let protocol = self.protocol.clone().unwrap_or_default();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| self.member(l).is_none())
        {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        let leader = self.leader.clone().unwrap_or_default();
        let everyone: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect();
        self.state = GroupState::CompletingRebalance;
        let generation = self.generation;
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        for member in &mut self.members {
            member.assignment = Bytes::new();
            member.last_heartbeat = now;
            if let Some(waiting) = member.awaiting_join.take() {
                let _ = waiting.send(Ok(JoinOutcome {
                    generation,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol.clone(),
                    leader: leader.clone(),
                    member_id: member.id.clone(),
                    members: if member.id == leader {
                        everyone.clone()
                    } else {
                        Vec::new()
                    },
                }));
            }
        }
    }

    /// The protocol every member supports that most members prefer.
    fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&str> = self
            .members
            .first()?
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|name| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in &self.members {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n.as_str()))
                && let Some(vote) = votes.iter_mut().find(|(c, _)| c == name)
            {
                vote.1 += 1;
            }
        }
        // Ties go to the earlier candidate (the first member's preference order).
        let best = votes.iter().map(|(_, v)| *v).max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(c, _)| c.to_string())
    }

    /// The leader's SyncGroup: hands every member its assignment and becomes Stable.
    pub fn complete_sync(&mut self, assignments: Vec<(String, Bytes)>) {
        for (member_id, assignment) in assignments {
            if let Some(member) = self.member_mut(&member_id) {
                member.assignment = assignment;
            }
        }
        self.state = GroupState::Stable;
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        let protocol_name = self.protocol.clone().unwrap_or_default();
        for member in &mut self.members {
            if let Some(waiting) = member.awaiting_sync.take() {
                let _ = waiting.send(Ok(SyncOutcome {
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                }));
            }
        }
    }

    /// Fails whatever every member waits for with `error` (the group is given up here).
    pub fn abandon(&mut self, error: GroupError) {
        for member in &mut self.members {
            if let Some(waiting) = member.awaiting_join.take() {
                let _ = waiting.send(Err(error.clone()));
            }
            if let Some(waiting) = member.awaiting_sync.take() {
                let _ = waiting.send(Err(error.clone()));
            }
        }
    }

    /// Removes a member, failing whatever it waits for, and rebalances the rest.
    pub fn remove_member(&mut self, member_id: &str, now: Instant, initial_delay: Duration) {
        let Some(index) = self.members.iter().position(|m| m.id == member_id) else {
            return;
        };
        let member = self.members.remove(index);
        if let Some(waiting) = member.awaiting_join {
            let _ = waiting.send(Err(GroupError::UnknownMemberId));
        }
        if let Some(waiting) = member.awaiting_sync {
            let _ = waiting.send(Err(GroupError::UnknownMemberId));
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, initial_delay);
                self.maybe_complete_join(now);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty => {}
        }
        if self.members.is_empty() && self.state == GroupState::PreparingRebalance {
            // Nobody is left to wait for.
            self.rebalance_deadline = Some(now);
            self.maybe_complete_join(now);
        }
    }

    /// Removes members whose sessions ran out, and completes a rebalance that is due.
    pub fn tick(&mut self, now: Instant, initial_delay: Duration) -> Vec<String> {
        self.pending_ids.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            self.remove_member(id, now, initial_delay);
        }
        self.maybe_complete_join(now);
        expired
    }

    /// Topics the members subscribe to, read from the consumer protocol's subscription
    /// metadata (`version: int16, topics: [string], ...`).
    pub fn subscribed_topics(&self) -> Vec<String> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return Vec::new();
        }
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut topics = Vec::new();
        for member in &self.members {
            topics.extend(decode_subscription(&member.metadata(&protocol)).unwrap_or_default());
        }
        topics.sort();
        topics.dedup();
        topics
    }
}

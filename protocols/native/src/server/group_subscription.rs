//! Group subscriptions: the connection joins a consumer group through the broker's group
//! coordinator (the Kafka front-end's), speaking Kafka's consumer protocol so that it shares
//! the group with Kafka clients; the partitions it is assigned are pushed from the group's
//! committed offsets, and rebalances reassign them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_broker::acls::{Operation, Resource};
use neo_broker::groups::consumer_protocol::{decode_subscription, encode_subscription};
use neo_broker::groups::{JoinRequest, OffsetCommit};
use neo_broker::{Broker, GroupError};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinHandle;

use super::connection::Connection;
use super::consumer_protocol::{ASSIGNORS, assign, decode_assignment};
use super::credit::Credit;
use super::error_map::{authorize, error, group_error};
use super::membership::Membership;
use super::subscription::{PUSH_OVERHEAD, check_room, push};
use super::subscription_handle::SubscriptionHandle;
use crate::wire::{ErrorCode, Message};

/// Session timeout the native member asks for; it heartbeats at a third of it.
const SESSION_TIMEOUT_MS: u64 = 10_000;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(1_000);
/// Pause before joining again after the coordinator refused a join.
const REJOIN_BACKOFF: Duration = Duration::from_millis(100);

/// Starts a group subscription whose id is the request's correlation id.
pub(crate) async fn start(
    connection: &mut Connection,
    id: u32,
    group: &str,
    topic: &str,
    credit: u32,
) {
    if let Err(reply) = check_room(connection, id) {
        connection.send(id, reply).await;
        return;
    }
    if group.is_empty() {
        connection
            .send(id, error(ErrorCode::GroupError, "group id is empty"))
            .await;
        return;
    }
    let broker = &connection.context.broker;
    let caller = &connection.caller;
    let allowed = authorize(broker, caller, Operation::Read, Resource::group(group))
        .and_then(|()| authorize(broker, caller, Operation::Read, Resource::topic(topic)));
    if let Err(reply) = allowed {
        connection.send(id, reply).await;
        return;
    }
    if broker.topic(topic).is_none() {
        let reply = error(
            ErrorCode::UnknownTopicOrPartition,
            format!("unknown topic {topic}"),
        );
        connection.send(id, reply).await;
        return;
    }
    connection.send(id, Message::Subscribed { offset: 0 }).await;
    let config = &connection.context.config;
    let credit = Arc::new(Credit::new(credit, config.max_credit_bytes));
    let membership = Arc::new(Mutex::new(Membership {
        group: group.to_string(),
        topic: topic.to_string(),
        ..Membership::default()
    }));
    let member = Member {
        broker: Arc::clone(&connection.context.broker),
        id,
        group: group.to_string(),
        topic: topic.to_string(),
        credit: Arc::clone(&credit),
        max_push: config.max_frame_bytes.saturating_sub(PUSH_OVERHEAD).max(1),
        out: connection.out.clone(),
        membership: Arc::clone(&membership),
        pushing: Vec::new(),
    };
    let task = tokio::spawn(member.run());
    connection.subscriptions.insert(
        id,
        SubscriptionHandle {
            credit,
            task,
            queue: None,
            group: Some(membership),
        },
    );
}

/// Commits `offset` for a partition in the member's current generation.
pub(crate) async fn commit(
    connection: &Connection,
    correlation: u32,
    subscription: u32,
    partition: i32,
    offset: i64,
    permit: Option<OwnedSemaphorePermit>,
) {
    let Some(membership) = connection
        .subscriptions
        .get(&subscription)
        .and_then(|s| s.group.clone())
    else {
        let reply = error(ErrorCode::UnknownSubscription, "no such group subscription");
        connection.send(correlation, reply).await;
        return;
    };
    let broker = Arc::clone(&connection.context.broker);
    let out = connection.out.clone();
    tokio::spawn(async move {
        let (group, topic, member_id, generation) = {
            let m = membership.lock();
            (
                m.group.clone(),
                m.topic.clone(),
                m.member_id.clone(),
                m.generation,
            )
        };
        let commit = OffsetCommit {
            topic,
            partition,
            offset,
            leader_epoch: -1,
            metadata: None,
        };
        let reply = match broker
            .groups()
            .commit_offsets(&group, generation, &member_id, None, vec![commit])
            .await
        {
            Ok(()) => Message::Ok,
            Err(e) => group_error(&e),
        };
        let _ = out.send(reply.to_frame(correlation)).await;
        drop(permit);
    });
}

/// One member of a group, run by the subscription's task.
struct Member {
    broker: Arc<Broker>,
    id: u32,
    group: String,
    topic: String,
    credit: Arc<Credit>,
    max_push: usize,
    out: mpsc::Sender<Bytes>,
    membership: Arc<Mutex<Membership>>,
    pushing: Vec<JoinHandle<()>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop_pushing();
    }
}

impl Member {
    async fn run(mut self) {
        let mut member_id = String::new();
        loop {
            self.stop_pushing();
            match self.join_and_sync(&mut member_id).await {
                Ok(Some(partitions)) => {
                    if self.start_pushing(&partitions).await.is_err() {
                        return;
                    }
                    if self
                        .heartbeat_until_rebalance(&mut member_id)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => tokio::time::sleep(REJOIN_BACKOFF).await,
                Err(e) => {
                    let _ = self.out.send(group_error(&e).to_frame(self.id)).await;
                    return;
                }
            }
        }
    }

    /// One join and sync; `None` when the group rebalanced meanwhile (join again).
    async fn join_and_sync(
        &mut self,
        member_id: &mut String,
    ) -> Result<Option<Vec<i32>>, GroupError> {
        let groups = self.broker.groups();
        let subscription = encode_subscription(std::slice::from_ref(&self.topic));
        let request = JoinRequest {
            group_id: self.group.clone(),
            member_id: member_id.clone(),
            instance_id: None,
            client_id: "neo-native".into(),
            client_host: String::new(),
            session_timeout_ms: SESSION_TIMEOUT_MS,
            rebalance_timeout_ms: SESSION_TIMEOUT_MS,
            protocol_type: "consumer".into(),
            protocols: ASSIGNORS
                .iter()
                .map(|a| (a.to_string(), subscription.clone()))
                .collect(),
            require_known_member_id: false,
        };
        let joined = match groups.join(request).await {
            Ok(joined) => joined,
            Err(GroupError::MemberIdRequired(id)) => {
                *member_id = id;
                return Ok(None);
            }
            Err(GroupError::UnknownMemberId) => {
                member_id.clear();
                return Ok(None);
            }
            Err(
                GroupError::RebalanceInProgress
                | GroupError::IllegalGeneration
                | GroupError::CoordinatorLoadInProgress,
            ) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        *member_id = joined.member_id.clone();
        {
            let mut m = self.membership.lock();
            m.member_id = joined.member_id.clone();
            m.generation = joined.generation;
        }
        let assignments = if joined.leader == joined.member_id {
            let members: Vec<(String, Vec<String>)> = joined
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        decode_subscription(&m.metadata).unwrap_or_default(),
                    )
                })
                .collect();
            let counts: BTreeMap<String, i32> = members
                .iter()
                .flat_map(|(_, topics)| topics.iter())
                .filter_map(|t| Some((t.clone(), self.broker.topic(t)?.partition_count())))
                .collect();
            assign(&joined.protocol_name, &members, &counts)
        } else {
            Vec::new()
        };
        match groups
            .sync(
                &self.group,
                joined.generation,
                &joined.member_id,
                None,
                assignments,
            )
            .await
        {
            Ok(synced) => Ok(Some(
                decode_assignment(&synced.assignment, &self.topic).unwrap_or_default(),
            )),
            Err(GroupError::RebalanceInProgress | GroupError::IllegalGeneration) => Ok(None),
            Err(GroupError::UnknownMemberId) => {
                member_id.clear();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Tells the client its partitions and starts pushing each from the committed offset
    /// (the log start when the group has none).
    async fn start_pushing(&mut self, partitions: &[i32]) -> Result<(), ()> {
        let generation = self.membership.lock().generation;
        let mut starts = Vec::new();
        for &index in partitions {
            let Ok(partition) = self.broker.partition(&self.topic, index) else {
                continue;
            };
            let committed = self
                .broker
                .groups()
                .committed(&self.group, &self.topic, index)
                .and_then(|c| partition.check_offset(c.offset).ok());
            let offset = committed.unwrap_or_else(|| partition.log_start_offset());
            starts.push((index, offset, partition));
        }
        let assigned = Message::Assigned {
            generation,
            partitions: starts.iter().map(|(i, o, _)| (*i, *o)).collect(),
        };
        self.out
            .send(assigned.to_frame(self.id))
            .await
            .map_err(|_| ())?;
        for (_, offset, partition) in starts {
            self.pushing.push(tokio::spawn(push(
                self.id,
                partition,
                offset,
                Arc::clone(&self.credit),
                self.max_push,
                self.out.clone(),
            )));
        }
        Ok(())
    }

    /// Heartbeats until the group rebalances (Ok) or the connection is gone (Err).
    async fn heartbeat_until_rebalance(&mut self, member_id: &mut String) -> Result<(), ()> {
        let generation = self.membership.lock().generation;
        loop {
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            if self.out.is_closed() {
                return Err(());
            }
            match self
                .broker
                .groups()
                .heartbeat(&self.group, generation, member_id, None)
            {
                Ok(()) => {}
                Err(GroupError::UnknownMemberId) => {
                    member_id.clear();
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
    }

    fn stop_pushing(&mut self) {
        for task in self.pushing.drain(..) {
            task.abort();
        }
    }
}

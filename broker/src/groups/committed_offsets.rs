//! Committing, fetching, deleting and expiring groups' offsets.

use neo_record::now_ms;

use super::coordinator::GroupCoordinator;
use super::error::GroupError;
use super::group::GroupState;
use super::offsets::{CommittedOffset, TopicPartition};

/// A commit of one partition's offset.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

impl GroupCoordinator {
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
}

//! Committing, fetching, deleting and expiring groups' offsets.

use neo_record::now_ms;

use super::coordinator::GroupCoordinator;
use super::error::GroupError;
use super::group::GroupState;
use super::offsets::{CommittedOffset, OffsetChange, TopicPartition};
use super::shard::OffsetsShard;

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
        let shard = self.shard_of(group_id)?;
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
        let changes = commits
            .into_iter()
            .map(|c| {
                let committed = CommittedOffset {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata,
                    commit_timestamp: now,
                };
                ((c.topic, c.partition), Some(committed))
            })
            .collect();
        shard.write(group_id, changes).await
    }

    /// The committed offset of one partition, if any (none where this broker does not
    /// coordinate the group: see [`Self::check`]).
    pub fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<CommittedOffset> {
        let shard = self.shard_of(group_id).ok()?;
        shard.read(|o| o.get(group_id, topic, partition))
    }

    /// Every committed offset of a group (none where this broker does not coordinate it).
    pub fn all_committed(&self, group_id: &str) -> Vec<(TopicPartition, CommittedOffset)> {
        self.shard_of(group_id)
            .map(|shard| shard.read(|o| o.all(group_id)))
            .unwrap_or_default()
    }

    /// OffsetDelete: drops committed offsets of partitions the group does not subscribe to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let shard = self.shard_of(group_id)?;
        let subscribed = {
            let groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) => group.subscribed_topics(),
                None if !shard.read(|o| o.contains(group_id)) => {
                    return Err(GroupError::GroupIdNotFound);
                }
                None => Vec::new(),
            }
        };
        let (blocked, free): (Vec<_>, Vec<_>) = partitions
            .iter()
            .cloned()
            .partition(|(topic, _)| subscribed.contains(topic));
        let doomed = shard.read(|o| {
            free.into_iter()
                .filter(|(topic, partition)| o.get(group_id, topic, *partition).is_some())
                .map(|tp| (tp, None))
                .collect()
        });
        shard.write(group_id, doomed).await?;
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
        for shard in self.loaded_shards() {
            let stale: Vec<String> = {
                let groups = self.groups.lock();
                shard
                    .read(|o| o.stale_groups(cutoff))
                    .into_iter()
                    .filter(|g| groups.get(g).is_none_or(|g| g.members.is_empty()))
                    .collect()
            };
            for group in stale {
                match shard.write(&group, deletions(&shard, &group)).await {
                    Ok(()) => tracing::info!(group, "expired committed offsets"),
                    Err(e) => tracing::warn!(group, error = %e, "cannot expire group offsets"),
                }
            }
        }
    }
}

/// Deletions of every committed offset of `group`.
pub(super) fn deletions(shard: &OffsetsShard, group: &str) -> Vec<OffsetChange> {
    shard.read(|o| o.all(group).into_iter().map(|(tp, _)| (tp, None)).collect())
}

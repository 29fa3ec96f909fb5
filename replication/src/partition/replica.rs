//! This broker's replica of a partition, whichever kind it is: the only one (no Raft group:
//! a single broker, or replication factor 1) or a member of a Raft group. The broker calls
//! the same methods on both.

use std::time::Duration;

use bytes::Bytes;
use neo_storage::{LogError, LogPositions};
use tokio::sync::watch;

use super::group::{PartitionGroup, Proposed};
use super::solo::{SoloCommit, SoloReplica};
use crate::error::ReplicationError;
use crate::types::{Admitted, NodeId};

/// A partition's replica on this broker.
#[derive(Debug)]
pub enum PartitionReplica {
    /// The partition's only replica.
    Solo(SoloReplica),
    /// One replica of a Raft group.
    Group(PartitionGroup),
}

/// An append admitted by the leader, whose commit can be awaited.
#[derive(Debug)]
pub struct Appending {
    /// What the leader's append did with the batch.
    pub admitted: Admitted,
    commit: Commit,
}

#[derive(Debug)]
enum Commit {
    Solo(SoloCommit),
    Group(Proposed),
}

impl Appending {
    /// Waits until the append is committed (on every replica a majority needs, as durable as
    /// the topic asks); false if it never will be.
    pub async fn committed(self) -> bool {
        match self.commit {
            Commit::Solo(commit) => commit.committed().await,
            Commit::Group(proposed) => proposed.committed().await,
        }
    }
}

/// Wakes its holder when a replica's high watermark may have moved.
#[derive(Debug, Clone)]
pub enum HighWatermarkWatch {
    /// A solo replica's: its log's positions.
    Log(watch::Receiver<LogPositions>),
    /// A group's: what its state machine applied.
    Applied(watch::Receiver<i64>),
}

impl HighWatermarkWatch {
    /// Forgets changes seen so far.
    pub fn mark_unchanged(&mut self) {
        match self {
            HighWatermarkWatch::Log(rx) => rx.mark_unchanged(),
            HighWatermarkWatch::Applied(rx) => rx.mark_unchanged(),
        }
    }

    /// Waits for a change after the last [`Self::mark_unchanged`]; an error once the replica
    /// is gone.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        match self {
            HighWatermarkWatch::Log(rx) => rx.changed().await,
            HighWatermarkWatch::Applied(rx) => rx.changed().await,
        }
    }
}

impl PartitionReplica {
    /// Appends a record batch (on the leader); returns once it is written (or refused), with
    /// a handle to wait for its commit.
    pub async fn append(&self, batch: Bytes) -> Result<Appending, ReplicationError> {
        match self {
            PartitionReplica::Solo(solo) => {
                let (admitted, commit) = solo.append(batch)?;
                Ok(Appending {
                    admitted,
                    commit: Commit::Solo(commit),
                })
            }
            PartitionReplica::Group(group) => {
                let proposed = group.propose(batch).await?;
                Ok(Appending {
                    admitted: proposed.admitted.clone(),
                    commit: Commit::Group(proposed),
                })
            }
        }
    }

    /// The offset readers may read up to (exclusive).
    pub fn high_watermark(&self) -> i64 {
        match self {
            PartitionReplica::Solo(solo) => solo.high_watermark(),
            PartitionReplica::Group(group) => group.high_watermark(),
        }
    }

    /// A watch that wakes when the high watermark may have moved.
    pub fn watch_high_watermark(&self) -> HighWatermarkWatch {
        match self {
            PartitionReplica::Solo(solo) => HighWatermarkWatch::Log(solo.watch_positions()),
            PartitionReplica::Group(group) => {
                HighWatermarkWatch::Applied(group.watch_high_watermark())
            }
        }
    }

    /// The leader as this replica knows it, and the leader epoch.
    pub fn leadership(&self) -> (Option<NodeId>, u64) {
        match self {
            PartitionReplica::Solo(solo) => solo.leadership(),
            PartitionReplica::Group(group) => group.leadership(),
        }
    }

    /// Why this replica stopped replicating by itself (see [`PartitionGroup::failure`]).
    pub fn failure(&self) -> Option<String> {
        match self {
            PartitionReplica::Solo(_) => None,
            PartitionReplica::Group(group) => group.failure(),
        }
    }

    /// Whether this replica leads the partition now.
    pub fn is_leader(&self) -> bool {
        match self {
            PartitionReplica::Solo(solo) => solo.leadership().0.is_some(),
            PartitionReplica::Group(group) => group.is_leader(),
        }
    }

    /// The leader epoch (a group's current term).
    pub fn term(&self) -> u64 {
        match self {
            PartitionReplica::Solo(solo) => solo.epoch(),
            PartitionReplica::Group(group) => group.term(),
        }
    }

    /// Waits until the leadership differs from `known` (or the replica closes: `None`).
    pub async fn leadership_changed(
        &self,
        known: (Option<NodeId>, u64),
    ) -> Option<(Option<NodeId>, u64)> {
        match self {
            PartitionReplica::Solo(solo) => solo.leadership_changed(known).await,
            PartitionReplica::Group(group) => group.leadership_changed(known).await,
        }
    }

    /// On the leader, the replicas in sync (see [`PartitionGroup::in_sync`]).
    pub fn in_sync(&self, lag: Duration) -> Vec<NodeId> {
        match self {
            PartitionReplica::Solo(solo) => solo.leadership().0.into_iter().collect(),
            PartitionReplica::Group(group) => group.in_sync(lag),
        }
    }

    /// Confirms that this replica leads and that the high watermark covers every committed
    /// batch (see [`PartitionGroup::confirm_leadership`]).
    pub async fn confirm_leadership(&self) -> Result<(), ReplicationError> {
        match self {
            PartitionReplica::Solo(_) => Ok(()),
            PartitionReplica::Group(group) => group.confirm_leadership().await,
        }
    }

    /// Hands the leadership to the follower furthest along (graceful shutdown); whether
    /// another replica leads now.
    pub async fn hand_over(&self, wait: Duration) -> bool {
        match self {
            PartitionReplica::Solo(_) => false,
            PartitionReplica::Group(group) => group.hand_over(wait).await,
        }
    }

    /// Hands the leadership to replica `to`; whether `to` leads now.
    pub async fn transfer_to(&self, to: NodeId, wait: Duration) -> bool {
        match self {
            PartitionReplica::Solo(_) => false,
            PartitionReplica::Group(group) => group.transfer_to(to, wait).await,
        }
    }

    /// Retention; returns how many segments were deleted.
    pub fn apply_retention(&self, now: i64) -> Result<usize, LogError> {
        match self {
            PartitionReplica::Solo(solo) => solo.apply_retention(now),
            PartitionReplica::Group(group) => group.apply_retention(now),
        }
    }

    /// The offset below which compaction may rewrite sealed segments: anywhere for a replica
    /// alone; for a group, below what another replica may still be sent (an entry must be
    /// read back as it was written).
    pub fn compaction_bound(&self) -> i64 {
        match self {
            PartitionReplica::Solo(_) => i64::MAX,
            PartitionReplica::Group(group) => group.needed_from(),
        }
    }

    /// DeleteRecords; returns the new log start.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        match self {
            PartitionReplica::Solo(solo) => solo.delete_records(offset),
            PartitionReplica::Group(group) => group.delete_records(offset),
        }
    }

    /// Takes up the topic's durability.
    pub fn set_durable(&self, durable: bool) {
        match self {
            PartitionReplica::Solo(solo) => solo.set_durable(durable),
            PartitionReplica::Group(group) => group.set_durable(durable),
        }
    }

    /// Stops the replica.
    pub async fn shutdown(&self) -> Result<(), ReplicationError> {
        match self {
            PartitionReplica::Solo(solo) => {
                solo.close();
                Ok(())
            }
            PartitionReplica::Group(group) => group.shutdown().await,
        }
    }
}

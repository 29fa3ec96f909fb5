//! Becoming and ceasing to be a coordinator: the coordinator follows the leadership of each
//! offsets partition opened here. Leading one loads its groups' offsets (requests for them get
//! CoordinatorLoadInProgress meanwhile); losing it drops its groups, whose members are told to
//! find the new coordinator.

use std::sync::Arc;
use std::time::Instant;

use super::coordinator::GroupCoordinator;
use super::error::GroupError;
use super::offsets_partition::offsets_partition_for;
use super::shard::OffsetsShard;
use crate::partition::Partition;

impl GroupCoordinator {
    /// Follows the leadership of `partition`, one of the `count` partitions of the offsets
    /// topic, whose replica here is broker `node`'s; ends when the replica closes.
    pub(crate) fn follow(self: &Arc<Self>, partition: Arc<Partition>, count: i32, node: u64) {
        let coordinator = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut known = (None, 0);
            while let Some(now) = partition.leadership_changed(known).await {
                known = now;
                let Some(coordinator) = coordinator.upgrade() else {
                    return;
                };
                match now {
                    (Some(leader), epoch) if leader == node => {
                        coordinator.lead(&partition, count, epoch)
                    }
                    _ => coordinator.resign(partition.index()),
                }
            }
            if let Some(coordinator) = coordinator.upgrade() {
                coordinator.resign(partition.index());
            }
        });
    }

    /// Starts coordinating the groups of `partition`, led here in `epoch`: loads them.
    fn lead(self: &Arc<Self>, partition: &Arc<Partition>, count: i32, epoch: u64) {
        let index = partition.index();
        let current = self.shards.read().led.get(&index).map(|s| s.epoch());
        if current == Some(epoch) {
            return;
        }
        self.resign(index);
        let shard = Arc::new(OffsetsShard::new(Arc::clone(partition), epoch));
        {
            let mut shards = self.shards.write();
            shards.count = count;
            shards.led.insert(index, Arc::clone(&shard));
        }
        let coordinator = Arc::downgrade(self);
        tokio::spawn(async move {
            let started = Instant::now();
            match shard.load().await {
                Ok(true) => tracing::info!(
                    partition = index,
                    epoch,
                    groups = shard.read(|o| o.groups().count()),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "coordinating the groups of an offsets partition"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(partition = index, error = %e, "cannot load the groups of an offsets partition");
                }
            }
            if let Some(coordinator) = coordinator.upgrade() {
                coordinator.shard_changes.send_modify(|n| *n += 1);
            }
        });
    }

    /// Stops coordinating the groups of offsets partition `index`: its offsets are dropped,
    /// and its groups' members are told to find the new coordinator.
    pub(super) fn resign(&self, index: i32) {
        let (shard, count) = {
            let mut shards = self.shards.write();
            (shards.led.remove(&index), shards.count)
        };
        let Some(shard) = shard else {
            return;
        };
        shard.retire();
        self.groups.lock().retain(|id, group| {
            if offsets_partition_for(id, count) != index {
                return true;
            }
            group.abandon(GroupError::NotCoordinator);
            false
        });
        tracing::info!(
            partition = index,
            "no longer coordinating the groups of an offsets partition"
        );
        self.shard_changes.send_modify(|n| *n += 1);
    }

    /// Whether the groups of offsets partition `index` are loaded here.
    pub(super) fn is_loaded(&self, index: i32) -> bool {
        self.shards
            .read()
            .led
            .get(&index)
            .is_some_and(|s| s.is_loaded())
    }
}

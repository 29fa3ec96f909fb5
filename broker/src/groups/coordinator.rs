//! The group coordinator: the groups of the offsets partitions this broker leads, their
//! offsets, the timer that ends expired sessions, and which broker coordinates a group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::config::GroupConfig;
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::offsets_partition::offsets_partition_for;
use super::shard::OffsetsShard;

/// Groups and their offsets.
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    /// Groups with members (or members being admitted), of the shards led here.
    pub(super) groups: Mutex<HashMap<String, Group>>,
    pub(super) shards: RwLock<Shards>,
    /// Counts shards loaded and dropped, for those waiting for a load.
    pub(super) shard_changes: watch::Sender<u64>,
}

/// The offsets partitions this broker leads.
#[derive(Debug, Default)]
pub(super) struct Shards {
    /// Partitions of the offsets topic (0 until one is led here).
    pub count: i32,
    /// The shards led here, by partition.
    pub led: HashMap<i32, Arc<OffsetsShard>>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator").finish_non_exhaustive()
    }
}

/// How often sessions and rebalance deadlines are checked.
const TICK: Duration = Duration::from_millis(100);

impl GroupCoordinator {
    /// A coordinator of no group yet (it coordinates the groups of the offsets partitions
    /// this broker comes to lead), with its session timer started.
    pub fn new(config: GroupConfig) -> Arc<GroupCoordinator> {
        let coordinator = Arc::new(GroupCoordinator {
            config,
            groups: Mutex::new(HashMap::new()),
            shards: RwLock::new(Shards::default()),
            shard_changes: watch::channel(0).0,
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
        coordinator
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

    /// Nothing if this broker coordinates `group` now; NotCoordinator if another does (or
    /// none), CoordinatorLoadInProgress while its offsets are being loaded.
    pub fn check(&self, group: &str) -> Result<(), GroupError> {
        self.shard_of(group).map(drop)
    }

    /// The shard holding `group`, if this broker coordinates it.
    pub(super) fn shard_of(&self, group: &str) -> Result<Arc<OffsetsShard>, GroupError> {
        let shards = self.shards.read();
        if shards.count == 0 {
            return Err(GroupError::NotCoordinator);
        }
        match shards.led.get(&offsets_partition_for(group, shards.count)) {
            None => Err(GroupError::NotCoordinator),
            Some(shard) if !shard.is_loaded() => Err(GroupError::CoordinatorLoadInProgress),
            Some(shard) => Ok(Arc::clone(shard)),
        }
    }

    /// The loaded shards.
    pub(super) fn loaded_shards(&self) -> Vec<Arc<OffsetsShard>> {
        self.shards
            .read()
            .led
            .values()
            .filter(|s| s.is_loaded())
            .cloned()
            .collect()
    }

    /// Gives up every group (the broker stops): their members are told to find another
    /// coordinator.
    pub fn close(&self) {
        let indexes: Vec<i32> = self.shards.read().led.keys().copied().collect();
        for index in indexes {
            self.resign(index);
        }
    }
}

//! The group coordinator: its groups and offsets, the timer that ends expired sessions,
//! and closing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neo_storage::Flusher;
use parking_lot::Mutex;

use super::config::GroupConfig;
use super::group::{Group, GroupState};
use super::offsets::OffsetStore;

/// Groups and their offsets.
pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) groups: Mutex<HashMap<String, Group>>,
    pub(super) offsets: OffsetStore,
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

    /// Closes the offsets log.
    pub fn close(&self) -> Result<(), crate::BrokerError> {
        self.offsets.close()
    }
}

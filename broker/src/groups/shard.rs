//! One partition of the offsets topic led by this broker: the committed offsets of the groups
//! that hash to it, loaded by replaying the partition when the leadership began (as Kafka's
//! group metadata manager does on a leader election), and the one way to change them: an
//! append, visible only once committed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use neo_record::batch_header;
use parking_lot::Mutex;

use super::error::GroupError;
use super::offsets::{OffsetChange, OffsetsByGroup, encode_batch};
use crate::appended::Acks;
use crate::error::BrokerError;
use crate::partition::Partition;

/// How long a load waits before it tries again to confirm the leadership.
const LOAD_RECHECK: Duration = Duration::from_millis(100);

/// The offsets of one offsets partition this broker leads.
pub(super) struct OffsetsShard {
    partition: Arc<Partition>,
    /// The leader epoch (Raft term) this broker leads it in.
    epoch: u64,
    loaded: AtomicBool,
    /// Set when the leadership ended: a load still running stops.
    retired: AtomicBool,
    offsets: Mutex<OffsetsByGroup>,
    /// Held while appending, so that pending changes are known in log order.
    appending: tokio::sync::Mutex<()>,
    /// Changes appended and not yet known to be committed, by the offset of their last
    /// record: applied in log order once committed.
    pending: Mutex<BTreeMap<i64, (String, Vec<OffsetChange>)>>,
}

impl std::fmt::Debug for OffsetsShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetsShard")
            .field("partition", &self.partition.index())
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl OffsetsShard {
    /// The offsets of `partition`, led here in `epoch`; empty until [`Self::load`] has run.
    pub fn new(partition: Arc<Partition>, epoch: u64) -> OffsetsShard {
        OffsetsShard {
            partition,
            epoch,
            loaded: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            offsets: Mutex::new(OffsetsByGroup::default()),
            appending: tokio::sync::Mutex::new(()),
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// The leader epoch the shard was loaded for.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the offsets are loaded (requests are served).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Stops a load still running: the leadership ended.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Replays the partition once this broker confirmed with a majority that it leads it
    /// (so that everything committed before, by any leader, is here and nothing stale is
    /// served): every committed record. Returns false if the leadership ended first.
    pub async fn load(&self) -> Result<bool, BrokerError> {
        let partition = Arc::clone(&self.partition);
        loop {
            if self.retired.load(Ordering::Acquire) {
                return Ok(false);
            }
            match partition.replica().confirm_leadership().await {
                Ok(()) => break,
                // Not confirmed yet (a majority unreachable, or a leader that restarted with a
                // stale view and is about to learn of the new one): tried again until the
                // leadership is known to have ended.
                Err(e) => {
                    tracing::debug!(partition = partition.index(), error = %e, "leadership of an offsets partition not confirmed yet");
                    tokio::time::sleep(LOAD_RECHECK).await;
                }
            }
        }
        let end = partition.high_watermark();
        let replayed = tokio::task::spawn_blocking(move || replay(&partition, end))
            .await
            .map_err(|e| BrokerError::Replication(e.to_string()))??;
        if self.retired.load(Ordering::Acquire) {
            return Ok(false);
        }
        *self.offsets.lock() = replayed;
        self.loaded.store(true, Ordering::Release);
        Ok(true)
    }

    /// Reads the offsets.
    pub fn read<R>(&self, read: impl FnOnce(&OffsetsByGroup) -> R) -> R {
        read(&self.offsets.lock())
    }

    /// Appends `changes` of `group` to the partition and applies them once committed (by a
    /// majority of the replicas, fsynced).
    pub async fn write(
        self: &Arc<Self>,
        group: &str,
        changes: Vec<OffsetChange>,
    ) -> Result<(), GroupError> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = encode_batch(group, &changes).map_err(|e| storage_error(group, e.into()))?;
        let appended = {
            let _in_order = self.appending.lock().await;
            let appended = self
                .partition
                .append(batch)
                .await
                .map_err(|e| coordinator_error(group, e))?;
            self.pending
                .lock()
                .insert(appended.outcome().last_offset, (group.to_string(), changes));
            appended
        };
        let last = appended.outcome().last_offset;
        // Waited for in a task of its own: a caller that goes away does not leave a committed
        // change unapplied.
        let shard = Arc::clone(self);
        let committed = tokio::spawn(async move {
            let acknowledged = appended.acknowledged(Acks::All).await;
            shard.settle(last, acknowledged.is_ok());
            acknowledged
        })
        .await
        .map_err(|e| storage_error(group, BrokerError::Replication(e.to_string())))?;
        committed.map(drop).map_err(|e| coordinator_error(group, e))
    }

    /// The append ending at `last` is committed (so is every one before it) or never will be.
    fn settle(&self, last: i64, committed: bool) {
        let mut pending = self.pending.lock();
        if !committed {
            pending.remove(&last);
            return;
        }
        let later = pending.split_off(&(last + 1));
        let done = std::mem::replace(&mut *pending, later);
        let mut offsets = self.offsets.lock();
        for (group, changes) in done.into_values() {
            offsets.apply(&group, changes);
        }
    }
}

/// The offsets the records of `partition` below `end` give.
fn replay(partition: &Partition, end: i64) -> Result<OffsetsByGroup, BrokerError> {
    let mut offsets = OffsetsByGroup::default();
    let log = partition.log();
    log.for_each_batch(log.log_start_offset(), |batch| {
        let Some((base_offset, _)) = batch_header::peek_offset_and_len(batch) else {
            return;
        };
        if base_offset >= end {
            return;
        }
        if let Err(e) = offsets.apply_batch(batch) {
            tracing::warn!(
                partition = partition.index(),
                offset = base_offset,
                error = %e,
                "skipping an unreadable batch of committed offsets"
            );
        }
    })?;
    Ok(offsets)
}

/// An append's failure: NotCoordinator when this broker no longer leads the partition (the
/// client finds the new coordinator), else a storage failure.
fn coordinator_error(group: &str, e: BrokerError) -> GroupError {
    match e {
        BrokerError::NotLeader { .. }
        | BrokerError::NotCommitted { .. }
        | BrokerError::PartitionClosed
        | BrokerError::ShuttingDown => GroupError::NotCoordinator,
        other => storage_error(group, other),
    }
}

fn storage_error(group: &str, e: BrokerError) -> GroupError {
    tracing::error!(group, error = %e, "cannot store committed offsets");
    GroupError::Storage
}

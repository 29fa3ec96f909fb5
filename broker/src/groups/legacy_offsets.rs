//! Taking over the offsets log of a data directory from before clusters: one local log,
//! `<data>/__consumer_offsets`, of every group's commits in the record format the offsets
//! topic keeps. At start, once the broker coordinates every group the log names, each group's
//! offsets are committed to its offsets partition; then the log is set aside as
//! `__consumer_offsets.migrated`, so this happens once.

use std::path::Path;
use std::sync::Arc;

use neo_storage::{Flusher, LogConfig, PartitionLog};

use super::offsets::OffsetsByGroup;
use crate::broker::Broker;
use crate::error::BrokerError;

/// The log's directory under the data directory.
const LEGACY_DIR: &str = "__consumer_offsets";
/// Where it is set aside once taken over.
const MIGRATED_DIR: &str = "__consumer_offsets.migrated";

impl Broker {
    /// Commits the offsets of the log from before clusters to the offsets topic, if there is
    /// such a log. All or nothing: while another broker coordinates one of its groups, the log
    /// stays (and is taken over at a later start).
    pub(crate) async fn take_over_legacy_offsets(&self) -> Result<(), BrokerError> {
        let dir = self.config().data_dir.join(LEGACY_DIR);
        if !dir.is_dir() {
            return Ok(());
        }
        let flusher = Arc::clone(self.flusher());
        let read_dir = dir.clone();
        let offsets = tokio::task::spawn_blocking(move || read_legacy(&read_dir, flusher))
            .await
            .map_err(|e| BrokerError::Replication(e.to_string()))??;
        let coordinator = self.groups();
        let mut writes = Vec::new();
        for (group, changes) in offsets.into_changes() {
            match coordinator.shard_of(&group) {
                Ok(shard) => writes.push((shard, group, changes)),
                Err(e) => {
                    tracing::warn!(group, error = %e, "the offsets log from before clusters is left for a later start: this broker does not coordinate all its groups");
                    return Ok(());
                }
            }
        }
        let groups = writes.len();
        for (shard, group, changes) in writes {
            if let Err(e) = shard.write(&group, changes).await {
                tracing::warn!(group, error = %e, "the offsets log from before clusters is left for a later start");
                return Ok(());
            }
        }
        let migrated = self.config().data_dir.join(MIGRATED_DIR);
        std::fs::rename(&dir, &migrated).map_err(|source| BrokerError::DataDir {
            path: dir.clone(),
            source,
        })?;
        tracing::info!(
            groups,
            "took over the committed offsets of the offsets log from before clusters"
        );
        Ok(())
    }
}

/// Every group's offsets in the log under `dir`.
fn read_legacy(dir: &Path, flusher: Arc<Flusher>) -> Result<OffsetsByGroup, BrokerError> {
    let config = LogConfig {
        segment_bytes: 100 << 20,
        retention_ms: None,
        retention_bytes: None,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir, config, flusher)?;
    let mut offsets = OffsetsByGroup::default();
    let mut undecodable = None;
    log.for_each_batch(0, |batch| {
        if let Err(e) = offsets.apply_batch(batch) {
            undecodable.get_or_insert(e);
        }
    })?;
    log.close()?;
    match undecodable {
        Some(e) => Err(e.into()),
        None => Ok(offsets),
    }
}

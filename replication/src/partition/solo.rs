//! The only replica of a partition (a single broker, or a topic of replication factor 1): no
//! Raft group, since there is nobody to agree with. An append is checked and written in order
//! under one lock, and it is committed once the group commit has fsynced it (at once on a
//! topic that relaxes durability): the path of a single broker before clusters, at its speed.
//!
//! Raft files a group of this partition left (an earlier version made every partition a
//! group) are removed at open, except the vote: its term stays the partition's leader epoch,
//! which must never go back.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use neo_storage::{LogError, LogPositions, PartitionLog};
use openraft::alias::VoteOf;
use openraft::vote::RaftLeaderId as _;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::append_gate::{Admission, AppendGate};
use super::install_marker;
use super::raft_log::VOTE_FILE;
use crate::error::ReplicationError;
use crate::small_file;
use crate::types::{Admitted, NeoRaft, NodeId};

/// A partition's only replica.
pub struct SoloReplica {
    name: String,
    log: PartitionLog,
    gate: Arc<dyn AppendGate>,
    node_id: NodeId,
    /// The leader epoch batches are stamped with (the term of the group this partition was,
    /// if it was one; else 0).
    epoch: u64,
    /// Whether an append counts as committed only once fsynced.
    durable: Arc<AtomicBool>,
    /// Set once appends are refused (the replica gives way to a group, or closes).
    fenced: AtomicBool,
    /// Sequence checks and offsets are decided under it, one append at a time.
    appending: Mutex<()>,
    /// True once closed: leadership watchers end.
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for SoloReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoloReplica")
            .field("name", &self.name)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl SoloReplica {
    /// The replica over `log` (opened and recovered), named `name` in errors.
    pub fn open(
        name: String,
        log: PartitionLog,
        gate: Arc<dyn AppendGate>,
        durable: bool,
        node_id: NodeId,
    ) -> Result<SoloReplica, ReplicationError> {
        let epoch = forget_group(&log).map_err(|e| ReplicationError::Storage {
            group: name.clone(),
            reason: e.to_string(),
        })?;
        log.set_leader_epoch(i32::try_from(epoch).unwrap_or(i32::MAX));
        Ok(SoloReplica {
            name,
            log,
            gate,
            node_id,
            epoch,
            durable: Arc::new(AtomicBool::new(durable)),
            fenced: AtomicBool::new(false),
            appending: Mutex::new(()),
            closed: watch::Sender::new(false),
        })
    }

    /// Checks and writes a record batch; the returned [`SoloCommit`] resolves once it is
    /// committed.
    pub fn append(&self, batch: Bytes) -> Result<(Admitted, SoloCommit), ReplicationError> {
        let _one_at_a_time = self.appending.lock();
        if self.fenced.load(Ordering::Acquire) {
            return Err(ReplicationError::ShuttingDown {
                group: self.name.clone(),
            });
        }
        let admitted = match self.gate.admit(&batch) {
            Admission::Accept => {
                let mut batch = batch
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                let info = self.log.append(&mut batch).map_err(|e| self.storage(e))?;
                self.gate
                    .appended(&batch, info.base_offset, info.last_offset);
                Admitted::Appended {
                    base_offset: info.base_offset,
                    last_offset: info.last_offset,
                    log_append_time: info.log_append_time,
                }
            }
            Admission::Duplicate {
                base_offset,
                last_offset,
            } => Admitted::Duplicate {
                base_offset,
                last_offset,
            },
            Admission::Refuse(reason) => Admitted::Refused(reason),
        };
        let end = match &admitted {
            Admitted::Appended { last_offset, .. } | Admitted::Duplicate { last_offset, .. } => {
                last_offset + 1
            }
            Admitted::Refused(_) => 0,
        };
        let commit = SoloCommit {
            log: self.log.clone(),
            end,
            durable: self.durable.load(Ordering::Acquire),
        };
        Ok((admitted, commit))
    }

    fn storage(&self, e: LogError) -> ReplicationError {
        ReplicationError::Storage {
            group: self.name.clone(),
            reason: e.to_string(),
        }
    }

    /// The offset readers may read up to (exclusive): on a durable topic what is fsynced,
    /// else the log end.
    pub fn high_watermark(&self) -> i64 {
        if self.durable.load(Ordering::Acquire) {
            self.log.durable_offset()
        } else {
            self.log.log_end_offset()
        }
    }

    /// The log's positions, which the high watermark follows.
    pub fn watch_positions(&self) -> watch::Receiver<LogPositions> {
        self.log.subscribe()
    }

    /// Takes up the topic's durability.
    pub fn set_durable(&self, durable: bool) {
        self.durable.store(durable, Ordering::Release);
    }

    /// This broker, and the leader epoch.
    pub fn leadership(&self) -> (Option<NodeId>, u64) {
        let closed = *self.closed.borrow();
        ((!closed).then_some(self.node_id), self.epoch)
    }

    /// The leader epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Returns the leadership if it differs from `known`; else waits until the replica closes
    /// (then `None`).
    pub async fn leadership_changed(
        &self,
        known: (Option<NodeId>, u64),
    ) -> Option<(Option<NodeId>, u64)> {
        let now = self.leadership();
        if now != known && now.0.is_some() {
            return Some(now);
        }
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
        None
    }

    /// Retention: deletes what `retention.ms` and `retention.bytes` let go.
    pub fn apply_retention(&self, now: i64) -> Result<usize, LogError> {
        self.log.apply_retention(now)
    }

    /// DeleteRecords: moves the log start to `offset`; returns the new log start.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        self.log.delete_records(offset)
    }

    /// Refuses appends from now on (`fenced`), returning once none is under way; or takes
    /// them again.
    pub fn fence(&self, fenced: bool) {
        let _one_at_a_time = self.appending.lock();
        self.fenced.store(fenced, Ordering::Release);
    }

    /// Stops: refuses appends, and no longer leads.
    pub fn close(&self) {
        self.fence(true);
        self.closed.send_replace(true);
    }
}

/// Resolves once an append is committed: fsynced on a durable topic.
#[derive(Debug)]
pub struct SoloCommit {
    log: PartitionLog,
    /// The end of the append (0 for a refused one: nothing to wait for).
    end: i64,
    durable: bool,
}

impl SoloCommit {
    /// True once committed, false if the log failed or closed first.
    pub async fn committed(self) -> bool {
        !self.durable || self.log.wait_durable(self.end).await.is_ok()
    }
}

/// Makes `log` a partition's alone: removes the Raft files a group of it left (and finishes
/// the group's interrupted snapshot install, if any), and returns the term of its vote (0 if
/// it never was a group).
fn forget_group(log: &PartitionLog) -> io::Result<u64> {
    install_marker::start_over_if_interrupted(log)?;
    let vote: Option<VoteOf<NeoRaft>> = small_file::read(&log.dir().join(VOTE_FILE))?;
    install_marker::forget_raft_state(log.dir())?;
    Ok(vote.map_or(0, |v| v.leader_id().term()))
}

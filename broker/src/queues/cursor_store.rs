//! The cursor log: a queue cursor's changes, one record per event, appended to the queue's
//! cursor topic (a replicated partition of its own, led by the broker that leads the queue),
//! with a snapshot of the whole cursor every so often. Replay starts at the last snapshot;
//! each replica deletes the log before it (see [`super::cursor_topic::snapshot_offset`]).
//!
//! Changes are staged while the cursor is locked, in the order they were made, and written
//! after it is unlocked: one write carries what every caller staged meanwhile. A change is
//! safe once [`CursorStore::sync`] returns. On a replicated cursor log, one writer task
//! appends what was staged meanwhile as one batch, waits until a majority of the replicas has
//! it durably, and goes on. A cursor log of one replica is written by [`CursorStore::flush`]
//! at once, as a local log is: a change reaches the log (if not the disk) before the call
//! that made it returns, so it survives the process being killed.

use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;
use neo_storage::PartitionLog;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

use super::cursor_event::CursorEvent;
use super::cursor_topic::first_key;
use crate::appended::{Acks, Appended};
use crate::error::BrokerError;
use crate::partition::Partition;
use neo_replication::partition::replica::PartitionReplica;

/// Most bytes of events in one batch (a larger event goes alone).
const BATCH_BYTES: usize = 1 << 20;

/// A cursor log: where changes go, and those waiting to.
#[derive(Debug)]
pub struct CursorStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    staged: Mutex<Staged>,
    /// Held while writing at once (a log of one replica), with where the last snapshot is.
    writing: Mutex<Option<i64>>,
    /// The cursor partition written to, and its leadership when the cursor was loaded from
    /// it: writes stop when that leadership ends.
    target: Mutex<Option<Target>>,
    wake: Notify,
    progress: watch::Sender<Progress>,
}

#[derive(Debug, Clone)]
struct Target {
    partition: Arc<Partition>,
    leadership: (Option<u64>, u64),
    /// Events numbered above this one are this target's.
    base: u64,
    /// A log of one replica: written at once by [`CursorStore::flush`], not by the writer.
    alone: bool,
}

impl Target {
    fn is_current(&self) -> bool {
        self.partition.replica().leadership() == self.leadership
    }
}

/// Encoded events waiting to be written, in order.
#[derive(Debug, Default)]
struct Staged {
    events: Vec<Bytes>,
    /// The first of them is a snapshot.
    snapshot_first: bool,
    /// Number of the last event staged (events are numbered from 1 for the store's life).
    last: u64,
    since_snapshot: u64,
}

impl Staged {
    /// Takes the events staged so far: them, whether the first is a snapshot, and the number
    /// of the last.
    fn take(&mut self) -> (Vec<Bytes>, bool, u64) {
        let snapshot_first = std::mem::take(&mut self.snapshot_first);
        (std::mem::take(&mut self.events), snapshot_first, self.last)
    }
}

/// How far the writer got, by event number.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Events through this one were staged for an earlier target (or none): not written.
    base: u64,
    /// Every event through this one is written or dropped.
    done: u64,
    /// A write to the current target failed: it and every later one are dropped.
    failed: bool,
    closed: bool,
}

/// The state to rebuild a cursor from: the last snapshot and the events after it.
#[derive(Debug, Default)]
pub struct Replay {
    pub snapshot: Option<CursorEvent>,
    pub events: Vec<CursorEvent>,
}

impl Replay {
    /// Reads the cursor log in `log` below `end`, from its last snapshot on; `dir` names the
    /// log in errors.
    pub fn read(log: &PartitionLog, end: i64, dir: &Path) -> Result<Replay, BrokerError> {
        let mut replay = Replay::default();
        let mut undecodable = None;
        log.for_each_batch(log.log_start_offset(), |batch| {
            if BatchHeader::parse(batch).is_ok_and(|h| h.base_offset >= end) {
                return;
            }
            let records = match decode_records(batch) {
                Ok(records) => records,
                Err(e) => {
                    undecodable.get_or_insert(e.into());
                    return;
                }
            };
            for value in records.into_iter().filter_map(|r| r.value) {
                match CursorEvent::decode(value) {
                    Ok(event @ CursorEvent::Snapshot { .. }) => {
                        replay.snapshot = Some(event);
                        replay.events.clear();
                    }
                    Ok(event) => replay.events.push(event),
                    Err(e) => {
                        undecodable.get_or_insert(BrokerError::MetadataCorrupt {
                            path: dir.to_path_buf(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        })?;
        match undecodable {
            Some(e) => Err(e),
            None => Ok(replay),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.events.is_empty()
    }
}

impl CursorStore {
    /// A store writing nowhere until [`Self::take_over`]; its writer runs until the store is
    /// dropped.
    pub fn new() -> CursorStore {
        let shared = Arc::new(Shared {
            staged: Mutex::new(Staged::default()),
            writing: Mutex::new(None),
            target: Mutex::new(None),
            wake: Notify::new(),
            progress: watch::Sender::new(Progress::default()),
        });
        tokio::spawn(write_loop(Arc::clone(&shared)));
        CursorStore { shared }
    }

    /// Writes to `partition` from now on, while the leadership it has now lasts; what was
    /// staged for an earlier owner is dropped (the cursor is rebuilt from the log).
    pub fn take_over(&self, partition: Arc<Partition>) {
        let leadership = partition.replica().leadership();
        let alone = matches!(*partition.replica(), PartitionReplica::Solo(_));
        let mut target = self.shared.target.lock();
        let mut staged = self.shared.staged.lock();
        staged.events.clear();
        staged.snapshot_first = false;
        staged.since_snapshot = 0;
        let base = staged.last;
        *target = Some(Target {
            partition,
            leadership,
            base,
            alone,
        });
        self.shared.progress.send_modify(|p| {
            p.base = base;
            p.done = p.done.max(base);
            p.failed = false;
        });
    }

    /// Whether this store writes to `partition` under its leadership of now.
    pub fn owns(&self, partition: &Arc<Partition>) -> bool {
        self.is_current()
            && self
                .shared
                .target
                .lock()
                .as_ref()
                .is_some_and(|t| Arc::ptr_eq(&t.partition, partition))
    }

    /// Whether the leadership the store writes under still holds, and nothing failed to be
    /// written under it (a full disk, say): after a failure, the cursor in memory may hold
    /// changes the log lacks, so the queue is loaded again from the log.
    pub fn is_current(&self) -> bool {
        !self.shared.progress.borrow().failed
            && self
                .shared
                .target
                .lock()
                .as_ref()
                .is_some_and(Target::is_current)
    }

    /// Stages `events` to be written after those staged before (by the next
    /// [`Self::flush`]). A snapshot makes the events staged before it useless: they go.
    pub fn stage(&self, events: &[CursorEvent]) {
        let mut staged = self.shared.staged.lock();
        for event in events {
            staged.last += 1;
            if matches!(event, CursorEvent::Snapshot { .. }) {
                staged.events.clear();
                staged.snapshot_first = true;
                staged.since_snapshot = 0;
            } else {
                staged.since_snapshot += 1;
            }
            staged.events.push(event.encode());
        }
    }

    /// Writes what is staged: at once to a log of one replica, else by waking the writer.
    pub fn flush(&self) {
        let target = self.shared.target.lock().clone();
        match target {
            Some(target) if target.alone => self.write_now(&target),
            _ => self.shared.wake.notify_one(),
        }
    }

    /// Appends what is staged to `target`'s log of one replica now (its append completes
    /// without waiting), and has a task note when it is committed.
    fn write_now(&self, target: &Target) {
        let mut last_snapshot = self.shared.writing.lock();
        let (events, snapshot_first, last) = self.shared.staged.lock().take();
        if events.is_empty() {
            return;
        }
        let failed = self.shared.progress.borrow().failed;
        let appended = match target.is_current() && !failed {
            true => append_all(
                &target.partition,
                &events,
                snapshot_first,
                &mut last_snapshot,
            )
            .now_or_never()
            .unwrap_or(Err(BrokerError::PartitionClosed)),
            false => Err(BrokerError::PartitionClosed),
        };
        drop(last_snapshot);
        let shared = Arc::clone(&self.shared);
        let base = target.base;
        match appended {
            Ok(appended) => {
                let mut committing = Box::pin(commit_all(appended));
                match (&mut committing).now_or_never() {
                    Some(committed) => shared.note_written(last, base, committed),
                    None => {
                        tokio::spawn(async move {
                            shared.note_written(last, base, committing.await);
                        });
                    }
                }
            }
            Err(e) => shared.note_written(last, base, Err(e)),
        }
    }

    /// Events staged since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        self.shared.staged.lock().since_snapshot
    }

    /// Waits until every event staged so far is committed and durable; an error when one of
    /// them could not be written (the leadership ended).
    pub async fn sync(&self) -> Result<(), BrokerError> {
        self.wait_written(true).await
    }

    /// Waits until every event staged so far is committed (on a single broker: written), not
    /// for an fsync: before records are handed out, so that a new leader knows they were.
    pub async fn committed(&self) -> Result<(), BrokerError> {
        self.wait_written(false).await
    }

    async fn wait_written(&self, durable: bool) -> Result<(), BrokerError> {
        let wanted = self.shared.staged.lock().last;
        self.flush();
        let alone = self
            .shared
            .target
            .lock()
            .as_ref()
            .filter(|t| t.alone && durable)
            .map(|t| Arc::clone(&t.partition));
        let mut progress = self.shared.progress.subscribe();
        let reached = progress
            .wait_for(|p| p.done >= wanted || p.closed)
            .await
            .map(|p| wanted == 0 || p.done >= wanted && wanted > p.base && !p.failed)
            .unwrap_or(false);
        if !reached {
            return Err(BrokerError::PartitionClosed);
        }
        // A log of one replica commits without fsync (see `cursor_topic_configs`): a change
        // waited for is fsynced, as a write acknowledged as durable is.
        if let Some(log) = alone {
            log.log().wait_durable(log.log().log_end_offset()).await?;
        }
        Ok(())
    }

    /// Stops the writer once what is staged is written.
    pub async fn close(&self) -> Result<(), BrokerError> {
        let synced = self.sync().await;
        self.shared.progress.send_modify(|p| p.closed = true);
        self.shared.wake.notify_one();
        synced
    }
}

impl Shared {
    /// Records that the events through `last`, written to the target of `base`, are
    /// committed, or were not written.
    fn note_written(&self, last: u64, base: u64, written: Result<(), BrokerError>) {
        let failed = self.progress.borrow().failed;
        self.progress.send_modify(|p| {
            p.done = p.done.max(last);
            if written.is_err() && p.base == base {
                p.failed = true;
            }
        });
        if let Err(e) = written
            && !failed
        {
            tracing::warn!(error = %e, "queue cursor changes not written (the queue's leadership ended?)");
        }
    }
}

impl Drop for CursorStore {
    fn drop(&mut self) {
        self.shared.progress.send_modify(|p| p.closed = true);
        self.shared.wake.notify_one();
    }
}

/// The writer: appends what is staged, one batch at a time, until the store closes.
async fn write_loop(shared: Arc<Shared>) {
    let mut last_snapshot: Option<i64> = None;
    loop {
        shared.wake.notified().await;
        loop {
            // Taken together with the target (as `take_over` changes both): a batch goes to
            // the target it was staged for.
            let (target, (events, snapshot_first, last)) = {
                let target = shared.target.lock();
                let taken = shared.staged.lock().take();
                (target.clone(), taken)
            };
            if events.is_empty() {
                break;
            }
            let failed = shared.progress.borrow().failed;
            let written = match &target {
                Some(target) if target.is_current() && !failed && !target.alone => {
                    match append_all(
                        &target.partition,
                        &events,
                        snapshot_first,
                        &mut last_snapshot,
                    )
                    .await
                    {
                        Ok(appended) => commit_all(appended).await,
                        Err(e) => Err(e),
                    }
                }
                _ => Err(BrokerError::PartitionClosed),
            };
            if written.is_err() {
                last_snapshot = None;
            }
            shared.note_written(last, target.map_or(0, |t| t.base), written);
        }
        if shared.progress.borrow().closed {
            return;
        }
    }
}

/// Appends `events` to `partition` in batches of about [`BATCH_BYTES`] (on a log of one
/// replica this completes without waiting).
async fn append_all(
    partition: &Arc<Partition>,
    events: &[Bytes],
    snapshot_first: bool,
    last_snapshot: &mut Option<i64>,
) -> Result<Vec<Appended>, BrokerError> {
    let mut appended = Vec::new();
    let mut rest = events;
    let mut starts_with_snapshot = snapshot_first;
    while !rest.is_empty() {
        let mut bytes = 0;
        let count = rest
            .iter()
            .take_while(|e| {
                bytes += e.len();
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (chunk, later) = rest.split_at(count);
        rest = later;
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        let key = first_key(starts_with_snapshot, *last_snapshot);
        for (i, event) in chunk.iter().enumerate() {
            let key = if i == 0 { key.as_deref() } else { None };
            builder.push(now, key, Some(event), &[]);
        }
        let batch = partition.append(builder.build()?.freeze()).await?;
        if starts_with_snapshot {
            *last_snapshot = Some(batch.outcome().base_offset);
            starts_with_snapshot = false;
        }
        appended.push(batch);
    }
    Ok(appended)
}

/// Waits until every one of `appended` is committed.
async fn commit_all(appended: Vec<Appended>) -> Result<(), BrokerError> {
    for batch in appended {
        batch.acknowledged(Acks::All).await?;
    }
    Ok(())
}

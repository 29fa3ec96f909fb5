//! A partition group's Raft log: the partition log holds the data entries' batches at their
//! Kafka offsets; the sidecar holds every entry's index, term and kind; membership entries and
//! the vote are small files beside them. The leader's append assigns offsets and stamps the
//! term as the batch's leader epoch; a follower stores the leader's bytes unchanged.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use neo_record::batch_header::BatchHeader;
use neo_storage::PartitionLog;
use neo_storage::SealedSegment;
use openraft::alias::{EntryOf, LogIdOf, SnapshotMetaOf, StoredMembershipOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::vote::leader_id_std::CommittedLeaderId;
use openraft::{EntryPayload, LogId, Membership, OptionalSend, RaftLogReader};
use parking_lot::Mutex;

use super::append_gate::{Admission, AppendGate};
use super::install_marker;
use super::sidecar::{Kind, Record, Sidecar};
use super::synced_sidecar::SyncedSidecar;
use crate::small_file;
use crate::types::{Admitted, NeoRaft, NodeId, Proposal};

const SIDECAR_FILE: &str = "raft.entries";
pub(crate) const VOTE_FILE: &str = "raft.vote";
const COMMITTED_FILE: &str = "raft.committed";
const PURGED_FILE: &str = "raft.purged";
const MEMBERSHIP_FILE: &str = "raft.membership";

/// How often the committed id is written down while entries commit.
const SAVE_COMMITTED_EVERY: Duration = Duration::from_secs(1);

type MembershipOf = Membership<NodeId, openraft::BasicNode>;

/// The log; clones share it (the storage handle, its readers, the state machine).
#[derive(Clone)]
pub struct PartitionRaftLog {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    log: PartitionLog,
    sidecar: Arc<SyncedSidecar>,
    /// Membership entries not purged, in index order.
    memberships: Mutex<Vec<(LogIdOf<NeoRaft>, MembershipOf)>>,
    vote: Mutex<Option<VoteOf<NeoRaft>>>,
    last_purged: Mutex<Option<Purged>>,
    /// When the committed id was last written down.
    committed_saved_at: Mutex<Option<Instant>>,
    gate: Arc<dyn AppendGate>,
    /// Whether an append counts as flushed only once fsynced (the topic's durability).
    durable: AtomicBool,
}

impl Debug for PartitionRaftLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionRaftLog")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// The last purged entry, and where the data of the entries up to it ended (so the log's end
/// is known when every record is purged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Purged {
    log_id: LogIdOf<NeoRaft>,
    data_end: Option<i64>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn log_id(term: u64, index: u64) -> LogIdOf<NeoRaft> {
    LogId {
        leader_id: CommittedLeaderId::new(term),
        index,
    }
}

impl PartitionRaftLog {
    /// The Raft log over `log` (already opened and recovered), whose sidecar and small files
    /// live in the log's directory. The sidecar and the log are made to agree: a record whose
    /// batch is not whole in the log goes, and so does a batch with no record.
    pub fn open(
        log: PartitionLog,
        gate: Arc<dyn AppendGate>,
        durable: bool,
    ) -> io::Result<PartitionRaftLog> {
        let dir = log.dir().to_path_buf();
        if install_marker::start_over_if_interrupted(&log)? {
            gate.truncated(0);
        }
        let mut sidecar = Sidecar::open(&dir.join(SIDECAR_FILE))?;
        let last_purged: Option<Purged> = small_file::read(&dir.join(PURGED_FILE))?;
        if let Some(purged) = &last_purged {
            sidecar.purge(purged.log_id.index);
        }
        reconcile(&log, &mut sidecar, last_purged.and_then(|p| p.data_end))?;
        let mut memberships: Vec<(LogIdOf<NeoRaft>, MembershipOf)> =
            small_file::read(&dir.join(MEMBERSHIP_FILE))?.unwrap_or_default();
        let last_index = sidecar.last().map(|r| r.index);
        memberships.retain(|(id, _)| last_index.is_some_and(|last| id.index <= last));
        let vote = small_file::read(&dir.join(VOTE_FILE))?;
        let sidecar = Arc::new(SyncedSidecar::new(sidecar));
        log.set_companion(Arc::clone(&sidecar) as Arc<dyn neo_storage::Companion>);
        Ok(PartitionRaftLog {
            inner: Arc::new(Inner {
                dir,
                log,
                sidecar,
                memberships: Mutex::new(memberships),
                vote: Mutex::new(vote),
                last_purged: Mutex::new(last_purged),
                committed_saved_at: Mutex::new(None),
                gate,
                durable: AtomicBool::new(durable),
            }),
        })
    }

    /// The partition log under the Raft log.
    pub fn partition_log(&self) -> &PartitionLog {
        &self.inner.log
    }

    /// Whether an append is flushed only once fsynced (a topic that relaxes durability
    /// reports it flushed once written).
    pub fn set_durable(&self, durable: bool) {
        self.inner.durable.store(durable, Ordering::Release);
    }

    /// The end offset (exclusive) of the last data entry at or before `index`, if the sidecar
    /// still holds one.
    pub fn data_end_through(&self, index: u64) -> Option<i64> {
        let sidecar = self.inner.sidecar.lock();
        sidecar
            .records()
            .iter()
            .rev()
            .filter(|r| r.index <= index)
            .find_map(|r| match r.kind {
                Kind::Data { last, .. } => Some(last + 1),
                _ => None,
            })
    }

    /// The offset from which the Raft log needs the partition log's data: the first data
    /// entry it still holds (entries up to a snapshot are purged); the log end if it holds
    /// none. Segments wholly below it may go.
    pub fn needed_from(&self) -> i64 {
        let sidecar = self.inner.sidecar.lock();
        sidecar
            .records()
            .iter()
            .find_map(|r| match r.kind {
                Kind::Data { base, .. } => Some(base),
                _ => None,
            })
            .unwrap_or_else(|| self.inner.log.log_end_offset())
    }

    /// Where a replica that matched the leader's log up to `matched` has data up to, if the
    /// sidecar still says (it needs a snapshot otherwise).
    pub fn data_end_of(&self, matched: LogIdOf<NeoRaft>) -> Option<i64> {
        let sidecar = self.inner.sidecar.lock();
        let first = sidecar.records().front()?;
        if matched.index < first.index {
            return None;
        }
        drop(sidecar);
        self.data_end_through(matched.index)
            .or_else(|| self.inner.last_purged.lock().and_then(|p| p.data_end))
    }

    /// Whether entry `log_id` is in the log (not purged, same term).
    pub fn holds(&self, log_id: LogIdOf<NeoRaft>) -> bool {
        self.inner
            .sidecar
            .lock()
            .get(log_id.index)
            .is_some_and(|r| r.term == log_id.leader_id.term)
    }

    /// The entry a snapshot whose segments end at `boundary` stands for: the last entry at or
    /// before `applied` whose data, and every earlier entry's, ends at or before `boundary`,
    /// with the membership in effect there (chosen among the applied one, the log's and the
    /// previous snapshot's). `None` if no such entry is known.
    pub fn snapshot_point(
        &self,
        boundary: i64,
        applied: LogIdOf<NeoRaft>,
        candidates: &[StoredMembershipOf<NeoRaft>],
    ) -> Option<SnapshotMetaOf<NeoRaft>> {
        let purged = *self.inner.last_purged.lock();
        let (point, data_end) = {
            let sidecar = self.inner.sidecar.lock();
            let mut point = purged.map(|p| (p.log_id, p.data_end));
            for r in sidecar.records() {
                if r.index > applied.index {
                    break;
                }
                let end = match r.kind {
                    Kind::Data { last, .. } if last + 1 > boundary => break,
                    Kind::Data { last, .. } => Some(last + 1),
                    _ => point.and_then(|(_, end)| end),
                };
                point = Some((log_id(r.term, r.index), end));
            }
            point?
        };
        // The segments must end where the entry's data does; before the first data entry, where
        // the data written before the group existed ends.
        let data_end = data_end.unwrap_or_else(|| self.needed_from());
        if data_end != boundary {
            return None;
        }
        let in_log = self
            .inner
            .memberships
            .lock()
            .iter()
            .map(|(id, m)| StoredMembershipOf::<NeoRaft>::new(Some(*id), m.clone()))
            .collect::<Vec<_>>();
        let membership = candidates
            .iter()
            .chain(&in_log)
            .filter(|m| m.log_id().is_some_and(|id| id <= point))
            .max_by_key(|m| *m.log_id())
            .cloned()
            .unwrap_or_default();
        Some(SnapshotMetaOf::<NeoRaft> {
            last_log_id: Some(point),
            last_membership: membership,
        })
    }

    /// Makes the log a received snapshot's: the partition log holds exactly its segments, and
    /// the Raft log holds no entry, everything up to `point` purged. Durable on return.
    pub fn install_snapshot(
        &self,
        point: LogIdOf<NeoRaft>,
        segments: &[SealedSegment],
        log_start: i64,
        data_end: i64,
    ) -> io::Result<()> {
        let inner = &self.inner;
        inner
            .log
            .replace_segments(segments, log_start, data_end)
            .map_err(other)?;
        let purged = Purged {
            log_id: point,
            data_end: Some(data_end),
        };
        small_file::write_durably(&inner.dir.join(PURGED_FILE), &purged)?;
        *inner.last_purged.lock() = Some(purged);
        inner.sidecar.lock().reset()?;
        inner.memberships.lock().clear();
        small_file::write_durably(
            &self.membership_file(),
            &Vec::<(LogIdOf<NeoRaft>, MembershipOf)>::new(),
        )?;
        small_file::write_durably(&inner.dir.join(COMMITTED_FILE), &Some(point))?;
        inner.gate.truncated(data_end);
        Ok(())
    }

    fn membership_file(&self) -> PathBuf {
        self.inner.dir.join(MEMBERSHIP_FILE)
    }

    /// Writes one proposed or replicated batch; returns its sidecar record.
    fn append_batch(
        &self,
        index: u64,
        term: u64,
        proposal: Proposal,
    ) -> io::Result<(Record, Option<i64>)> {
        let inner = &self.inner;
        let blank = Record {
            index,
            term,
            kind: Kind::Blank,
        };
        if let Some(notice) = &proposal.notice {
            match inner.gate.admit(&proposal.bytes) {
                Admission::Accept => {}
                Admission::Duplicate {
                    base_offset,
                    last_offset,
                } => {
                    notice.send(Admitted::Duplicate {
                        base_offset,
                        last_offset,
                    });
                    return Ok((blank, None));
                }
                Admission::Refuse(reason) => {
                    notice.send(Admitted::Refused(reason));
                    return Ok((blank, None));
                }
            }
        } else {
            let header = BatchHeader::parse(&proposal.bytes).map_err(invalid)?;
            let end = inner.log.log_end_offset();
            if header.base_offset != end {
                return Err(invalid(format!(
                    "replicated batch at offset {} where the log ends at {end} ({})",
                    header.base_offset,
                    inner.dir.display()
                )));
            }
        }
        // The proposal's bytes are the leader's own only copy in the common case.
        let mut batch = proposal
            .bytes
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        inner
            .log
            .set_leader_epoch(i32::try_from(term).unwrap_or(i32::MAX));
        let info = inner.log.append(&mut batch).map_err(other)?;
        inner
            .gate
            .appended(&batch, info.base_offset, info.last_offset);
        if let Some(notice) = &proposal.notice {
            notice.send(Admitted::Appended {
                base_offset: info.base_offset,
                last_offset: info.last_offset,
                log_append_time: info.log_append_time,
            });
        }
        let record = Record {
            index,
            term,
            kind: Kind::Data {
                base: info.base_offset,
                last: info.last_offset,
            },
        };
        Ok((record, Some(info.last_offset + 1)))
    }

    /// The entries of `records`, reading each run of data entries' batches in one read.
    fn entries_of(&self, records: &[Record]) -> io::Result<Vec<EntryOf<NeoRaft>>> {
        let mut entries = Vec::with_capacity(records.len());
        let mut i = 0;
        while let Some(record) = records.get(i) {
            let id = log_id(record.term, record.index);
            match record.kind {
                Kind::Blank => {
                    entries.push(EntryOf::<NeoRaft> {
                        log_id: id,
                        payload: EntryPayload::Blank,
                    });
                    i += 1;
                }
                Kind::Membership => {
                    let memberships = self.inner.memberships.lock();
                    let membership = memberships
                        .iter()
                        .find(|(m, _)| m.index == record.index)
                        .map(|(_, m)| m.clone())
                        .ok_or_else(|| {
                            invalid(format!("membership entry {} lost", record.index))
                        })?;
                    entries.push(EntryOf::<NeoRaft> {
                        log_id: id,
                        payload: EntryPayload::Membership(membership),
                    });
                    i += 1;
                }
                Kind::Data { base, .. } => {
                    let run: Vec<Record> = records[i..]
                        .iter()
                        .take_while(|r| matches!(r.kind, Kind::Data { .. }))
                        .copied()
                        .collect();
                    let end = run.last().map_or(base, |r| match r.kind {
                        Kind::Data { last, .. } => last + 1,
                        _ => base,
                    });
                    // Below the log start too: retention moves it for readers only, the segments a
                    // follower may still need stay.
                    let read = self
                        .inner
                        .log
                        .read_retained(base, 1 << 20, end)
                        .map_err(other)?;
                    let mut rest = read.records;
                    let mut taken = 0;
                    for r in &run {
                        let Kind::Data { base, last } = r.kind else {
                            break;
                        };
                        // The entry's batches: from its base offset through its last one.
                        let mut len = 0;
                        while let Some(tail) = rest.get(len..)
                            && !tail.is_empty()
                        {
                            let header = BatchHeader::parse(tail).map_err(invalid)?;
                            if len == 0 && header.base_offset != base {
                                return Err(invalid(format!(
                                    "entry {} expects a batch at {base}, the log has one at {}",
                                    r.index, header.base_offset
                                )));
                            }
                            if header.base_offset > last {
                                break;
                            }
                            len += header.total_len();
                        }
                        if len == 0 {
                            break;
                        }
                        let batch: Bytes = rest.split_to(len.min(rest.len()));
                        entries.push(EntryOf::<NeoRaft> {
                            log_id: log_id(r.term, r.index),
                            payload: EntryPayload::Normal(Proposal::new(batch)),
                        });
                        taken += 1;
                    }
                    if taken == 0 {
                        return Err(invalid(format!(
                            "batch of entry {} unreadable",
                            record.index
                        )));
                    }
                    i += taken;
                }
            }
        }
        Ok(entries)
    }
}

/// Makes the sidecar and the log agree after a crash.
fn reconcile(
    log: &PartitionLog,
    sidecar: &mut Sidecar,
    purged_data_end: Option<i64>,
) -> io::Result<()> {
    let log_end = log.log_end_offset();
    // The first record whose batch is not whole in the log (its write was cut by the log's
    // recovery) goes, with every record after it.
    let torn = sidecar
        .records()
        .iter()
        .find(|r| matches!(r.kind, Kind::Data { last, .. } if last >= log_end))
        .map(|r| r.index);
    if let Some(index) = torn {
        sidecar.truncate_after(index.checked_sub(1))?;
    }
    // A batch written after the last record's (its record did not reach the disk) goes.
    let data_end = sidecar
        .records()
        .iter()
        .rev()
        .find_map(|r| match r.kind {
            Kind::Data { last, .. } => Some(last + 1),
            _ => None,
        })
        .or(purged_data_end);
    if let Some(end) = data_end
        && end < log_end
    {
        log.truncate_to(end).map_err(other)?;
    }
    Ok(())
}

impl RaftLogReader<NeoRaft> for PartitionRaftLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<NeoRaft>>, io::Error> {
        let records: Vec<Record> = {
            let sidecar = self.inner.sidecar.lock();
            let start = match range.start_bound() {
                Bound::Included(s) => *s,
                Bound::Excluded(s) => s + 1,
                Bound::Unbounded => 0,
            };
            sidecar
                .records()
                .iter()
                .filter(|r| r.index >= start && range.contains(&r.index))
                .copied()
                .collect()
        };
        self.entries_of(&records)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<NeoRaft>>, io::Error> {
        Ok(*self.inner.vote.lock())
    }
}

impl RaftLogStorage<NeoRaft> for PartitionRaftLog {
    type LogReader = PartitionRaftLog;

    async fn get_log_state(&mut self) -> Result<LogState<NeoRaft>, io::Error> {
        let last_purged = self.inner.last_purged.lock().map(|p| p.log_id);
        let last = self
            .inner
            .sidecar
            .lock()
            .last()
            .map(|r| log_id(r.term, r.index));
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<NeoRaft>) -> Result<(), io::Error> {
        small_file::write_durably(&self.inner.dir.join(VOTE_FILE), vote)?;
        *self.inner.vote.lock() = Some(*vote);
        Ok(())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        // Not fsynced, and at most once per SAVE_COMMITTED_EVERY (every commit replaced the
        // file, a create and a rename each time): a committed id lost in a crash, or behind,
        // only delays re-applying after a restart.
        {
            let mut saved_at = self.inner.committed_saved_at.lock();
            if saved_at.is_some_and(|at| at.elapsed() < SAVE_COMMITTED_EVERY) {
                return Ok(());
            }
            *saved_at = Some(Instant::now());
        }
        small_file::write(&self.inner.dir.join(COMMITTED_FILE), &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<NeoRaft>>, io::Error> {
        Ok(
            small_file::read::<Option<LogIdOf<NeoRaft>>>(&self.inner.dir.join(COMMITTED_FILE))?
                .flatten(),
        )
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<NeoRaft>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<NeoRaft>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records = Vec::new();
        let mut data_end = None;
        let mut membership_changed = false;
        for entry in entries {
            let (index, term) = (entry.log_id.index, entry.log_id.leader_id.term);
            match entry.payload {
                EntryPayload::Blank => records.push(Record {
                    index,
                    term,
                    kind: Kind::Blank,
                }),
                EntryPayload::Membership(membership) => {
                    self.inner
                        .memberships
                        .lock()
                        .push((entry.log_id, membership));
                    membership_changed = true;
                    records.push(Record {
                        index,
                        term,
                        kind: Kind::Membership,
                    });
                }
                EntryPayload::Normal(proposal) => {
                    let (record, end) = self.append_batch(index, term, proposal)?;
                    records.push(record);
                    data_end = end.or(data_end);
                }
            }
        }
        if membership_changed {
            let memberships = self.inner.memberships.lock().clone();
            small_file::write_durably(&self.membership_file(), &memberships)?;
        }
        self.inner.sidecar.lock().append(&records)?;
        let written = self.inner.sidecar.changed();
        if !self.inner.durable.load(Ordering::Acquire) {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        // One flusher round syncs the log and the sidecar for every append waiting.
        let log = self.inner.log.clone();
        tokio::spawn(async move {
            let synced = log.wait_synced(data_end.unwrap_or(0), written).await;
            callback.io_completed(synced.map_err(other));
        });
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        let index = last_log_id.map(|id| id.index);
        let cut_at = self.inner.sidecar.lock().truncate_after(index)?;
        if let Some(offset) = cut_at {
            self.inner.log.truncate_to(offset).map_err(other)?;
            self.inner.gate.truncated(offset);
        }
        let mut memberships = self.inner.memberships.lock();
        let before = memberships.len();
        memberships.retain(|(id, _)| index.is_some_and(|i| id.index <= i));
        if memberships.len() != before {
            small_file::write_durably(&self.membership_file(), &*memberships)?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<NeoRaft>) -> Result<(), io::Error> {
        let earlier = self.inner.last_purged.lock().and_then(|p| p.data_end);
        let purged = Purged {
            log_id,
            data_end: self.data_end_through(log_id.index).or(earlier),
        };
        small_file::write_durably(&self.inner.dir.join(PURGED_FILE), &purged)?;
        *self.inner.last_purged.lock() = Some(purged);
        {
            let mut sidecar = self.inner.sidecar.lock();
            sidecar.purge(log_id.index);
            sidecar.compact()?;
        }
        let mut memberships = self.inner.memberships.lock();
        let before = memberships.len();
        memberships.retain(|(id, _)| id.index > log_id.index);
        if memberships.len() != before {
            small_file::write_durably(&self.membership_file(), &*memberships)?;
        }
        Ok(())
    }
}

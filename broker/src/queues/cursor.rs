//! The queue cursor: which records of a queue's log are still to be settled, which of them a
//! consumer holds, and how often each was delivered. Pure state without I/O: the queue feeds
//! it the records it reads from the log and persists the events its changes return.
//!
//! Offsets below [`QueueCursor::head`] that it holds no entry for are settled (acknowledged,
//! expired, dead-lettered or purged); offsets at or above the head are not loaded yet and are
//! available with no delivery. So memory grows with the records in flight, not with the depth
//! of the queue.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use super::cursor_event::{CursorEvent, Lock, SnapshotEntry};

/// The holder of records held before a restart, while the cursor log is replayed.
const REPLAYED: u64 = u64::MAX;

/// A hold longer than this belongs to its consumer's session (AMQP: until acknowledged or
/// the channel closes) and ends with the leader that handed it out; shorter ones (SQS
/// visibility timeouts, at most 12 hours) keep their holder and deadline across a change of
/// leader, so receipt handles stay valid and invisible messages stay invisible.
pub const SESSION_HOLD_MS: i64 = 24 * 3600 * 1000;

/// What the cursor needs to know of a record, read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub offset: i64,
    /// Not delivered before this time (ms since the epoch): per-message or queue delay.
    pub available_at: i64,
    /// Dropped or dead-lettered, not delivered, from this time on (time-to-live).
    pub expires_at: Option<i64>,
    /// Records of one group are delivered in order, one at a time (ordered queues only).
    pub group: Option<Bytes>,
    /// Bytes of its value.
    pub size: u32,
}

/// How a queue delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CursorConfig {
    /// A record delivered this many times is dead-lettered instead of delivered again.
    pub max_deliveries: Option<u32>,
    /// Deliver each group's records strictly in order, one in flight per group.
    pub ordered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Available,
    Acquired {
        deadline: i64,
        consumer: u64,
        /// Its lock is in the cursor log: it outlives the leader.
        lasting: bool,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    deliveries: u32,
    available_at: i64,
    expires_at: Option<i64>,
    group: Option<Bytes>,
    size: u32,
}

/// One record handed to a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub offset: i64,
    /// How many times it has been delivered, this time included (1 the first time).
    pub deliveries: u32,
}

/// The result of [`QueueCursor::acquire`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Acquired {
    pub delivered: Vec<Delivery>,
    /// Records whose time-to-live passed: settled, to be dead-lettered or dropped.
    pub expired: Vec<i64>,
    /// Records over the delivery limit: settled, to be dead-lettered.
    pub dead: Vec<i64>,
}

/// Why a change to an in-flight record was refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum CursorError {
    #[error("record {0} is not held by a consumer")]
    NotInFlight(i64),
    #[error("record {offset} is held by another consumer")]
    OtherConsumer { offset: i64 },
}

/// In-flight state of one queue.
#[derive(Debug, Clone, Default)]
pub struct QueueCursor {
    config: CursorConfig,
    head: i64,
    entries: BTreeMap<i64, Entry>,
    available: BTreeSet<i64>,
    /// Value bytes of the available records.
    available_bytes: u64,
    deadlines: BTreeSet<(i64, i64)>,
    /// Ordered queues: groups with a record in flight.
    busy_groups: HashMap<Bytes, usize>,
}

impl QueueCursor {
    /// An empty cursor whose first unread record is `head`.
    pub fn new(config: CursorConfig, head: i64) -> QueueCursor {
        QueueCursor {
            config,
            head,
            ..QueueCursor::default()
        }
    }

    /// The first offset not loaded yet.
    pub fn head(&self) -> i64 {
        self.head
    }

    /// Every offset below this is settled.
    pub fn start(&self) -> i64 {
        self.entries.keys().next().copied().unwrap_or(self.head)
    }

    /// Records loaded and not settled (available or held).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no loaded record is waiting to be settled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records held by consumers.
    pub fn in_flight(&self) -> usize {
        self.deadlines.len()
    }

    /// Loaded records available now or later (delayed).
    pub fn available(&self) -> usize {
        self.available.len()
    }

    /// Value bytes of the loaded records available now or later.
    pub fn available_bytes(&self) -> u64 {
        self.available_bytes
    }

    /// Takes records read from the log at the head, in offset order. Records below the head
    /// are ignored (already loaded or settled).
    pub fn load(&mut self, records: impl IntoIterator<Item = RecordMeta>) {
        for r in records {
            if r.offset < self.head {
                continue;
            }
            self.entries.insert(
                r.offset,
                Entry {
                    state: State::Available,
                    deliveries: 0,
                    available_at: r.available_at,
                    expires_at: r.expires_at,
                    group: r.group,
                    size: r.size,
                },
            );
            self.available.insert(r.offset);
            self.available_bytes += u64::from(r.size);
            self.head = r.offset + 1;
        }
    }

    /// Moves the head past records that are gone from the log (deleted or never there).
    pub fn skip_to(&mut self, offset: i64) {
        self.head = self.head.max(offset);
    }

    /// Hands up to `max` available records to `consumer`, held until `deadline`. Expired
    /// records and records over the delivery limit met on the way are settled and reported.
    pub fn acquire(
        &mut self,
        now: i64,
        max: usize,
        deadline: i64,
        consumer: u64,
    ) -> (Acquired, Vec<CursorEvent>) {
        self.acquire_runs(now, max, deadline, consumer, false)
    }

    /// [`Self::acquire`]; with `runs`, an ordered queue may hand over several consecutive
    /// records of a group that was idle when the call began (SQS FIFO receives), its later
    /// records still waiting until all of them are settled or released.
    pub fn acquire_runs(
        &mut self,
        now: i64,
        max: usize,
        deadline: i64,
        consumer: u64,
        runs: bool,
    ) -> (Acquired, Vec<CursorEvent>) {
        let mut out = Acquired::default();
        // Groups this call took records of (with `runs`, their next records may follow).
        let mut taken: HashSet<Bytes> = HashSet::new();
        let mut events = Vec::new();
        // Ordered queues: a group passed over once stays passed over in this call, so a later
        // record never overtakes an earlier one of its group.
        let mut passed_groups: HashSet<Bytes> = HashSet::new();
        let lasting = deadline.saturating_sub(now) <= SESSION_HOLD_MS;
        let mut next = self.available.first().copied();
        while let Some(offset) = next {
            next = self.available.range(offset + 1..).next().copied();
            if out.delivered.len() >= max {
                break;
            }
            let Some(entry) = self.entries.get(&offset) else {
                continue;
            };
            if entry.expires_at.is_some_and(|t| t <= now) {
                self.settle(offset);
                out.expired.push(offset);
                events.push(CursorEvent::Archived { offset });
                continue;
            }
            let group = entry.group.clone().filter(|_| self.config.ordered);
            if let Some(g) = &group
                && (passed_groups.contains(g)
                    || (self.busy_groups.contains_key(g) && !(runs && taken.contains(g))))
            {
                continue;
            }
            if entry.available_at > now {
                if let Some(g) = group {
                    passed_groups.insert(g);
                }
                continue;
            }
            let deliveries = entry.deliveries + 1;
            if self.config.max_deliveries.is_some_and(|m| deliveries > m) {
                self.settle(offset);
                out.dead.push(offset);
                events.push(CursorEvent::Archived { offset });
                continue;
            }
            if let Some(entry) = self.entries.get_mut(&offset) {
                entry.deliveries = deliveries;
                entry.state = State::Acquired {
                    deadline,
                    consumer,
                    lasting,
                };
                self.available_bytes -= u64::from(entry.size);
            }
            self.available.remove(&offset);
            self.deadlines.insert((deadline, offset));
            if let Some(g) = group {
                *self.busy_groups.entry(g.clone()).or_default() += 1;
                if runs {
                    taken.insert(g);
                }
            }
            out.delivered.push(Delivery { offset, deliveries });
            events.push(CursorEvent::Acquired {
                offset,
                deliveries,
                lock: lasting.then_some(Lock {
                    holder: consumer,
                    deadline,
                }),
            });
        }
        (out, events)
    }

    /// Settles every waiting record whose time-to-live has passed; returns their offsets.
    pub fn take_expired(&mut self, now: i64) -> (Vec<i64>, Vec<CursorEvent>) {
        let expired: Vec<i64> = self
            .available
            .iter()
            .copied()
            .filter(|o| {
                self.entries
                    .get(o)
                    .and_then(|e| e.expires_at)
                    .is_some_and(|t| t <= now)
            })
            .collect();
        let events = expired
            .iter()
            .map(|&offset| {
                self.settle(offset);
                CursorEvent::Archived { offset }
            })
            .collect();
        (expired, events)
    }

    /// Settles a held record (acknowledged). `consumer` checks the holder when given.
    pub fn ack(&mut self, offset: i64, consumer: Option<u64>) -> Result<CursorEvent, CursorError> {
        self.held(offset, consumer)?;
        self.settle(offset);
        Ok(CursorEvent::Acked { offset })
    }

    /// Settles a held record without delivering it again (rejected without requeue: the
    /// queue dead-letters or drops it).
    pub fn archive(
        &mut self,
        offset: i64,
        consumer: Option<u64>,
    ) -> Result<CursorEvent, CursorError> {
        self.held(offset, consumer)?;
        self.settle(offset);
        Ok(CursorEvent::Archived { offset })
    }

    /// Makes a held record available again (requeue); its delivery count stays.
    pub fn release(
        &mut self,
        offset: i64,
        consumer: Option<u64>,
    ) -> Result<CursorEvent, CursorError> {
        self.held(offset, consumer)?;
        self.make_available(offset);
        Ok(CursorEvent::Released { offset })
    }

    /// Moves a held record's deadline (longer or shorter); a deadline not after `now`
    /// releases it at the next [`Self::expire_locks`].
    pub fn set_deadline(
        &mut self,
        offset: i64,
        consumer: Option<u64>,
        deadline: i64,
    ) -> Result<CursorEvent, CursorError> {
        self.held(offset, consumer)?;
        self.move_deadline(offset, deadline);
        Ok(CursorEvent::Deadline { offset, deadline })
    }

    fn move_deadline(&mut self, offset: i64, deadline: i64) {
        let Some(entry) = self.entries.get_mut(&offset) else {
            return;
        };
        let State::Acquired {
            deadline: old,
            consumer,
            lasting,
        } = entry.state
        else {
            return;
        };
        entry.state = State::Acquired {
            deadline,
            consumer,
            lasting,
        };
        self.deadlines.remove(&(old, offset));
        self.deadlines.insert((deadline, offset));
    }

    /// Releases every record whose lock ended at or before `now`.
    pub fn expire_locks(&mut self, now: i64) -> Vec<CursorEvent> {
        let due: Vec<i64> = self
            .deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .map(|(_, offset)| *offset)
            .collect();
        due.into_iter()
            .map(|offset| {
                self.make_available(offset);
                CursorEvent::Released { offset }
            })
            .collect()
    }

    /// Releases every record `consumer` holds (its connection or channel closed).
    pub fn release_consumer(&mut self, consumer: u64) -> Vec<CursorEvent> {
        let held: Vec<i64> = self
            .entries
            .iter()
            .filter(
                |(_, e)| matches!(e.state, State::Acquired { consumer: c, .. } if c == consumer),
            )
            .map(|(offset, _)| *offset)
            .collect();
        held.into_iter()
            .map(|offset| {
                self.make_available(offset);
                CursorEvent::Released { offset }
            })
            .collect()
    }

    /// Settles every record below `up_to` that is not held, or held too with `in_flight`,
    /// and moves the head there.
    pub fn purge(&mut self, up_to: i64, in_flight: bool) -> CursorEvent {
        let doomed: Vec<i64> = self
            .entries
            .range(..up_to)
            .filter(|(_, e)| in_flight || e.state == State::Available)
            .map(|(offset, _)| *offset)
            .collect();
        for offset in doomed {
            self.settle(offset);
        }
        self.skip_to(up_to);
        CursorEvent::Purged { up_to, in_flight }
    }

    /// Replays an event read back from the cursor log onto a restored cursor. Holds replay
    /// as holds (so a replayed purge passes over them as it did), and
    /// [`Self::finish_replay`] then makes the session holds available: those end with the
    /// leader, lasting locks keep their holder and deadline, delivery counts stay.
    pub fn replay(&mut self, event: &CursorEvent) {
        match *event {
            CursorEvent::Acquired {
                offset,
                deliveries,
                lock,
            } => {
                if let Some(entry) = self.entries.get_mut(&offset) {
                    entry.deliveries = entry.deliveries.max(deliveries);
                    self.hold_replayed(offset, lock);
                }
            }
            CursorEvent::Deadline { offset, deadline } => {
                if matches!(
                    self.entries.get(&offset).map(|e| e.state),
                    Some(State::Acquired { lasting: true, .. })
                ) {
                    self.move_deadline(offset, deadline);
                }
            }
            CursorEvent::Acked { offset } | CursorEvent::Archived { offset } => {
                self.settle(offset);
            }
            CursorEvent::Released { offset } => self.make_available(offset),
            CursorEvent::Purged { up_to, in_flight } => {
                self.purge(up_to, in_flight);
            }
            CursorEvent::Snapshot { .. } => {}
        }
    }

    /// Ends a replay: records held for a session before the restart are available again.
    pub fn finish_replay(&mut self) {
        self.expire_locks(i64::MIN);
    }

    /// The whole state as one event (holds marked, lasting ones with their lock).
    pub fn snapshot(&self) -> CursorEvent {
        CursorEvent::Snapshot {
            head: self.head,
            entries: self
                .entries
                .iter()
                .map(|(offset, e)| SnapshotEntry {
                    offset: *offset,
                    held: e.state != State::Available,
                    lock: match e.state {
                        State::Acquired {
                            deadline,
                            consumer,
                            lasting: true,
                        } => Some(Lock {
                            holder: consumer,
                            deadline,
                        }),
                        _ => None,
                    },
                    deliveries: e.deliveries,
                    available_at: e.available_at,
                    expires_at: e.expires_at,
                    group: e.group.clone(),
                    size: e.size,
                })
                .collect(),
        }
    }

    /// A cursor from a snapshot event; `None` for any other event.
    pub fn from_snapshot(config: CursorConfig, event: &CursorEvent) -> Option<QueueCursor> {
        let CursorEvent::Snapshot { head, entries } = event else {
            return None;
        };
        let mut cursor = QueueCursor::new(config, *head);
        for e in entries {
            cursor.entries.insert(
                e.offset,
                Entry {
                    state: State::Available,
                    deliveries: e.deliveries,
                    available_at: e.available_at,
                    expires_at: e.expires_at,
                    group: e.group.clone(),
                    size: e.size,
                },
            );
            cursor.available.insert(e.offset);
            cursor.available_bytes += u64::from(e.size);
            if e.held {
                cursor.hold_replayed(e.offset, e.lock);
            }
        }
        Some(cursor)
    }

    /// Marks an available record held by the replay (see [`Self::replay`]): by its lock's
    /// holder until its deadline, or for the replay only.
    fn hold_replayed(&mut self, offset: i64, lock: Option<Lock>) {
        let ordered = self.config.ordered;
        let Some(entry) = self.entries.get_mut(&offset) else {
            return;
        };
        if entry.state != State::Available {
            return;
        }
        let (consumer, deadline) = lock.map_or((REPLAYED, i64::MIN), |l| (l.holder, l.deadline));
        entry.state = State::Acquired {
            deadline,
            consumer,
            lasting: lock.is_some(),
        };
        let group = entry.group.clone().filter(|_| ordered);
        self.available_bytes -= u64::from(entry.size);
        self.available.remove(&offset);
        self.deadlines.insert((deadline, offset));
        if let Some(g) = group {
            *self.busy_groups.entry(g).or_default() += 1;
        }
    }

    /// The deadline of a record `consumer` (if given) holds.
    /// Settles a record that was delivered and waits again, its lock ended (SQS deletes a
    /// message with its latest receipt handle after the visibility timeout too).
    pub fn ack_redelivered(&mut self, offset: i64) -> Result<CursorEvent, CursorError> {
        match self.entries.get(&offset) {
            Some(e) if e.state == State::Available && e.deliveries > 0 => {
                self.settle(offset);
                Ok(CursorEvent::Acked { offset })
            }
            _ => Err(CursorError::NotInFlight(offset)),
        }
    }

    fn held(&self, offset: i64, consumer: Option<u64>) -> Result<i64, CursorError> {
        match self.entries.get(&offset).map(|e| e.state) {
            Some(State::Acquired {
                deadline,
                consumer: holder,
                ..
            }) => {
                if consumer.is_some_and(|c| c != holder) {
                    Err(CursorError::OtherConsumer { offset })
                } else {
                    Ok(deadline)
                }
            }
            _ => Err(CursorError::NotInFlight(offset)),
        }
    }

    fn make_available(&mut self, offset: i64) {
        let ordered = self.config.ordered;
        let Some(entry) = self.entries.get_mut(&offset) else {
            return;
        };
        let held = entry.state;
        let group = entry.group.clone().filter(|_| ordered);
        entry.state = State::Available;
        if held == State::Available {
            return;
        }
        self.available_bytes += u64::from(entry.size);
        if let State::Acquired { deadline, .. } = held {
            self.deadlines.remove(&(deadline, offset));
            if let Some(g) = group {
                self.unbusy(&g);
            }
        }
        self.available.insert(offset);
    }

    fn settle(&mut self, offset: i64) {
        let Some(entry) = self.entries.remove(&offset) else {
            return;
        };
        if self.available.remove(&offset) {
            self.available_bytes -= u64::from(entry.size);
        }
        if let State::Acquired { deadline, .. } = entry.state {
            self.deadlines.remove(&(deadline, offset));
            if let Some(g) = entry.group.filter(|_| self.config.ordered) {
                self.unbusy(&g);
            }
        }
    }

    fn unbusy(&mut self, group: &Bytes) {
        if let Some(n) = self.busy_groups.get_mut(group) {
            *n -= 1;
            if *n == 0 {
                self.busy_groups.remove(group);
            }
        }
    }
}

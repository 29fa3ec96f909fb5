//! What the gateway keeps in memory per open queue besides the cursor: waiters for new
//! messages (long polling), FIFO deduplication ids, first-receive times, delayed-message
//! counts and the time of the last purge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use neo_broker::queues::{Queue, QueuedRecord};
use neo_broker::{Acks, Appended, OffsetSpec};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::dedup::{Dedup, FirstSend, WINDOW_MS, key};
use crate::message::{DEDUP_ID_HEADER, GROUP_ID_HEADER, header_text, message_id_of};
use crate::message_attribute::sha256_hex;
use crate::sequence_number::sequence_number;

/// Most records read back at open to rebuild a FIFO queue's deduplication ids.
const MAX_DEDUP_REBUILD: i64 = 1_000_000;

/// Most first-receive times remembered per queue; past it the receive time stands in.
const MAX_FIRST_RECEIVES: usize = 1_000_000;
/// Most distinct delay deadlines tracked per queue.
const MAX_DELAYED: usize = 1_000_000;
/// Most FIFO receive attempts remembered per queue.
const MAX_ATTEMPTS: usize = 1_000;
/// How long a FIFO receive attempt id answers with the same messages.
const ATTEMPT_WINDOW_MS: i64 = 5 * 60 * 1000;

/// A FIFO receive remembered by its ReceiveRequestAttemptId: when, by which holder, what.
type Attempt = (i64, u64, Vec<QueuedRecord>);

/// The in-memory side of one queue.
#[derive(Debug)]
pub struct QueueState {
    pub queue: Arc<Queue>,
    /// Woken when messages are sent, so long polls return at once.
    pub arrived: Notify,
    /// Held across a FIFO send's append, so duplicates are caught in append order.
    pub dedup: tokio::sync::Mutex<Dedup>,
    pub last_purge: Mutex<Option<Instant>>,
    first_receives: Mutex<HashMap<i64, i64>>,
    delayed: Mutex<BTreeMap<i64, u64>>,
    attempts: Mutex<HashMap<String, Attempt>>,
}

impl QueueState {
    pub fn new(queue: Arc<Queue>) -> QueueState {
        QueueState {
            queue,
            arrived: Notify::new(),
            dedup: tokio::sync::Mutex::new(Dedup::default()),
            last_purge: Mutex::new(None),
            first_receives: Mutex::new(HashMap::new()),
            delayed: Mutex::new(BTreeMap::new()),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers the deduplication ids of the FIFO messages sent in the last five minutes
    /// (read back from the log, up to `MAX_DEDUP_REBUILD` records), so a restart does not
    /// let a retried send through.
    pub fn rebuild_dedup(&self, per_group: bool, now: i64) {
        let partition = self.queue.partition();
        let start = match partition.list_offset(OffsetSpec::Timestamp(now - WINDOW_MS)) {
            Ok(Some(found)) => found.offset,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "sqs: cannot find recent messages for deduplication");
                return;
            }
        };
        let end = partition
            .high_watermark()
            .min(start.saturating_add(MAX_DEDUP_REBUILD));
        // Called before the state is shared: nobody else holds the lock.
        let Ok(mut dedup) = self.dedup.try_lock() else {
            return;
        };
        let mut offset = start;
        while offset < end {
            let record = match self.queue.read(offset) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    offset += 1;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, offset, "sqs: cannot read a message for deduplication");
                    break;
                }
            };
            let id = header_text(&record, DEDUP_ID_HEADER)
                .map(str::to_string)
                .unwrap_or_else(|| sha256_hex(record.value.as_deref().unwrap_or_default()));
            let group = header_text(&record, GROUP_ID_HEADER);
            let first = FirstSend {
                message_id: message_id_of(&record),
                sequence_number: sequence_number(record.offset),
            };
            if dedup
                .check(&key(id.clone(), group, per_group), record.timestamp)
                .is_none()
            {
                dedup.insert(key(id, group, per_group), record.timestamp, first);
            }
            offset = record.offset + 1;
        }
    }

    /// Waits until `appended` is committed (durable), then wakes long polls for the `count`
    /// messages appended.
    pub async fn appended(
        &self,
        appended: Appended,
        count: usize,
    ) -> Result<(), crate::error::SqsError> {
        appended.acknowledged(Acks::All).await.map_err(|e| {
            tracing::error!(error = %e, "sqs: appended messages not made durable");
            crate::error::SqsError::Internal
        })?;
        self.wake(count);
        Ok(())
    }

    /// Wakes as many long polls as `count` messages can serve (not every waiter: a batch
    /// waking dozens of pollers that then find nothing makes them queue on the cursor).
    pub fn wake(&self, count: usize) {
        for _ in 0..count.max(1) {
            self.arrived.notify_one();
        }
    }

    /// Makes messages whose visibility timeout ended visible again (the cursor does so on
    /// its next receive; counts read before that would still show them in flight).
    pub fn release_due_locks(&self) -> Result<(), neo_broker::BrokerError> {
        let now = neo_record::now_ms();
        self.queue.receive(now, 0, now, 0).map(|_| ())
    }

    /// When the record at `offset` was first received (`now` if this is the first time).
    pub fn first_receive(&self, offset: i64, now: i64) -> i64 {
        let mut map = self.first_receives.lock();
        if let Some(at) = map.get(&offset) {
            return *at;
        }
        if map.len() < MAX_FIRST_RECEIVES {
            map.insert(offset, now);
        }
        now
    }

    /// Forgets records that left the queue.
    pub fn forget(&self, offsets: &[i64]) {
        let mut map = self.first_receives.lock();
        for o in offsets {
            map.remove(o);
        }
    }

    /// Counts a message delayed until `until` (ms).
    pub fn add_delayed(&self, until: i64) {
        let mut delayed = self.delayed.lock();
        if delayed.len() < MAX_DELAYED || delayed.contains_key(&until) {
            *delayed.entry(until).or_default() += 1;
        }
    }

    /// Messages still delayed at `now`.
    pub fn delayed(&self, now: i64) -> u64 {
        let mut delayed = self.delayed.lock();
        *delayed = delayed.split_off(&(now + 1));
        delayed.values().sum()
    }

    /// The holder and messages of an earlier receive with attempt id `id`, within five
    /// minutes (a retried FIFO receive gets the same messages and receipt handles).
    pub fn attempt(&self, id: &str, now: i64) -> Option<(u64, Vec<QueuedRecord>)> {
        let attempts = self.attempts.lock();
        attempts
            .get(id)
            .filter(|(at, _, _)| now - at < ATTEMPT_WINDOW_MS)
            .map(|(_, holder, records)| (*holder, records.clone()))
    }

    /// Remembers what the receive with attempt id `id` got.
    pub fn remember_attempt(&self, id: &str, now: i64, holder: u64, records: &[QueuedRecord]) {
        let mut attempts = self.attempts.lock();
        if attempts.len() >= MAX_ATTEMPTS {
            attempts.retain(|_, (at, _, _)| now - *at < ATTEMPT_WINDOW_MS);
        }
        if attempts.len() < MAX_ATTEMPTS {
            attempts.insert(id.to_string(), (now, holder, records.to_vec()));
        }
    }

    /// Forgets all messages (purged).
    pub fn clear(&self) {
        self.delayed.lock().clear();
        self.first_receives.lock().clear();
        self.attempts.lock().clear();
    }
}

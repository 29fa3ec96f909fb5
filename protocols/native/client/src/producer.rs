//! The producer: records go straight into per-partition batches in the log's format (under a
//! lock, no hand-off per record); a batch closed by size or linger goes to the sending task,
//! which sends batches pipelined, each to its partition's leader, and resolves each record's
//! acknowledgement (a batch refused because the leadership moved, or whose broker was lost,
//! is sent again to the new leader: see `produce_request.rs`). An idempotent producer's
//! batches carry its producer id and sequence numbers, so one sent again after it was
//! appended is not appended twice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use neo_native::wire::Message;
use neo_record::codec::{BatchBuilder, Compression, Header};
use neo_record::now_ms;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::client::Client;
use crate::error::ClientError;
use crate::produce_request::{Outstanding, ProduceRequest};

/// How much an acknowledgement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No acknowledgement: the record's future resolves once the batch is sent.
    None,
    /// The broker has the batch in its log (not yet fsynced).
    Leader,
    /// The batch is durable (fsynced on a durable topic).
    Durable,
}

impl Acks {
    fn wire(self) -> u8 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::Durable => 2,
        }
    }
}

/// How a [`Producer`] batches and acknowledges.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// How long a batch waits for more records; zero sends whatever is queued at once.
    pub linger: Duration,
    /// A batch is sent when its records reach this many bytes.
    pub batch_bytes: usize,
    /// Acknowledgement level of every batch.
    pub acks: Acks,
    /// Compression of the batches (stored compressed, end to end).
    pub compression: Compression,
    /// Batches sent and not yet acknowledged before sending waits.
    pub max_in_flight: usize,
    /// Records queued in the producer before [`Producer::send`] waits.
    pub buffer_records: usize,
    /// Batches carry a producer id and sequence numbers, so the broker appends a batch sent
    /// again (after a lost answer or a failover) once. Without it, only batches the broker
    /// certainly did not append are sent again.
    pub idempotent: bool,
    /// How long a batch is sent again while its partition's leadership moves, before its
    /// records fail.
    pub delivery_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            linger: Duration::ZERO,
            batch_bytes: 256 * 1024,
            acks: Acks::Durable,
            compression: Compression::None,
            max_in_flight: 16,
            buffer_records: 65_536,
            idempotent: true,
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition the record went to.
    pub partition: i32,
    /// The record's offset; -1 with [`Acks::None`].
    pub offset: i64,
}

/// Resolves when the record's batch is acknowledged.
pub struct Ack(oneshot::Receiver<Result<RecordMetadata, ClientError>>);

impl Future for Ack {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::ProducerClosed)))
    }
}

type AckSender = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// A batch being filled.
struct OpenBatch {
    builder: BatchBuilder,
    acks: Vec<AckSender>,
    opened: Instant,
}

/// A batch ready to send.
struct Closed {
    topic: Arc<str>,
    partition: i32,
    batch: OpenBatch,
}

#[derive(Default)]
struct Accumulator {
    open: HashMap<(Arc<str>, i32), OpenBatch>,
    /// The topic of the last send, shared rather than copied into every record.
    last_topic: Option<Arc<str>>,
}

/// What the producer handle, its linger task and its sending task share.
struct Shared {
    config: ProducerConfig,
    accumulator: Mutex<Accumulator>,
    closed: mpsc::UnboundedSender<Closed>,
    /// Records queued or in flight: bounds the producer's memory.
    room: Arc<Semaphore>,
    /// Wakes the linger task when a batch opens.
    opened: Arc<Notify>,
}

impl Shared {
    /// Moves batches to the sending task: all of them, or those whose linger has passed.
    fn close_batches(&self, all: bool) {
        let now = Instant::now();
        let linger = self.config.linger;
        let mut accumulator = self.accumulator.lock();
        let keys: Vec<(Arc<str>, i32)> = accumulator
            .open
            .iter()
            .filter(|(_, b)| all || b.opened + linger <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(batch) = accumulator.open.remove(&key) {
                let _ = self.closed.send(Closed {
                    topic: key.0,
                    partition: key.1,
                    batch,
                });
            }
        }
    }

    /// The oldest open batch's linger deadline.
    fn next_deadline(&self) -> Option<Instant> {
        let linger = self.config.linger;
        self.accumulator
            .lock()
            .open
            .values()
            .map(|b| b.opened + linger)
            .min()
    }
}

/// Sends records in batches. Dropping it sends what it still holds.
pub struct Producer {
    shared: Arc<Shared>,
}

impl Producer {
    pub(crate) fn start(client: Client, config: ProducerConfig) -> Producer {
        let (closed, batches) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(config.buffer_records.max(1)));
        let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let shared = Arc::new(Shared {
            config,
            accumulator: Mutex::new(Accumulator::default()),
            closed,
            room: Arc::clone(&room),
            opened: Arc::new(Notify::new()),
        });
        let sender = Sender {
            client,
            acks: shared.config.acks,
            idempotent: shared.config.idempotent && shared.config.acks != Acks::None,
            delivery_timeout: shared.config.delivery_timeout,
            producer: None,
            sequences: HashMap::new(),
            outstanding: HashMap::new(),
            in_flight,
            room,
        };
        tokio::spawn(sender.run(batches));
        tokio::spawn(linger(Arc::downgrade(&shared), Arc::clone(&shared.opened)));
        Producer { shared }
    }

    /// Queues a record for `topic`/`partition`; the returned [`Ack`] resolves when its batch
    /// is acknowledged. Waits while the producer holds `buffer_records` unacknowledged records.
    pub async fn send(
        &self,
        topic: &str,
        partition: i32,
        key: Option<Bytes>,
        value: Bytes,
    ) -> Result<Ack, ClientError> {
        self.send_with_headers(topic, partition, key, value, Vec::new())
            .await
    }

    /// [`Producer::send`] with record headers.
    pub async fn send_with_headers(
        &self,
        topic: &str,
        partition: i32,
        key: Option<Bytes>,
        value: Bytes,
        headers: Vec<Header>,
    ) -> Result<Ack, ClientError> {
        let permit = match self.shared.room.try_acquire() {
            Ok(permit) => permit,
            Err(_) => self
                .shared
                .room
                .acquire()
                .await
                .map_err(|_| ClientError::ProducerClosed)?,
        };
        // Given back when the record's batch is answered.
        permit.forget();
        let (ack, waiting) = oneshot::channel();
        let now = now_ms();
        let mut opened = false;
        let full = {
            let mut accumulator = self.shared.accumulator.lock();
            let topic = match accumulator.last_topic.as_ref() {
                Some(t) if t.as_ref() == topic => Arc::clone(t),
                _ => {
                    let t: Arc<str> = Arc::from(topic);
                    accumulator.last_topic = Some(Arc::clone(&t));
                    t
                }
            };
            let key_of_batch = (Arc::clone(&topic), partition);
            let compression = self.shared.config.compression;
            let batch = accumulator
                .open
                .entry(key_of_batch.clone())
                .or_insert_with(|| {
                    opened = true;
                    OpenBatch {
                        builder: BatchBuilder::new(compression, now),
                        acks: Vec::new(),
                        opened: Instant::now(),
                    }
                });
            batch
                .builder
                .push(now, key.as_deref(), Some(&value), &headers);
            batch.acks.push(ack);
            if batch.builder.records_size() >= self.shared.config.batch_bytes {
                accumulator.open.remove(&key_of_batch).map(|batch| Closed {
                    topic,
                    partition,
                    batch,
                })
            } else {
                None
            }
        };
        if let Some(closed) = full {
            let _ = self.shared.closed.send(closed);
        } else if opened {
            self.shared.opened.notify_one();
        }
        Ok(Ack(waiting))
    }

    /// Sends every queued record now and waits until all of them are acknowledged.
    pub async fn flush(&self) -> Result<(), ClientError> {
        self.shared.close_batches(true);
        let all = u32::try_from(self.shared.config.buffer_records.max(1)).unwrap_or(u32::MAX);
        let settled = self
            .shared
            .room
            .acquire_many(all)
            .await
            .map_err(|_| ClientError::ProducerClosed)?;
        drop(settled);
        Ok(())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.close_batches(true);
    }
}

/// Closes batches whose linger has passed; with zero linger, as soon as they open (records
/// sent meanwhile join them). Ends with the producer.
async fn linger(shared: Weak<Shared>, opened_signal: Arc<Notify>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let opened = opened_signal.notified();
        tokio::pin!(opened);
        opened.as_mut().enable();
        match strong.next_deadline() {
            Some(deadline) if deadline <= Instant::now() => {
                strong.close_batches(false);
                continue;
            }
            Some(deadline) => {
                drop(strong);
                tokio::time::sleep_until(deadline).await;
            }
            None => {
                drop(strong);
                // Waking now and then notices a dropped producer.
                let _ = tokio::time::timeout(Duration::from_secs(1), opened).await;
            }
        }
    }
}

/// The task that sends closed batches and resolves their acknowledgements.
struct Sender {
    client: Client,
    acks: Acks,
    /// Whether to ask for a producer id (before the first batch).
    idempotent: bool,
    delivery_timeout: Duration,
    /// The producer id and epoch of idempotent batches, once the broker gave one.
    producer: Option<(i64, i16)>,
    /// The next sequence number of each partition (idempotent batches).
    sequences: HashMap<(Arc<str>, i32), i32>,
    /// The batches of each partition not answered for good (idempotent batches).
    outstanding: HashMap<(Arc<str>, i32), Arc<Outstanding>>,
    in_flight: Arc<Semaphore>,
    room: Arc<Semaphore>,
}

/// Most bytes of batches merged into one produce request while a send slot was awaited.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

impl Sender {
    /// Sends closed batches in order. While it waits for a free in-flight slot, batches that
    /// close meanwhile queue up; those of the same partition then go out in one request (a
    /// produce request holds any number of batches), so a slow acknowledgement (durable) does
    /// not turn into many tiny requests; an idempotent producer's go one per request.
    async fn run(mut self, mut batches: mpsc::UnboundedReceiver<Closed>) {
        let mut pending: std::collections::VecDeque<Closed> = std::collections::VecDeque::new();
        loop {
            if pending.is_empty() {
                match batches.recv().await {
                    Some(closed) => pending.push_back(closed),
                    None => return,
                }
            }
            if self.idempotent && self.producer.is_none() {
                match self.client.init_producer().await {
                    Ok(producer) => self.producer = Some(producer),
                    Err(e) => {
                        // A broker without InitProducer: batches go without ids.
                        tracing::warn!(error = %e, "no producer id; batches sent again may be appended twice");
                        self.idempotent = false;
                    }
                }
            }
            let Ok(permit) = Arc::clone(&self.in_flight).acquire_owned().await else {
                return;
            };
            while let Ok(closed) = batches.try_recv() {
                pending.push_back(closed);
            }
            let Some(first) = pending.pop_front() else {
                continue;
            };
            let key = (Arc::clone(&first.topic), first.partition);
            let mut size = first.batch.builder.records_size();
            let mut group = vec![first];
            let mut rest = std::collections::VecDeque::with_capacity(pending.len());
            while let Some(closed) = pending.pop_front() {
                // An idempotent producer's request holds one batch: the broker checks its
                // sequence numbers batch by batch.
                let same =
                    closed.topic == key.0 && closed.partition == key.1 && self.producer.is_none();
                let bytes = closed.batch.builder.records_size();
                if same && size + bytes <= MAX_REQUEST_BYTES && rest.is_empty() {
                    size += bytes;
                    group.push(closed);
                } else {
                    rest.push_back(closed);
                }
            }
            pending = rest;
            self.send(group, permit).await;
        }
    }

    /// Sends batches of one partition in one request and resolves their records' acks when
    /// the broker answers.
    async fn send(&mut self, group: Vec<Closed>, permit: tokio::sync::OwnedSemaphorePermit) {
        let (topic, partition) = match group.first() {
            Some(first) => (Arc::clone(&first.topic), first.partition),
            None => return,
        };
        let room = Arc::clone(&self.room);
        let finish = move |acks: Vec<AckSender>, result: Result<i64, ClientError>| {
            room.add_permits(acks.len());
            for (i, ack) in acks.into_iter().enumerate() {
                let _ = ack.send(result.clone().map(|base| RecordMetadata {
                    partition,
                    offset: if base < 0 { -1 } else { base + i as i64 },
                }));
            }
        };
        let mut acks = Vec::new();
        let mut records = bytes::BytesMut::new();
        let mut failed = None;
        let mut sequence = None;
        for closed in group {
            let OpenBatch {
                mut builder,
                acks: batch_acks,
                ..
            } = closed.batch;
            if let Some((id, epoch)) = self.producer {
                let next = self
                    .sequences
                    .entry((Arc::clone(&closed.topic), closed.partition))
                    .or_insert(0);
                let count = i32::try_from(builder.len()).unwrap_or(i32::MAX);
                builder = builder.producer(id, epoch, *next);
                sequence = Some(*next);
                // Sequences wrap to 0 after i32::MAX, as Kafka's do.
                *next = i32::try_from((i64::from(*next) + i64::from(count)) % (1i64 << 31))
                    .unwrap_or(0);
            }
            match builder.build() {
                Ok(batch) if records.is_empty() => {
                    records = batch;
                    acks.extend(batch_acks);
                }
                Ok(batch) => {
                    records.extend_from_slice(&batch);
                    acks.extend(batch_acks);
                }
                Err(e) => {
                    failed = Some(ClientError::Batch(e.to_string()));
                    acks.extend(batch_acks);
                }
            }
        }
        if let Some(e) = failed {
            return finish(acks, Err(e));
        }
        if self.acks == Acks::None {
            let sent = match self.client.leader_connection(&topic, partition).await {
                Ok(connection) => connection.send(
                    connection.next_id(),
                    &Message::Produce {
                        topic: topic.to_string(),
                        partition,
                        acks: self.acks.wire(),
                        records,
                    },
                ),
                Err(e) => Err(e),
            };
            return finish(acks, sent.map(|()| -1));
        }
        let idempotent = match sequence {
            Some(sequence) => {
                let outstanding = Arc::clone(
                    self.outstanding
                        .entry((Arc::clone(&topic), partition))
                        .or_default(),
                );
                outstanding.add(sequence).await;
                Some((outstanding, sequence))
            }
            None => None,
        };
        let request = ProduceRequest {
            client: self.client.clone(),
            topic,
            partition,
            acks: self.acks.wire(),
            records: records.freeze(),
            idempotent,
        };
        // Sent here, in the order the batches were made; answered (and sent again) apart.
        let sent = request.send().await;
        let until = Instant::now() + self.delivery_timeout;
        tokio::spawn(async move {
            let answer = request.finish(sent, until).await;
            drop(permit);
            finish(acks, answer);
        });
    }
}

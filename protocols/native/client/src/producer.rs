//! The producer: records are gathered per partition into batches in the log's format
//! (closed by size or linger), sent pipelined, and acknowledged per record.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use neo_native::wire::Message;
use neo_storage::codec::{BatchBuilder, Compression, Header};
use neo_storage::now_ms;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::client::{Client, unexpected};
use crate::error::ClientError;

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
        }
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
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

enum Command {
    Record {
        topic: Arc<str>,
        partition: i32,
        key: Option<Bytes>,
        value: Bytes,
        headers: Vec<Header>,
        ack: AckSender,
    },
    Flush(oneshot::Sender<()>),
}

/// Sends records in batches; clone-free handle to a background task that ends when the
/// producer is dropped (after sending what it holds).
pub struct Producer {
    commands: mpsc::Sender<Command>,
    /// The topic of the last send, shared rather than copied into every record.
    last_topic: parking_lot::Mutex<Option<Arc<str>>>,
}

impl Producer {
    pub(crate) fn start(client: Client, config: ProducerConfig) -> Producer {
        let (commands, receiver) = mpsc::channel(config.buffer_records.max(1));
        tokio::spawn(run(client, config, receiver));
        Producer {
            commands,
            last_topic: parking_lot::Mutex::new(None),
        }
    }

    /// Queues a record for `topic`/`partition`; the returned [`Ack`] resolves when its batch
    /// is acknowledged. Waits while the producer's buffer is full.
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
        let (ack, waiting) = oneshot::channel();
        let topic = {
            let mut last = self.last_topic.lock();
            match last.as_ref() {
                Some(t) if t.as_ref() == topic => Arc::clone(t),
                _ => {
                    let t: Arc<str> = Arc::from(topic);
                    *last = Some(Arc::clone(&t));
                    t
                }
            }
        };
        let command = Command::Record {
            topic,
            partition,
            key,
            value,
            headers,
            ack,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::ProducerClosed)?;
        Ok(Ack(waiting))
    }

    /// Sends every queued record now and waits until all sent batches are acknowledged.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (done, waiting) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .await
            .map_err(|_| ClientError::ProducerClosed)?;
        waiting.await.map_err(|_| ClientError::ProducerClosed)
    }
}

/// A batch being filled.
struct OpenBatch {
    builder: BatchBuilder,
    acks: Vec<AckSender>,
    opened: Instant,
}

struct Batcher {
    client: Client,
    config: ProducerConfig,
    open: HashMap<(Arc<str>, i32), OpenBatch>,
    in_flight: Arc<Semaphore>,
}

async fn run(client: Client, config: ProducerConfig, mut commands: mpsc::Receiver<Command>) {
    let max_in_flight = config.max_in_flight.max(1);
    let mut batcher = Batcher {
        client,
        in_flight: Arc::new(Semaphore::new(max_in_flight)),
        config,
        open: HashMap::new(),
    };
    loop {
        let deadline = batcher
            .open
            .values()
            .map(|b| b.opened + batcher.config.linger)
            .min();
        let command = match deadline {
            Some(deadline) => tokio::select! {
                command = commands.recv() => Some(command),
                _ = tokio::time::sleep_until(deadline) => None,
            },
            None => Some(commands.recv().await),
        };
        match command {
            None => batcher.send_expired().await,
            Some(None) => {
                batcher.send_all().await;
                batcher.wait_in_flight(max_in_flight).await;
                return;
            }
            Some(Some(command)) => {
                batcher.apply(command, max_in_flight).await;
                if batcher.config.linger.is_zero() {
                    // Whatever else is queued joins the batches now, then they all go.
                    while let Ok(command) = commands.try_recv() {
                        batcher.apply(command, max_in_flight).await;
                    }
                    batcher.send_all().await;
                }
            }
        }
    }
}

impl Batcher {
    async fn apply(&mut self, command: Command, max_in_flight: usize) {
        match command {
            Command::Record {
                topic,
                partition,
                key,
                value,
                headers,
                ack,
            } => {
                let now = now_ms();
                let compression = self.config.compression;
                let batch = self
                    .open
                    .entry((Arc::clone(&topic), partition))
                    .or_insert_with(|| OpenBatch {
                        builder: BatchBuilder::new(compression, now),
                        acks: Vec::new(),
                        opened: Instant::now(),
                    });
                batch
                    .builder
                    .push(now, key.as_deref(), Some(&value), &headers);
                batch.acks.push(ack);
                if batch.builder.records_size() >= self.config.batch_bytes
                    && let Some(batch) = self.open.remove(&(Arc::clone(&topic), partition))
                {
                    self.send(topic, partition, batch).await;
                }
            }
            Command::Flush(done) => {
                self.send_all().await;
                self.wait_in_flight(max_in_flight).await;
                let _ = done.send(());
            }
        }
    }

    async fn send_expired(&mut self) {
        let now = Instant::now();
        let linger = self.config.linger;
        let expired: Vec<(Arc<str>, i32)> = self
            .open
            .iter()
            .filter(|(_, b)| b.opened + linger <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(batch) = self.open.remove(&key) {
                self.send(key.0, key.1, batch).await;
            }
        }
    }

    async fn send_all(&mut self) {
        let open: Vec<_> = self.open.drain().collect();
        for ((topic, partition), batch) in open {
            self.send(topic, partition, batch).await;
        }
    }

    async fn wait_in_flight(&self, max_in_flight: usize) {
        let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        let _ = self.in_flight.acquire_many(all).await;
    }

    /// Sends one batch (waiting for an in-flight slot) and resolves its records' acks when
    /// the broker answers.
    async fn send(&self, topic: Arc<str>, partition: i32, batch: OpenBatch) {
        let OpenBatch { builder, acks, .. } = batch;
        let fail = |acks: Vec<AckSender>, e: ClientError| {
            for ack in acks {
                let _ = ack.send(Err(e.clone()));
            }
        };
        let records = match builder.build() {
            Ok(records) => records,
            Err(e) => return fail(acks, ClientError::Batch(e.to_string())),
        };
        let Ok(permit) = Arc::clone(&self.in_flight).acquire_owned().await else {
            return fail(acks, ClientError::ProducerClosed);
        };
        let connection = match self.client.connection().await {
            Ok(connection) => connection,
            Err(e) => return fail(acks, e),
        };
        let request = Message::Produce {
            topic: topic.to_string(),
            partition,
            acks: self.config.acks.wire(),
            records,
        };
        if self.config.acks == Acks::None {
            let sent = connection.send(connection.next_id(), &request);
            for ack in acks {
                let _ = ack.send(sent.clone().map(|()| RecordMetadata {
                    partition,
                    offset: -1,
                }));
            }
            return;
        }
        let waiting = match connection.start_request(connection.next_id(), &request) {
            Ok(waiting) => waiting,
            Err(e) => return fail(acks, e),
        };
        tokio::spawn(async move {
            let answer = match waiting.await {
                Ok(Ok(Message::Produced { base_offset, .. })) => Ok(base_offset),
                Ok(Ok(Message::Error { code, message })) => {
                    Err(ClientError::Broker { code, message })
                }
                Ok(Ok(other)) => Err(unexpected(&other)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(ClientError::Closed),
            };
            drop(permit);
            match answer {
                Ok(base_offset) => {
                    for (i, ack) in acks.into_iter().enumerate() {
                        let offset = base_offset + i as i64;
                        let _ = ack.send(Ok(RecordMetadata { partition, offset }));
                    }
                }
                Err(e) => fail(acks, e),
            }
        });
    }
}

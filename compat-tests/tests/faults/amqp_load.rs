//! The AMQP workload: a lapin publisher with confirms and a consumer with manual acks, each
//! reconnecting to the next broker whenever its connection fails (as applications' reconnect
//! loops do). Checked: every confirmed message delivered at least once, nothing delivered
//! that was not published, and every delivery after a message's first marked redelivered.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use neo_compat_tests::amqp::declare_durable;

use crate::brokers::AMQP_USER;
use crate::progress::Progress;

const QUEUE: &str = "faults";
/// Messages published before their confirms are awaited.
const BATCH: u64 = 20;
/// How long a connection attempt or an operation may take before the next broker is tried.
const PATIENCE: Duration = Duration::from_secs(10);

/// How long the consumer may take to drain the queue after the run.
const DRAIN: Duration = Duration::from_secs(90);

#[derive(Default)]
struct Record {
    published: BTreeSet<u64>,
    confirmed: BTreeSet<u64>,
    /// Every delivery of each message, in order: whether it was marked redelivered.
    delivered: BTreeMap<u64, Vec<bool>>,
}

pub struct AmqpLoad {
    record: Arc<Mutex<Record>>,
    publisher: tokio::task::JoinHandle<()>,
    consumer: tokio::task::JoinHandle<()>,
}

impl AmqpLoad {
    pub fn start(
        brokers: Vec<SocketAddr>,
        published: Arc<Progress>,
        consumed: Arc<Progress>,
    ) -> AmqpLoad {
        let record = Arc::new(Mutex::new(Record::default()));
        let publisher = tokio::spawn(publish(brokers.clone(), Arc::clone(&record), published));
        let mut rotated = brokers;
        rotated.rotate_left(1);
        let consumer = tokio::spawn(consume(rotated, Arc::clone(&record), consumed));
        AmqpLoad {
            record,
            publisher,
            consumer,
        }
    }

    /// Stops publishing, lets the consumer drain the queue, and checks.
    pub async fn check(self) -> (usize, Vec<String>) {
        self.publisher.await.unwrap();
        let mut problems = Vec::new();
        if tokio::time::timeout(DRAIN, self.consumer).await.is_err() {
            problems.push(format!("amqp: the queue was not drained within {DRAIN:?}"));
        }
        let record = self.record.lock().unwrap();
        for seq in &record.confirmed {
            if !record.delivered.contains_key(seq) {
                problems.push(format!("amqp: confirmed message {seq} never delivered"));
            }
        }
        for (seq, deliveries) in &record.delivered {
            if !record.published.contains(seq) {
                problems.push(format!("amqp: message {seq} delivered, never published"));
            }
            if deliveries.iter().skip(1).any(|redelivered| !redelivered) {
                problems.push(format!(
                    "amqp: message {seq} delivered again without the redelivered flag: {deliveries:?}"
                ));
            }
        }
        (record.confirmed.len(), problems)
    }
}

async fn connect(addr: SocketAddr) -> Option<(Connection, Channel)> {
    let uri = format!("amqp://{AMQP_USER}:{AMQP_USER}@{addr}/%2f");
    let attempt = async {
        let conn = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .ok()?;
        let channel = conn.create_channel().await.ok()?;
        declare_durable(&channel, QUEUE).await.ok()?;
        Some((conn, channel))
    };
    tokio::time::timeout(PATIENCE, attempt).await.ok().flatten()
}

/// Publishes messages `0, 1, …` in confirmed batches until the run ends, moving to the next
/// broker when a connection fails; a batch whose confirms did not come is not confirmed
/// (its messages may still be delivered).
async fn publish(brokers: Vec<SocketAddr>, record: Arc<Mutex<Record>>, progress: Arc<Progress>) {
    let mut seq = 0u64;
    let mut next = 0;
    while progress.running() {
        let addr = brokers[next % brokers.len()];
        next += 1;
        let Some((_conn, channel)) = connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .is_err()
        {
            continue;
        }
        while progress.running() {
            let batch: Vec<u64> = (seq..seq + BATCH).collect();
            seq += BATCH;
            record.lock().unwrap().published.extend(&batch);
            let sent = tokio::time::timeout(PATIENCE, publish_batch(&channel, &batch)).await;
            match sent {
                Ok(Some(confirmed)) => {
                    let mut record = record.lock().unwrap();
                    record.confirmed.extend(confirmed);
                    drop(record);
                    progress.ok();
                }
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The messages of `batch` the broker confirmed; `None` when the channel failed.
async fn publish_batch(channel: &Channel, batch: &[u64]) -> Option<Vec<u64>> {
    let mut confirms = Vec::new();
    for seq in batch {
        let confirm = channel
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                seq.to_string().as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .ok()?;
        confirms.push((*seq, confirm));
    }
    let mut confirmed = Vec::new();
    for (seq, confirm) in confirms {
        if confirm.await.ok()?.is_ack() {
            confirmed.push(seq);
        }
    }
    Some(confirmed)
}

/// Consumes with manual acks until the run ends and the queue has been quiet for a while,
/// moving to the next broker when a connection fails.
async fn consume(brokers: Vec<SocketAddr>, record: Arc<Mutex<Record>>, progress: Arc<Progress>) {
    let quiet = Duration::from_secs(5);
    let mut next = 0;
    loop {
        let addr = brokers[next % brokers.len()];
        next += 1;
        let Some((_conn, channel)) = connect(addr).await else {
            if !progress.running() && drained(&record) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let consumer = async {
            channel
                .basic_qos(50, BasicQosOptions::default())
                .await
                .ok()?;
            channel
                .basic_consume(
                    QUEUE.into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .ok()
        };
        let Some(mut deliveries) = consumer.await else {
            continue;
        };
        loop {
            let wait = if progress.running() { PATIENCE } else { quiet };
            let delivery = match tokio::time::timeout(wait, deliveries.next()).await {
                Ok(Some(Ok(delivery))) => delivery,
                // Quiet after the run: everything is drained.
                Err(_) if !progress.running() => return,
                _ => break,
            };
            let Some(seq) = std::str::from_utf8(&delivery.data)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            record
                .lock()
                .unwrap()
                .delivered
                .entry(seq)
                .or_default()
                .push(delivery.redelivered);
            if delivery.ack(BasicAckOptions::default()).await.is_err() {
                break;
            }
            progress.ok();
        }
    }
}

/// Whether every confirmed message was delivered.
fn drained(record: &Mutex<Record>) -> bool {
    let record = record.lock().unwrap();
    record
        .confirmed
        .iter()
        .all(|seq| record.delivered.contains_key(seq))
}

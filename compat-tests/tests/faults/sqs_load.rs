//! The SQS workload: aws-sdk-sqs senders, and receivers that delete what they receive, each
//! request to the next broker in turn (any broker answers any queue). Checked: every message
//! whose SendMessage succeeded is received at least once, and none is received by a receive
//! that began after its DeleteMessage succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use neo_compat_tests::sqs::client;
use neo_record::now_ms;

use crate::progress::Progress;

const QUEUE: &str = "faults";
/// How long after the run the receivers may take to receive every sent message.
const DRAIN: Duration = Duration::from_secs(90);

#[derive(Default)]
struct Record {
    sent: BTreeSet<u64>,
    /// Each message: when the receives that returned it began (ms since the epoch).
    received: BTreeMap<u64, Vec<i64>>,
    /// When each message's first DeleteMessage answered success.
    deleted: BTreeMap<u64, i64>,
}

pub struct SqsLoad {
    record: Arc<Mutex<Record>>,
    sender: tokio::task::JoinHandle<()>,
    receiver: tokio::task::JoinHandle<()>,
}

/// Creates the queue (visibility timeout 5 s) through whichever broker answers; its URL.
pub async fn create_queue(brokers: &[SocketAddr]) -> String {
    let until = Instant::now() + Duration::from_secs(60);
    for addr in brokers.iter().cycle() {
        let sqs = client(&format!("http://{addr}"));
        let created = sqs
            .create_queue()
            .queue_name(QUEUE)
            .attributes(QueueAttributeName::VisibilityTimeout, "5")
            .send()
            .await;
        match created {
            Ok(out) => return out.queue_url.unwrap(),
            Err(e) => assert!(Instant::now() < until, "cannot create the queue: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    unreachable!()
}

impl SqsLoad {
    pub fn start(
        brokers: Vec<SocketAddr>,
        url: String,
        sent: Arc<Progress>,
        received: Arc<Progress>,
    ) -> SqsLoad {
        let record = Arc::new(Mutex::new(Record::default()));
        let clients: Vec<Client> = brokers
            .iter()
            .map(|addr| client(&format!("http://{addr}")))
            .collect();
        let sender = tokio::spawn(send(
            clients.clone(),
            url.clone(),
            Arc::clone(&record),
            sent,
        ));
        let receiver = tokio::spawn(receive(clients, url, Arc::clone(&record), received));
        SqsLoad {
            record,
            sender,
            receiver,
        }
    }

    pub async fn check(self) -> (usize, Vec<String>) {
        self.sender.await.unwrap();
        let mut problems = Vec::new();
        if tokio::time::timeout(DRAIN, self.receiver).await.is_err() {
            problems.push(format!(
                "sqs: not every sent message received within {DRAIN:?}"
            ));
        }
        let record = self.record.lock().unwrap();
        for seq in &record.sent {
            if !record.received.contains_key(seq) {
                problems.push(format!("sqs: sent message {seq} never received"));
            }
        }
        for (seq, receives) in &record.received {
            if let Some(deleted) = record.deleted.get(seq)
                && let Some(late) = receives.iter().find(|began| *began > deleted)
            {
                problems.push(format!(
                    "sqs: message {seq} received by a receive begun at {late}, after its deletion at {deleted}"
                ));
            }
        }
        (record.sent.len(), problems)
    }
}

/// Sends messages `0, 1, …` until the run ends, each to the next broker.
async fn send(
    clients: Vec<Client>,
    url: String,
    record: Arc<Mutex<Record>>,
    progress: Arc<Progress>,
) {
    let mut seq = 0u64;
    while progress.running() {
        let sqs = &clients[seq as usize % clients.len()];
        let sent = sqs
            .send_message()
            .queue_url(&url)
            .message_body(seq.to_string())
            .send();
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), sent).await {
            record.lock().unwrap().sent.insert(seq);
            progress.ok();
        }
        seq += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Receives and deletes until the run ends and every sent message was received.
async fn receive(
    clients: Vec<Client>,
    url: String,
    record: Arc<Mutex<Record>>,
    progress: Arc<Progress>,
) {
    let mut turn = 0usize;
    loop {
        if !progress.running() {
            let record = record.lock().unwrap();
            if record
                .sent
                .iter()
                .all(|seq| record.received.contains_key(seq))
            {
                return;
            }
        }
        let sqs = &clients[turn % clients.len()];
        turn += 1;
        let began = now_ms();
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send();
        let Ok(Ok(got)) = tokio::time::timeout(Duration::from_secs(10), got).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for m in got.messages.unwrap_or_default() {
            let Some(seq) = m.body.as_deref().and_then(|b| b.parse::<u64>().ok()) else {
                continue;
            };
            record
                .lock()
                .unwrap()
                .received
                .entry(seq)
                .or_default()
                .push(began);
            progress.ok();
            let Some(handle) = m.receipt_handle else {
                continue;
            };
            let deleted = sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(handle)
                .send();
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), deleted).await {
                // The first deletion counts: no receive may return the message after it.
                record
                    .lock()
                    .unwrap()
                    .deleted
                    .entry(seq)
                    .or_insert(now_ms());
            }
        }
    }
}

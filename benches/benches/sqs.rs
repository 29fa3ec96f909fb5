//! aws-sdk-sqs against Neo's SQS gateway: 4 concurrent clients, each sending 1 KiB messages
//! with SendMessageBatch (10 a call) and taking them with ReceiveMessage (10, long poll) and
//! DeleteMessageBatch, `NEO_BENCH_INFLIGHT` calls of each kind outstanding (4 by default), as
//! a client with a few threads or tasks keeps them; end-to-end
//! throughput from the first send to the last delete of `NEO_BENCH_MESSAGES` messages
//! (200,000 by default). Then the process's resident memory while `NEO_BENCH_IDLE` messages
//! (default 1,000,000) wait unreceived.
//!
//! `cargo bench -p neo-benches --bench sqs`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use futures_util::future::join_all;
use neo_compat_tests::sqs::SqsBroker;

const BODY: usize = 1024;
const CLIENTS: usize = 4;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client(endpoint: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("bench", "bench", None, None, "static"))
            .endpoint_url(endpoint)
            .http_client(http)
            .build(),
    )
}

/// Sends `n` messages in batches of 10, `inflight` batches at a time.
async fn send(sqs: &Client, url: &str, n: usize, inflight: usize) {
    let body = "x".repeat(BODY);
    let batches = n.div_ceil(10);
    let next = AtomicUsize::new(0);
    let lanes = (0..inflight).map(|_| async {
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= batches {
                return;
            }
            let size = (n - b * 10).min(10);
            let mut req = sqs.send_message_batch().queue_url(url);
            for i in 0..size {
                req = req.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(&body)
                        .build()
                        .unwrap(),
                );
            }
            let out = req.send().await.unwrap();
            assert_eq!(out.successful().len(), size);
        }
    });
    join_all(lanes).await;
}

/// Receives and deletes until `done` reaches `total` (or a minute without messages).
async fn consume(sqs: &Client, url: &str, done: &AtomicUsize, total: usize) {
    let mut idle_since = Instant::now();
    while done.load(Ordering::Relaxed) < total && idle_since.elapsed() < Duration::from_secs(60) {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            continue;
        }
        idle_since = Instant::now();
        let mut req = sqs.delete_message_batch().queue_url(url);
        for (i, m) in got.messages().iter().enumerate() {
            req = req.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap(),
            );
        }
        let out = req.send().await.unwrap();
        done.fetch_add(out.successful().len(), Ordering::Relaxed);
    }
}

async fn end_to_end(endpoint: &str, n: usize, inflight: usize) -> f64 {
    let setup = client(endpoint);
    let url = setup
        .create_queue()
        .queue_name("bench")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, done) = (url.clone(), Arc::clone(&done));
            let sqs = client(endpoint);
            let share = n / CLIENTS + usize::from(c < n % CLIENTS);
            tokio::spawn(async move {
                let consumers = (0..inflight).map(|_| consume(&sqs, &url, &done, n));
                tokio::join!(send(&sqs, &url, share, inflight), join_all(consumers));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        done.load(Ordering::Relaxed),
        n,
        "every message received and deleted"
    );
    n as f64 / started.elapsed().as_secs_f64()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n = count("NEO_BENCH_MESSAGES", 200_000);
    let idle = count("NEO_BENCH_IDLE", 1_000_000);
    let inflight = count("NEO_BENCH_INFLIGHT", 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let neo = SqsBroker::start();
    println!(
        "aws-sdk-sqs, {CLIENTS} clients, {n} messages of {BODY} bytes, SendMessageBatch x10, ReceiveMessage x10 long poll, DeleteMessageBatch ({inflight} of each outstanding per client):"
    );
    let rate = runtime.block_on(end_to_end(&neo.endpoint(), n, inflight));
    println!("end-to-end: {rate:>8.0} msg/s");

    let before = rss_kib();
    runtime.block_on(async {
        let sqs = client(&neo.endpoint());
        let url = sqs
            .create_queue()
            .queue_name("deep")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let mut sent = 0;
        let mut last = Instant::now();
        while sent < idle {
            let step = (idle - sent).min(50_000);
            send(&sqs, &url, step, 16).await;
            sent += step;
            if last.elapsed() > Duration::from_secs(5) {
                println!("  {sent} waiting, RSS {} MiB", rss_kib() / 1024);
                last = Instant::now();
            }
        }
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        println!(
            "  ApproximateNumberOfMessages: {:?}",
            attrs.attributes.unwrap_or_default()
        );
    });
    println!(
        "{idle} messages waiting: RSS {} MiB before, {} MiB after",
        before / 1024,
        rss_kib() / 1024
    );
}

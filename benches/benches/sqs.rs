//! aws-sdk-sqs against Neo's SQS gateway: 4 concurrent clients, each sending 1 KiB messages
//! with SendMessageBatch (10 a call) and taking them with ReceiveMessage (10, long poll) and
//! DeleteMessageBatch, `NEO_BENCH_INFLIGHT` calls of each kind outstanding (4 by default), as
//! a client with a few threads or tasks keeps them; end-to-end
//! throughput from the first send to the last delete of `NEO_BENCH_MESSAGES` messages
//! (200,000 by default). Then the process's resident memory while `NEO_BENCH_IDLE` messages
//! (default 1,000,000) wait unreceived.
//!
//! The same workload again from a minimal HTTP/1.1 client (keep-alive connections, JSON
//! protocol, bodies built once), which shows the gateway's own rate on this machine: the
//! SDK's signing and parsing share the two cores with the broker in the first run.
//!
//! `cargo bench -p neo-benches --bench sqs`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures_util::future::join_all;
use neo_benches::{count, rss_kib};
use neo_compat_tests::TestBroker;
use neo_compat_tests::sqs::client;

const BODY: usize = 1024;
const CLIENTS: usize = 4;

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

/// One keep-alive HTTP/1.1 connection speaking the JSON protocol.
struct Http(tokio::io::BufReader<tokio::net::TcpStream>);

impl Http {
    async fn connect(addr: std::net::SocketAddr) -> Http {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Http(tokio::io::BufReader::new(stream))
    }

    /// Calls `action` with `body`; returns the answer's body (which must be a success).
    async fn call(&mut self, action: &str, body: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let head = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.{action}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.0.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{action}: {line}");
        let mut len = 0;
        loop {
            line.clear();
            self.0.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0; len];
        self.0.read_exact(&mut answer).await.unwrap();
        answer
    }
}

async fn raw_end_to_end(addr: std::net::SocketAddr, url: &str, n: usize, inflight: usize) -> f64 {
    let body = "x".repeat(BODY);
    let entries: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"Id": format!("m{i}"), "MessageBody": body}))
        .collect();
    let send_body = Arc::new(
        serde_json::to_vec(&serde_json::json!({"QueueUrl": url, "Entries": entries})).unwrap(),
    );
    let receive_body = Arc::new(
        serde_json::to_vec(
            &serde_json::json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
        )
        .unwrap(),
    );
    let batches = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let total_batches = n.div_ceil(10);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS * inflight {
        let (send_body, batches) = (Arc::clone(&send_body), Arc::clone(&batches));
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(addr).await;
            while batches.fetch_add(1, Ordering::Relaxed) < total_batches {
                http.call("SendMessageBatch", &send_body).await;
            }
        }));
        let (receive_body, done, url) = (
            Arc::clone(&receive_body),
            Arc::clone(&done),
            url.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(addr).await;
            let mut idle_since = Instant::now();
            while done.load(Ordering::Relaxed) < total_batches * 10
                && idle_since.elapsed() < Duration::from_secs(60)
            {
                let answer: serde_json::Value =
                    serde_json::from_slice(&http.call("ReceiveMessage", &receive_body).await).unwrap();
                let Some(messages) = answer["Messages"].as_array() else {
                    continue;
                };
                idle_since = Instant::now();
                let entries: Vec<serde_json::Value> = messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| serde_json::json!({"Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"]}))
                    .collect();
                let delete = serde_json::to_vec(&serde_json::json!({"QueueUrl": url, "Entries": entries})).unwrap();
                http.call("DeleteMessageBatch", &delete).await;
                done.fetch_add(messages.len(), Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        done.load(Ordering::Relaxed),
        total_batches * 10,
        "every message received and deleted"
    );
    (total_batches * 10) as f64 / started.elapsed().as_secs_f64()
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
    let neo = TestBroker::start_blocking();
    println!(
        "aws-sdk-sqs, {CLIENTS} clients, {n} messages of {BODY} bytes, SendMessageBatch x10, ReceiveMessage x10 long poll, DeleteMessageBatch ({inflight} of each outstanding per client):"
    );
    let rate = runtime.block_on(end_to_end(&neo.sqs_endpoint(), n, inflight));
    println!("end-to-end: {rate:>8.0} msg/s");
    let raw = runtime.block_on(async {
        let url = client(&neo.sqs_endpoint())
            .create_queue()
            .queue_name("bench-raw")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        raw_end_to_end(neo.sqs_addr, &url, n, inflight).await
    });
    println!("same workload, minimal HTTP/1.1 client: {raw:>8.0} msg/s");

    let before = rss_kib();
    runtime.block_on(async {
        let sqs = client(&neo.sqs_endpoint());
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

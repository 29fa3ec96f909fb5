//! The workload over the SQS protocol with aws-sdk-sqs, as an SQS application would run it:
//! SendMessageBatch (10 a call), ReceiveMessage (10, long poll) and DeleteMessageBatch, a few
//! calls of each kind outstanding. An SQS send is acknowledged once durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use futures_util::future::join_all;
use indicatif::ProgressBar;
use parking_lot::Mutex;

use crate::stats::{Latency, ProtocolResult, Throughput, Timeline, histogram};
use crate::workload::{Workload, phase, settle_writeback};

/// Calls of each kind outstanding at once.
const LANES: usize = 4;

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

pub async fn run(
    endpoint: &str,
    w: &Workload,
    bar: &ProgressBar,
    tag: &str,
) -> anyhow::Result<ProtocolResult> {
    let sqs = client(endpoint);
    let url = create_queue(&sqs, &format!("bench-sqs-{tag}")).await?;
    phase(bar, "sqs: send", w.records);
    let (produce, produce_ack, produce_timeline) = send(&sqs, &url, w, bar).await?;
    settle_writeback();
    phase(bar, "sqs: receive and delete", w.records);
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let lanes = (0..LANES).map(|_| receive(&sqs, &url, w.records, &done, bar, |_| {}));
    for lane in join_all(lanes).await {
        lane?;
    }
    let consume = Throughput::of(w.records, w.size, started.elapsed().as_secs_f64());
    settle_writeback();
    phase(bar, "sqs: end-to-end at fixed rate", w.rate * w.seconds);
    let e2e_url = create_queue(&sqs, &format!("bench-sqs-e2e-{tag}")).await?;
    let end_to_end = end_to_end(&sqs, &e2e_url, w, bar).await?;
    Ok(ProtocolResult {
        protocol: "sqs".into(),
        produce,
        produce_ack,
        consume,
        end_to_end,
        rpc: None,
        produce_timeline,
    })
}

async fn create_queue(sqs: &Client, name: &str) -> anyhow::Result<String> {
    let created = sqs.create_queue().queue_name(name).send().await?;
    created
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("CreateQueue answered without a URL"))
}

async fn send_batch(sqs: &Client, url: &str, bodies: &[String]) -> anyhow::Result<()> {
    let mut request = sqs.send_message_batch().queue_url(url);
    for (i, body) in bodies.iter().enumerate() {
        request = request.entries(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(body)
                .build()?,
        );
    }
    let out = request.send().await?;
    anyhow::ensure!(out.failed().is_empty(), "a batched send failed");
    Ok(())
}

async fn send(
    sqs: &Client,
    url: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<(Throughput, Latency, Vec<u64>)> {
    let batches = w.records.div_ceil(10);
    let next = AtomicU64::new(0);
    let stats = Mutex::new((histogram()?, Timeline::default()));
    let body = "x".repeat(w.size);
    let started = Instant::now();
    let lanes = (0..LANES).map(|_| async {
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= batches {
                return Ok::<_, anyhow::Error>(());
            }
            let size = (w.records - b * 10).min(10) as usize;
            let at = Instant::now();
            send_batch(sqs, url, &vec![body.clone(); size]).await?;
            let mut stats = stats.lock();
            for _ in 0..size {
                stats.0.saturating_record(at.elapsed().as_micros() as u64);
                stats.1.add(started.elapsed());
            }
            bar.set_position((b + 1) * 10);
        }
    });
    for lane in join_all(lanes).await {
        lane?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (latencies, timeline) = stats.into_inner();
    Ok((
        Throughput::of(w.records, w.size, elapsed),
        Latency::of(&latencies),
        timeline.into_buckets(),
    ))
}

/// Receives and deletes until `done` reaches `total`, calling `seen` on each body.
async fn receive(
    sqs: &Client,
    url: &str,
    total: u64,
    done: &AtomicU64,
    bar: &ProgressBar,
    mut seen: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut idle_since = Instant::now();
    while done.load(Ordering::Relaxed) < total {
        anyhow::ensure!(
            idle_since.elapsed() < Duration::from_secs(60),
            "sqs receive stalled at {}",
            done.load(Ordering::Relaxed)
        );
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        if got.messages().is_empty() {
            continue;
        }
        idle_since = Instant::now();
        let mut request = sqs.delete_message_batch().queue_url(url);
        for (i, message) in got.messages().iter().enumerate() {
            seen(message.body().unwrap_or_default());
            request = request.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()?,
            );
        }
        let deleted = request.send().await?.successful().len() as u64;
        let now = done.fetch_add(deleted, Ordering::Relaxed) + deleted;
        bar.set_position(now);
    }
    Ok(())
}

async fn end_to_end(
    sqs: &Client,
    url: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Latency> {
    let total = w.rate * w.seconds;
    let origin = Instant::now();
    let sender = {
        let (sqs, url, w) = (sqs.clone(), url.to_string(), w.clone());
        tokio::spawn(async move {
            // Sends of one message each, paced; a few outstanding so the rate holds.
            let limit = Arc::new(tokio::sync::Semaphore::new(64));
            let mut sends = Vec::new();
            for i in 0..total {
                let due = w.due(origin, i);
                tokio::time::sleep_until(due.into()).await;
                let permit = Arc::clone(&limit).acquire_owned().await?;
                let stamp = origin.elapsed().as_micros() as u64;
                // SQS bodies are text: the stamp as 20 decimal digits, padded to the size.
                let body = format!("{stamp:020}{}", "x".repeat(w.size.saturating_sub(20)));
                let (sqs, url) = (sqs.clone(), url.clone());
                sends.push(tokio::spawn(async move {
                    let sent = sqs
                        .send_message()
                        .queue_url(url)
                        .message_body(body)
                        .send()
                        .await;
                    drop(permit);
                    sent.map(|_| ())
                }));
            }
            for send in sends {
                send.await??;
            }
            Ok::<_, anyhow::Error>(())
        })
    };
    let latencies = Mutex::new(histogram()?);
    let done = AtomicU64::new(0);
    let lanes = (0..LANES).map(|_| {
        receive(sqs, url, total, &done, bar, |body| {
            let now = origin.elapsed().as_micros() as u64;
            if let Some(sent) = body.get(..20).and_then(|digits| digits.parse::<u64>().ok()) {
                latencies
                    .lock()
                    .saturating_record(now.saturating_sub(sent).max(1));
            }
        })
    });
    for lane in join_all(lanes).await {
        lane?;
    }
    sender.await??;
    Ok(Latency::of(&latencies.into_inner()))
}

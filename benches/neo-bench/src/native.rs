//! The workload over the native protocol with the `neo-client` SDK.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use neo_client::{Acks, Client, ProducerConfig, StartAt};

use crate::stats::{Latency, ProtocolResult, Throughput, Timeline, histogram};
use crate::workload::{Workload, phase, settle_writeback, stamp_of};

pub async fn run(
    addr: &str,
    w: &Workload,
    bar: &ProgressBar,
    tag: &str,
) -> anyhow::Result<ProtocolResult> {
    let client = Client::connect(addr).await?;
    let topic = format!("bench-native-{tag}");
    client.create_topic(&topic, 1).await?;

    phase(bar, "native: produce", w.records);
    let (produce, produce_ack, produce_timeline) = produce(&client, &topic, w, bar).await?;

    settle_writeback();
    phase(bar, "native: consume", w.records);
    let consume = consume(&client, &topic, w, bar).await?;

    settle_writeback();
    phase(bar, "native: end-to-end at fixed rate", w.rate * w.seconds);
    let e2e_topic = format!("bench-native-e2e-{tag}");
    client.create_topic(&e2e_topic, 1).await?;
    let end_to_end = end_to_end(&client, &e2e_topic, w, bar).await?;

    phase(bar, "native: RPC at fixed rate", w.rate * w.seconds);
    let rpc = rpc(addr, w, bar).await?;
    Ok(ProtocolResult {
        protocol: "native".into(),
        produce,
        produce_ack,
        consume,
        end_to_end,
        rpc: Some(rpc),
        produce_timeline,
    })
}

fn acks(w: &Workload) -> Acks {
    if w.durable {
        Acks::Durable
    } else {
        Acks::Leader
    }
}

async fn produce(
    client: &Client,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<(Throughput, Latency, Vec<u64>)> {
    let producer = client.producer(ProducerConfig {
        linger: Duration::from_millis(5),
        batch_bytes: 512 * 1024,
        acks: acks(w),
        max_in_flight: 16,
        buffer_records: 100_000,
        // As the rdkafka producer it is compared with (librdkafka's default).
        idempotent: false,
        ..ProducerConfig::default()
    });
    let payload = Bytes::from(vec![b'x'; w.size]);
    let (sent, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let collector = tokio::spawn(async move {
        let mut latencies = histogram()?;
        let mut timeline = Timeline::default();
        while let Some((at, ack)) = acks.recv().await {
            let ack: neo_client::Ack = ack;
            ack.await?;
            let at: Instant = at;
            latencies.saturating_record(at.elapsed().as_micros() as u64);
            timeline.add(started.elapsed());
        }
        Ok::<_, anyhow::Error>((latencies, timeline))
    });
    for i in 0..w.records {
        let ack = producer.send(topic, 0, None, payload.clone()).await?;
        let _ = sent.send((Instant::now(), ack));
        if i.is_multiple_of(1000) {
            bar.set_position(i);
        }
    }
    drop(sent);
    let (latencies, timeline) = collector.await??;
    let elapsed = started.elapsed().as_secs_f64();
    bar.set_position(w.records);
    Ok((
        Throughput::of(w.records, w.size, elapsed),
        Latency::of(&latencies),
        timeline.into_buckets(),
    ))
}

async fn consume(
    client: &Client,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Throughput> {
    let started = Instant::now();
    let mut consumer = client.subscribe(topic, 0, StartAt::Earliest).await?;
    let mut seen = 0u64;
    while seen < w.records {
        match tokio::time::timeout(Duration::from_secs(30), consumer.next()).await {
            Ok(Some(record)) => {
                record?;
                seen += 1;
                if seen.is_multiple_of(1000) {
                    bar.set_position(seen);
                }
            }
            _ => anyhow::bail!("native consume stalled at {seen} records"),
        }
    }
    Ok(Throughput::of(
        seen,
        w.size,
        started.elapsed().as_secs_f64(),
    ))
}

async fn end_to_end(
    client: &Client,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Latency> {
    let mut consumer = client.subscribe(topic, 0, StartAt::Latest).await?;
    let total = w.rate * w.seconds;
    let origin = Instant::now();
    let sender = {
        let producer = client.producer(ProducerConfig {
            linger: Duration::ZERO,
            acks: acks(w),
            idempotent: false,
            ..ProducerConfig::default()
        });
        let topic = topic.to_string();
        let w = w.clone();
        tokio::spawn(async move {
            for i in 0..total {
                let due = w.due(origin, i);
                tokio::time::sleep_until(due.into()).await;
                let stamp = origin.elapsed().as_micros() as u64;
                producer
                    .send(&topic, 0, None, Bytes::from(w.stamped(stamp)))
                    .await?;
            }
            producer.flush().await?;
            Ok::<_, anyhow::Error>(())
        })
    };
    let mut latencies = histogram()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(w.seconds + 30);
    while latencies.len() < total {
        let Ok(Some(record)) = tokio::time::timeout_at(deadline, consumer.next()).await else {
            anyhow::bail!("native end-to-end stalled at {} records", latencies.len());
        };
        let now = origin.elapsed().as_micros() as u64;
        let value = record?.value.unwrap_or_default();
        if let Some(sent) = stamp_of(&value) {
            latencies.saturating_record(now.saturating_sub(sent).max(1));
        }
        if latencies.len().is_multiple_of(1000) {
            bar.set_position(latencies.len());
        }
    }
    sender.await??;
    Ok(Latency::of(&latencies))
}

/// Round trips through the broker to an echo service on its own connection, at the fixed
/// rate (each call in its own task so a slow reply does not delay the next call).
async fn rpc(addr: &str, w: &Workload, bar: &ProgressBar) -> anyhow::Result<Latency> {
    let service = Client::connect(addr).await?;
    service
        .serve("bench", "echo", |payload: Bytes| async move { Ok(payload) })
        .await?;
    let caller = Client::connect(addr).await?;
    let total = w.rate * w.seconds;
    let payload = Bytes::from(vec![b'x'; w.size]);
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
    let origin = Instant::now();
    for i in 0..total {
        let due = w.due(origin, i);
        tokio::time::sleep_until(due.into()).await;
        let caller = caller.clone();
        let payload = payload.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let reply = caller
                .call("bench", "echo", payload, Duration::from_secs(10))
                .await;
            let _ = done.send(reply.map(|_| started.elapsed()));
        });
    }
    drop(done);
    let mut latencies = histogram()?;
    while let Some(result) = results.recv().await {
        latencies.saturating_record(result?.as_micros() as u64);
        if latencies.len().is_multiple_of(1000) {
            bar.set_position(latencies.len());
        }
    }
    Ok(Latency::of(&latencies))
}

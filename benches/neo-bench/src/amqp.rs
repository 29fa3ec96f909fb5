//! The workload over AMQP 0-9-1 with lapin, as a RabbitMQ application would run it: a
//! durable queue, persistent messages, publisher confirms (AMQP's only acknowledgement of a
//! publish: always durable in Neo), manual consumer acks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use indicatif::ProgressBar;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::stats::{Latency, ProtocolResult, Throughput, Timeline, histogram};
use crate::workload::{Workload, phase, settle_writeback, stamp_of};

/// Publishes started together (lapin writes a burst at once).
const BURST: usize = 100;
/// Confirms outstanding at once.
const WINDOW: usize = 10_000;
/// Unacknowledged deliveries a consumer may hold.
const PREFETCH: u16 = 1_000;

pub async fn run(
    uri: &str,
    w: &Workload,
    bar: &ProgressBar,
    tag: &str,
) -> anyhow::Result<ProtocolResult> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await?;
    let queue = format!("bench-amqp-{tag}");
    phase(bar, "amqp: publish with confirms", w.records);
    let (produce, produce_ack, produce_timeline) = publish(&connection, &queue, w, bar).await?;
    settle_writeback();
    phase(bar, "amqp: consume", w.records);
    let consume = consume(&connection, &queue, w, bar).await?;
    settle_writeback();
    phase(bar, "amqp: end-to-end at fixed rate", w.rate * w.seconds);
    let end_to_end = end_to_end(&connection, &format!("{queue}-e2e"), w, bar).await?;
    let _ = connection.close(200, "bye".into()).await;
    Ok(ProtocolResult {
        protocol: "amqp".into(),
        produce,
        produce_ack,
        consume,
        end_to_end,
        rpc: None,
        produce_timeline,
    })
}

async fn declare(connection: &Connection, queue: &str) -> anyhow::Result<Channel> {
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await?;
    Ok(channel)
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn publish(
    connection: &Connection,
    queue: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<(Throughput, Latency, Vec<u64>)> {
    let channel = declare(connection, queue).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = vec![b'x'; w.size];
    let mut latencies = histogram()?;
    let mut timeline = Timeline::default();
    let mut pending = VecDeque::with_capacity(WINDOW + BURST);
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < w.records {
        let burst = usize::try_from(w.records - sent)
            .unwrap_or(BURST)
            .min(BURST);
        let at = Instant::now();
        let publishes = (0..burst).map(|_| {
            channel.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                persistent(),
            )
        });
        for confirm in join_all(publishes).await {
            pending.push_back((at, confirm?));
        }
        sent += burst as u64;
        bar.set_position(sent);
        while pending.len() > WINDOW {
            if let Some((at, confirm)) = pending.pop_front() {
                anyhow::ensure!(confirm.await?.is_ack(), "a publish was nacked");
                latencies.saturating_record(at.elapsed().as_micros() as u64);
                timeline.add(started.elapsed());
            }
        }
    }
    for (at, confirm) in pending {
        anyhow::ensure!(confirm.await?.is_ack(), "a publish was nacked");
        latencies.saturating_record(at.elapsed().as_micros() as u64);
        timeline.add(started.elapsed());
    }
    Ok((
        Throughput::of(w.records, w.size, started.elapsed().as_secs_f64()),
        Latency::of(&latencies),
        timeline.into_buckets(),
    ))
}

/// Consumes `count` deliveries, acking each (acks pipelined), calling `seen` on each body.
async fn consume_n(
    channel: &Channel,
    queue: &str,
    count: u64,
    deadline: Duration,
    mut seen: impl FnMut(&[u8], u64),
) -> anyhow::Result<()> {
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + deadline;
    let mut acks = FuturesUnordered::new();
    for n in 0..count {
        let Ok(Some(delivery)) = tokio::time::timeout_at(deadline, deliveries.next()).await else {
            anyhow::bail!("amqp consume stalled at {n} deliveries");
        };
        let delivery = delivery?;
        seen(&delivery.data, n + 1);
        acks.push(async move { delivery.ack(BasicAckOptions::default()).await });
        while acks.len() > BURST {
            if let Some(ack) = acks.next().await {
                ack?;
            }
        }
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(())
}

async fn consume(
    connection: &Connection,
    queue: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Throughput> {
    let channel = connection.create_channel().await?;
    let started = Instant::now();
    consume_n(
        &channel,
        queue,
        w.records,
        Duration::from_secs(300),
        |_, n| {
            if n.is_multiple_of(1000) {
                bar.set_position(n);
            }
        },
    )
    .await?;
    Ok(Throughput::of(
        w.records,
        w.size,
        started.elapsed().as_secs_f64(),
    ))
}

async fn end_to_end(
    connection: &Connection,
    queue: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Latency> {
    let consumer_channel = declare(connection, queue).await?;
    let total = w.rate * w.seconds;
    let origin = Instant::now();
    let publisher = {
        let channel = connection.create_channel().await?;
        let queue = queue.to_string();
        let w = w.clone();
        tokio::spawn(async move {
            for i in 0..total {
                let due = w.due(origin, i);
                tokio::time::sleep_until(due.into()).await;
                let body = w.stamped(origin.elapsed().as_micros() as u64);
                channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &body,
                        persistent(),
                    )
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        })
    };
    let mut latencies = histogram()?;
    let wait = Duration::from_secs(w.seconds + 30);
    consume_n(&consumer_channel, queue, total, wait, |body, n| {
        let now = origin.elapsed().as_micros() as u64;
        if let Some(sent) = stamp_of(body) {
            latencies.saturating_record(now.saturating_sub(sent).max(1));
        }
        if n.is_multiple_of(1000) {
            bar.set_position(n);
        }
    })
    .await?;
    publisher.await??;
    Ok(Latency::of(&latencies))
}

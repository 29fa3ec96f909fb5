//! lapin against Neo's AMQP gateway and against RabbitMQ (Debian's, started here), in the
//! same run: 1 producer and 1 consumer, 1 KiB persistent messages, publisher confirms,
//! manual acks, prefetch 1000; end-to-end throughput (first publish to last delivery). Then
//! Neo's resident memory while `NEO_BENCH_IDLE` messages (default 1,000,000) sit unconsumed.
//!
//! `cargo bench -p neo-benches --bench amqp` (`NEO_BENCH_MESSAGES` sets the count, 200,000 by
//! default); without rabbitmq-server installed only Neo is measured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use neo_benches::{count, rss_kib};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::connect;
use neo_compat_tests::rabbitmq::RabbitMq;

const BODY: usize = 1024;
/// Confirms outstanding at once, as a pipelining publisher keeps them.
const WINDOW: usize = 1_000;
/// Publishes (and acks) started together.
const BURST: usize = 100;

/// A channel on which the durable queue `name` is declared.
async fn durable_queue(conn: &Connection, name: &str) -> lapin::Channel {
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch
}

/// Publishes `n` persistent messages with confirms to `queue`; returns when all are confirmed.
async fn publish(conn: &Connection, queue: &str, n: usize) {
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let body = vec![b'x'; BODY];
    let mut pending = std::collections::VecDeque::with_capacity(WINDOW);
    let mut sent = 0;
    while sent < n {
        // lapin hands each publish to its I/O thread and waits for it to be written: started
        // together, a burst goes out in one write instead of one thread round trip each.
        let burst = (n - sent).min(BURST);
        let publishes = (0..burst).map(|_| {
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default().with_delivery_mode(2),
            )
        });
        for confirm in join_all(publishes).await {
            pending.push_back(confirm.unwrap());
        }
        sent += burst;
        while pending.len() > WINDOW {
            let confirm: lapin::PublisherConfirm = pending.pop_front().unwrap();
            assert!(confirm.await.unwrap().is_ack());
        }
    }
    for confirm in pending {
        assert!(confirm.await.unwrap().is_ack());
    }
}

/// Messages per second from the first publish to the last delivery, producer and consumer
/// running at once.
async fn end_to_end(uri: &str, n: usize) -> f64 {
    let conn = connect(uri).await;
    let queue = "bench";
    let ch = durable_queue(&conn, queue).await;
    ch.basic_qos(1_000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        // Each delivery is acknowledged on its own, without waiting for the previous ack
        // to be written before taking the next delivery.
        let mut acks = FuturesUnordered::new();
        for _ in 0..n {
            let d = tokio::time::timeout(Duration::from_secs(60), deliveries.next())
                .await
                .expect("a delivery within a minute")
                .unwrap()
                .unwrap();
            acks.push(async move { d.ack(BasicAckOptions::default()).await });
            while acks.len() > BURST {
                acks.next().await.unwrap().unwrap();
            }
        }
        while let Some(ack) = acks.next().await {
            ack.unwrap();
        }
    });
    publish(&conn, queue, n).await;
    consumer.await.unwrap();
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = conn.close(200, "bye".into()).await;
    rate
}

fn main() {
    let n = count("NEO_BENCH_MESSAGES", 200_000);
    let idle = count("NEO_BENCH_IDLE", 1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "lapin, {n} persistent messages of {BODY} bytes, confirms, manual acks, prefetch 1000:"
    );
    let neo = runtime.block_on(TestBroker::start());
    let neo_rate = runtime.block_on(end_to_end(&neo.amqp_uri(), n));
    let rabbit_rate = RabbitMq::start().map(|mut rabbit| {
        let rate = runtime.block_on(end_to_end(&rabbit.uri(), n));
        rabbit.stop();
        rate
    });
    match rabbit_rate {
        Some(r) => println!(
            "end-to-end: Neo {neo_rate:>8.0} msg/s, RabbitMQ 3.10 {r:>8.0} msg/s: {:.2}x",
            neo_rate / r
        ),
        None => println!("end-to-end: Neo {neo_rate:>8.0} msg/s (RabbitMQ not installed)"),
    }

    // Memory while a deep queue waits: the cursor holds only what is in flight.
    let before = rss_kib();
    runtime.block_on(async {
        let conn = connect(&neo.amqp_uri()).await;
        durable_queue(&conn, "deep").await;
        let mut last = Instant::now();
        let mut sent = 0;
        while sent < idle {
            let step = (idle - sent).min(100_000);
            publish(&conn, "deep", step).await;
            sent += step;
            if last.elapsed() > Duration::from_secs(5) {
                println!("  {sent} unconsumed, RSS {} MiB", rss_kib() / 1024);
                last = Instant::now();
            }
        }
        let _ = conn.close(200, "bye".into()).await;
    });
    let after = rss_kib();
    println!(
        "{idle} messages unconsumed: process RSS {} MiB before, {} MiB after ({:+} MiB; the log holds {} MiB on disk)",
        before / 1024,
        after / 1024,
        (after as i64 - before as i64) / 1024,
        idle * BODY / (1 << 20)
    );
    drop(neo);
}

//! The workload over the Kafka protocol with librdkafka (the `rdkafka` crate), as a Kafka
//! application would run it. Blocking: run it on a thread of its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::stats::{Latency, ProtocolResult, Throughput, Timeline, histogram};
use crate::workload::{Workload, phase, settle_writeback, stamp_of};

/// Topics the run uses; created beforehand (through the native admin API).
pub struct Topics {
    pub produce: String,
    pub end_to_end: String,
}

pub fn run(
    bootstrap: &str,
    topics: &Topics,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<ProtocolResult> {
    phase(bar, "kafka: produce", w.records);
    let (produce, produce_ack, produce_timeline) = produce(bootstrap, &topics.produce, w, bar)?;
    settle_writeback();
    phase(bar, "kafka: consume", w.records);
    let consume = consume(bootstrap, &topics.produce, w, bar)?;
    settle_writeback();
    phase(bar, "kafka: end-to-end at fixed rate", w.rate * w.seconds);
    let end_to_end = end_to_end(bootstrap, &topics.end_to_end, w, bar)?;
    Ok(ProtocolResult {
        protocol: "kafka".into(),
        produce,
        produce_ack,
        consume,
        end_to_end,
        rpc: None,
        produce_timeline,
    })
}

struct Acked {
    started: Instant,
    state: Mutex<(Histogram<u64>, Timeline, u64)>,
}

impl ClientContext for Acked {}

impl ProducerContext for Acked {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match result {
            Ok(_) => {
                state.0.saturating_record(sent.elapsed().as_micros() as u64);
                state.1.add(self.started.elapsed());
            }
            Err(_) => state.2 += 1,
        }
    }
}

fn acks(w: &Workload) -> &'static str {
    if w.durable { "all" } else { "1" }
}

fn produce(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<(Throughput, Latency, Vec<u64>)> {
    let started = Instant::now();
    let producer: BaseProducer<Acked> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks(w))
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", w.kafka_queue.to_string())
        .create_with_context(Acked {
            started,
            state: Mutex::new((histogram()?, Timeline::default(), 0)),
        })?;
    let payload = vec![b'x'; w.size];
    for i in 0..w.records {
        let mut record =
            BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(&payload[..]);
        loop {
            match producer.send::<(), _>(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        if i.is_multiple_of(1000) {
            bar.set_position(i);
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.set_position(w.records);
    let state = producer
        .context()
        .state
        .lock()
        .map_err(|_| anyhow::anyhow!("delivery state poisoned"))?;
    anyhow::ensure!(state.2 == 0, "{} kafka deliveries failed", state.2);
    Ok((
        Throughput::of(w.records, w.size, elapsed),
        Latency::of(&state.0),
        timeline_of(&state.1),
    ))
}

fn timeline_of(t: &Timeline) -> Vec<u64> {
    t.buckets().to_vec()
}
fn consume(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Throughput> {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "neo-bench")
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "4194304")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = 0u64;
    while seen < w.records && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            seen += 1;
            if seen.is_multiple_of(1000) {
                bar.set_position(seen);
            }
        }
    }
    anyhow::ensure!(seen == w.records, "kafka consume stalled at {seen} records");
    Ok(Throughput::of(
        seen,
        w.size,
        started.elapsed().as_secs_f64(),
    ))
}

fn wait_until(due: Instant, mut serve: impl FnMut()) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        serve();
        if due - now > Duration::from_micros(200) {
            std::thread::sleep(Duration::from_micros(100));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn end_to_end(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    bar: &ProgressBar,
) -> anyhow::Result<Latency> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "neo-bench-e2e")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::End)?;
    consumer.assign(&assignment)?;
    // Let the consumer reach the end of the partition before producing.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    let origin = Instant::now();
    let total = w.rate * w.seconds;
    let sender = {
        let bootstrap = bootstrap.to_string();
        let topic = topic.to_string();
        let w = w.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("acks", acks(&w))
                .set("linger.ms", "0")
                .create()?;
            for i in 0..total {
                let due = w.due(origin, i);
                wait_until(due, || {
                    producer.poll(Duration::ZERO);
                });
                let payload = w.stamped(origin.elapsed().as_micros() as u64);
                producer
                    .send::<(), _>(BaseRecord::to(&topic).payload(&payload))
                    .map_err(|(e, _)| e)?;
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30))?;
            Ok(())
        })
    };
    let mut latencies = histogram()?;
    let deadline = Instant::now() + Duration::from_secs(w.seconds + 30);
    while latencies.len() < total && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let now = origin.elapsed().as_micros() as u64;
            if let Some(sent) = message?.payload().and_then(stamp_of) {
                latencies.saturating_record(now.saturating_sub(sent).max(1));
            }
            if latencies.len().is_multiple_of(1000) {
                bar.set_position(latencies.len());
            }
        }
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("kafka sender panicked"))??;
    anyhow::ensure!(
        latencies.len() == total,
        "kafka end-to-end stalled at {}",
        latencies.len()
    );
    Ok(Latency::of(&latencies))
}

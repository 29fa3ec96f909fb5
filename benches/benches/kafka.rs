//! librdkafka (the `rdkafka` crate) against Neo's Kafka front-end on this machine, 100-byte
//! records, each figure beside its baseline from the same run:
//! - produce `acks=1`, `linger.ms=5` vs the same producer against a broker that discards
//!   batches (the client's own limit here);
//! - produce `acks=all` on a durable topic (fsync before ack, group commit) vs `acks=1`;
//! - consume from the beginning;
//! - end-to-end latency at 1,000 records/s, and produce-ack latency at 10,000 records/s.
//!
//! `cargo bench -p neo-benches --bench kafka` (`NEO_BENCH_RECORDS` changes the record count).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use neo_broker::TopicConfig;
use neo_compat_tests::TestBroker;
use neo_kafka::KafkaConfig;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

const RECORD: usize = 100;
/// Repetitions of each produce figure.
const ROUNDS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Ack latencies in µs, from the send time carried as the opaque.
    latencies: Mutex<Vec<u64>>,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.latencies
                    .lock()
                    .unwrap()
                    .push(sent.elapsed().as_micros() as u64);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn producer(broker: &TestBroker, acks: &str, linger_ms: &str) -> BaseProducer<Counting> {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", acks)
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Counting::default())
        .unwrap()
}

/// Sends `count` records as fast as the client takes them; records/s once all are acked.
fn produce_throughput(broker: &TestBroker, topic: &str, acks: &str, count: u64) -> f64 {
    let producer = producer(broker, acks, "5");
    let payload = [b'x'; RECORD];
    let started = Instant::now();
    for _ in 0..count {
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
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let elapsed = started.elapsed();
    let context = producer.context();
    assert_eq!(
        context.failed.load(Ordering::Relaxed),
        0,
        "deliveries failed"
    );
    assert_eq!(context.delivered.load(Ordering::Relaxed), count);
    count as f64 / elapsed.as_secs_f64()
}

fn consumer_config(broker: &TestBroker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("max.partition.fetch.bytes", "4194304")
        // librdkafka >= 2.4 waits this long before fetching again once its queue holds
        // `queued.min.messages`; at the default 1000 ms a consumer that drains 100,000
        // records in a fraction of that then idles, against any broker.
        .set("fetch.queue.backoff.ms", "10");
    config
}

/// A consumer assigned partition 0 of `topic` from the beginning.
fn consumer_from_start(broker: &TestBroker, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = consumer_config(broker).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    consumer
}

fn consume_throughput(broker: &TestBroker, topic: &str, count: u64) -> f64 {
    let consumer = consumer_from_start(broker, topic);
    let started = Instant::now();
    let mut seen = 0u64;
    let deadline = started + Duration::from_secs(120);
    while seen < count && (!seen.is_multiple_of(4096) || Instant::now() < deadline) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m.unwrap();
            seen += 1;
        }
    }
    assert_eq!(seen, count, "consumed everything");
    count as f64 / started.elapsed().as_secs_f64()
}

/// The same read through librdkafka's batch call `rd_kafka_consume_batch_queue` (what
/// confluent-kafka's `consume(num_messages)` uses): one queue pop per batch of records
/// instead of one per record.
#[allow(unsafe_code)] // librdkafka's batch call has no safe wrapper in the rdkafka crate
fn consume_batched(broker: &TestBroker, topic: &str, count: u64) -> f64 {
    use rdkafka::bindings as rd;
    let consumer = consumer_from_start(broker, topic);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let mut seen = 0u64;
    let mut batch: Vec<*mut rd::rd_kafka_message_t> = vec![std::ptr::null_mut(); 10_000];
    // SAFETY: the queue handle comes from a live consumer and is destroyed before it; every
    // message the call hands out is checked and destroyed exactly once.
    unsafe {
        let queue = rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr());
        while seen < count && Instant::now() < deadline {
            let n = rd::rd_kafka_consume_batch_queue(queue, 100, batch.as_mut_ptr(), batch.len());
            for message in &batch[..n.max(0) as usize] {
                assert_eq!(
                    (**message).err,
                    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                );
                rd::rd_kafka_message_destroy(*message);
            }
            seen += n.max(0) as u64;
        }
        rd::rd_kafka_queue_destroy(queue);
    }
    assert!(seen >= count, "consumed everything");
    count as f64 / started.elapsed().as_secs_f64()
}

/// Waits for `due`, serving the client meanwhile, sleeping rather than spinning so the
/// broker keeps its share of the two cores.
fn wait_until(due: Instant, mut serve: impl FnMut()) {
    loop {
        serve();
        let now = Instant::now();
        if now >= due {
            return;
        }
        std::thread::sleep((due - now).min(Duration::from_micros(200)));
    }
}

/// The same read with kcat (librdkafka's C consumer, no per-message FFI call), timing the
/// whole command including connecting; `None` when kcat is not installed.
fn consume_with_kcat(broker: &TestBroker, topic: &str, count: u64) -> Option<f64> {
    let started = Instant::now();
    let output = std::process::Command::new("kcat")
        .args([
            "-b",
            &broker.bootstrap(),
            "-t",
            topic,
            "-C",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-c",
            &count.to_string(),
        ])
        .args(["-f", "%o\n"])
        .output()
        .ok()?;
    let elapsed = started.elapsed();
    let lines = output.stdout.iter().filter(|b| **b == b'\n').count() as u64;
    assert_eq!(lines, count, "kcat consumed everything");
    Some(count as f64 / elapsed.as_secs_f64())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Sends at `rate` records/s for `seconds`; returns sorted ack latencies (µs).
fn paced_acks(broker: &TestBroker, topic: &str, rate: u64, seconds: u64, acks: &str) -> Vec<u64> {
    let producer = producer(broker, acks, "0");
    let payload = [b'x'; RECORD];
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    for i in 0..rate * seconds {
        let due = started + interval * i as u32;
        wait_until(due, || {
            producer.poll(Duration::ZERO);
        });
        let record =
            BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(&payload[..]);
        producer.send::<(), _>(record).map_err(|(e, _)| e).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut latencies = std::mem::take(&mut *producer.context().latencies.lock().unwrap());
    latencies.sort_unstable();
    latencies
}

/// Produce-to-delivery latency at `rate` records/s: the payload carries the send time.
fn end_to_end(broker: &TestBroker, topic: &str, rate: u64, seconds: u64) -> Vec<u64> {
    // The topic exists before the consumer positions itself at its end.
    let creator = producer(broker, "1", "0");
    creator
        .send::<(), _>(BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload("x"))
        .map_err(|(e, _)| e)
        .unwrap();
    creator.flush(Duration::from_secs(10)).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "bench-e2e")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::End)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    // Let the consumer reach the end of the partition before producing.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    let origin = Instant::now();
    let total = rate * seconds;
    let sender = {
        let bootstrap = broker.bootstrap();
        let topic = topic.to_string();
        std::thread::spawn(move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("acks", "1")
                .set("linger.ms", "0")
                .create()
                .unwrap();
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            for i in 0..total {
                let due = origin + interval * i as u32;
                wait_until(due, || {
                    producer.poll(Duration::ZERO);
                });
                let mut payload = (origin.elapsed().as_micros() as u64).to_be_bytes().to_vec();
                payload.resize(RECORD, b'x');
                producer
                    .send::<(), _>(BaseRecord::to(&topic).payload(&payload))
                    .map_err(|(e, _)| e)
                    .unwrap();
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let mut latencies = Vec::with_capacity(total as usize);
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let sent = u64::from_be_bytes(m.payload().unwrap()[..8].try_into().unwrap());
            latencies.push(origin.elapsed().as_micros() as u64 - sent);
        }
    }
    sender.join().unwrap();
    latencies.sort_unstable();
    latencies
}

fn main() {
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let records: u64 = std::env::var("NEO_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let discard_dir = tempfile::tempdir().unwrap();
    let discard = runtime.block_on(TestBroker::start_with(
        discard_dir.path(),
        TopicConfig::default(),
        KafkaConfig {
            discard_produce: true,
            ..KafkaConfig::default()
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let broker = runtime.block_on(TestBroker::start_in(dir.path(), TopicConfig::default()));

    println!("librdkafka against Neo, {records} records of {RECORD} bytes, same run:");
    // Latency first: the throughput runs leave gigabytes of dirty pages whose writeback
    // would stall the fsyncs of the acks=all figure for a while (and whatever ran before
    // this bench, a build say, is flushed first).
    let _ = std::process::Command::new("sync").status();
    let e2e = end_to_end(&broker, "e2e", 1_000, 5);
    println!(
        "end-to-end at 1000/s:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} records)",
        percentile(&e2e, 0.50),
        percentile(&e2e, 0.99),
        percentile(&e2e, 1.0),
        e2e.len()
    );
    let acks = paced_acks(&broker, "paced", 10_000, 3, "1");
    println!(
        "produce-ack at 10000/s, linger.ms=0, acks=1: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&acks, 0.50),
        percentile(&acks, 0.99)
    );
    let acks = paced_acks(&broker, "paced-all", 10_000, 3, "all");
    println!(
        "produce-ack at 10000/s, linger.ms=0, acks=all: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&acks, 0.50),
        percentile(&acks, 0.99)
    );
    // Paired rounds, alternating which broker goes first so neither always gets the warm
    // client; the figure is the median of the rounds' ratios (the machine is noisy).
    let mut ratios = Vec::new();
    let mut acks1_rates = Vec::new();
    let mut discard_rates = Vec::new();
    for round in 0..ROUNDS {
        let topic = format!("bench-{round}");
        let pair = |first_discard: bool| {
            if first_discard {
                let d = produce_throughput(&discard, &topic, "1", records);
                (d, produce_throughput(&broker, "acks1", "1", records))
            } else {
                let a = produce_throughput(&broker, "acks1", "1", records);
                (produce_throughput(&discard, &topic, "1", records), a)
            }
        };
        let (d, a) = pair(round % 2 == 0);
        ratios.push(a / d);
        acks1_rates.push(a);
        discard_rates.push(d);
    }
    drop(discard);
    let acks_all_rates: Vec<f64> = (0..ROUNDS)
        .map(|_| produce_throughput(&broker, "acksall", "all", records))
        .collect();
    let acks1 = median(acks1_rates);
    let acks_all = median(acks_all_rates);
    println!(
        "produce acks=1 linger.ms=5:   {:>10.0} records/s  (median of {ROUNDS} paired rounds: {:.0}% of the discard broker's {:.0}/s)",
        acks1,
        100.0 * median(ratios),
        median(discard_rates)
    );
    println!(
        "produce acks=all (durable):   {:>10.0} records/s  (median of {ROUNDS}: {:.0}% of acks=1)",
        acks_all,
        100.0 * acks_all / acks1
    );
    // The produce runs left gigabytes of dirty pages; their writeback would compete with the
    // consumer for the two cores. Flush them first, as a quiet machine would have.
    let _ = std::process::Command::new("sync").status();
    let consumed = median(
        (0..3)
            .map(|_| consume_throughput(&broker, "acks1", records))
            .collect(),
    );
    println!(
        "consume from the beginning:   {consumed:>10.0} records/s (median of 3; rdkafka crate, one poll per record)"
    );
    let consumed = median(
        (0..3)
            .map(|_| consume_batched(&broker, "acks1", records))
            .collect(),
    );
    println!(
        "consume from the beginning:   {consumed:>10.0} records/s (median of 3; librdkafka batch call, 10,000 per call)"
    );
    let kcat: Option<Vec<f64>> = (0..3)
        .map(|_| consume_with_kcat(&broker, "acks1", records))
        .collect();
    if let Some(rate) = kcat.map(median) {
        println!(
            "consume from the beginning:   {rate:>10.0} records/s (median of 3; kcat, whole command)"
        );
    }

    drop(broker);
}

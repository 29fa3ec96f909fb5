//! The Kafka workload: an idempotent `acks=all` rdkafka producer and a consumer group
//! member, recorded in a [`History`]; checked against the whole log after the run, and the
//! group's committed offsets checked never to go back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use neo_compat_tests::history::{History, Written};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::progress::Progress;

const TOPIC: &str = "faults";
const PARTITIONS: i32 = 3;
const GROUP: &str = "faults-group";
/// Sends in flight at a time.
const IN_FLIGHT: usize = 50;

pub struct KafkaLoad {
    pub history: Arc<Mutex<History>>,
    /// Committed offsets of the group as read every second: per partition, in time order.
    committed: Arc<Mutex<BTreeMap<i32, Vec<i64>>>>,
    producer: tokio::task::JoinHandle<()>,
    consumer: std::thread::JoinHandle<()>,
}

/// Creates the topic (three replicas) once a controller answers.
pub async fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        match admin.create_topics([&topic], &options).await {
            Ok(results) if results.iter().all(Result::is_ok) => return,
            other => assert!(Instant::now() < until, "cannot create {TOPIC}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl KafkaLoad {
    /// Starts the workload; `first_partition` counts the acknowledgements of partition 0
    /// alone (the partition whose leader the faults aim at).
    pub fn start(
        bootstrap: &str,
        produced: Arc<Progress>,
        first_partition: Arc<Progress>,
        consumed: Arc<Progress>,
    ) -> KafkaLoad {
        let history = Arc::new(Mutex::new(History::default()));
        let committed = Arc::new(Mutex::new(BTreeMap::new()));
        let producer = tokio::spawn(produce(
            producer(bootstrap),
            Arc::clone(&history),
            produced,
            first_partition,
        ));
        let consumer = {
            let (history, committed) = (Arc::clone(&history), Arc::clone(&committed));
            let consumer = group_member(bootstrap);
            std::thread::spawn(move || consume(consumer, history, committed, consumed))
        };
        KafkaLoad {
            history,
            committed,
            producer,
            consumer,
        }
    }

    /// Waits for the workload's tasks (after `running` is false), reads the whole log and
    /// checks the history; every violation, described.
    pub async fn check(self, bootstrap: &str) -> (usize, Vec<String>) {
        self.producer.await.unwrap();
        self.consumer.join().unwrap();
        let log = read_all(bootstrap);
        let history = self.history.lock().unwrap();
        let mut problems = history.check(&log).err().unwrap_or_default();
        for (partition, offsets) in self.committed.lock().unwrap().iter() {
            if let Some(pair) = offsets.windows(2).find(|w| w[1] < w[0]) {
                problems.push(format!(
                    "kafka: the group's committed offset of partition {partition} went back from {} to {}",
                    pair[0], pair[1]
                ));
            }
        }
        (history.acked_count(), problems)
    }
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("reconnect.backoff.max.ms", "500")
        .create()
        .unwrap()
}

/// Sends records `k/0`, `k/1`, … (keys spread them over the partitions) until the run ends;
/// each acknowledgement recorded.
async fn produce(
    producer: FutureProducer,
    history: Arc<Mutex<History>>,
    progress: Arc<Progress>,
    first_partition: Arc<Progress>,
) {
    let mut sends = FuturesUnordered::new();
    let mut seq = 0u64;
    loop {
        if progress.running() && sends.len() < IN_FLIGHT {
            let written = Written {
                producer: "k".into(),
                seq,
            };
            seq += 1;
            let producer = producer.clone();
            sends.push(async move {
                let (value, key) = (written.value(), written.seq.to_string());
                let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
                let delivered = producer.send(record, Duration::from_secs(150)).await;
                (written, delivered)
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let Some((written, delivered)) = sends.next().await else {
            return;
        };
        // An unacknowledged send may or may not be in the log; the history only holds the
        // acknowledged ones.
        if let Ok(delivery) = delivered {
            history
                .lock()
                .unwrap()
                .acked(written, delivery.partition, delivery.offset);
            progress.ok();
            if delivery.partition == 0 {
                first_partition.ok();
            }
        }
    }
}

fn group_member(bootstrap: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("session.timeout.ms", "10000")
        .set("reconnect.backoff.max.ms", "500")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

/// Reads as a group member until the run ends, recording what it read and, every second,
/// the group's committed offsets.
fn consume(
    consumer: BaseConsumer,
    history: Arc<Mutex<History>>,
    committed: Arc<Mutex<BTreeMap<i32, Vec<i64>>>>,
    progress: Arc<Progress>,
) {
    let mut last_look = Instant::now();
    while progress.running() {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = m.payload().unwrap_or_default().to_vec();
            history
                .lock()
                .unwrap()
                .observed(m.partition(), m.offset(), value);
            progress.ok();
        }
        if last_look.elapsed() >= Duration::from_secs(1) {
            last_look = Instant::now();
            if let Ok(list) = consumer.committed(Duration::from_secs(2)) {
                let mut committed = committed.lock().unwrap();
                for e in list.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        committed.entry(e.partition()).or_default().push(o);
                    }
                }
            }
        }
    }
}

/// Every record of the topic, read up to each partition's high watermark.
fn read_all(bootstrap: &str) -> Vec<(i32, i64, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "faults-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut total = 0;
    for partition in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, Duration::from_secs(30))
            .unwrap();
        total += high;
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut log = Vec::new();
    let until = Instant::now() + Duration::from_secs(120);
    while (log.len() as i64) < total {
        assert!(Instant::now() < until, "read {} of {total}", log.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            log.push((
                m.partition(),
                m.offset(),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    log
}

/// How many replicas partition 0 of `topic` has, as the cluster tells clients.
pub fn replicas(bootstrap: &str, topic: &str) -> usize {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()
        .and_then(|m| Some(m.topics().first()?.partitions().first()?.replicas().len()))
        .unwrap_or(0)
}

/// The broker leading partition 0 of the topic, as the cluster tells clients.
pub fn leader(bootstrap: &str) -> Option<u8> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let metadata = client
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .ok()?;
    let leader = metadata.topics().first()?.partitions().first()?.leader();
    u8::try_from(leader).ok().filter(|l| *l > 0)
}

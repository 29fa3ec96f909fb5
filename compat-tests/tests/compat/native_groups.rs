//! A consumer group shared by a native group consumer and an rdkafka consumer: the partitions
//! are split between them, and when the native member leaves, the rdkafka member takes its
//! partitions over from the offsets the native member committed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Client, ProducerConfig};
use neo_compat_tests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

const TOPIC: &str = "split";
const PARTITIONS: i32 = 4;
const TIMEOUT: Duration = Duration::from_secs(30);

fn kafka_member(broker: &TestBroker) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "mixed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

fn kafka_assignment(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect()
}

async fn produce(client: &Client, per_partition: usize, round: &str) {
    let producer = client.producer(ProducerConfig::default());
    for partition in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = Bytes::from(format!("{round}-{partition}-{i}"));
            let _ack = producer.send(TOPIC, partition, None, value).await.unwrap();
        }
    }
    producer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_and_rdkafka_members_split_partitions_and_hand_them_over_at_committed_offsets() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic(TOPIC, PARTITIONS).await.unwrap();
    produce(&client, 10, "first").await;

    let mut native = client.group_consumer("mixed", TOPIC).await.unwrap();
    let kafka = std::sync::Arc::new(kafka_member(&broker));
    // rdkafka joins on its own polls: poll on a thread of its own until both hold a share.
    let polling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let kafka_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let poller = {
        let (kafka, polling, seen) = (kafka.clone(), polling.clone(), kafka_seen.clone());
        std::thread::spawn(move || {
            while polling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(Ok(m)) = kafka.poll(Duration::from_millis(50)) {
                    seen.lock().unwrap().push((m.partition(), m.offset()));
                }
            }
        })
    };
    let mut read: BTreeSet<(i32, i64)> = BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mine: BTreeSet<i32> = native.assignment().into_iter().collect();
        let theirs = kafka_assignment(&kafka);
        if mine.len() == 2 && theirs.len() == 2 {
            assert!(mine.is_disjoint(&theirs), "{mine:?} {theirs:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no split: native {mine:?}, rdkafka {theirs:?}"
        );
        if let Ok(Some(record)) =
            tokio::time::timeout(Duration::from_millis(50), native.next()).await
        {
            let record = record.unwrap();
            read.insert((record.partition, record.offset));
        }
    }
    let mine: Vec<i32> = native.assignment();

    // The native member reads its partitions (from the start: nothing committed yet) and
    // commits 10 on each.
    let on_mine =
        |read: &BTreeSet<(i32, i64)>| read.iter().filter(|(p, _)| mine.contains(p)).count();
    while on_mine(&read) < 20 {
        let record = tokio::time::timeout(TIMEOUT, native.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            mine.contains(&record.partition),
            "{} not assigned",
            record.partition
        );
        read.insert((record.partition, record.offset));
    }
    for p in &mine {
        native.commit(*p, 10).await.unwrap();
    }
    let committed: Vec<_> = mine
        .iter()
        .map(|p| {
            broker
                .broker
                .groups()
                .committed("mixed", TOPIC, *p)
                .map(|c| c.offset)
        })
        .collect();
    assert_eq!(committed, vec![Some(10), Some(10)]);

    // The native member leaves; rdkafka takes every partition and, on the native member's
    // former ones, starts at its commit.
    drop(native);
    let deadline = Instant::now() + TIMEOUT;
    while kafka_assignment(&kafka).len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "rdkafka never got every partition"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    produce(&client, 5, "second").await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let seen = kafka_seen.lock().unwrap().clone();
        let on_mine: BTreeSet<i64> = seen
            .iter()
            .filter(|(p, _)| mine.contains(p))
            .map(|(_, o)| *o)
            .collect();
        if on_mine.len() >= 5 {
            assert_eq!(
                on_mine.first(),
                Some(&10),
                "rdkafka re-read below the native commit"
            );
            break;
        }
        assert!(Instant::now() < deadline, "rdkafka saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    polling.store(false, std::sync::atomic::Ordering::Relaxed);
    poller.join().unwrap();
}

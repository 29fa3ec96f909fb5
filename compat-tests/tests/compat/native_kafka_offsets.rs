//! A consumer group's committed offsets are shared between native clients and rdkafka: each
//! picks up where the other committed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Client, ProducerConfig, StartAt};
use neo_compat_tests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

const TIMEOUT: Duration = Duration::from_secs(20);

fn kafka_consumer(broker: &TestBroker, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&["shared"]).unwrap();
    consumer
}

/// Polls until a record arrives (a group join takes a few polls).
fn next_offset(consumer: &BaseConsumer) -> (i64, String) {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let value = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            return (message.offset(), value);
        }
    }
    panic!("no record within {TIMEOUT:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_rdkafka_consumers_continue_from_each_others_commits() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("shared", 1).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for i in 0..100 {
        let _ack = producer
            .send("shared", 0, None, Bytes::from(format!("m{i}")))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();

    // rdkafka reads the first 50 and commits.
    let kafka = kafka_consumer(&broker, "g");
    let mut last = (0, String::new());
    for expected in 0..50 {
        last = next_offset(&kafka);
        assert_eq!(last.0, expected);
    }
    assert_eq!(last.1, "m49");
    kafka.commit_consumer_state(CommitMode::Sync).unwrap();
    kafka.unsubscribe();
    drop(kafka);

    // The native client starts where rdkafka committed, reads 30 more and commits.
    let committed = tokio::time::timeout(TIMEOUT, async {
        loop {
            // The group's members leave asynchronously; the commit is there at once.
            if let Some(offset) = client.committed_offset("g", "shared", 0).await.unwrap() {
                return offset;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(committed, 50);
    let mut native = client
        .subscribe("shared", 0, StartAt::Offset(committed))
        .await
        .unwrap();
    for expected in 50..80 {
        let record = tokio::time::timeout(TIMEOUT, native.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, expected);
    }
    // A native commit outside a generation is allowed once the rdkafka member has left.
    tokio::time::timeout(TIMEOUT, async {
        while client.commit_offset("g", "shared", 0, 80).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();

    // A new rdkafka member of the group starts at the native commit.
    let kafka = tokio::task::spawn_blocking({
        let bootstrap_broker = kafka_consumer(&broker, "g");
        move || next_offset(&bootstrap_broker)
    })
    .await
    .unwrap();
    assert_eq!(kafka, (80, "m80".to_string()));
}

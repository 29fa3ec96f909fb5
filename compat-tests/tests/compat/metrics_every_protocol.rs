//! Every protocol's appends and reads go through the broker's one append and read path, so
//! each is counted in `neo_log_appended_records_total` and `neo_log_read_bytes_total` (the
//! figures `/metrics` serves): a Kafka, an AMQP, an SQS and a native client each write and
//! read a topic of their own here.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{BasicGetOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use neo_compat_tests::{TestBroker, amqp, sqs};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const WAIT: Duration = Duration::from_secs(20);

/// The value of counter `name` for `topic` in the broker's metrics registry.
fn counter(broker: &TestBroker, name: &str, topic: &str) -> f64 {
    broker
        .broker
        .metrics()
        .registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "topic" && l.value() == topic)
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

fn assert_counted(broker: &TestBroker, topic: &str, records: f64) {
    let appended = counter(broker, "neo_log_appended_records_total", topic);
    assert!(appended >= records, "{topic}: {appended} records counted");
    let read = counter(broker, "neo_log_read_bytes_total", topic);
    assert!(read > 0.0, "{topic}: no read counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_appends_and_reads_are_counted() {
    let broker = TestBroker::start().await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    for i in 0..3 {
        producer
            .send(
                FutureRecord::<(), _>::to("counted").payload(&format!("v{i}")),
                WAIT,
            )
            .await
            .unwrap();
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "counted")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("counted", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let got = consumer.poll(WAIT).expect("a record in time");
    got.unwrap();
    assert_counted(&broker, "counted", 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publishes_and_deliveries_are_counted() {
    let broker = TestBroker::start().await;
    let connection = amqp::connect(&broker.amqp_uri()).await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            "counted".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..2 {
        amqp::publish(&channel, "", "counted", &format!("m{i}")).await;
    }
    channel.wait_for_confirms().await.unwrap();
    let got = channel
        .basic_get("counted".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    assert!(got.is_some());
    assert_counted(&broker, "amqp.counted", 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_sends_and_receives_are_counted() {
    let broker = TestBroker::start().await;
    let client = sqs::client(&broker.sqs_endpoint());
    let url = sqs::create(&client, "counted", &[]).await;
    for i in 0..2 {
        client
            .send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let got = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert!(!got.messages().is_empty());
    assert_counted(&broker, "sqs.counted", 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_produces_and_pushes_are_counted() {
    let broker = TestBroker::start().await;
    let client = neo_client::Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("counted", 1).await.unwrap();
    let producer = client.producer(neo_client::ProducerConfig::default());
    for i in 0..2 {
        let ack = producer
            .send("counted", 0, None, Bytes::from(format!("v{i}")))
            .await
            .unwrap();
        ack.await.unwrap();
    }
    let mut consumer = client
        .subscribe("counted", 0, neo_client::StartAt::Earliest)
        .await
        .unwrap();
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a record in time")
        .expect("stream open")
        .expect("record");
    assert_counted(&broker, "counted", 2.0);
}

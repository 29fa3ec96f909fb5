//! One log under both protocols: what lapin publishes to an AMQP queue, an rdkafka consumer
//! reads from the queue's topic (`amqp.<queue>`: body = value, routing key = key, exchange and
//! properties in `amqp.*` headers); what an rdkafka producer writes to that topic, an AMQP
//! consumer receives (value = body, key = routing key).

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use neo_compat_tests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_messages_are_kafka_records_and_back() {
    let broker = TestBroker::start().await;
    let conn = Connection::connect(&broker.amqp_uri(), ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(
        "orders".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare(
        "interop".into(),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "interop".into(),
        "orders".into(),
        "orders.eu".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let confirm = ch
        .basic_publish(
            "orders".into(),
            "orders.eu".into(),
            BasicPublishOptions::default(),
            b"from amqp",
            BasicProperties::default()
                .with_content_type("text/plain".into())
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());

    // Kafka reads the queue's topic.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "interop")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("amqp.interop", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    let record = loop {
        assert!(std::time::Instant::now() < deadline, "a record within 10 s");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            break m.unwrap().detach();
        }
    };
    assert_eq!(record.payload(), Some(&b"from amqp"[..]));
    assert_eq!(record.key(), Some(&b"orders.eu"[..]));
    let headers = record.headers().unwrap();
    let exchange = headers
        .iter()
        .find(|h| h.key == "amqp.exchange")
        .and_then(|h| h.value);
    assert_eq!(exchange, Some(&b"orders"[..]));

    // An AMQP consumer receives what Kafka writes to the topic.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", "all")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to("amqp.interop")
                .key("from.kafka")
                .payload("written by kafka"),
            TIMEOUT,
        )
        .await
        .unwrap();
    let mut bodies = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while bodies.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both within 10 s");
        match ch
            .basic_get("interop".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => bodies.push((
                m.delivery.routing_key.as_str().to_string(),
                String::from_utf8(m.delivery.data.clone()).unwrap(),
                m.delivery.properties.content_type().is_some(),
            )),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(
        bodies,
        [
            ("orders.eu".to_string(), "from amqp".to_string(), true),
            (
                "from.kafka".to_string(),
                "written by kafka".to_string(),
                false
            ),
        ]
    );
    let _ = conn.close(200, "bye".into()).await;
}

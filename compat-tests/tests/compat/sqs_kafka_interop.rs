//! One log under both protocols: what aws-sdk-sqs sends to a queue, an rdkafka consumer reads
//! from the queue's topic (`sqs.<queue>`: body = value, message id and attributes in `sqs.*`
//! headers); a topic `sqs.<name>` written by an rdkafka producer is an SQS queue whose
//! records are received as messages (headers `sqs.attr.<name>` as String attributes), those
//! older than the queue's retention period excepted.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageAttributeValue;
use neo_compat_tests::TestBroker;
use neo_compat_tests::sqs::{client, create};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_messages_are_kafka_records_and_back() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let url = create(&sqs, "interop", &[]).await;
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("from sqs")
        .message_attributes(
            "color",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("blue")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Kafka reads the queue's topic.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.kafka_addr.to_string())
        .set("group.id", "interop")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("sqs.interop", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let record = loop {
        assert!(Instant::now() < deadline, "a record within 10 s");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            break m.unwrap().detach();
        }
    };
    assert_eq!(record.payload(), Some(&b"from sqs"[..]));
    let header = |name: &str| {
        record
            .headers()
            .unwrap()
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.map(|v| String::from_utf8(v.to_vec()).unwrap()))
    };
    assert_eq!(header("sqs.message-id"), sent.message_id);
    assert_eq!(header("sqs.attr.color").as_deref(), Some("blue"));
    assert_eq!(header("sqs.type.color").as_deref(), Some("String"));

    // A topic `sqs.<name>` written from Kafka is a queue.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.kafka_addr.to_string())
        .set("acks", "all")
        .create()
        .unwrap();
    // A record older than the queue's retention (4 days by default) is not delivered.
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 108 * 3600 * 1000;
    producer
        .send(
            FutureRecord::to("sqs.from-kafka")
                .payload("too old")
                .key("k")
                .timestamp(old),
            TIMEOUT,
        )
        .await
        .unwrap();
    producer
        .send(
            FutureRecord::to("sqs.from-kafka")
                .payload("written by kafka")
                .key("k")
                .headers(OwnedHeaders::new().insert(Header {
                    key: "sqs.attr.origin",
                    value: Some("kafka"),
                })),
            TIMEOUT,
        )
        .await
        .unwrap();
    let url = sqs
        .get_queue_url()
        .queue_name("from-kafka")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let listed = sqs.list_queues().send().await.unwrap();
    assert!(listed.queue_urls().contains(&url));
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1, "{got:?}");
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some("written by kafka"));
    let attrs = m.message_attributes().unwrap();
    assert_eq!(attrs["origin"].string_value(), Some("kafka"));
    assert_eq!(attrs["origin"].data_type(), "String");
    assert!(m.md5_of_message_attributes().is_some());
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
}

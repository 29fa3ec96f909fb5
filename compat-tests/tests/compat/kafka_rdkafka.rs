//! librdkafka (through the `rdkafka` crate) against Neo's Kafka front-end: produce, consume,
//! every compression codec, list offsets, and the admin client.

use std::time::Duration;

use neo_compat_tests::TestBroker;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(10);

fn producer(broker: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.timeout.ms", "10000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().unwrap()
}

fn consumer(broker: &TestBroker) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "compat-assign")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

fn admin(broker: &TestBroker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap()
}

/// Reads `count` messages of `topic`/`partition` from the beginning, as owned messages.
fn consume(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < count && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => out.push(message.detach()),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_records_come_back_with_keys_values_headers_and_timestamps_in_every_codec() {
    let broker = TestBroker::start().await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let producer = producer(&broker, &[("compression.type", codec), ("acks", "all")]);
        let mut offsets = Vec::new();
        for i in 0..50i64 {
            let key = format!("key-{i}");
            let value = format!("value-{i}-{}", "x".repeat(100));
            let headers = OwnedHeaders::new().insert(Header {
                key: "h",
                value: Some(&format!("header-{i}")),
            });
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .headers(headers)
                .timestamp(1_700_000_000_000 + i);
            offsets.push(producer.send_result(record).unwrap());
        }
        let mut delivered = Vec::new();
        for f in offsets {
            let delivery = f.await.unwrap().unwrap();
            delivered.push(delivery.offset);
        }
        assert_eq!(delivered, (0..50).collect::<Vec<_>>(), "{codec}");

        let consumer = consumer(&broker);
        let messages = consume(&consumer, &topic, 0, 50);
        assert_eq!(messages.len(), 50, "{codec}");
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m.offset(), i as i64);
            assert_eq!(m.key(), Some(format!("key-{i}").as_bytes()), "{codec}");
            assert_eq!(
                m.payload(),
                Some(format!("value-{i}-{}", "x".repeat(100)).as_bytes())
            );
            let headers = m.headers().unwrap();
            assert_eq!(headers.count(), 1);
            assert_eq!(headers.get(0).key, "h");
            assert_eq!(headers.get(0).value, Some(format!("header-{i}").as_bytes()));
            assert_eq!(
                m.timestamp(),
                rdkafka::Timestamp::CreateTime(1_700_000_000_000 + i as i64)
            );
        }
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_and_offsets_for_times() {
    let broker = TestBroker::start().await;
    let producer = producer(&broker, &[("linger.ms", "0")]);
    for i in 0..10i64 {
        producer
            .send(
                FutureRecord::<(), _>::to("times")
                    .payload("v")
                    .timestamp(1_000 * (i + 1)),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let consumer = consumer(&broker);
    let (low, high) = consumer.fetch_watermarks("times", 0, TIMEOUT).unwrap();
    assert_eq!((low, high), (0, 10));
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset("times", 0, Offset::Offset(4_500))
        .unwrap();
    let found = consumer.offsets_for_times(wanted, TIMEOUT).unwrap();
    let offset = found.find_partition("times", 0).unwrap().offset();
    assert_eq!(
        offset,
        Offset::Offset(4),
        "first record at or after 4500 ms"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_client_manages_topics_configs_partitions_and_records() {
    let broker = TestBroker::start().await;
    let admin = admin(&broker);
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));

    let created = admin
        .create_topics(
            &[
                NewTopic::new("orders", 3, TopicReplication::Fixed(1))
                    .set("retention.ms", "3600000"),
                NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
                NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
            ],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(created[0], Ok("orders".to_string()));
    assert_eq!(
        created[1],
        Err(("bad name!".to_string(), RDKafkaErrorCode::InvalidTopic))
    );
    assert_eq!(
        created[2],
        Err((
            "replicated".to_string(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))
    );
    let again = admin
        .create_topics(
            &[NewTopic::new("orders", 3, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(
        again[0],
        Err(("orders".to_string(), RDKafkaErrorCode::TopicAlreadyExists))
    );
    let validate_only = admin
        .create_topics(
            &[NewTopic::new("dry-run", 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(validate_only[0], Ok("dry-run".to_string()));
    assert!(broker.broker.topic("dry-run").is_none());

    // Describe and alter configs.
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("orders")], &options)
        .await
        .unwrap();
    let resource = described[0].as_ref().unwrap();
    let retention = resource.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(!retention.is_default);
    assert!(resource.get("segment.bytes").unwrap().is_default);
    let altered = admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic("orders")).set("retention.ms", "60000")],
            &options,
        )
        .await
        .unwrap();
    assert!(altered[0].is_ok(), "{altered:?}");
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("orders")], &options)
        .await
        .unwrap();
    let value = described[0].as_ref().unwrap().get("retention.ms").unwrap();
    assert_eq!(value.value.as_deref(), Some("60000"));
    // The rdkafka crate reports every AlterConfigs resource as Ok (it does not read the
    // per-resource error librdkafka parses), so check that the bad value was not applied.
    admin
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic("orders")).set("retention.ms", "soon")],
            &options,
        )
        .await
        .unwrap();
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("orders")], &options)
        .await
        .unwrap();
    let value = described[0].as_ref().unwrap().get("retention.ms").unwrap();
    assert_eq!(value.value.as_deref(), Some("60000"));

    // Partitions.
    let grown = admin
        .create_partitions(&[NewPartitions::new("orders", 5)], &options)
        .await
        .unwrap();
    assert_eq!(grown[0], Ok("orders".to_string()));
    assert_eq!(broker.broker.topic("orders").unwrap().partition_count(), 5);
    let shrunk = admin
        .create_partitions(&[NewPartitions::new("orders", 2)], &options)
        .await
        .unwrap();
    assert_eq!(
        shrunk[0],
        Err(("orders".to_string(), RDKafkaErrorCode::InvalidPartitions))
    );

    // Delete records.
    let producer = producer(&broker, &[]);
    for _ in 0..10 {
        producer
            .send(
                FutureRecord::<(), _>::to("orders")
                    .partition(1)
                    .payload("x"),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset("orders", 1, Offset::Offset(4))
        .unwrap();
    let deleted = admin.delete_records(&before, &options).await.unwrap();
    let p = deleted.find_partition("orders", 1).unwrap();
    assert_eq!(p.error(), Ok(()));
    assert_eq!(p.offset(), Offset::Offset(4));
    let consumer = consumer(&broker);
    let (low, high) = consumer.fetch_watermarks("orders", 1, TIMEOUT).unwrap();
    assert_eq!((low, high), (4, 10));

    // Delete topics.
    let deleted = admin
        .delete_topics(&["orders", "missing"], &options)
        .await
        .unwrap();
    assert_eq!(deleted[0], Ok("orders".to_string()));
    assert_eq!(
        deleted[1],
        Err((
            "missing".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))
    );
    assert!(broker.broker.topic("orders").is_none());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_a_new_topic_creates_it_and_oversized_records_are_refused() {
    let broker = TestBroker::start().await;
    let producer = producer(&broker, &[("message.max.bytes", "5000000")]);
    let delivered = producer
        .send(
            FutureRecord::to("auto-created").key("k").payload("v"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(delivered.offset, 0);
    assert!(broker.broker.topic("auto-created").is_some());

    let big = vec![b'x'; 2 * 1024 * 1024];
    let refused = producer
        .send(
            FutureRecord::<(), _>::to("auto-created").payload(&big),
            TIMEOUT,
        )
        .await;
    let (error, _) = refused.unwrap_err();
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_producer_gets_dense_offsets_without_duplicates() {
    let broker = TestBroker::start().await;
    let producer = producer(
        &broker,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("compression.type", "lz4"),
        ],
    );
    let sends: Vec<_> = (0..2_000)
        .map(|i| {
            let producer = producer.clone();
            async move {
                let value = i.to_string();
                producer
                    .send(FutureRecord::<(), _>::to("idem").payload(&value), TIMEOUT)
                    .await
                    .unwrap()
                    .offset
            }
        })
        .collect();
    let mut offsets = futures_util::future::join_all(sends).await;
    offsets.sort_unstable();
    assert_eq!(offsets, (0..2_000).collect::<Vec<i64>>());
    let consumer = consumer(&broker);
    let messages = consume(&consumer, "idem", 0, 2_000);
    let values: std::collections::BTreeSet<String> = messages
        .iter()
        .map(|m| String::from_utf8(m.payload().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values.len(), 2_000, "no record lost or duplicated");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_compression_type_recompresses_and_compacted_topics_refuse_keyless_records() {
    let broker = TestBroker::start().await;
    let admin = admin(&broker);
    let topics = [
        NewTopic::new("stored-lz4", 1, TopicReplication::Fixed(1)).set("compression.type", "lz4"),
        NewTopic::new("compacted", 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
    ];
    for result in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }

    // Sent as gzip, stored as lz4 (as Kafka does), read back intact.
    let producer = producer(&broker, &[("compression.type", "gzip"), ("linger.ms", "5")]);
    for i in 0..20 {
        let key = format!("k{i}");
        let value = format!("value {i}");
        producer
            .send(
                FutureRecord::to("stored-lz4").key(&key).payload(&value),
                TIMEOUT,
            )
            .await
            .unwrap();
    }
    let log = broker.broker.partition("stored-lz4", 0).unwrap();
    let stored = log.read(0, 1 << 20).unwrap().records;
    let header = neo_record::batch_header::BatchHeader::parse(&stored).unwrap();
    assert_eq!(header.compression(), 3, "stored as lz4");
    let consumer = consumer(&broker);
    let back = consume(&consumer, "stored-lz4", 0, 20);
    for (i, m) in back.iter().enumerate() {
        assert_eq!(m.key(), Some(format!("k{i}").as_bytes()));
        assert_eq!(m.payload(), Some(format!("value {i}").as_bytes()));
    }

    // A record without a key on a compacted topic: INVALID_RECORD, nothing stored.
    let refused = producer
        .send(
            FutureRecord::<(), _>::to("compacted").payload("no key"),
            TIMEOUT,
        )
        .await;
    let (error, _) = refused.unwrap_err();
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::InvalidRecord)
    );
    let kept = producer
        .send(
            FutureRecord::to("compacted").key("k").payload("keyed"),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(kept.offset, 0);
    broker.stop().await;
}

//! The native protocol through the `neo-client` SDK against a real broker over real sockets:
//! admin, produce at every ack level, push consumers, committed offsets, queues.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Acks, Client, ClientError, ErrorCode, ProducerConfig, StartAt};
use neo_compat_tests::TestBroker;

const WAIT: Duration = Duration::from_secs(20);

async fn next_value(consumer: &mut neo_client::Consumer) -> (i64, Bytes) {
    let record = tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("record in time")
        .expect("stream open")
        .expect("record");
    (record.offset, record.value.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_listed_and_deleted() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("orders", 3).await.unwrap();
    let err = client.create_topic("orders", 3).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists));
    let topics = client.list_topics().await.unwrap();
    assert!(
        topics
            .iter()
            .any(|t| t.name == "orders" && t.partitions == 3)
    );
    client.delete_topic("orders").await.unwrap();
    let topics = client.list_topics().await.unwrap();
    assert!(!topics.iter().any(|t| t.name == "orders"));
    let err = client.delete_topic("orders").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    client.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_records_are_pushed_in_order_at_every_ack_level() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("events", 1).await.unwrap();
    let mut consumer = client
        .subscribe("events", 0, StartAt::Earliest)
        .await
        .unwrap();
    let mut expected = 0i64;
    for acks in [Acks::Durable, Acks::Leader, Acks::None] {
        let producer = client.producer(ProducerConfig {
            acks,
            linger: Duration::from_millis(2),
            ..ProducerConfig::default()
        });
        let mut pending = Vec::new();
        for i in 0..500 {
            let value = Bytes::from(format!("{acks:?}-{i}"));
            pending.push(producer.send("events", 0, None, value).await.unwrap());
        }
        producer.flush().await.unwrap();
        for (i, ack) in pending.into_iter().enumerate() {
            let meta = ack.await.unwrap();
            if acks != Acks::None {
                assert_eq!(meta.offset, expected + i as i64);
            }
        }
        for i in 0..500 {
            let (offset, value) = next_value(&mut consumer).await;
            assert_eq!(offset, expected + i);
            assert_eq!(value, Bytes::from(format!("{acks:?}-{i}")));
        }
        expected += 500;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_start_at_latest_an_offset_or_a_timestamp() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("t", 2).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for i in 0..10 {
        let ack = producer.send("t", 1, Some(Bytes::from("k")), Bytes::from(format!("v{i}")));
        ack.await.unwrap().await.unwrap();
    }
    let mut from_offset = client.subscribe("t", 1, StartAt::Offset(7)).await.unwrap();
    assert_eq!(next_value(&mut from_offset).await, (7, Bytes::from("v7")));
    let mut latest = client.subscribe("t", 1, StartAt::Latest).await.unwrap();
    let mut by_time = client
        .subscribe("t", 1, StartAt::Timestamp(0))
        .await
        .unwrap();
    assert_eq!(next_value(&mut by_time).await.0, 0);
    let ack = producer
        .send("t", 1, None, Bytes::from("new"))
        .await
        .unwrap();
    ack.await.unwrap();
    assert_eq!(next_value(&mut latest).await, (10, Bytes::from("new")));
    let err = client
        .subscribe("t", 1, StartAt::Offset(1000))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange));
    let err = client
        .subscribe("nope", 0, StartAt::Earliest)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_a_missing_partition_fails_the_records_acks() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    let producer = client.producer(ProducerConfig::default());
    let ack = producer
        .send("missing", 0, None, Bytes::from("x"))
        .await
        .unwrap();
    let err = ack.await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_round_trip() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("c", 1).await.unwrap();
    assert_eq!(client.committed_offset("g", "c", 0).await.unwrap(), None);
    client.commit_offset("g", "c", 0, 42).await.unwrap();
    assert_eq!(
        client.committed_offset("g", "c", 0).await.unwrap(),
        Some(42)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_records_are_acked_or_redelivered_after_a_nack() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("jobs", 1).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for i in 0..3 {
        let ack = producer.send("jobs", 0, None, Bytes::from(format!("job{i}")));
        ack.await.unwrap().await.unwrap();
    }
    let mut queue = client
        .queue_consumer("jobs", 10, Duration::from_secs(30))
        .await
        .unwrap();
    let mut take = async || {
        tokio::time::timeout(WAIT, queue.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let first = take().await;
    let second = take().await;
    let third = take().await;
    assert_eq!([first.offset, second.offset, third.offset], [0, 1, 2]);
    first.ack().await.unwrap();
    second.nack(true).await.unwrap();
    third.nack(false).await.unwrap();
    let again = take().await;
    assert_eq!(again.offset, 1);
    assert_eq!(again.deliveries, 2);
    again.ack().await.unwrap();
    let err = again.ack().await.unwrap_err();
    assert!(matches!(err, ClientError::Broker { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_consumer_holds_no_more_than_its_prefetch() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("work", 1).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for i in 0..20 {
        let _ack = producer
            .send("work", 0, None, Bytes::from(format!("w{i}")))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();
    let mut queue = client
        .queue_consumer("work", 5, Duration::from_secs(30))
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(
            tokio::time::timeout(WAIT, queue.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    let more = tokio::time::timeout(Duration::from_millis(300), queue.next()).await;
    assert!(more.is_err(), "a sixth record arrived while five were held");
    held[0].ack().await.unwrap();
    let sixth = tokio::time::timeout(WAIT, queue.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(sixth.offset, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_batches_are_stored_as_sent_and_read_back() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("packed", 1).await.unwrap();
    let mut consumer = client
        .subscribe("packed", 0, StartAt::Earliest)
        .await
        .unwrap();
    let mut expected = 0i64;
    for compression in [
        neo_client::Compression::Gzip,
        neo_client::Compression::Snappy,
        neo_client::Compression::Lz4,
        neo_client::Compression::Zstd,
    ] {
        let producer = client.producer(ProducerConfig {
            compression,
            batch_bytes: 4096,
            ..ProducerConfig::default()
        });
        for i in 0..300 {
            let value = Bytes::from(format!("{compression:?} record {i} {}", "z".repeat(50)));
            let _ack = producer.send("packed", 0, None, value).await.unwrap();
        }
        producer.flush().await.unwrap();
        for i in 0..300 {
            let (offset, value) = next_value(&mut consumer).await;
            assert_eq!(offset, expected);
            let wanted = format!("{compression:?} record {i} {}", "z".repeat(50));
            assert_eq!(value, Bytes::from(wanted));
            expected += 1;
        }
    }
    let log = broker.broker.partition("packed", 0).unwrap().size_bytes();
    assert!(
        log < 1200 * 80,
        "batches were not stored compressed: {log} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_lock_keeps_a_record_held_while_an_expired_one_is_redelivered() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("slow-jobs", 1).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for i in 0..2 {
        let _ack = producer
            .send("slow-jobs", 0, None, Bytes::from(format!("j{i}")))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();
    let mut queue = client
        .queue_consumer("slow-jobs", 10, Duration::from_millis(300))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, queue.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(WAIT, queue.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((first.offset, second.offset), (0, 1));
    first.extend(Duration::from_secs(60)).await.unwrap();
    let again = tokio::time::timeout(WAIT, queue.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((again.offset, again.deliveries), (1, 2));
    // The second record keeps coming back as its short lock ends; the first never does.
    let watch_until = tokio::time::Instant::now() + Duration::from_millis(1000);
    while let Ok(Some(record)) = tokio::time::timeout_at(watch_until, queue.next()).await {
        assert_eq!(record.unwrap().offset, 1, "the extended record came back");
    }
    first.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_described_and_groups_listed() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("described", 2).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    for _ in 0..3 {
        let _ack = producer
            .send("described", 1, None, Bytes::from("x"))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();
    let partitions = client.describe_topic("described").await.unwrap();
    let summary: Vec<(i32, i64, i64)> = partitions
        .iter()
        .map(|p| (p.partition, p.log_start, p.high_watermark))
        .collect();
    assert_eq!(summary, vec![(0, 0, 0), (1, 0, 3)]);
    let err = client.describe_topic("nope").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    client
        .commit_offset("auditors", "described", 1, 2)
        .await
        .unwrap();
    let groups = client.list_groups().await.unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g.group == "auditors" && g.state == "Empty"),
        "{groups:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_lock_ends_frees_its_prefetch_slot_and_is_redelivered() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("forgotten", 1).await.unwrap();
    let producer = client.producer(ProducerConfig::default());
    let _ack = producer
        .send("forgotten", 0, None, Bytes::from("once"))
        .await
        .unwrap();
    producer.flush().await.unwrap();
    let mut queue = client
        .queue_consumer("forgotten", 1, Duration::from_millis(100))
        .await
        .unwrap();
    // Never settled: each time the lock ends, the one prefetch slot frees and it comes back.
    for delivery in 1..=4 {
        let record = tokio::time::timeout(WAIT, queue.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((record.offset, record.deliveries), (0, delivery));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_close_while_a_send_waits_go_out_together_with_the_right_offsets() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("merged", 1).await.unwrap();
    // One request in flight and no linger: batches close one per record and queue up behind
    // each durable acknowledgement, then leave in one request.
    let producer = client.producer(ProducerConfig {
        linger: Duration::ZERO,
        max_in_flight: 1,
        acks: Acks::Durable,
        ..ProducerConfig::default()
    });
    let mut acks = Vec::new();
    for i in 0..2000 {
        let value = Bytes::from(format!("m{i}"));
        acks.push(producer.send("merged", 0, None, value).await.unwrap());
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for (i, ack) in acks.into_iter().enumerate() {
        assert_eq!(ack.await.unwrap().offset, i as i64);
    }
    let mut consumer = client
        .subscribe("merged", 0, StartAt::Earliest)
        .await
        .unwrap();
    for i in 0..2000 {
        assert_eq!(
            next_value(&mut consumer).await,
            (i, Bytes::from(format!("m{i}")))
        );
    }
}

//! The broker's protocol-neutral API: topic admin, produce, long-poll fetch, offsets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use neo_broker::{
    Acks, Broker, BrokerConfig, BrokerError, ConfigChange, FetchPartition, FetchRequest, OffsetSpec,
};
use neo_record::codec::{BatchBuilder, Compression};

fn batch(values: &[&str], timestamp: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, timestamp);
    for (i, v) in values.iter().enumerate() {
        b.push(timestamp + i as i64, None, Some(v.as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

async fn open(dir: &std::path::Path) -> Arc<Broker> {
    Broker::open(BrokerConfig {
        data_dir: dir.to_path_buf(),
        ..BrokerConfig::default()
    })
    .await
    .unwrap()
}

fn fetch_one(topic: &str, offset: i64, wait_ms: u64) -> FetchRequest {
    FetchRequest {
        partitions: vec![FetchPartition {
            topic: topic.into(),
            partition: 0,
            offset,
            max_bytes: 1 << 20,
            leader_epoch: None,
        }],
        max_wait: Duration::from_millis(wait_ms),
        min_bytes: 1,
        max_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn topics_are_created_altered_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    let configs = BTreeMap::from([("retention.ms".to_string(), "60000".to_string())]);
    broker
        .create_topic("orders", 3, -1, configs, false)
        .await
        .unwrap();
    broker
        .create_topic("audit", -1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    assert!(matches!(
        broker
            .create_topic("orders", 1, -1, BTreeMap::new(), false)
            .await,
        Err(BrokerError::TopicAlreadyExists(_))
    ));
    assert!(matches!(
        broker
            .create_topic("bad name", 1, -1, BTreeMap::new(), false)
            .await,
        Err(BrokerError::InvalidTopic { .. })
    ));
    assert!(matches!(
        broker
            .create_topic("zero", 0, -1, BTreeMap::new(), false)
            .await,
        Err(BrokerError::InvalidPartitions(0))
    ));
    let bad = BTreeMap::from([("retention.ms".to_string(), "x".to_string())]);
    assert!(matches!(
        broker.create_topic("cfg", 1, -1, bad, false).await,
        Err(BrokerError::InvalidConfig { .. })
    ));
    broker
        .create_topic("dry", 1, -1, BTreeMap::new(), true)
        .await
        .unwrap();
    assert!(
        broker.topic("dry").is_none(),
        "validate_only creates nothing"
    );

    broker
        .alter_topic_config(
            "orders",
            vec![ConfigChange::Set("segment.bytes".into(), "1048576".into())],
            true,
            false,
        )
        .await
        .unwrap();
    broker.create_partitions("orders", 5, false).await.unwrap();
    assert!(matches!(
        broker.create_partitions("orders", 2, false).await,
        Err(BrokerError::InvalidPartitions(2))
    ));
    broker
        .produce("orders", 4, Bytes::from(batch(&["a"], 1)), Acks::All)
        .await
        .unwrap();
    broker.shutdown().await.unwrap();
    drop(broker);

    let broker = open(dir.path()).await;
    let names: Vec<_> = broker
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(names, vec!["__consumer_offsets", "audit", "orders"]);
    let orders = broker.topic("orders").unwrap();
    assert_eq!(orders.partition_count(), 5);
    let configs = broker.describe_topic_configs("orders").unwrap();
    let get = |name: &str| configs.iter().find(|e| e.name == name).unwrap().clone();
    assert_eq!(
        (
            get("retention.ms").value.as_str(),
            get("retention.ms").is_default
        ),
        ("60000", false)
    );
    assert_eq!(get("segment.bytes").value, "1048576");
    assert!(get("cleanup.policy").is_default);
    assert_eq!(
        broker
            .list_offset("orders", 4, OffsetSpec::Latest, None)
            .unwrap()
            .unwrap()
            .offset,
        1
    );

    // Non-incremental alter replaces every override.
    broker
        .alter_topic_config("orders", vec![], false, false)
        .await
        .unwrap();
    assert!(broker.topic("orders").unwrap().overrides().is_empty());

    broker.delete_topic("orders").await.unwrap();
    assert!(broker.topic("orders").is_none());
    assert!(!dir.path().join("orders-0").exists());
    broker
        .create_topic("orders", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    assert_eq!(
        broker
            .list_offset("orders", 0, OffsetSpec::Latest, None)
            .unwrap()
            .unwrap()
            .offset,
        0
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_then_fetch_returns_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("t", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    let out = broker
        .produce("t", 0, Bytes::from(batch(&["a", "b"], 10)), Acks::All)
        .await
        .unwrap();
    assert_eq!(
        (out.base_offset, out.last_offset, out.log_append_time),
        (0, 1, -1)
    );
    let out = broker
        .produce("t", 0, Bytes::from(batch(&["c"], 20)), Acks::Leader)
        .await
        .unwrap();
    assert_eq!(out.base_offset, 2);
    let fetched = broker.fetch(&fetch_one("t", 0, 1000)).await;
    let data = fetched[0].result.as_ref().unwrap();
    let records = neo_record::codec::decode_records(&data.records).unwrap();
    assert_eq!(records.len(), 2, "first batch");
    assert!(data.high_watermark >= 2);

    let unknown = broker.fetch(&fetch_one("nope", 0, 10)).await;
    assert!(matches!(
        unknown[0].result,
        Err(BrokerError::UnknownTopicOrPartition { .. })
    ));
    let out_of_range = broker.fetch(&fetch_one("t", 99, 10)).await;
    assert!(matches!(
        out_of_range[0].result,
        Err(BrokerError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        broker
            .produce("t", 1, Bytes::from(batch(&["x"], 0)), Acks::All)
            .await,
        Err(BrokerError::UnknownTopicOrPartition { .. })
    ));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_waiting_fetch_wakes_as_soon_as_data_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("t", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    let waiting = {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            let started = Instant::now();
            let result = broker.fetch(&fetch_one("t", 0, 30_000)).await;
            (started.elapsed(), result)
        })
    };
    // Produce once the fetch is parked: no fixed sleep, just yield until it is waiting.
    tokio::task::yield_now().await;
    broker
        .produce("t", 0, Bytes::from(batch(&["hello"], 1)), Acks::All)
        .await
        .unwrap();
    let (elapsed, result) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(elapsed < Duration::from_secs(10), "woke after {elapsed:?}");
    assert!(!result[0].result.as_ref().unwrap().records.is_empty());

    // With nothing to read, the fetch answers empty at the end of its wait.
    let started = Instant::now();
    let result = broker.fetch(&fetch_one("t", 1, 200)).await;
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert!(result[0].result.as_ref().unwrap().records.is_empty());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_by_position_and_time_and_delete_records() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("t", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    for i in 0..10 {
        broker
            .produce("t", 0, Bytes::from(batch(&["x", "y"], 1000 * i)), Acks::All)
            .await
            .unwrap();
    }
    let at = |spec| {
        broker
            .list_offset("t", 0, spec, None)
            .unwrap()
            .map(|o| (o.offset, o.timestamp))
    };
    assert_eq!(at(OffsetSpec::Earliest), Some((0, -1)));
    assert_eq!(at(OffsetSpec::Latest), Some((20, -1)));
    assert_eq!(at(OffsetSpec::Timestamp(3000)), Some((6, 3000)));
    assert_eq!(at(OffsetSpec::Timestamp(3001)), Some((7, 3001)));
    assert_eq!(at(OffsetSpec::Timestamp(99_999)), None);
    assert_eq!(at(OffsetSpec::MaxTimestamp), Some((19, 9001)));
    assert_eq!(broker.delete_records("t", 0, 7).unwrap(), 7);
    assert_eq!(at(OffsetSpec::Earliest), Some((7, -1)));
    assert!(broker.delete_records("t", 0, 100).is_err());
    assert_eq!(broker.delete_records("t", 0, -1).unwrap(), 20);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_message_bytes_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    let configs = BTreeMap::from([("max.message.bytes".to_string(), "200".to_string())]);
    broker
        .create_topic("small", 1, -1, configs, false)
        .await
        .unwrap();
    let big = "x".repeat(500);
    let err = broker
        .produce("small", 0, Bytes::from(batch(&[&big], 0)), Acks::All)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BrokerError::InvalidBatch(neo_record::BatchError::TooLarge { .. })
    ));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_report_appends_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("m", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    broker
        .produce("m", 0, Bytes::from(batch(&["a"], 0)), Acks::All)
        .await
        .unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&broker.metrics().registry().gather())
        .unwrap();
    for name in [
        "neo_log_appended_bytes_total",
        "neo_log_segments",
        "neo_log_fsync_seconds",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
    broker.shutdown().await.unwrap();
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, records: usize) -> Vec<u8> {
    let mut builder =
        BatchBuilder::new(Compression::None, 1).producer(producer_id, epoch, sequence);
    for i in 0..records {
        builder.push(1, None, Some(format!("v{i}").as_bytes()), &[]);
    }
    builder.build().unwrap().to_vec()
}

#[tokio::test]
async fn idempotent_producers_are_deduplicated_and_ordered_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("t", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    let id = broker.new_producer_id().await.unwrap();
    let first = broker
        .produce(
            "t",
            0,
            Bytes::from(idempotent_batch(id, 0, 0, 3)),
            Acks::All,
        )
        .await
        .unwrap();
    assert_eq!((first.base_offset, first.last_offset), (0, 2));
    let retried = broker
        .produce(
            "t",
            0,
            Bytes::from(idempotent_batch(id, 0, 0, 3)),
            Acks::All,
        )
        .await
        .unwrap();
    assert_eq!(retried.base_offset, 0, "a retry gets the original offsets");
    assert!(matches!(
        broker
            .produce(
                "t",
                0,
                Bytes::from(idempotent_batch(id, 0, 5, 1)),
                Acks::All
            )
            .await,
        Err(BrokerError::OutOfOrderSequence { expected: 3, .. })
    ));
    broker.shutdown().await.unwrap();
    drop(broker);

    let broker = open(dir.path()).await;
    let retried = broker
        .produce(
            "t",
            0,
            Bytes::from(idempotent_batch(id, 0, 0, 3)),
            Acks::All,
        )
        .await
        .unwrap();
    assert_eq!(retried.base_offset, 0, "state survives the restart");
    let next = broker
        .produce(
            "t",
            0,
            Bytes::from(idempotent_batch(id, 0, 3, 2)),
            Acks::All,
        )
        .await
        .unwrap();
    assert_eq!(next.base_offset, 3);
    // Two batches in one request: refused, as Kafka does, since sequences go per batch.
    let mut two = idempotent_batch(id, 0, 5, 1);
    two.extend(idempotent_batch(id, 0, 6, 1));
    assert!(matches!(
        broker.produce("t", 0, Bytes::from(two), Acks::All).await,
        Err(BrokerError::InvalidRecord { .. })
    ));
    let end = broker
        .list_offset("t", 0, OffsetSpec::Latest, None)
        .unwrap()
        .unwrap();
    assert_eq!(end.offset, 5);
    assert_ne!(
        broker.new_producer_id().await.unwrap(),
        id,
        "ids are never reused"
    );
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_leader_answers_where_an_epoch_ends() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    broker
        .create_topic("t", 1, -1, BTreeMap::new(), false)
        .await
        .unwrap();
    for i in 0..3 {
        broker
            .produce("t", 0, Bytes::from(batch(&["x", "y"], i)), Acks::All)
            .await
            .unwrap();
    }
    let epoch_of = |broker: &Broker| {
        let topic = broker.topic("t").unwrap();
        broker.placement(&topic, 0).epoch
    };
    let first = epoch_of(&broker);
    let kafka = |e: u64| i32::try_from(e).unwrap();
    let end = broker
        .end_offset_for_epoch("t", 0, Some(first), kafka(first))
        .unwrap()
        .unwrap();
    assert_eq!((end.leader_epoch, end.end_offset), (kafka(first), 6));
    assert!(matches!(
        broker.end_offset_for_epoch("t", 0, Some(first + 1), kafka(first)),
        Err(BrokerError::UnknownLeaderEpoch { .. })
    ));
    assert!(matches!(
        broker.end_offset_for_epoch("nope", 0, None, 0),
        Err(BrokerError::UnknownTopicOrPartition { .. })
    ));
    assert_eq!(
        broker
            .end_offset_for_epoch("t", 0, None, kafka(first) + 1)
            .unwrap(),
        None,
        "an epoch newer than the leader's"
    );
    broker.shutdown().await.unwrap();
    drop(broker);

    // The epochs are kept over a restart (a single replica may keep its term).
    let broker = open(dir.path()).await;
    let second = epoch_of(&broker);
    assert!(second >= first);
    broker
        .produce("t", 0, Bytes::from(batch(&["z"], 9)), Acks::All)
        .await
        .unwrap();
    let end = broker
        .end_offset_for_epoch("t", 0, Some(second), kafka(first))
        .unwrap()
        .unwrap();
    let expected = if second == first { 7 } else { 6 };
    assert_eq!((end.leader_epoch, end.end_offset), (kafka(first), expected));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_single_broker_is_ready_once_open_and_not_once_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(dir.path()).await;
    assert_eq!(broker.readiness(), Ok(()));
    broker.shutdown().await.unwrap();
    assert_eq!(broker.readiness(), Err(neo_broker::NotReady::NotStarted));
}

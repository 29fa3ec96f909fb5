//! A broker restart under a native consumer and producer: the client reconnects with
//! backoff and the consumer resumes after the last record it delivered, without loss or
//! duplicates, and a client serving RPC reconnects by itself and registers its handlers again.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Client, ProducerConfig, StartAt};
use neo_compat_tests::{TestBroker, free_port};
use neo_native::NativeConfig;

const WAIT: Duration = Duration::from_secs(30);

async fn produce(client: &Client, from: usize, to: usize) {
    let producer = client.producer(ProducerConfig::default());
    let mut acks = Vec::new();
    for i in from..to {
        acks.push(
            producer
                .send("log", 0, None, Bytes::from(format!("r{i}")))
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resumes_after_a_broker_restart_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let native = NativeConfig {
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        ..NativeConfig::default()
    };
    let broker = TestBroker::start_with_native(dir.path(), native.clone()).await;
    let addr = broker.native_addr.to_string();
    let client = Client::connect(&addr).await.unwrap();
    client.create_topic("log", 1).await.unwrap();
    produce(&client, 0, 1000).await;
    let service = Client::connect(&addr).await.unwrap();
    service
        .serve("clock", "tick", |_| async {
            Ok(Bytes::from_static(b"tock"))
        })
        .await
        .unwrap();
    let mut consumer = client.subscribe("log", 0, StartAt::Earliest).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 500 {
        let record = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(record.offset);
    }

    broker.stop().await;
    let broker = TestBroker::start_with_native(dir.path(), native).await;
    assert_eq!(broker.native_addr.to_string(), addr);
    produce(&client, 1000, 2000).await;

    while seen.len() < 2000 {
        let record = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            record.value.unwrap(),
            Bytes::from(format!("r{}", record.offset))
        );
        seen.push(record.offset);
    }
    let expected: Vec<i64> = (0..2000).collect();
    assert_eq!(seen, expected);
    let extra = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
    assert!(extra.is_err(), "a record past the end: {extra:?}");
    client.ping().await.unwrap();

    // The serving client reconnected by itself and registered its handler again.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = client
            .call("clock", "tick", Bytes::new(), Duration::from_secs(5))
            .await;
        match reply {
            Ok(reply) => {
                assert_eq!(reply, Bytes::from_static(b"tock"));
                break;
            }
            Err(neo_client::RpcError::NoInstance(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    drop(service);
}

async fn send_five(client: &Client, topic: &str, round: usize) {
    let producer = client.producer(ProducerConfig::default());
    for i in 0..5 {
        let value = Bytes::from(format!("{round}-{i}"));
        let _ack = producer.send(topic, 0, None, value).await.unwrap();
    }
    producer.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_group_consumers_subscribe_again_after_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let native = NativeConfig {
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        ..NativeConfig::default()
    };
    let broker = TestBroker::start_with_native(dir.path(), native.clone()).await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("tasks", 1).await.unwrap();
    client.create_topic("audit", 1).await.unwrap();
    send_five(&client, "tasks", 0).await;
    send_five(&client, "audit", 0).await;

    let mut queue = client
        .queue_consumer("tasks", 10, Duration::from_secs(30))
        .await
        .unwrap();
    for expected in 0..5 {
        let job = tokio::time::timeout(WAIT, queue.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(job.offset, expected);
        job.ack().await.unwrap();
    }
    let mut group = client.group_consumer("auditors", "audit").await.unwrap();
    for expected in 0..5 {
        let record = tokio::time::timeout(WAIT, group.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, expected);
    }
    group.commit(0, 5).await.unwrap();

    broker.stop().await;
    let _broker = TestBroker::start_with_native(dir.path(), native).await;
    send_five(&client, "tasks", 1).await;
    send_five(&client, "audit", 1).await;

    // Acked records stay settled; the new ones arrive on the new subscription.
    for expected in 5..10 {
        let job = tokio::time::timeout(WAIT, queue.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((job.offset, job.deliveries), (expected, 1));
        job.ack().await.unwrap();
    }
    // The member joins again and continues from the group's commit.
    for expected in 5..10 {
        let record = tokio::time::timeout(WAIT, group.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, expected);
    }
    assert_eq!(group.assignment(), vec![0]);
}

/// A queue consumer holding a record on a connection that then sits idle past the broker's
/// idle timeout: whether it can still ack tells whether the connection survived.
async fn ack_after_idle(heartbeat: Duration) -> Result<(), neo_client::ClientError> {
    let dir = tempfile::tempdir().unwrap();
    let native = NativeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        idle_timeout: Duration::from_millis(300),
        ..NativeConfig::default()
    };
    let broker = TestBroker::start_with_native(dir.path(), native).await;
    let options = neo_client::ClientOptions {
        heartbeat,
        ..neo_client::ClientOptions::default()
    };
    let client = Client::connect_with(&broker.native_addr.to_string(), options)
        .await
        .unwrap();
    client.create_topic("idle", 1).await.unwrap();
    send_five(&client, "idle", 0).await;
    let mut queue = client
        .queue_consumer("idle", 1, Duration::from_secs(60))
        .await
        .unwrap();
    let held = tokio::time::timeout(WAIT, queue.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    held.ack().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_an_idle_connection_past_the_broker_idle_timeout() {
    ack_after_idle(Duration::from_millis(100)).await.unwrap();
    let err = ack_after_idle(Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, neo_client::ClientError::Closed), "{err:?}");
}

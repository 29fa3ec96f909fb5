//! A broker process killed with SIGKILL in the middle of `acks=all` produce (durable default,
//! `flush.messages=1`) and restarted on the same port and data: every acknowledged record is
//! there once, offsets are dense, committed group offsets are intact, and the idempotent
//! producer carries on without duplicates.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use neo_broker::{Broker, BrokerConfig};
use neo_compat_tests::child::{announce_listening, listening_addr, spawn_test};
use neo_compat_tests::free_port;
use neo_kafka::{KafkaConfig, KafkaServer};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const DIR_VAR: &str = "NEO_CRASH_BROKER_DIR";
const PORT_VAR: &str = "NEO_CRASH_BROKER_PORT";

/// Not a test of its own: the broker process the crash test starts and kills.
#[test]
#[ignore = "run as a child process by another test of this file"]
fn child_broker_until_killed() {
    let (Ok(dir), Ok(port)) = (std::env::var(DIR_VAR), std::env::var(PORT_VAR)) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let broker = Broker::open(BrokerConfig {
            data_dir: dir.into(),
            ..BrokerConfig::default()
        })
        .await
        .unwrap();
        let server = KafkaServer::bind(KafkaConfig {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            ..KafkaConfig::default()
        })
        .await
        .unwrap();
        announce_listening(server.local_addr().unwrap());
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        // Killed long before this ends.
        let _ = tokio::time::timeout(Duration::from_secs(120), server.run(broker, stopped)).await;
    });
}

fn start_broker(dir: &std::path::Path, port: u16) -> Child {
    let mut child = spawn_test(
        "kafka_crash::child_broker_until_killed",
        [
            (DIR_VAR, dir.display().to_string()),
            (PORT_VAR, port.to_string()),
        ],
    );
    listening_addr(&mut child);
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_and_offsets_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let mut child = start_broker(dir.path(), port);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "60000")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<(), _>::to("crash").payload("first"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // A group commits an offset outside any generation (admin-style commit).
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "crash-group")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("crash", 0, Offset::Offset(1))
        .unwrap();
    committer.commit(&commit, CommitMode::Sync).unwrap();

    // Produce 20000 records, 200 in flight at a time; kill the broker part-way.
    let total = 20_000u32;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let producing = {
        let producer = producer.clone();
        let progress = std::sync::Arc::clone(&progress);
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for chunk in (0..total).collect::<Vec<_>>().chunks(200) {
                let sends = chunk.iter().map(|i| {
                    let producer = producer.clone();
                    let value = i.to_string();
                    async move {
                        producer
                            .send(
                                FutureRecord::<(), _>::to("crash").payload(&value),
                                Duration::from_secs(60),
                            )
                            .await
                            .map(|d| (d.offset, value))
                    }
                });
                for result in futures_util::future::join_all(sends).await {
                    acked.push(result.expect("acks=all send eventually succeeds"));
                }
                progress.store(acked.len(), std::sync::atomic::Ordering::Relaxed);
            }
            acked
        })
    };
    // Somewhere between 10% and 60% of the way.
    let kill_at = total as usize / 10 * (1 + std::process::id() as usize % 6);
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress.load(std::sync::atomic::Ordering::Relaxed) < kill_at {
        assert!(
            Instant::now() < deadline,
            "producer stalled before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = start_broker(dir.path(), port);

    let acked = producing.await.unwrap();
    assert_eq!(acked.len(), total as usize);

    // Everything acknowledged is there exactly once, at dense offsets.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "crash-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("crash", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let expected = total as usize + 1;
    let mut offsets = Vec::new();
    let mut values = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while offsets.len() < expected && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.unwrap();
            offsets.push(m.offset());
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            assert!(values.insert(value.clone()), "duplicate record {value}");
        }
    }
    assert_eq!(
        offsets,
        (0..expected as i64).collect::<Vec<_>>(),
        "dense offsets"
    );
    for (offset, value) in &acked {
        assert!(
            values.contains(value),
            "acknowledged record {value} at {offset} lost"
        );
    }

    // The committed group offset survived.
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("crash", 0);
    let committed = committer
        .committed_offsets(wanted, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        committed.find_partition("crash", 0).unwrap().offset(),
        Offset::Offset(1)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

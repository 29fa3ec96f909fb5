//! ACLs on a cluster: bindings created through one broker (kafka-python's admin client, as
//! Kafka's own tools do) are described and enforced by every broker, each refusing a producer
//! for the partitions it leads.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use neo_compat_tests::cluster::Cluster;
use neo_compat_tests::tools::python;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::cluster_topics::create_topics;

/// Partitions of one replica: one on each broker.
const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_created_through_one_broker_are_enforced_by_every_broker() {
    let Some(python) = python() else { return };
    let cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[("locked", PARTITIONS, 1)]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.timeout.ms", "5000")
        .create()
        .unwrap();
    let metadata = producer
        .client()
        .fetch_metadata(Some("locked"), Duration::from_secs(10))
        .unwrap();
    let leaders: BTreeSet<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    assert_eq!(
        leaders,
        BTreeSet::from([1, 2, 3]),
        "one partition per broker"
    );

    // Through broker 1 alone: User:* may do everything on `locked` but WRITE.
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_lock_topics.py");
    let output = Command::new(python)
        .arg(script)
        .arg(cluster.kafka_addr(1).to_string())
        .arg("unlocked")
        .arg("locked")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("topics locked"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The other brokers take the bindings up as they apply the metadata change: soon, not
    // at once.
    for partition in 0..PARTITIONS {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let sent = producer
                .send(
                    FutureRecord::<(), _>::to("locked")
                        .partition(partition)
                        .payload("no"),
                    Duration::from_secs(5),
                )
                .await;
            match sent {
                Err((e, _))
                    if e.rdkafka_error_code()
                        == Some(RDKafkaErrorCode::TopicAuthorizationFailed) =>
                {
                    break;
                }
                other => assert!(
                    Instant::now() < deadline,
                    "partition {partition}: a write to a locked topic got {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

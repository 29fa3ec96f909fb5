//! `neo cluster` against three `neo serve` processes: `status` reports every broker and each
//! partition's replicas and leader; `transfer-leader` sent to a broker that is neither the
//! leader nor the target moves the leadership (forwarded to the leader), which Kafka clients
//! then see in Metadata; a transfer to a broker without a replica is refused.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use neo_broker::cluster_status::{ClusterStatus, PartitionStatus};
use neo_compat_tests::cluster::{Cluster, neo_binary};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cluster_topics::create_topics;

const WAIT: Duration = Duration::from_secs(60);

fn neo_cluster(cluster: &Cluster, via: u64, args: &[&str]) -> Output {
    Command::new(neo_binary())
        .arg("cluster")
        .arg("--admin")
        .arg(cluster.admin_addr(via).to_string())
        .args(args)
        .output()
        .unwrap()
}

fn status(cluster: &Cluster, via: u64) -> ClusterStatus {
    let out = neo_cluster(cluster, via, &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Partition 0 of `topic` once it has a leader, as broker `via` reports it.
fn led_partition(cluster: &Cluster, via: u64, topic: &str) -> PartitionStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = status(cluster, via)
            .partitions
            .into_iter()
            .find(|p| p.topic == topic && p.partition == 0 && p.leader.is_some());
        match found {
            Some(p) => return p,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            None => panic!("{topic}-0 has no leader after {WAIT:?}"),
        }
    }
}

/// The leader of partition 0 of `topic` in a Kafka client's Metadata.
fn kafka_leader(bootstrap: &str, topic: &str) -> i32 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    metadata.topics()[0].partitions()[0].leader()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_cluster_and_transfer_leader_moves_a_leader() {
    let cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[("moved", 1, 3), ("pair", 1, 2)]).await;

    let all = status(&cluster, 1);
    let brokers: Vec<u64> = all.brokers.iter().map(|b| b.id).collect();
    assert_eq!(brokers, [1, 2, 3]);
    assert!(all.controller.is_some());
    for broker in &all.brokers {
        assert_eq!(
            broker.endpoints["kafka"],
            cluster.kafka_addr(broker.id).to_string()
        );
    }
    let text = neo_cluster(&cluster, 2, &["status"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("moved"), "{text}");

    // Ask the one broker that is neither the leader nor the target.
    let before = led_partition(&cluster, 1, "moved");
    let from = before.leader.unwrap();
    let to = before
        .replicas
        .iter()
        .copied()
        .find(|id| *id != from)
        .unwrap();
    let via = [1, 2, 3]
        .into_iter()
        .find(|id| *id != from && *id != to)
        .unwrap();
    let moved = neo_cluster(
        &cluster,
        via,
        &[
            "transfer-leader",
            "--topic",
            "moved",
            "--partition",
            "0",
            "--to",
            &to.to_string(),
        ],
    );
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let after = led_partition(&cluster, to, "moved");
    assert_eq!(after.leader, Some(to));
    assert!(after.epoch > before.epoch, "{before:?} then {after:?}");
    let deadline = Instant::now() + WAIT;
    while kafka_leader(&bootstrap, "moved") != i32::try_from(to).unwrap() {
        assert!(
            Instant::now() < deadline,
            "Metadata never named broker {to}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A broker without a replica of the partition cannot lead it.
    let pair = led_partition(&cluster, 1, "pair");
    let outsider = [1, 2, 3]
        .into_iter()
        .find(|id| !pair.replicas.contains(id))
        .unwrap();
    let refused = neo_cluster(
        &cluster,
        1,
        &[
            "transfer-leader",
            "--topic",
            "pair",
            "--partition",
            "0",
            "--to",
            &outsider.to_string(),
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("holds no replica"), "{stderr}");
}

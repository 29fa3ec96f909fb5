//! `neo cluster reassign` against three `neo serve` processes, under an idempotent `acks=all`
//! librdkafka producer that never stops: a partition of one replica (no Raft group) grows to
//! three, its records from before the move reach the new replicas (as a snapshot), its leader
//! is SIGKILLed and a new replica leads with every record; then it shrinks to one replica
//! again, and the broker left out deletes its copy. No send fails, and every acknowledged
//! record is read back once, in order.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use neo_broker::cluster_status::ClusterStatus;
use neo_compat_tests::cluster::{Cluster, neo_binary};
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::cluster_topics::{create_topics, idempotent_producer};

const TOPIC: &str = "moving";

fn neo_cluster(cluster: &Cluster, via: u64, args: &[&str]) -> String {
    let out = Command::new(neo_binary())
        .arg("cluster")
        .arg("--admin")
        .arg(cluster.admin_addr(via).to_string())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "neo cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Partition 0's (replicas, leader, in-sync replicas) as broker `via` reports them.
fn placement(cluster: &Cluster, via: u64) -> (Vec<u64>, Option<u64>, Vec<u64>) {
    let status: ClusterStatus =
        serde_json::from_str(&neo_cluster(cluster, via, &["status", "--json"])).unwrap();
    let p = status
        .partitions
        .into_iter()
        .find(|p| p.topic == TOPIC && p.partition == 0)
        .unwrap();
    (p.replicas, p.leader, p.in_sync)
}

/// Moves partition 0 to `replicas` through broker `via`; returns once the move is done.
fn reassign(cluster: &Cluster, via: u64, replicas: &[u64]) {
    let set: Vec<String> = replicas.iter().map(u64::to_string).collect();
    let set = set.join(",");
    let args = [
        "reassign",
        "--topic",
        TOPIC,
        "--partition",
        "0",
        "--replicas",
    ];
    let mut args = args.to_vec();
    args.push(&set);
    neo_cluster(cluster, via, &args);
}

/// Sends numbered records until told to stop, then returns each acknowledged number with its
/// offset; every send must succeed (librdkafka retries through leader changes).
fn produce_until(
    bootstrap: &str,
    running: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Vec<(u64, i64)>> {
    let producer = idempotent_producer(bootstrap);
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut next = 0u64;
        while running.load(Ordering::Relaxed) {
            let sends = (next..next + 50).map(|n| {
                let producer = producer.clone();
                async move {
                    let value = n.to_string();
                    let record = FutureRecord::to(TOPIC).key(&value).payload(&value);
                    let delivered = producer.send(record, Duration::from_secs(90)).await;
                    let delivery = delivered
                        .unwrap_or_else(|(e, _)| panic!("record {n} not acknowledged: {e}"));
                    (n, delivery.offset)
                }
            });
            acked.extend(futures_util::future::join_all(sends).await);
            next += 50;
            sent.store(next, Ordering::Relaxed);
        }
        acked
    })
}

async fn wait_for(sent: &AtomicU64, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while sent.load(Ordering::Relaxed) < at_least {
        assert!(Instant::now() < deadline, "the producer stalled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every record of partition 0 up to its high watermark: (offset, number).
fn read_all(bootstrap: &str) -> Vec<(i64, u64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reassign-reader")
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .unwrap();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (log.len() as i64) < high {
        assert!(Instant::now() < deadline, "read {} of {high}", log.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let n = std::str::from_utf8(m.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            log.push((m.offset(), n));
        }
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_grows_to_three_replicas_survives_its_leader_and_shrinks_to_one() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, 1, 1)]).await;
    let (replicas, _, _) = placement(&cluster, 1);
    let [alone] = replicas[..] else {
        panic!("{replicas:?}")
    };
    let others: Vec<u64> = (1..=3).filter(|id| *id != alone).collect();

    let running = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU64::new(0));
    let producing = produce_until(&bootstrap, Arc::clone(&running), Arc::clone(&sent));
    wait_for(&sent, 2_000).await;

    // Grow to three replicas, asked through another broker; the records written before the
    // move reach the new replicas.
    reassign(&cluster, others[0], &[alone, others[0], others[1]]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (replicas, leader, in_sync) = placement(&cluster, others[1]);
        if replicas.len() == 3 && in_sync.len() == 3 && leader.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{replicas:?} {leader:?} {in_sync:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let grown = sent.load(Ordering::Relaxed);
    wait_for(&sent, grown + 1_000).await;

    // The first replica dies; one of the new ones leads with every record.
    cluster.kill(alone);
    wait_for(&sent, sent.load(Ordering::Relaxed) + 1_000).await;

    // Shrink to one of the new replicas (the dead broker is left out too).
    let (keep, drop) = (others[1], others[0]);
    reassign(&cluster, keep, &[keep]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (replicas, leader, _) = placement(&cluster, keep);
        if (&replicas, leader) == (&vec![keep], Some(keep)) {
            break;
        }
        assert!(Instant::now() < deadline, "{replicas:?} {leader:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for(&sent, sent.load(Ordering::Relaxed) + 1_000).await;
    running.store(false, Ordering::Relaxed);
    let acked = producing.await.unwrap();

    let log = read_all(&bootstrap);
    for (i, (offset, _)) in log.iter().enumerate() {
        assert_eq!(*offset, i as i64, "offsets are dense");
    }
    let numbers: Vec<u64> = log.iter().map(|(_, n)| *n).collect();
    let mut sorted = numbers.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), numbers.len(), "a record was written twice");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "out of order");
    for (n, offset) in &acked {
        assert_eq!(
            log.get(usize::try_from(*offset).unwrap()).map(|(_, m)| m),
            Some(n),
            "acknowledged record {n} at offset {offset}"
        );
    }

    // The broker left out deletes its copy.
    let dir = cluster.data_dir(drop).join(format!("{TOPIC}-0"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while dir.exists() {
        assert!(Instant::now() < deadline, "{} still there", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

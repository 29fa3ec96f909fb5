//! `neo cluster add-broker` and `remove-broker` against real `neo serve` processes: a fourth
//! broker joins a cluster of three and takes replicas; then the first broker is removed, its
//! replicas (its topic's and `__consumer_offsets`') move to the others with the replication
//! factor kept, and the cluster goes on without it and with one more broker down. Every
//! acknowledged record is read back once, and committed offsets survive.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use neo_broker::cluster_status::ClusterStatus;
use neo_compat_tests::cluster::{Cluster, neo_binary};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::cluster_topics::{create_topics, idempotent_producer};

const TOPIC: &str = "members";
const PARTITIONS: i32 = 3;
const GROUP: &str = "members-reader";

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

fn status(cluster: &Cluster, via: u64) -> ClusterStatus {
    serde_json::from_str(&neo_cluster(cluster, via, &["status", "--json"])).unwrap()
}

/// Sends records `from..to` (one per partition in turn) and waits for every acknowledgement.
async fn produce(producer: &FutureProducer, from: u64, to: u64) {
    let sends = (from..to).map(|n| async move {
        let value = n.to_string();
        let partition = (n % PARTITIONS as u64) as i32;
        let record = FutureRecord::to(TOPIC)
            .partition(partition)
            .key(&value)
            .payload(&value);
        producer
            .send(record, Duration::from_secs(90))
            .await
            .unwrap_or_else(|(e, _)| panic!("record {n} not acknowledged: {e}"));
    });
    futures_util::future::join_all(sends).await;
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap()
}

/// Every record of the topic up to each partition's high watermark, as numbers.
fn read_all(bootstrap: &str) -> Vec<u64> {
    let consumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    let mut total = 0;
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .unwrap();
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, Duration::from_secs(30))
            .unwrap();
        total += high;
    }
    consumer.assign(&assignment).unwrap();
    let mut numbers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (numbers.len() as i64) < total {
        assert!(
            Instant::now() < deadline,
            "read {} of {total}",
            numbers.len()
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let n = std::str::from_utf8(m.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            numbers.push(n);
        }
    }
    numbers
}

/// Waits until `check` holds for the cluster's status as broker `via` reports it.
fn wait_status(cluster: &Cluster, via: u64, what: &str, check: impl Fn(&ClusterStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = status(cluster, via);
        if check(&now) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_joins_and_another_leaves_without_losing_a_record_or_an_offset() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    produce(&producer, 0, 1_000).await;

    // Broker 4 starts, waits to be added, then serves and takes a new topic's replicas.
    let (new, address) = cluster.start_joining();
    let added = neo_cluster(
        &cluster,
        2,
        &[
            "add-broker",
            "--id",
            &new.to_string(),
            "--address",
            &address.to_string(),
        ],
    );
    assert!(added.contains("member"), "{added}");
    cluster.wait_serving(new);
    wait_status(&cluster, 3, "broker 4 a live voter", |s| {
        s.brokers.iter().any(|b| b.id == new && b.live && b.voter)
    });

    // A committed offset, to be found again once the offsets moved.
    let committer = consumer(&bootstrap);
    let mut committed = TopicPartitionList::new();
    committed
        .add_partition_offset(TOPIC, 0, Offset::Offset(123))
        .unwrap();
    // The coordinator may be moving (leaders rebalance): librdkafka finds it again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = committer.commit(&committed, CommitMode::Sync) {
        assert!(Instant::now() < deadline, "commit: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(committer);

    // Broker 1 leaves: every replica it held moves, the factor kept.
    let removed = neo_cluster(&cluster, 2, &["remove-broker", "--id", "1"]);
    assert!(removed.contains("no longer part"), "{removed}");
    let after = status(&cluster, 3);
    assert!(after.brokers.iter().all(|b| b.id != 1), "{after:#?}");
    for p in &after.partitions {
        assert!(!p.replicas.contains(&1), "{p:?}");
        let wanted = if p.topic == TOPIC {
            3
        } else {
            p.replicas.len()
        };
        assert_eq!(p.replicas.len(), wanted, "{p:?}");
        assert_eq!(
            p.replicas.iter().collect::<BTreeSet<_>>().len(),
            p.replicas.len()
        );
    }
    assert!(
        after.partitions.iter().any(|p| p.replicas.contains(&new)),
        "the new broker took replicas: {after:#?}"
    );
    produce(&producer, 1_000, 2_000).await;

    // Without broker 1, and with broker 2 down too, the other two hold everything.
    cluster.stop(1);
    cluster.kill(2);
    let survivors = format!("{},{}", cluster.kafka_addr(3), cluster.kafka_addr(new));
    produce(&idempotent_producer(&survivors), 2_000, 2_500).await;
    let mut numbers = read_all(&survivors);
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..2_500).collect::<Vec<u64>>(),
        "each record once"
    );

    let reader = consumer(&survivors);
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(TOPIC, 0);
    let offsets = reader
        .committed_offsets(wanted, Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        offsets.find_partition(TOPIC, 0).unwrap().offset(),
        Offset::Offset(123)
    );
}

/// A broker whose machine is lost for good is replaced: a new broker joins, the dead one is
/// removed (its replicas rebuilt on the new broker from the live ones), and the cluster then
/// survives losing one more of the original brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_is_replaced_and_its_replicas_rebuilt() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    produce(&producer, 0, 1_000).await;

    cluster.kill(3);
    produce(&producer, 1_000, 1_500).await;
    let (new, address) = cluster.start_joining();
    neo_cluster(
        &cluster,
        1,
        &[
            "add-broker",
            "--id",
            &new.to_string(),
            "--address",
            &address.to_string(),
        ],
    );
    cluster.wait_serving(new);
    let removed = neo_cluster(&cluster, 2, &["remove-broker", "--id", "3"]);
    assert!(removed.contains("no longer part"), "{removed}");
    wait_status(
        &cluster,
        new,
        "every partition on 1, 2 and 4, all in sync",
        |s| {
            s.partitions.iter().all(|p| {
                let mut replicas = p.replicas.clone();
                replicas.sort_unstable();
                (p.topic != TOPIC || replicas == [1, 2, new])
                    && !p.replicas.contains(&3)
                    && p.in_sync.len() == p.replicas.len()
            })
        },
    );

    cluster.kill(2);
    let survivors = format!("{},{}", cluster.kafka_addr(1), cluster.kafka_addr(new));
    produce(&idempotent_producer(&survivors), 1_500, 2_000).await;
    let mut numbers = read_all(&survivors);
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..2_000).collect::<Vec<u64>>(),
        "each record once"
    );
}

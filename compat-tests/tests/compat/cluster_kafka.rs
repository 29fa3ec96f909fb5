//! Three `neo serve` processes on 127.0.0.1/2/3 under an idempotent `acks=all` librdkafka
//! producer: SIGKILL a partition's leader mid-produce, SIGKILL a follower and wipe its data,
//! SIGKILL all three at once. A consumer reads all along. Afterwards the history checker
//! holds the log to what was acknowledged and observed, and the replicas hold the same bytes.
//! And a rolling restart (SIGTERM, one broker at a time) under the same producer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neo_compat_tests::cluster::Cluster;
use neo_compat_tests::history::{History, Written};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::cluster_topics::{create_topics, idempotent_producer};

const TOPIC: &str = "history";
const PARTITIONS: i32 = 3;
/// Records per phase.
const PHASE: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_leader_kills_a_wiped_follower_and_a_full_restart() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    let history = Arc::new(Mutex::new(History::default()));
    let observing = Arc::new(AtomicBool::new(true));
    let observer = observe(&bootstrap, Arc::clone(&history), Arc::clone(&observing));
    let progress = Arc::new(AtomicUsize::new(0));

    produce(&producer, &history, &progress, 0..PHASE).await;

    // The leader of partition 0 dies mid-produce; the producer goes on with the new one.
    let leader = leader_of(&producer, 0);
    let sending = tokio::spawn({
        let (producer, history, progress) = (producer.clone(), history.clone(), progress.clone());
        async move { produce(&producer, &history, &progress, PHASE..3 * PHASE).await }
    });
    wait_for(&progress, (PHASE + PHASE / 2) as usize).await;
    cluster.kill(leader);
    sending.await.unwrap();
    cluster.start_nodes(&[leader]);

    // A follower of partition 0 dies and loses its disk; it comes back empty and catches up.
    let leader = leader_of(&producer, 0);
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.kill(follower);
    cluster.wipe(follower);
    produce(&producer, &history, &progress, 3 * PHASE..4 * PHASE).await;
    cluster.start_nodes(&[follower]);
    produce(&producer, &history, &progress, 4 * PHASE..5 * PHASE).await;

    // All three die at once and come back.
    for id in 1..=3 {
        cluster.kill(id);
    }
    cluster.start_nodes(&[1, 2, 3]);
    produce(&producer, &history, &progress, 5 * PHASE..6 * PHASE).await;

    observing.store(false, Ordering::Relaxed);
    observer.join().unwrap();
    let log = read_all(&bootstrap);
    let history = history.lock().unwrap();
    assert_eq!(history.acked_count(), 6 * PHASE as usize);
    if let Err(problems) = history.check(&log) {
        panic!(
            "{} violations, the first ones:\n{}",
            problems.len(),
            problems[..problems.len().min(20)].join("\n")
        );
    }
    replicas_converge(&cluster);
}

/// Each broker in turn stops with SIGTERM (handing its leaderships over) and starts again,
/// while the producer sends: no send fails and nothing acknowledged is lost; afterwards the
/// leaders go back to their preferred replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_acks_all_loses_nothing_and_fails_no_send() {
    let mut cluster =
        Cluster::start_with(3, &[("NEO_CLUSTER__LEADER_REBALANCE_INTERVAL_SECS", "1")]);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    let history = Arc::new(Mutex::new(History::default()));
    let progress = Arc::new(AtomicUsize::new(0));
    let total = 8 * PHASE;
    let sending = tokio::spawn({
        let (producer, history, progress) = (producer.clone(), history.clone(), progress.clone());
        async move { produce(&producer, &history, &progress, 0..total).await }
    });
    for (step, id) in (1..=3).enumerate() {
        wait_for(&progress, (step + 1) * PHASE as usize).await;
        cluster.stop(id);
        cluster.start_nodes(&[id]);
    }
    sending.await.unwrap();
    leaders_are_preferred(&producer);
    let log = read_all(&bootstrap);
    let history = history.lock().unwrap();
    assert_eq!(history.acked_count(), total as usize);
    if let Err(problems) = history.check(&log) {
        panic!(
            "{} violations:\n{}",
            problems.len(),
            problems[..problems.len().min(20)].join("\n")
        );
    }
}

/// A partition idle for longer than its leader's lease (one election timeout; a quiet
/// group's keepalive comes only every three) takes the next write at once, not after
/// NOT_LEADER_OR_FOLLOWER until the keepalive renews the lease (librdkafka retries that error
/// whatever its retry settings, so a short delivery timeout is what tells).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_partition_idle_past_its_lease_is_taken_at_once() {
    let cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[("idle", PARTITIONS, 3)]).await;
    let warm_up = idempotent_producer(&bootstrap);
    for partition in 0..PARTITIONS {
        warm_up
            .send(
                FutureRecord::<(), _>::to("idle")
                    .partition(partition)
                    .payload("first"),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("partition {partition}: first write: {e}"));
    }
    let impatient: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "500")
        .create()
        .unwrap();
    impatient
        .client()
        .fetch_metadata(Some("idle"), Duration::from_secs(5))
        .unwrap();
    // The idleness is what is tested: past the lease (1 s), well before the keepalive (3 s).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for partition in 0..PARTITIONS {
        impatient
            .send(
                FutureRecord::<(), _>::to("idle")
                    .partition(partition)
                    .payload("after a pause"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("partition {partition}: write after a pause: {e}"));
    }
}

/// Waits until every partition is led by the first of its replicas.
fn leaders_are_preferred(producer: &FutureProducer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
            .unwrap();
        let off: Vec<(i32, i32, i32)> = metadata.topics()[0]
            .partitions()
            .iter()
            .filter(|p| p.replicas().first() != Some(&p.leader()))
            .map(|p| (p.id(), p.leader(), p.replicas()[0]))
            .collect();
        if off.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "(partition, leader, preferred) not back: {off:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends records `seqs` of producer "p", 100 in flight at a time, recording each
/// acknowledgement; every send must succeed (the producer retries through failovers).
async fn produce(
    producer: &FutureProducer,
    history: &Mutex<History>,
    progress: &AtomicUsize,
    seqs: std::ops::Range<u64>,
) {
    let all: Vec<u64> = seqs.collect();
    for chunk in all.chunks(100) {
        let sends = chunk.iter().map(|seq| {
            let written = Written {
                producer: "p".into(),
                seq: *seq,
            };
            async move {
                let value = written.value();
                let key = seq.to_string();
                let delivered = producer
                    .send(
                        FutureRecord::to(TOPIC).key(&key).payload(&value),
                        Duration::from_secs(90),
                    )
                    .await;
                (written, delivered)
            }
        });
        for (written, delivered) in futures_util::future::join_all(sends).await {
            let delivery = delivered
                .unwrap_or_else(|(e, _)| panic!("{} not acknowledged: {e}", written.value()));
            history
                .lock()
                .unwrap()
                .acked(written, delivery.partition, delivery.offset);
            progress.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn wait_for(progress: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress.load(Ordering::Relaxed) < at_least {
        assert!(Instant::now() < deadline, "the producer stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The broker leading `partition`, as the cluster tells clients (after any election).
fn leader_of(producer: &FutureProducer, partition: i32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(Some(TOPIC), Duration::from_secs(5));
        if let Ok(metadata) = metadata
            && let Some(found) = metadata.topics()[0]
                .partitions()
                .iter()
                .find(|p| p.id() == partition)
            && found.leader() > 0
        {
            return found.leader() as u64;
        }
        assert!(
            Instant::now() < deadline,
            "partition {partition} has no leader"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A consumer reading every partition from the start while the run goes on, recording what
/// it observed.
fn observe(
    bootstrap: &str,
    history: Arc<Mutex<History>>,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let consumer = reader(bootstrap);
    std::thread::spawn(move || {
        while running.load(Ordering::Relaxed) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let value = m.payload().unwrap_or_default().to_vec();
                history
                    .lock()
                    .unwrap()
                    .observed(m.partition(), m.offset(), value);
            }
        }
    })
}

fn reader(bootstrap: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "history-reader")
        .set("enable.auto.commit", "false")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    consumer
}

/// Every record of the topic, read up to each partition's high watermark.
fn read_all(bootstrap: &str) -> Vec<(i32, i64, Vec<u8>)> {
    let consumer = reader(bootstrap);
    let mut ends = Vec::new();
    for partition in 0..PARTITIONS {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, Duration::from_secs(10))
            .unwrap();
        ends.push(high);
    }
    let total: i64 = ends.iter().sum();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (log.len() as i64) < total {
        assert!(Instant::now() < deadline, "read {} of {total}", log.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = m.payload().unwrap_or_default().to_vec();
            log.push((m.partition(), m.offset(), value));
        }
    }
    log
}

/// Waits until every partition's log files are the same bytes on the three brokers (the
/// wiped one included).
fn replicas_converge(cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for partition in 0..PARTITIONS {
        loop {
            let copies: Vec<Vec<u8>> = (1..=3)
                .map(|id| log_bytes(&cluster.data_dir(id).join(format!("{TOPIC}-{partition}"))))
                .collect();
            if copies.iter().all(|c| *c == copies[0]) && !copies[0].is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replicas of partition {partition} differ: {:?} bytes",
                copies.iter().map(Vec::len).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The partition's segment files, concatenated in offset order.
fn log_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect()
        })
        .unwrap_or_default();
    segments.sort();
    segments
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

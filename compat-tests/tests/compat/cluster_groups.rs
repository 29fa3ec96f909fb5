//! A consumer group across a coordinator failover: two librdkafka members of one group consume
//! an RF=3 topic of a three-process cluster, committing after every record; the broker
//! coordinating the group (the leader of its `__consumer_offsets` partition) is SIGKILLed.
//! The members find the new coordinator and go on from the committed offsets: no committed
//! record is delivered again, none is skipped; the killed broker comes back, and a new member
//! of the group starts where the others stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neo_broker::groups::{OFFSETS_TOPIC, offsets_partition_for};
use neo_compat_tests::cluster::Cluster;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::cluster_topics::create_topics;

const TOPIC: &str = "payments";
const GROUP: &str = "settlement";
const PARTITIONS: i32 = 4;
/// Records per phase (before and after the kill).
const PHASE: i64 = 200;
const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_keeps_its_committed_offsets_when_its_coordinator_is_killed() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "90000")
        .set("retry.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap();
    produce(&producer, 0..PHASE).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let members: Vec<Member> = (0..2)
        .map(|_| Member::start(&bootstrap, Arc::clone(&ledger)))
        .collect();
    wait_until("the first records consumed and committed", || {
        ledger.lock().unwrap().committed_total() == PHASE
    })
    .await;

    let coordinator = coordinator_of(&bootstrap, GROUP);
    cluster.kill(coordinator);
    produce(&producer, PHASE..2 * PHASE).await;
    wait_until("every record consumed and committed after the kill", || {
        ledger.lock().unwrap().committed_total() == 2 * PHASE
    })
    .await;
    let new_coordinator = coordinator_of(&bootstrap, GROUP);
    assert_ne!(new_coordinator, coordinator);
    for member in members {
        member.stop();
    }

    {
        let ledger = ledger.lock().unwrap();
        eprintln!(
            "coordinator {coordinator} killed, then {new_coordinator}: {} commits failed, {} \
             uncommitted records delivered again",
            ledger.failed_commits, ledger.redelivered
        );
        assert!(
            ledger.violations.is_empty(),
            "committed records delivered again: {:?}",
            ledger.violations
        );
        let values: BTreeSet<i64> = ledger.seen.values().copied().collect();
        assert_eq!(
            values,
            (0..2 * PHASE).collect(),
            "every record consumed, none skipped"
        );
    }

    // The killed broker comes back; a new member starts from the committed offsets.
    cluster.start_nodes(&[coordinator]);
    produce(&producer, 2 * PHASE..2 * PHASE + 10).await;
    let late = Arc::new(Mutex::new(Ledger::default()));
    let member = Member::start(&bootstrap, Arc::clone(&late));
    wait_until("the records produced after the restart", || {
        late.lock().unwrap().seen.len() >= 10
    })
    .await;
    member.stop();
    let late = late.lock().unwrap();
    let values: BTreeSet<i64> = late.seen.values().copied().collect();
    assert_eq!(values, (2 * PHASE..2 * PHASE + 10).collect());
}

/// Sends records whose values are `values`, spread over the partitions; each must be
/// acknowledged (the producer retries through a failover).
async fn produce(producer: &FutureProducer, values: std::ops::Range<i64>) {
    let sends = values.map(|value| {
        let payload = value.to_string();
        let partition = (value % i64::from(PARTITIONS)) as i32;
        async move {
            producer
                .send(
                    FutureRecord::<(), _>::to(TOPIC)
                        .partition(partition)
                        .payload(&payload),
                    Duration::from_secs(90),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("record {payload} not acknowledged: {e}"));
        }
    });
    futures_util::future::join_all(sends).await;
}

/// The broker leading the group's offsets partition, as the cluster tells clients.
fn coordinator_of(bootstrap: &str, group: &str) -> u64 {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let partitions = client
            .fetch_metadata(Some(OFFSETS_TOPIC), Duration::from_secs(5))
            .ok()
            .and_then(|m| {
                let topic = m.topics().first()?;
                let count = i32::try_from(topic.partitions().len()).ok()?;
                let wanted = offsets_partition_for(group, count.max(1));
                topic
                    .partitions()
                    .iter()
                    .find(|p| p.id() == wanted)
                    .map(|p| p.leader())
            });
        if let Some(leader) = partitions.filter(|leader| *leader > 0) {
            return leader as u64;
        }
        assert!(
            Instant::now() < deadline,
            "the group's offsets partition has no leader"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the members consumed and committed, checked as it happens.
#[derive(Default)]
struct Ledger {
    /// Value of each `(partition, offset)` delivered.
    seen: BTreeMap<(i32, i64), i64>,
    /// Per partition, the offset after the last acknowledged commit.
    committed: BTreeMap<i32, i64>,
    /// Deliveries of records below an acknowledged commit.
    violations: Vec<String>,
    /// Records delivered more than once (uncommitted when they were first delivered).
    redelivered: usize,
    /// Commits that failed (the coordinator moved meanwhile).
    failed_commits: usize,
}

impl Ledger {
    fn delivered(&mut self, partition: i32, offset: i64, value: i64) {
        let committed = self.committed.get(&partition).copied().unwrap_or(0);
        if offset < committed {
            self.violations.push(format!(
                "{TOPIC}-{partition} offset {offset} delivered again after a commit of {committed}"
            ));
        }
        if self.seen.insert((partition, offset), value).is_some() {
            self.redelivered += 1;
        }
    }

    fn acknowledged(&mut self, partition: i32, next: i64) {
        let committed = self.committed.entry(partition).or_default();
        *committed = (*committed).max(next);
    }

    fn committed_total(&self) -> i64 {
        self.committed.values().sum()
    }
}

/// A member polling in its own thread, committing after every record.
struct Member {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Member {
    fn start(bootstrap: &str, ledger: Arc<Mutex<Ledger>>) -> Member {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("reconnect.backoff.max.ms", "200")
            .create()
            .unwrap();
        consumer.subscribe(&[TOPIC]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let value: i64 = std::str::from_utf8(m.payload().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                ledger
                    .lock()
                    .unwrap()
                    .delivered(m.partition(), m.offset(), value);
                // A commit may fail while the coordinator moves: the record is then
                // uncommitted and may be delivered again.
                let committed = consumer.commit_message(&m, CommitMode::Sync).is_ok();
                let mut ledger = ledger.lock().unwrap();
                if committed {
                    ledger.acknowledged(m.partition(), m.offset() + 1);
                } else {
                    ledger.failed_commits += 1;
                }
            }
            consumer.unsubscribe();
        });
        Member { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

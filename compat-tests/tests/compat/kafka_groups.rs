//! Consumer groups with librdkafka: rebalancing across members, committed offsets that
//! survive a restart, members leaving, joining and dying, and the admin view of groups.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use neo_compat_tests::TestBroker;
use neo_compat_tests::child::spawn_test;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TIMEOUT: Duration = Duration::from_secs(10);

async fn create_topic(broker: &TestBroker, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{created:?}");
}

/// Produces `count` records `0..count` spread over every partition.
async fn produce(broker: &TestBroker, topic: &str, partitions: i32, range: std::ops::Range<u32>) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let sends: Vec<_> = range
        .map(|i| {
            let payload = i.to_string();
            let partition = (i % partitions as u32) as i32;
            let producer = producer.clone();
            let topic = topic.to_string();
            async move {
                producer
                    .send(
                        FutureRecord::<(), _>::to(&topic)
                            .partition(partition)
                            .payload(&payload),
                        TIMEOUT,
                    )
                    .await
                    .unwrap();
            }
        })
        .collect();
    futures_util::future::join_all(sends).await;
}

fn group_consumer(broker: &TestBroker, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().unwrap()
}

/// `(partition, offset, value)` of each record a member consumed.
type Consumed = Vec<(i32, i64, u32)>;

/// A member polling in its own thread, committing what it consumed after every message.
struct Member {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(BaseConsumer, Consumed)>,
}

impl Member {
    fn start(consumer: BaseConsumer, topic: &str) -> Member {
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                    let m = message.unwrap();
                    let value: u32 = std::str::from_utf8(m.payload().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    seen.push((m.partition(), m.offset(), value));
                    consumer.commit_message(&m, CommitMode::Sync).unwrap();
                }
            }
            (consumer, seen)
        });
        Member { stop, thread }
    }

    fn stop(self) -> (BaseConsumer, Consumed) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assigned_partitions(consumer: &BaseConsumer) -> usize {
    consumer.assignment().map(|a| a.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_six_partitions_each_record_once_and_resume_after_restart() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "events", 6).await;
    produce(&broker, "events", 6, 0..600).await;

    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(group_consumer(&broker, "trio", &[]), "events"))
        .collect();
    let groups = Arc::clone(broker.broker.groups());
    wait_until("600 commits", || {
        let committed: i64 = groups
            .all_committed("trio")
            .iter()
            .map(|(_, c)| c.offset)
            .sum();
        committed == 600
    })
    .await;
    let results: Vec<_> = members.into_iter().map(Member::stop).collect();
    let mut values = BTreeSet::new();
    let mut per_member_partitions = Vec::new();
    for (consumer, seen) in &results {
        let partitions: BTreeSet<i32> = seen.iter().map(|(p, _, _)| *p).collect();
        per_member_partitions.push(partitions);
        for (_, _, v) in seen {
            assert!(values.insert(*v), "record {v} consumed twice");
        }
        consumer.unsubscribe();
    }
    assert_eq!(values.len(), 600, "every record consumed");
    assert!(
        per_member_partitions.iter().all(|p| !p.is_empty()),
        "every member got partitions: {per_member_partitions:?}"
    );
    drop(results);

    // Restart the group: it resumes at the committed offsets and sees only new records.
    produce(&broker, "events", 6, 600..660).await;
    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(group_consumer(&broker, "trio", &[]), "events"))
        .collect();
    wait_until("660 commits", || {
        groups
            .all_committed("trio")
            .iter()
            .map(|(_, c)| c.offset)
            .sum::<i64>()
            == 660
    })
    .await;
    let mut again = BTreeSet::new();
    for member in members {
        let (_, seen) = member.stop();
        again.extend(seen.into_iter().map(|(_, _, v)| v));
    }
    assert_eq!(again, (600..660).collect::<BTreeSet<u32>>());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_leaving_joining_and_dying_get_their_partitions_moved() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "jobs", 4).await;
    let a = group_consumer(&broker, "crew", &[]);
    a.subscribe(&["jobs"]).unwrap();
    let b = group_consumer(&broker, "crew", &[]);
    b.subscribe(&["jobs"]).unwrap();
    let poll_both = |a: &BaseConsumer, b: &BaseConsumer| {
        let _ = a.poll(Duration::from_millis(20));
        let _ = b.poll(Duration::from_millis(20));
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(assigned_partitions(&a) == 2 && assigned_partitions(&b) == 2) {
        assert!(
            Instant::now() < deadline,
            "two members never split 4 partitions"
        );
        poll_both(&a, &b);
    }

    // A third member joins: 4 partitions over 3 members.
    let c = group_consumer(&broker, "crew", &[]);
    c.subscribe(&["jobs"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        poll_both(&a, &b);
        let _ = c.poll(Duration::from_millis(20));
        let counts = [&a, &b, &c].map(assigned_partitions);
        if counts.iter().sum::<usize>() == 4 && counts.iter().all(|n| *n >= 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "third member never got partitions: {counts:?}"
        );
    }

    // One leaves cleanly (LeaveGroup): the others take over at once.
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(assigned_partitions(&a) == 2 && assigned_partitions(&b) == 2) {
        assert!(
            Instant::now() < deadline,
            "partitions not moved after a leave"
        );
        poll_both(&a, &b);
    }

    // One dies without leaving: a member in a child process killed with SIGKILL. Its session
    // (6 s) runs out and the others get its partitions.
    drop(b);
    let mut child = spawn_test(
        "kafka_groups::child_member_until_killed",
        [(CHILD_BOOTSTRAP, broker.bootstrap())],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while broker.broker.groups().describe("crew").members.len() != 2 || assigned_partitions(&a) != 2
    {
        assert!(Instant::now() < deadline, "child member never joined");
        let _ = a.poll(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(30);
    while assigned_partitions(&a) != 4 {
        assert!(
            Instant::now() < deadline,
            "dead member's partitions never moved"
        );
        let _ = a.poll(Duration::from_millis(50));
    }
    assert!(
        killed.elapsed() >= Duration::from_secs(3),
        "moved before the session timeout"
    );
    assert_eq!(broker.broker.groups().describe("crew").members.len(), 1);
    broker.stop().await;
}

/// Where the child member connects; unset in a normal test run.
const CHILD_BOOTSTRAP: &str = "NEO_TEST_CHILD_BOOTSTRAP";

/// Not a test of its own: the group member that `members_leaving_joining_and_dying…` runs in a
/// child process and kills.
#[test]
#[ignore = "run as a child process by another test of this file"]
fn child_member_until_killed() {
    let Ok(bootstrap) = std::env::var(CHILD_BOOTSTRAP) else {
        return;
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "crew")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    consumer.subscribe(&["jobs"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_describes_and_deletes_groups_and_their_offsets() {
    let broker = TestBroker::start().await;
    create_topic(&broker, "audit", 2).await;
    produce(&broker, "audit", 2, 0..10).await;
    let consumer = group_consumer(&broker, "auditors", &[]);
    consumer.subscribe(&["audit"]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < 10 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(50)) {
            consumer
                .commit_message(&m.unwrap(), CommitMode::Sync)
                .unwrap();
            seen += 1;
        }
    }
    assert_eq!(seen, 10);

    let groups = consumer.fetch_group_list(None, TIMEOUT).unwrap();
    let auditors = groups
        .groups()
        .iter()
        .find(|g| g.name() == "auditors")
        .expect("group listed");
    assert_eq!(auditors.state(), "Stable");
    assert_eq!(auditors.protocol_type(), "consumer");
    assert_eq!(auditors.members().len(), 1);
    assert!(
        !auditors.members()[0]
            .assignment()
            .unwrap_or_default()
            .is_empty()
    );

    // OffsetFetch through the client is covered by the restart test above; the rdkafka
    // crate's `committed()` leaves its consumer hanging on drop (fede1024/rust-rdkafka#611),
    // so read what was committed from the coordinator here.
    let offsets: BTreeMap<i32, i64> = broker
        .broker
        .groups()
        .all_committed("auditors")
        .into_iter()
        .map(|((_, partition), c)| (partition, c.offset))
        .collect();
    assert_eq!(offsets, BTreeMap::from([(0, 5), (1, 5)]));

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let busy = admin
        .delete_groups(&["auditors"], &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        busy[0],
        Err((
            "auditors".to_string(),
            rdkafka::types::RDKafkaErrorCode::NonEmptyGroup
        ))
    );
    // Closing the consumer leaves the group.
    drop(consumer);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let deleted = admin
            .delete_groups(&["auditors"], &AdminOptions::new())
            .await
            .unwrap();
        if deleted[0].is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "{deleted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(broker.broker.groups().all_committed("auditors").is_empty());
    broker.stop().await;
}

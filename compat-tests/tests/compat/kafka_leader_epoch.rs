//! OffsetForLeaderEpoch on three `neo serve` processes: the leader answers where the current
//! and a past epoch end, with Kafka's per-partition errors; and an rdkafka consumer whose
//! partition leader is SIGKILLed validates its position with it (KIP-320) and goes on with no
//! error, gap or duplicate. And on one broker, the ACLs Kafka checks for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::{
    ApiKey, BrokerId, MetadataRequest, MetadataResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::acls::{AclBinding, CLUSTER, Operation, PatternType, Permission, ResourceType};
use neo_compat_tests::TestBroker;
use neo_compat_tests::cluster::Cluster;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::cluster_topics::{create_topics, idempotent_producer};
use crate::kafka_raw::call;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The leader of partition 0 of `topic` and its epoch, as broker `addr` tells clients.
fn leadership(addr: SocketAddr, topic: &str) -> Option<(u64, i32)> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(addr, ApiKey::Metadata, 9, &request);
    let partition = response.topics.first()?.partitions.first()?;
    let leader = u64::try_from(partition.leader_id.0).ok()?;
    (leader > 0).then_some((leader, partition.leader_epoch))
}

/// Waits until a broker of `alive` reports a leader of `topic` among `alive` whose epoch is
/// above `after`.
fn new_leadership(cluster: &Cluster, alive: &[u64], topic: &str, after: i32) -> (u64, i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for &id in alive {
            if let Some((leader, epoch)) = leadership(cluster.kafka_addr(id), topic)
                && alive.contains(&leader)
                && epoch > after
            {
                return (leader, epoch);
            }
        }
        assert!(Instant::now() < deadline, "no new leader of {topic}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks `addr` where `epoch` ends in partition `partition` of `topic`.
fn ask(
    addr: SocketAddr,
    version: i16,
    replica_id: i32,
    topic: &str,
    partition: i32,
    current: i32,
    epoch: i32,
) -> EpochEndOffset {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(replica_id))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ]),
        ]);
    let response: OffsetForLeaderEpochResponse =
        call(addr, ApiKey::OffsetForLeaderEpoch, version, &request);
    assert_eq!(response.topics.len(), 1);
    let topic_result = &response.topics[0];
    assert_eq!(topic_result.topic.0.as_str(), topic);
    assert_eq!(topic_result.partitions.len(), 1);
    let answer = topic_result.partitions[0].clone();
    assert_eq!(answer.partition, partition);
    answer
}

/// `(error code, leader epoch, end offset)` of an answer.
fn parts(answer: &EpochEndOffset) -> (i16, i32, i64) {
    (answer.error_code, answer.leader_epoch, answer.end_offset)
}

/// Sends records `r<seq>` for `seqs` to partition 0; every send must be acknowledged at the
/// offset `seq`.
async fn send(producer: &FutureProducer, topic: &str, seqs: std::ops::Range<i64>) {
    let all: Vec<i64> = seqs.collect();
    for chunk in all.chunks(200) {
        let sends = chunk.iter().map(|seq| async move {
            let value = format!("r{seq}");
            let delivered = producer
                .send(
                    FutureRecord::<(), _>::to(topic)
                        .partition(0)
                        .payload(&value),
                    Duration::from_secs(90),
                )
                .await;
            (*seq, delivered)
        });
        for (seq, delivered) in futures_util::future::join_all(sends).await {
            let delivery =
                delivered.unwrap_or_else(|(e, _)| panic!("r{seq} not acknowledged: {e}"));
            assert_eq!(delivery.offset, seq, "r{seq}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_answers_for_the_current_and_a_past_epoch() {
    const TOPIC: &str = "epochs";
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, 1, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    send(&producer, TOPIC, 0..10).await;

    let (leader, first) = new_leadership(&cluster, &[1, 2, 3], TOPIC, -1);
    let at_leader = cluster.kafka_addr(leader);
    let none = 0; // Kafka's error code NONE
    // The current epoch ends at the log end.
    let answer = ask(at_leader, 2, -1, TOPIC, 0, first, first);
    assert_eq!(parts(&answer), (none, first, 10));
    // No check of the current epoch when the client sends none (-1).
    assert_eq!(
        parts(&ask(at_leader, 2, -1, TOPIC, 0, -1, first)),
        (none, first, 10)
    );
    // An epoch newer than any: Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET, no error.
    assert_eq!(
        parts(&ask(at_leader, 2, -1, TOPIC, 0, first, first + 1)),
        (none, -1, -1)
    );
    // Per-partition errors.
    let code = |answer: EpochEndOffset| answer.error_code;
    assert_eq!(
        code(ask(at_leader, 2, -1, TOPIC, 0, first + 1, first)),
        ResponseError::UnknownLeaderEpoch.code()
    );
    assert_eq!(
        code(ask(at_leader, 2, -1, TOPIC, 7, first, first)),
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        code(ask(at_leader, 2, -1, "no-such-topic", 0, -1, first)),
        ResponseError::UnknownTopicOrPartition.code()
    );
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert_eq!(
        code(ask(
            cluster.kafka_addr(follower),
            2,
            -1,
            TOPIC,
            0,
            first,
            first
        )),
        ResponseError::NotLeaderOrFollower.code()
    );

    // The leader dies; another one is elected in a newer epoch and takes more records.
    cluster.kill(leader);
    let alive: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (leader, second) = new_leadership(&cluster, &alive, TOPIC, first);
    let at_leader = cluster.kafka_addr(leader);
    // Before the new leader writes, the old epoch still ends at the log end.
    let answer = ask(at_leader, 2, -1, TOPIC, 0, second, first);
    assert_eq!((answer.error_code, answer.leader_epoch), (none, first));
    assert!(answer.end_offset >= 10, "{answer:?}");
    send(&producer, TOPIC, 10..15).await;

    for version in [2, 3, 4] {
        let ask = |current, epoch| parts(&ask(at_leader, version, -1, TOPIC, 0, current, epoch));
        assert_eq!(ask(second, second), (none, second, 15), "v{version}");
        assert_eq!(
            ask(second, first),
            (none, first, 10),
            "v{version}: a past epoch"
        );
        assert_eq!(ask(-1, first), (none, first, 10), "v{version}");
        if second > first + 1 {
            // An epoch in which no leader wrote: the one before it, up to the next one's start.
            assert_eq!(ask(second, second - 1), (none, first, 10), "v{version}");
        }
        if first > 0 {
            // Below every epoch in the log: Kafka answers the epoch asked and the first start.
            assert_eq!(ask(second, first - 1), (none, first - 1, 0), "v{version}");
        }
        assert_eq!(
            ask(first, first).0,
            ResponseError::FencedLeaderEpoch.code(),
            "v{version}: an older current epoch is fenced"
        );
    }
    // A follower's request (v3+ names it) is answered as a consumer's.
    let follower = alive.iter().copied().find(|id| *id != leader).unwrap();
    let from_follower = ask(at_leader, 3, follower as i32, TOPIC, 0, second, first);
    assert_eq!(parts(&from_follower), (none, first, 10));
}

/// Captures librdkafka's log lines (its `debug` output) and error events.
#[derive(Clone, Default)]
struct Captured {
    lines: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for Captured {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("{fac} {log_message}"));
    }
}

impl ConsumerContext for Captured {}

impl Captured {
    fn matching(&self, needle: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

/// Polls `consumer` until `total` records are read, checking each is the next offset with
/// its own value. The only error allowed is the lost connection to a killed broker, which
/// librdkafka reports to the application as any Kafka cluster's would be.
fn consume_until(consumer: &BaseConsumer<Captured>, read: &mut i64, total: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while *read < total {
        assert!(Instant::now() < deadline, "read {read} of {total}");
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure))) => {
            }
            Some(Err(e)) => panic!("the consumer failed at offset {read}: {e}"),
            Some(Ok(m)) => {
                assert_eq!(m.offset(), *read, "a gap or a duplicate");
                let value = m.payload().unwrap_or_default();
                assert_eq!(value, format!("r{read}").as_bytes(), "offset {read}");
                *read += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_validates_its_position_with_the_new_leader_after_a_leader_dies() {
    const TOPIC: &str = "validated";
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, 1, 3)]).await;
    let producer = idempotent_producer(&bootstrap);
    send(&producer, TOPIC, 0..2_000).await;

    let context = Captured::default();
    let consumer: BaseConsumer<Captured> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "validator")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "error")
        .set("reconnect.backoff.max.ms", "200")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("debug", "fetch,topic")
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(context.clone())
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut read = 0;
    consume_until(&consumer, &mut read, 1_000);
    assert!(
        context.matching("OFFSETVALID").is_empty(),
        "no validation before a leader change"
    );

    let (leader, first) = new_leadership(&cluster, &[1, 2, 3], TOPIC, -1);
    cluster.kill(leader);
    let alive: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let (_, second) = new_leadership(&cluster, &alive, TOPIC, first);
    send(&producer, TOPIC, 2_000..3_000).await;
    consume_until(&consumer, &mut read, 3_000);

    // librdkafka asked the new leader where its position's epoch ends, and was satisfied.
    let deadline = Instant::now() + Duration::from_secs(30);
    while context.matching("validation succeeded").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no successful OffsetForLeaderEpoch validation; the validation lines:\n{}",
            context.matching("VALID").join("\n")
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let truncations = context.matching("truncation");
    assert!(truncations.is_empty(), "{truncations:?}");
    eprintln!(
        "epochs {first} -> {second}; librdkafka: {}",
        context.matching("OFFSETVALID").join(" | ")
    );
    // And nothing more arrives: no record was read twice.
    let extra = consumer.poll(Duration::from_millis(500));
    assert!(
        extra.is_none(),
        "{:?}",
        extra.map(|m| m.map(|m| m.offset()))
    );
}

fn binding(
    resource_type: ResourceType,
    name: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: "User:*".into(),
        host: "*".into(),
        operation,
        permission,
    }
}

/// As Kafka authorizes OffsetForLeaderEpoch: DESCRIBE on the topic, or CLUSTER_ACTION on the
/// cluster (a replica's right) for every topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_for_leader_epoch_needs_topic_describe_or_cluster_action() {
    let broker = TestBroker::start().await;
    for topic in ["secret", "open"] {
        broker
            .broker
            .create_topic(topic, 1, -1, BTreeMap::new(), false)
            .await
            .unwrap();
    }
    broker
        .broker
        .create_acls(&[
            binding(
                ResourceType::Topic,
                "secret",
                Operation::Describe,
                Permission::Deny,
            ),
            // Someone else's right: the cluster is no longer open to every caller.
            AclBinding {
                principal: "User:replica".into(),
                ..binding(
                    ResourceType::Cluster,
                    CLUSTER,
                    Operation::ClusterAction,
                    Permission::Allow,
                )
            },
        ])
        .await
        .unwrap();
    let addr = broker.kafka_addr;
    let code = |topic: &str| ask(addr, 3, -1, topic, 0, -1, 0).error_code;
    assert_eq!(
        code("secret"),
        ResponseError::TopicAuthorizationFailed.code()
    );
    assert_eq!(code("open"), 0);
    broker
        .broker
        .create_acls(&[binding(
            ResourceType::Cluster,
            CLUSTER,
            Operation::ClusterAction,
            Permission::Allow,
        )])
        .await
        .unwrap();
    assert_eq!(code("secret"), 0, "CLUSTER_ACTION answers for every topic");
    broker.stop().await;
}

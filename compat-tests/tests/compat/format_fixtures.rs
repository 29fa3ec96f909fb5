//! The on-disk format of every released version, kept forever: a data directory written by
//! the broker of that version (`tests/fixtures/<version>/`, see `format_fixture_writer.rs`)
//! opens with today's code, copied to a temporary directory, with everything in it: topics and
//! their configs; records at their offsets with keys, values, headers and timestamps in every
//! codec, found through the offset and time indexes; an idempotent producer's state and the
//! producer ids handed out; committed group offsets; a queue cursor's settled and held
//! records; ACLs; the cluster id; AMQP exchanges, queues, bindings and messages; SQS queues
//! with their attributes and tags.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use lapin::ExchangeKind;
use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use neo_broker::acls::AclFilter;
use neo_broker::queues::QueueConfig;
use neo_broker::{Acks, Broker, BrokerConfig, GroupConfig};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::{connect, drain, publish};
use neo_compat_tests::sqs::{attributes, client};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, Timestamp, TopicPartitionList};

use super::format_fixture_writer::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the writer of one format version handed out that a check needs.
struct Written {
    version: &'static str,
    cluster_id: &'static str,
    producer_id: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_v1_data_directory_opens_with_everything_in_it() {
    check(&Written {
        version: "v1",
        cluster_id: "addfa998a3574b9ebb93c68690f8839d",
        producer_id: 0,
    })
    .await;
}

async fn check(written: &Written) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(written.version), dir.path());
    // The fixture's records and commits are as old as the fixture: retention and offset
    // expiry, which are not what this test checks, would remove them.
    let broker = TestBroker::start_configured(BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        maintenance_interval: Duration::from_secs(24 * 3600),
        groups: GroupConfig {
            offsets_retention: Duration::from_secs(100 * 365 * 24 * 3600),
            ..GroupConfig::default()
        },
        ..BrokerConfig::default()
    });
    check_metadata(&broker.broker, written);
    assert!(dir.path().join("__consumer_offsets.migrated").is_dir());
    check_records(&broker);
    check_idempotent_producer(&broker.broker, written).await;
    check_queue(&broker.broker).await;
    check_amqp(&broker.amqp_uri()).await;
    check_sqs(&broker.sqs_endpoint()).await;
    broker.stop().await;
}

/// Cluster id, topics and configs, committed offsets, ACLs.
fn check_metadata(broker: &Broker, written: &Written) {
    assert_eq!(broker.cluster_id(), written.cluster_id);
    let topics: Vec<(String, i32)> = broker
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partition_count()))
        .collect();
    let want = [
        // Created at the first start; the fixture's offsets log was taken over into it.
        ("__consumer_offsets", 8),
        ("amqp.audit-log", 1),
        ("amqp.invoices", 1),
        (ORDERS, 2),
        ("sqs.jobs", 1),
        ("sqs.jobs-dlq", 1),
        ("sqs.orders.fifo", 1),
        (TASKS, 1),
    ];
    assert_eq!(
        topics,
        want.map(|(name, partitions)| (name.to_string(), partitions))
    );
    let configs: BTreeMap<String, (String, bool)> = broker
        .describe_topic_configs(ORDERS)
        .unwrap()
        .into_iter()
        .map(|e| (e.name, (e.value, e.is_default)))
        .collect();
    for (name, value) in ORDERS_CONFIGS {
        assert_eq!(configs[name], (value.to_string(), false), "{name}");
    }
    assert_eq!(configs["cleanup.policy"], ("delete".to_string(), true));

    for (partition, offset, metadata) in COMMITTED {
        let committed = broker.groups().committed(GROUP, ORDERS, partition).unwrap();
        assert_eq!(committed.offset, offset);
        assert_eq!(committed.leader_epoch, 0);
        assert_eq!(committed.metadata.as_deref(), metadata);
    }

    assert_eq!(broker.acls().describe(&AclFilter::all()), acl_bindings());
}

/// Every record of both partitions through a Kafka client, a fetch from the middle (offset
/// index) and a lookup by time (time index).
fn check_records(broker: &TestBroker) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "format-check")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let ends = [
        (0, CODECS.len() as i64 * PER_BATCH),
        (1, IDEMPOTENT_BATCHES * PER_BATCH),
    ];
    for (partition, end) in ends {
        assert_eq!(
            consumer
                .fetch_watermarks(ORDERS, partition, TIMEOUT)
                .unwrap(),
            (0, end)
        );
        let records = read(&consumer, partition, 0, end);
        let offsets: Vec<i64> = records.iter().map(|m| m.offset()).collect();
        assert_eq!(offsets, (0..end).collect::<Vec<_>>());
        for m in &records {
            assert_record(partition, m);
        }
    }
    let from_middle = read(&consumer, 0, 21, 1);
    assert_eq!(from_middle[0].offset(), 21);
    assert_record(0, &from_middle[0]);

    let mut wanted = TopicPartitionList::new();
    let before_30 = expected(0, 30).timestamp - 500;
    wanted
        .add_partition_offset(ORDERS, 0, Offset::Offset(before_30))
        .unwrap();
    let found = consumer.offsets_for_times(wanted, TIMEOUT).unwrap();
    assert_eq!(
        found.find_partition(ORDERS, 0).unwrap().offset(),
        Offset::Offset(30)
    );
}

/// `count` records of [`ORDERS`] partition `partition` from `offset` on.
fn read(consumer: &BaseConsumer, partition: i32, offset: i64, count: i64) -> Vec<OwnedMessage> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(ORDERS, partition, Offset::Offset(offset))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut got = Vec::new();
    while (got.len() as i64) < count {
        assert!(Instant::now() < deadline, "read {} of {count}", got.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            got.push(m.unwrap().detach());
        }
    }
    got
}

/// `m` is the record the writer wrote at its offset.
fn assert_record(partition: i32, m: &OwnedMessage) {
    let want = expected(partition, m.offset());
    assert_eq!(m.key(), want.key.as_deref().map(str::as_bytes));
    assert_eq!(m.payload(), Some(want.value.as_bytes()));
    assert_eq!(m.timestamp(), Timestamp::CreateTime(want.timestamp));
    let headers: Vec<(String, String)> = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    let value = String::from_utf8(h.value.unwrap().to_vec()).unwrap();
                    (h.key.to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(headers, want.headers, "offset {}", m.offset());
}

/// The idempotent producer's last batch, sent again, is a duplicate answered with its
/// offsets; a new producer id is one never handed out before.
async fn check_idempotent_producer(broker: &Broker, written: &Written) {
    let last = IDEMPOTENT_BATCHES - 1;
    let retry = idempotent_batch(written.producer_id, last);
    let outcome = broker
        .produce(ORDERS, 1, retry.into(), Acks::All)
        .await
        .unwrap();
    assert_eq!(outcome.base_offset, last * PER_BATCH);
    let partition = broker.partition(ORDERS, 1).unwrap();
    assert_eq!(partition.high_watermark(), IDEMPOTENT_BATCHES * PER_BATCH);
    assert!(broker.new_producer_id().await.unwrap() > written.producer_id);
}

/// Acknowledged records never come back; held ones are available again, their delivery
/// counted; the others are delivered for the first time.
async fn check_queue(broker: &Broker) {
    let queue = broker.queue(TASKS, QueueConfig::default()).await.unwrap();
    let now = neo_record::now_ms();
    let received = queue.receive(now, 100, now + 60_000, 1).unwrap();
    let got: Vec<(i64, String, u32)> = received
        .delivered
        .iter()
        .map(|r| {
            let value = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
            (r.offset, value, r.deliveries)
        })
        .collect();
    let want: Vec<(i64, String, u32)> = (TASKS_ACKED..TASKS_ENQUEUED)
        .map(|o| {
            (
                o,
                format!("task-{o}"),
                if o < TASKS_RECEIVED { 2 } else { 1 },
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// Exchanges keep their kind, queues their arguments and messages, bindings route.
async fn check_amqp(uri: &str) {
    let conn = connect(uri).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchanges(&ch).await;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let other_kind = conn.create_channel().await.unwrap();
    let other_kind = other_kind.exchange_declare(
        "billing".into(),
        ExchangeKind::Direct,
        durable_exchange,
        FieldTable::default(),
    );
    refused(other_kind.await);
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let invoices = ch
        .queue_declare(
            "invoices".into(),
            durable,
            invoices_args(INVOICES_MAX_LENGTH),
        )
        .await
        .unwrap();
    assert_eq!(invoices.message_count(), (INVOICES - 1) as u32);
    let other_args = conn.create_channel().await.unwrap();
    let other_args = other_args.queue_declare(
        "invoices".into(),
        durable,
        invoices_args(INVOICES_MAX_LENGTH + 1),
    );
    refused(other_args.await);
    let audit = ch
        .queue_declare("audit-log".into(), durable, FieldTable::default())
        .await
        .unwrap();
    assert_eq!(audit.message_count(), INVOICES as u32);

    let second = ch
        .basic_get("invoices".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .unwrap();
    let (body, message_id) = invoice(1);
    assert_eq!(second.delivery.data, body.as_bytes());
    let properties = &second.delivery.properties;
    assert_eq!(
        properties.message_id().as_ref().map(|s| s.as_str()),
        Some(message_id.as_str())
    );
    assert_eq!(
        properties.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    let headers = properties.headers().clone().unwrap_or_default();
    assert_eq!(headers.inner().get("n"), Some(&AMQPValue::LongLongInt(1)));
    let rest: Vec<String> = (2..INVOICES).map(|i| invoice(i).0).collect();
    assert_eq!(drain(&ch, "invoices").await, rest);
    let all: Vec<String> = (0..INVOICES).map(|i| invoice(i).0).collect();
    assert_eq!(drain(&ch, "audit-log").await, all);

    publish(&ch, "billing", "invoice.paid", "paid").await;
    publish(&ch, "billing", "refund.issued", "refund").await;
    assert_eq!(drain(&ch, "invoices").await, ["paid"]);
    assert_eq!(drain(&ch, "audit-log").await, ["paid"]);
    conn.close(200, "bye".into()).await.unwrap();
}

/// A redeclaration with other properties is refused (406 PRECONDITION_FAILED).
fn refused<T: std::fmt::Debug>(result: Result<T, lapin::Error>) {
    let err = result
        .expect_err("an inequivalent redeclaration")
        .to_string();
    assert!(err.contains("PRECONDITION_FAILED"), "{err}");
}

/// Queues with their attributes, redrive policy and tags.
async fn check_sqs(endpoint: &str) {
    let sqs = client(endpoint);
    let listed = sqs.list_queues().send().await.unwrap();
    let mut names: Vec<&str> = listed
        .queue_urls()
        .iter()
        .map(|url| url.rsplit('/').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [SQS_JOBS, SQS_DLQ, SQS_FIFO]);
    let jobs = queue_url(&sqs, SQS_JOBS).await;
    let got = attributes(&sqs, &jobs, QueueAttributeName::All).await;
    for (name, value) in SQS_JOBS_ATTRIBUTES {
        assert_eq!(got[&QueueAttributeName::from(name)], value, "{name}");
    }
    let redrive = got[&QueueAttributeName::RedrivePolicy].replace('"', "");
    assert!(redrive.contains(&format!(":{SQS_DLQ}")), "{redrive}");
    assert!(
        redrive.contains(&format!("maxReceiveCount:{SQS_MAX_RECEIVES}")),
        "{redrive}"
    );
    let tags = sqs.list_queue_tags().queue_url(&jobs).send().await.unwrap();
    assert_eq!(
        tags.tags().unwrap().get(SQS_TAG.0).map(String::as_str),
        Some(SQS_TAG.1)
    );
    let fifo = queue_url(&sqs, SQS_FIFO).await;
    let got = attributes(&sqs, &fifo, QueueAttributeName::All).await;
    assert_eq!(got[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(got[&QueueAttributeName::ContentBasedDeduplication], "true");
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let found = sqs.get_queue_url().queue_name(name).send().await.unwrap();
    found.queue_url.unwrap()
}

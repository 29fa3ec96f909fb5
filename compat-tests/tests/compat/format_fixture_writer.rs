//! What an on-disk format fixture holds, and the test that writes one (ignored: run by hand
//! once per format version, with the code of that version):
//!
//! ```sh
//! NEO_FIXTURE_VERSION=v2 cargo test -p neo-compat-tests --test compat -- \
//!     --ignored --exact --nocapture format_fixture_writer::write_format_fixture
//! ```
//!
//! writes `compat-tests/tests/fixtures/v2/`, a data directory after a clean shutdown, and
//! prints its cluster id and producer id for the new version's test in `format_fixtures.rs`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeBindOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use neo_broker::acls::AclBinding;
use neo_broker::groups::OffsetCommit;
use neo_broker::queues::QueueConfig;
use neo_broker::{Acks, Broker};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::{bind, connect};
use neo_compat_tests::sqs::{attributes, client, create};
use neo_record::codec::{BatchBuilder, Compression, Header};

/// The topic of plain Kafka records: partition 0 holds one batch per codec, partition 1 the
/// batches of an idempotent producer.
pub const ORDERS: &str = "orders";
/// Its config overrides: small segments, so the fixture has several with their indexes.
pub const ORDERS_CONFIGS: [(&str, &str); 4] = [
    ("segment.bytes", "1024"),
    ("index.interval.bytes", "256"),
    ("retention.ms", "-1"),
    ("max.message.bytes", "65536"),
];
/// Partition 0's codecs, one batch each.
pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];
/// Records per batch.
pub const PER_BATCH: i64 = 8;
/// Batches of the idempotent producer on partition 1.
pub const IDEMPOTENT_BATCHES: i64 = 3;
/// The group with committed offsets, and what it committed: partition, offset, metadata.
pub const GROUP: &str = "billing";
pub const COMMITTED: [(i32, i64, Option<&str>); 2] = [(0, 17, Some("after-17")), (1, 24, None)];
/// A queue over a topic: records enqueued, the first ones received, of those the first acked.
pub const TASKS: &str = "tasks";
pub const TASKS_ENQUEUED: i64 = 10;
pub const TASKS_RECEIVED: i64 = 6;
pub const TASKS_ACKED: i64 = 3;

/// 2026-01-01T00:00:00Z: records carry fixed timestamps, so their time index is known.
const BASE_TIMESTAMP: i64 = 1_767_225_600_000;

/// One record of [`ORDERS`] as written.
pub struct Expected {
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, String)>,
    pub timestamp: i64,
}

/// The record at `offset` of [`ORDERS`] partition `partition`: no key on every fourth, values
/// of several lengths, zero to two headers.
pub fn expected(partition: i32, offset: i64) -> Expected {
    Expected {
        key: (offset % 4 != 3).then(|| format!("key-{partition}-{offset}")),
        value: format!(
            "value-{partition}-{offset}-{}",
            "v".repeat((offset % 5 * 20) as usize)
        ),
        headers: (0..offset % 3)
            .map(|h| (format!("h{h}"), format!("{partition}-{offset}-{h}")))
            .collect(),
        timestamp: BASE_TIMESTAMP + i64::from(partition) * 100_000 + offset * 1_000,
    }
}

/// The records at `offsets` of [`ORDERS`] partition `partition` as one batch.
pub fn batch(partition: i32, offsets: Range<i64>, codec: Compression) -> BatchBuilder {
    let mut batch = BatchBuilder::new(codec, expected(partition, offsets.start).timestamp);
    for offset in offsets {
        let e = expected(partition, offset);
        let headers: Vec<Header> = e
            .headers
            .iter()
            .map(|(key, value)| Header {
                key: key.clone(),
                value: Some(Bytes::from(value.clone())),
            })
            .collect();
        batch.push(
            e.timestamp,
            e.key.as_deref().map(str::as_bytes),
            Some(e.value.as_bytes()),
            &headers,
        );
    }
    batch
}

/// The idempotent producer's batch `index` (of [`IDEMPOTENT_BATCHES`]) on partition 1.
pub fn idempotent_batch(producer_id: i64, index: i64) -> Vec<u8> {
    let start = index * PER_BATCH;
    batch(1, start..start + PER_BATCH, Compression::None)
        .producer(producer_id, 0, start as i32)
        .build()
        .unwrap()
        .to_vec()
}

/// The ACL bindings: on resources the other checks do not use, since a resource with
/// bindings is closed to everyone else.
pub fn acl_bindings() -> Vec<AclBinding> {
    use neo_broker::acls::{Operation, PatternType, Permission, ResourceType};
    let alice = "User:alice";
    [
        (
            ResourceType::Topic,
            "payroll",
            PatternType::Prefixed,
            alice,
            "*",
            Operation::Read,
            Permission::Allow,
        ),
        (
            ResourceType::Group,
            "payroll-readers",
            PatternType::Literal,
            alice,
            "*",
            Operation::Read,
            Permission::Allow,
        ),
        (
            ResourceType::Topic,
            "payroll.salaries",
            PatternType::Literal,
            "User:mallory",
            "192.0.2.7",
            Operation::Write,
            Permission::Deny,
        ),
    ]
    .into_iter()
    .map(
        |(resource_type, name, pattern_type, principal, host, operation, permission)| AclBinding {
            resource_type,
            resource_name: name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        },
    )
    .collect()
}

/// The AMQP publishes, in order: routed by `billing` (topic) to the queue `invoices` and by
/// the exchange binding `billing` → `audit` (fanout) to `audit-log`. The first is then taken
/// from `invoices` and acknowledged.
pub const INVOICES: i64 = 3;

/// The body and message id of AMQP publish `i` (its header `n` is `i`).
pub fn invoice(i: i64) -> (String, String) {
    (format!("{{\"invoice\":{i}}}"), format!("inv-{i}"))
}

/// The `x-max-length` of the queue `invoices`.
pub const INVOICES_MAX_LENGTH: i64 = 1000;

/// The arguments of the queue `invoices`: `x-max-length`, and `audit` as its dead-letter
/// exchange.
pub fn invoices_args(max_length: i64) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(max_length));
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("audit".into()),
    );
    args
}

/// The SQS queue with attributes and a tag, its dead-letter queue, and a FIFO queue.
pub const SQS_JOBS: &str = "jobs";
pub const SQS_DLQ: &str = "jobs-dlq";
pub const SQS_FIFO: &str = "orders.fifo";
/// Attributes of [`SQS_JOBS`] besides its redrive policy.
pub const SQS_JOBS_ATTRIBUTES: [(&str, &str); 5] = [
    ("VisibilityTimeout", "45"),
    ("MaximumMessageSize", "2048"),
    ("MessageRetentionPeriod", "86400"),
    ("ReceiveMessageWaitTimeSeconds", "5"),
    ("DelaySeconds", "1"),
];
/// The redrive policy's receive count.
pub const SQS_MAX_RECEIVES: &str = "3";
pub const SQS_TAG: (&str, &str) = ("team", "billing");

/// Where the fixture of format `version` lives.
pub fn fixture_dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(version)
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a format fixture: run by hand once per format version"]
async fn write_format_fixture() {
    let version = std::env::var("NEO_FIXTURE_VERSION").expect("NEO_FIXTURE_VERSION (v1, v2...)");
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_blocking_in(dir.path());
    let producer_id = write_kafka_side(&broker.broker).await;
    write_amqp(&broker.amqp_uri()).await;
    write_sqs(&broker.sqs_endpoint()).await;
    let cluster_id = broker.broker.cluster_id().to_string();
    broker.stop().await;
    let target = fixture_dir(&version);
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(dir.path(), &target);
    println!(
        "wrote {} (cluster id {cluster_id}, producer id {producer_id})",
        target.display()
    );
}

/// Topics, records, committed offsets, a queue cursor, ACLs; returns the producer id used.
async fn write_kafka_side(broker: &Broker) -> i64 {
    let configs: BTreeMap<String, String> = ORDERS_CONFIGS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    broker
        .create_topic(ORDERS, 2, -1, configs, false)
        .await
        .unwrap();
    for (i, codec) in CODECS.into_iter().enumerate() {
        let start = i as i64 * PER_BATCH;
        let records = batch(0, start..start + PER_BATCH, codec).build().unwrap();
        broker
            .produce(ORDERS, 0, records.freeze(), Acks::All)
            .await
            .unwrap();
    }
    let producer_id = broker.new_producer_id().await.unwrap();
    for i in 0..IDEMPOTENT_BATCHES {
        broker
            .produce(
                ORDERS,
                1,
                idempotent_batch(producer_id, i).into(),
                Acks::All,
            )
            .await
            .unwrap();
    }
    let commits = COMMITTED
        .iter()
        .map(|(partition, offset, metadata)| OffsetCommit {
            topic: ORDERS.to_string(),
            partition: *partition,
            offset: *offset,
            leader_epoch: 0,
            metadata: metadata.map(str::to_string),
        })
        .collect();
    broker
        .groups()
        .commit_offsets(GROUP, -1, "", None, commits)
        .await
        .unwrap();

    let retained = BTreeMap::from([("retention.ms".to_string(), "-1".to_string())]);
    broker
        .create_topic(TASKS, 1, -1, retained, false)
        .await
        .unwrap();
    let now = neo_record::now_ms();
    let mut tasks = BatchBuilder::new(Compression::None, now);
    for i in 0..TASKS_ENQUEUED {
        tasks.push(now, None, Some(format!("task-{i}").as_bytes()), &[]);
    }
    let tasks = tasks.build().unwrap();
    broker
        .produce(TASKS, 0, tasks.freeze(), Acks::All)
        .await
        .unwrap();
    let queue = broker.queue(TASKS, QueueConfig::default()).await.unwrap();
    let received = queue
        .receive(now, TASKS_RECEIVED as usize, now + 3_600_000, 1)
        .unwrap();
    assert_eq!(received.delivered.len(), TASKS_RECEIVED as usize);
    let acked: Vec<i64> = (0..TASKS_ACKED).collect();
    queue.ack(&acked, Some(1)).unwrap();
    queue.sync().await.unwrap();

    broker.create_acls(&acl_bindings()).await.unwrap();
    producer_id
}

/// The durable exchanges: `billing` (topic) and `audit` (fanout).
pub const EXCHANGES: [(&str, ExchangeKind); 2] = [
    ("billing", ExchangeKind::Topic),
    ("audit", ExchangeKind::Fanout),
];

/// Declares [`EXCHANGES`] (again, when they exist: the same kind is no change).
pub async fn declare_exchanges(ch: &Channel) {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for (name, kind) in EXCHANGES {
        ch.exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await
            .unwrap();
    }
}

/// Exchanges, queues, an exchange binding and queue bindings, and messages.
async fn write_amqp(uri: &str) {
    let conn = connect(uri).await;
    let ch = conn.create_channel().await.unwrap();
    declare_exchanges(&ch).await;
    ch.exchange_bind(
        "audit".into(),
        "billing".into(),
        "invoice.#".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let queues = [
        (
            "invoices",
            invoices_args(INVOICES_MAX_LENGTH),
            "billing",
            "invoice.*",
        ),
        ("audit-log", FieldTable::default(), "audit", ""),
    ];
    for (queue, args, exchange, key) in queues {
        ch.queue_declare(queue.into(), durable, args).await.unwrap();
        bind(&ch, queue, exchange, key).await;
    }
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..INVOICES {
        let (body, message_id) = invoice(i);
        let mut headers = FieldTable::default();
        headers.insert("n".into(), AMQPValue::LongLongInt(i));
        ch.basic_publish(
            "billing".into(),
            "invoice.created".into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(message_id.into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let first = ch
        .basic_get("invoices".into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .unwrap();
    first.ack(BasicAckOptions::default()).await.unwrap();
    conn.close(200, "bye".into()).await.unwrap();
}

/// A queue with attributes, a redrive policy and a tag; its dead-letter queue; a FIFO queue.
async fn write_sqs(endpoint: &str) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = client(endpoint);
    let dlq = create(&sqs, SQS_DLQ, &[]).await;
    let dlq_arn = attributes(&sqs, &dlq, QueueAttributeName::QueueArn).await
        [&QueueAttributeName::QueueArn]
        .clone();
    let redrive = format!(
        "{{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":\"{SQS_MAX_RECEIVES}\"}}"
    );
    let mut request = sqs
        .create_queue()
        .queue_name(SQS_JOBS)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .tags(SQS_TAG.0, SQS_TAG.1);
    for (name, value) in SQS_JOBS_ATTRIBUTES {
        request = request.attributes(QueueAttributeName::from(name), value);
    }
    request.send().await.unwrap();
    create(
        &sqs,
        SQS_FIFO,
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
        ],
    )
    .await;
}

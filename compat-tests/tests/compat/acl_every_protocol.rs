//! One set of ACLs, created through the Kafka admin API by kafka-python, enforced by every
//! front-end with its own protocol's refusal: for each locked topic `User:*` may do everything
//! but WRITE, so a Kafka produce, an AMQP publish, an SQS SendMessage and a native produce are
//! refused while reading the same topics (and writing others) still works.
//! `scripts/test` installs kafka-python; without it this test fails under CI and skips elsewhere.
//! Beside it, bindings made through the broker API show who the AMQP and SQS callers are: the
//! login user, locked out of the vhost only by a DENY, and the SigV4 access key id.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use neo_broker::acls::{AclBinding, CLUSTER, Operation, PatternType, Permission, ResourceType};
use neo_client::{Client, ClientError, ErrorCode, ProducerConfig, StartAt};
use neo_compat_tests::TestBroker;
use neo_compat_tests::tools::python;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_acls_refuse_writes_in_every_protocol_with_its_own_error() {
    let Some(python) = python() else { return };
    let broker = TestBroker::start().await;
    // Kafka's topic, an AMQP queue's and an SQS queue's, all named `locked` by their clients.
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_lock_topics.py");
    let output = Command::new(python)
        .arg(script)
        .arg(broker.bootstrap())
        .arg("locked,open")
        .arg("locked,amqp.locked,sqs.locked")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("topics locked"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    kafka_refuses_with_topic_authorization_failed(&broker).await;
    amqp_refuses_with_access_refused(&broker).await;
    sqs_refuses_with_access_denied(&broker).await;
    native_refuses_with_access_denied(&broker).await;
    broker.stop().await;
}

async fn kafka_refuses_with_topic_authorization_failed(broker: &TestBroker) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.timeout.ms", "10000")
        .create()
        .unwrap();
    let (refused, _) = producer
        .send(FutureRecord::to("locked").key("k").payload("no"), TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    producer
        .send(FutureRecord::to("open").key("k").payload("yes"), TIMEOUT)
        .await
        .unwrap();
}

async fn publish_confirmed(ch: &Channel, queue: &str) -> Result<(), lapin::Error> {
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        b"body",
        BasicProperties::default(),
    )
    .await?
    .await
    .map(|_| ())
}

async fn amqp_refuses_with_access_refused(broker: &TestBroker) {
    let conn = neo_compat_tests::amqp::connect(&broker.amqp_uri()).await;
    let ch = conn.create_channel().await.unwrap();
    for queue in ["locked", "open"] {
        ch.queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let refused = publish_confirmed(&ch, "locked").await.unwrap_err();
    let text = refused.to_string();
    assert!(
        text.contains(
            "ACCESS_REFUSED - access to queue 'locked' in vhost '/' refused for user 'guest'"
        ),
        "{text}"
    );
    // The refusal closed that channel only; reading the locked queue and writing another work.
    let ch = conn.create_channel().await.unwrap();
    let got = ch
        .basic_get("locked".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    assert!(got.is_none());
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    publish_confirmed(&ch, "open").await.unwrap();
    conn.close(200, "bye".into()).await.unwrap();
}

async fn sqs_refuses_with_access_denied(broker: &TestBroker) {
    let sqs = neo_compat_tests::sqs::client(&broker.sqs_endpoint());
    let locked = neo_compat_tests::sqs::create(&sqs, "locked", &[]).await;
    let refused = sqs
        .send_message()
        .queue_url(&locked)
        .message_body("no")
        .send()
        .await
        .unwrap_err();
    assert_eq!(neo_compat_tests::sqs::code(&refused), "AccessDenied");
    assert_eq!(refused.raw_response().unwrap().status().as_u16(), 403);
    let received = sqs
        .receive_message()
        .queue_url(&locked)
        .send()
        .await
        .unwrap();
    assert!(received.messages.unwrap_or_default().is_empty());
    let open = neo_compat_tests::sqs::create(&sqs, "open", &[]).await;
    sqs.send_message()
        .queue_url(&open)
        .message_body("yes")
        .send()
        .await
        .unwrap();
}

async fn native_refuses_with_access_denied(broker: &TestBroker) {
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    let producer = client.producer(ProducerConfig::default());
    let refused = producer
        .send("locked", 0, None, Bytes::from("no"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(refused, ClientError::AccessDenied(_)), "{refused}");
    assert_eq!(refused.code(), Some(ErrorCode::AccessDenied));
    client
        .subscribe("locked", 0, StartAt::Earliest)
        .await
        .unwrap();
    producer
        .send("open", 0, None, Bytes::from("yes"))
        .await
        .unwrap()
        .await
        .unwrap();
    client.close().await;
}

fn binding(
    resource_type: ResourceType,
    name: &str,
    principal: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type: PatternType::Literal,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_users_and_sqs_access_keys_are_the_principals_acls_name() {
    let broker = TestBroker::start().await;
    // An admin's grant on the cluster locks no AMQP user out of the vhost...
    broker
        .broker
        .create_acls(&[binding(
            ResourceType::Cluster,
            CLUSTER,
            "User:admin",
            Operation::Alter,
            Permission::Allow,
        )])
        .await
        .unwrap();
    let conn = neo_compat_tests::amqp::connect(&broker.amqp_uri()).await;
    conn.close(200, "bye".into()).await.unwrap();
    // ... a DENY for the login user does, as RabbitMQ refuses a vhost.
    broker
        .broker
        .create_acls(&[binding(
            ResourceType::Cluster,
            CLUSTER,
            "User:guest",
            Operation::All,
            Permission::Deny,
        )])
        .await
        .unwrap();
    let refused = lapin::Connection::connect(&broker.amqp_uri(), Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("access to vhost '/' refused for user 'guest'"),
        "{refused}"
    );

    // SQS: the access key id is the user; ListQueues leaves out what it may not DESCRIBE.
    let endpoint = broker.sqs_endpoint();
    let alice = neo_compat_tests::sqs::client_as(&endpoint, "alice");
    let bob = neo_compat_tests::sqs::client_as(&endpoint, "bob");
    neo_compat_tests::sqs::create(&alice, "alices", &[]).await;
    neo_compat_tests::sqs::create(&alice, "shared", &[]).await;
    broker
        .broker
        .create_acls(&[binding(
            ResourceType::Topic,
            "sqs.alices",
            "User:alice",
            Operation::All,
            Permission::Allow,
        )])
        .await
        .unwrap();
    let listed = |client: aws_sdk_sqs::Client| async move {
        let urls = client.list_queues().send().await.unwrap().queue_urls;
        let mut names: Vec<String> = urls
            .unwrap_or_default()
            .iter()
            .filter_map(|u| u.rsplit('/').next().map(str::to_string))
            .collect();
        names.sort();
        names
    };
    assert_eq!(listed(alice.clone()).await, ["alices", "shared"]);
    assert_eq!(listed(bob.clone()).await, ["shared"]);
    let refused = bob
        .get_queue_attributes()
        .queue_url(format!("{endpoint}/000000000000/alices"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(neo_compat_tests::sqs::code(&refused), "AccessDenied");
    broker.stop().await;
}

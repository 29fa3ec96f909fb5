//! One set of ACLs, created through the Kafka admin API by kafka-python, enforced by every
//! front-end with its own protocol's refusal: for each locked topic `User:*` may do everything
//! but WRITE, so a Kafka produce, an AMQP publish, an SQS SendMessage and a native produce are
//! refused while reading the same topics (and writing others) still works.
//! `scripts/test` installs kafka-python; without it this test fails under CI and skips elsewhere.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
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

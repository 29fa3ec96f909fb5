//! RabbitMQ's durability promise with real processes: 100,000 persistent messages published
//! with confirms to a durable queue, half consumed and acknowledged, the broker killed with
//! SIGKILL and restarted: exactly the unacknowledged half is delivered, and no acknowledged
//! message ever again. The topology (a durable exchange and binding) survives too.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use neo_compat_tests::child::{broker_until_killed, listening_addr, spawn_test};

const DIR_VAR: &str = "NEO_AMQP_CRASH_DIR";
const COUNT: u32 = 100_000;

/// Not a test of its own: the broker process the crash test starts and kills.
#[test]
#[ignore = "run as a child process by another test of this file"]
fn amqp_child_broker_until_killed() {
    broker_until_killed(DIR_VAR, |broker| broker.amqp_addr);
}

/// Starts the broker process; returns it and its AMQP URI.
fn start_broker(dir: &std::path::Path) -> (Child, String) {
    let mut child = spawn_test(
        "amqp_crash::amqp_child_broker_until_killed",
        [(DIR_VAR, dir)],
    );
    let addr = listening_addr(&mut child);
    (child, format!("amqp://guest:guest@{addr}/%2f"))
}

fn index(body: &[u8]) -> u32 {
    std::str::from_utf8(body).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_unacknowledged_half_is_delivered_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut broker, uri) = start_broker(dir.path());
    let conn = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(
        "orders".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare("work".into(), durable, FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        "work".into(),
        "orders".into(),
        "new".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut confirms = Vec::with_capacity(COUNT as usize);
    for i in 0..COUNT {
        confirms.push(
            ch.basic_publish(
                "orders".into(),
                "new".into(),
                BasicPublishOptions::default(),
                i.to_string().as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap(),
        );
    }
    for confirm in confirms {
        assert!(confirm.await.unwrap().is_ack());
    }

    // Consume and acknowledge the first half; a round trip on the channel afterwards makes
    // sure the broker has taken every ack before it is killed.
    let consumer_ch = conn.create_channel().await.unwrap();
    consumer_ch
        .basic_qos(1_000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consumer_ch
        .basic_consume(
            "work".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    while acked.len() < (COUNT / 2) as usize {
        let d = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let i = index(&d.data);
        if i < COUNT / 2 {
            d.ack(BasicAckOptions::default()).await.unwrap();
            acked.insert(i);
        }
    }
    consumer_ch
        .basic_qos(1_000, BasicQosOptions::default())
        .await
        .unwrap();
    broker.kill().unwrap(); // SIGKILL
    broker.wait().unwrap();
    drop(conn);

    let (mut broker, uri) = start_broker(dir.path());
    let conn = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(1_000, BasicQosOptions::default())
        .await
        .unwrap();
    // The exchange and binding are still there: a new message routes to the queue.
    ch.basic_publish(
        "orders".into(),
        "new".into(),
        BasicPublishOptions::default(),
        COUNT.to_string().as_bytes(),
        BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .unwrap();
    let mut deliveries = ch
        .basic_consume(
            "work".into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    while seen.len() < (COUNT / 2 + 1) as usize {
        let d = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let i = index(&d.data);
        assert!(
            !acked.contains(&i),
            "acknowledged message {i} delivered again"
        );
        seen.insert(i);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    let expected: BTreeSet<u32> = (COUNT / 2..=COUNT).collect();
    assert_eq!(seen, expected);
    broker.kill().unwrap();
    broker.wait().unwrap();
}

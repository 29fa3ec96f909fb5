//! lapin (a RabbitMQ client in Rust) against Neo's AMQP gateway: a durable work queue with
//! publisher confirms, prefetch and manual acks, redelivery of unacknowledged messages when a
//! channel closes, topic and fanout routing, basic.get (which sees publishes just before it),
//! purge, and the channel errors RabbitMQ answers with.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::publish;

const TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(broker: &TestBroker) -> Connection {
    Connection::connect(&broker.amqp_uri(), ConnectionProperties::default())
        .await
        .unwrap()
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queue_with_confirms_prefetch_acks_and_redelivery() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let publisher = conn.create_channel().await.unwrap();
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    publisher
        .queue_declare("jobs".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    for i in 0..20 {
        let confirm = publisher
            .basic_publish(
                "".into(),
                "jobs".into(),
                BasicPublishOptions::default(),
                format!("job {i}").as_bytes(),
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_correlation_id(format!("c{i}").into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack(), "publish {i} confirmed");
    }

    // A worker with prefetch 5 takes five, acknowledges three, then its channel closes.
    let worker = conn.create_channel().await.unwrap();
    worker
        .basic_qos(5, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = worker
        .basic_consume(
            "jobs".into(),
            "w1".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        let d = tokio::time::timeout(TIMEOUT, deliveries.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(d);
    }
    let bodies: Vec<String> = got
        .iter()
        .map(|d| String::from_utf8(d.data.clone()).unwrap())
        .collect();
    assert_eq!(bodies, ["job 0", "job 1", "job 2", "job 3", "job 4"]);
    assert_eq!(
        got[0]
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str()),
        Some("c0")
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), deliveries.next())
            .await
            .is_err(),
        "prefetch 5 holds the sixth back"
    );
    for d in &got[..3] {
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    worker.close(200, "bye".into()).await.unwrap();

    // Another consumer gets the unacknowledged ones again (redelivered), then the rest.
    let second = conn.create_channel().await.unwrap();
    let mut deliveries = second
        .basic_consume(
            "jobs".into(),
            "w2".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..17 {
        let d = tokio::time::timeout(TIMEOUT, deliveries.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push((String::from_utf8(d.data.clone()).unwrap(), d.redelivered));
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    // In order from the oldest unacknowledged; 3 and 4 were delivered before, and so may be
    // 5 to 7 (the three acks let the first worker take three more before it closed, as
    // RabbitMQ would too); 8 onwards are new.
    let bodies: Vec<&str> = seen.iter().map(|(b, _)| b.as_str()).collect();
    let expected: Vec<String> = (3..20).map(|i| format!("job {i}")).collect();
    assert_eq!(bodies, expected);
    assert!(seen[0].1 && seen[1].1, "{seen:?}");
    assert!(
        seen[5..].iter().all(|(_, redelivered)| !redelivered),
        "{seen:?}"
    );
    conn.close(200, "bye".into()).await.unwrap();
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_and_fanout_routing_get_purge_and_errors() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        "logs".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for (queue, pattern) in [("errors", "*.error"), ("all", "#")] {
        ch.queue_declare(queue.into(), durable(), FieldTable::default())
            .await
            .unwrap();
        ch.queue_bind(
            queue.into(),
            "logs".into(),
            pattern.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    for key in ["app.error", "app.info", "db.error"] {
        ch.basic_publish(
            "logs".into(),
            key.into(),
            BasicPublishOptions::default(),
            key.as_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    let mut errors = Vec::new();
    while errors.len() < 2 {
        match ch
            .basic_get("errors".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => errors.push(m.delivery.routing_key.as_str().to_string()),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(errors, ["app.error", "db.error"]);
    // "all" holds three; purge answers how many it removed.
    let declared = ch
        .queue_declare(
            "all".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(declared.message_count(), 3);
    let purged = ch
        .queue_purge("all".into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(purged, 3);

    // A passive declare of a missing queue closes the channel with 404.
    let err = ch
        .queue_declare(
            "missing".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("404") || err.to_string().contains("NOT_FOUND"),
        "{err}"
    );
    // The connection is still good for other channels.
    let other = conn.create_channel().await.unwrap();
    other
        .queue_declare("fresh".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    // Redeclaring with another durability is PRECONDITION_FAILED (406).
    let err = other
        .queue_declare(
            "fresh".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("406") || err.to_string().contains("PRECONDITION"),
        "{err}"
    );
    conn.close(200, "bye".into()).await.unwrap();
    broker.stop().await;
}

/// The first `x-death` entry's reason and queue.
fn death(d: &lapin::message::Delivery) -> (String, String) {
    use lapin::types::AMQPValue;
    let headers = d.properties.headers().clone().unwrap_or_default();
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        panic!("no x-death header: {headers:?}");
    };
    let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first() else {
        panic!("empty x-death");
    };
    let text = |k: &str| match first.inner().get(k) {
        Some(AMQPValue::LongString(s)) => String::from_utf8(s.as_bytes().to_vec()).unwrap(),
        other => panic!("{k}: {other:?}"),
    };
    (text("reason"), text("queue"))
}

async fn next_dead(dead: &mut lapin::Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(TIMEOUT, dead.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

fn args(pairs: &[(&str, lapin::types::AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lettering_of_expired_rejected_and_overflowing_messages() {
    use lapin::options::BasicRejectOptions;
    use lapin::types::AMQPValue;
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(
        "dlx".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare("dead".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        "dead".into(),
        "dlx".into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let dlx = (
        "x-dead-letter-exchange",
        AMQPValue::LongString("dlx".into()),
    );
    let declare = |name: &'static str, extra: Vec<(&'static str, AMQPValue)>| {
        let ch = ch.clone();
        let mut pairs = vec![dlx.clone()];
        pairs.extend(extra);
        async move {
            ch.queue_declare(name.into(), durable(), args(&pairs))
                .await
                .unwrap();
        }
    };
    declare("delayed", vec![("x-message-ttl", AMQPValue::LongInt(200))]).await;
    declare("work2", vec![]).await;
    declare("bounded", vec![("x-max-length", AMQPValue::LongInt(2))]).await;
    let publish = |queue: &'static str, body: &'static str| {
        let ch = ch.clone();
        async move {
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap()
        }
    };
    let mut dead = ch
        .basic_consume(
            "dead".into(),
            "dead-reader".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

    // Nobody consumes "delayed": its message moves on when its TTL passes.
    publish("delayed", "later").await;
    let d = next_dead(&mut dead).await;
    assert_eq!(d.data, b"later");
    assert_eq!(death(&d), ("expired".into(), "delayed".into()));

    // A rejected message (no requeue) moves on.
    publish("work2", "refused").await;
    let got = ch
        .basic_get("work2".into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .unwrap();
    got.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    let d = next_dead(&mut dead).await;
    assert_eq!(d.data, b"refused");
    assert_eq!(death(&d), ("rejected".into(), "work2".into()));

    // A full queue drops its oldest message to the dead-letter exchange.
    for body in ["one", "two", "three"] {
        publish("bounded", body).await;
    }
    let d = next_dead(&mut dead).await;
    assert_eq!(d.data, b"one");
    assert_eq!(death(&d), ("maxlen".into(), "bounded".into()));

    // reject-publish: a full queue refuses, and the confirm says so.
    ch.queue_declare(
        "strict".into(),
        durable(),
        args(&[
            ("x-max-length", AMQPValue::LongInt(1)),
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ]),
    )
    .await
    .unwrap();
    assert!(publish("strict", "first").await.is_ack());
    assert!(!publish("strict", "second").await.is_ack());

    // A per-message expiration: gone before anyone reads it.
    ch.queue_declare("plain".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    ch.basic_publish(
        "".into(),
        "plain".into(),
        BasicPublishOptions::default(),
        b"short-lived",
        BasicProperties::default().with_expiration("50".into()),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        ch.basic_get("plain".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .is_none()
    );
    conn.close(200, "bye".into()).await.unwrap();
    broker.stop().await;
}

/// As from RabbitMQ, a method after basic.publish on a connection sees what was published:
/// basic.get and a passive declare's message count, right after publishes without confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_right_after_publishes_sees_them() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare("seen".into(), durable(), FieldTable::default())
        .await
        .unwrap();
    for round in 0..50 {
        for i in 0..3 {
            publish(&ch, "", "seen", &format!("{round}.{i}")).await;
        }
        let passive = QueueDeclareOptions {
            passive: true,
            ..durable()
        };
        let declared = ch
            .queue_declare("seen".into(), passive, FieldTable::default())
            .await
            .unwrap();
        assert_eq!(declared.message_count(), 3, "round {round}");
        for i in 0..3 {
            let got = ch
                .basic_get("seen".into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: message {i} missing"));
            assert_eq!(got.delivery.data, format!("{round}.{i}").into_bytes());
        }
    }
}

//! The same scenarios against RabbitMQ (Debian's `rabbitmq-server`, started here on free
//! loopback ports) and against Neo's AMQP gateway, through lapin: deliveries, their order and
//! redelivered flags, returns, and the reply codes of errors must match.
//!
//! `scripts/test` installs rabbitmq-server; without it this test fails under CI and skips
//! elsewhere. RabbitMQ here is 3.10 (Debian 12); where it differs from current RabbitMQ
//! documentation the scenario says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use neo_compat_tests::TestBroker;
use neo_compat_tests::rabbitmq::RabbitMq;

async fn connect(uri: &str) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Connection::connect(uri, ConnectionProperties::default()).await {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot connect to {uri}: {e}"),
        }
    }
}

/// The reply code of a refused operation (or 0 when it succeeded).
fn code<T>(result: lapin::Result<T>) -> u16 {
    match result {
        Ok(_) => 0,
        Err(e) => match e.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => amqp.get_id(),
            other => panic!("not a protocol error: {other:?}"),
        },
    }
}

async fn body_of(ch: &Channel, queue: &str) -> Option<(String, bool)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(m) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            return Some((
                String::from_utf8(m.delivery.data.clone()).unwrap(),
                m.delivery.redelivered,
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Every scenario, as lines of what a client observes.
async fn scenarios(uri: &str) -> Vec<String> {
    let mut log = Vec::new();
    let conn = connect(uri).await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };

    // 1. Requeue and reject: a nacked message comes back first, marked redelivered; a
    //    rejected one without requeue is gone.
    ch.queue_declare("d.work".into(), durable, FieldTable::default())
        .await
        .unwrap();
    for i in 0..4 {
        ch.basic_publish(
            "".into(),
            "d.work".into(),
            BasicPublishOptions::default(),
            format!("m{i}").as_bytes(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let consumer_ch = conn.create_channel().await.unwrap();
    consumer_ch
        .basic_qos(1, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consumer_ch
        .basic_consume(
            "d.work".into(),
            "d.c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for step in 0..5 {
        let d = tokio::time::timeout(Duration::from_secs(5), deliveries.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        log.push(format!(
            "deliver {} redelivered={}",
            String::from_utf8_lossy(&d.data),
            d.redelivered
        ));
        match step {
            0 => {
                d.nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
                .unwrap();
            }
            1 => {
                d.reject(BasicRejectOptions { requeue: false })
                    .await
                    .unwrap();
            }
            _ => {
                d.ack(BasicAckOptions::default()).await.unwrap();
            }
        }
    }

    // 2. Topic routing, seen through basic.get.
    ch.exchange_declare(
        "d.topic".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for (queue, pattern) in [("d.t1", "a.*"), ("d.t2", "#.z")] {
        ch.queue_declare(queue.into(), durable, FieldTable::default())
            .await
            .unwrap();
        ch.queue_bind(
            queue.into(),
            "d.topic".into(),
            pattern.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    for key in ["a.b", "a.b.z", "q.z", "a.z"] {
        ch.basic_publish(
            "d.topic".into(),
            key.into(),
            BasicPublishOptions::default(),
            key.as_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    for queue in ["d.t1", "d.t2"] {
        let mut got = Vec::new();
        while let Some((body, _)) = body_of(&ch, queue).await {
            got.push(body);
            if got.len() == 3 {
                break;
            }
        }
        log.push(format!("{queue}: {got:?}"));
    }

    // 3. An unroutable mandatory message is returned (312) and still confirmed.
    let confirm = ch
        .basic_publish(
            "".into(),
            "d.nowhere".into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            b"lost",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    log.push(format!(
        "mandatory: ack={} returned={:?}",
        confirm.is_ack(),
        confirm
            .take_message()
            .map(|m| (m.reply_code, String::from_utf8_lossy(&m.data).into_owned()))
    ));

    // 4. Errors, each on a channel of its own (a soft error closes only its channel).
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "passive declare of a missing queue: {}",
        code(
            c.queue_declare("d.missing".into(), passive, FieldTable::default())
                .await
        )
    ));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "redeclare with other durability: {}",
        code(
            c.queue_declare(
                "d.work".into(),
                QueueDeclareOptions::default(),
                FieldTable::default()
            )
            .await
        )
    ));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "declare a reserved exchange name: {}",
        code(
            c.exchange_declare(
                "amq.neo-diff".into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
        )
    ));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "bind to a missing exchange: {}",
        code(
            c.queue_bind(
                "d.work".into(),
                "d.no-exchange".into(),
                "k".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
        )
    ));
    // Exclusive queues belong to their connection.
    let c = conn.create_channel().await.unwrap();
    c.queue_declare(
        "d.mine".into(),
        QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let other = connect(uri).await;
    let oc = other.create_channel().await.unwrap();
    log.push(format!(
        "another connection's exclusive queue: {}",
        code(
            oc.basic_consume(
                "d.mine".into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        )
    ));
    let _ = other.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo_answers_like_rabbitmq() {
    let Some(rabbit) = RabbitMq::start() else {
        return;
    };
    let neo = TestBroker::start().await;
    let expected = scenarios(&rabbit.uri()).await;
    let got = scenarios(&neo.amqp_uri()).await;
    println!("RabbitMQ: {expected:#?}");
    assert_eq!(expected.len(), 13, "every scenario ran against RabbitMQ");
    for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(have, want, "step {i}: RabbitMQ said {want:?}, Neo {have:?}");
    }
    assert_eq!(got.len(), expected.len());
    drop(rabbit);
    neo.stop().await;
}

//! The same scenarios against RabbitMQ (Debian's `rabbitmq-server`, started here on free
//! loopback ports) and against Neo's AMQP gateway, through lapin: deliveries, their order and
//! redelivered flags, returns, and the reply codes of errors must match.
//!
//! `scripts/test` installs rabbitmq-server; without it this test fails under CI and skips
//! elsewhere. RabbitMQ here is 3.10 (Debian 12); where it differs from current RabbitMQ
//! documentation the scenario says so.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRejectOptions, ChannelFlowOptions,
    ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Consumer, ExchangeKind};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::{connect, drain, publish};
use neo_compat_tests::rabbitmq::RabbitMq;

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

async fn consume(ch: &Channel, queue: &str, tag: &str, exclusive: bool) -> lapin::Result<Consumer> {
    ch.basic_consume(
        queue.into(),
        tag.into(),
        BasicConsumeOptions {
            no_ack: true,
            exclusive,
            ..BasicConsumeOptions::default()
        },
        FieldTable::default(),
    )
    .await
}

/// Bodies `consumer` receives within 300 ms.
async fn received(consumer: &mut Consumer) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(Some(Ok(d))) =
        tokio::time::timeout(Duration::from_millis(300), consumer.next()).await
    {
        got.push(String::from_utf8(d.data.clone()).unwrap());
    }
    got
}

/// Exchange-to-exchange bindings, alternate exchanges, consumers (exclusive, single active,
/// per-consumer prefetch, cancelled by a queue's deletion), auto-delete, `x-expires` and
/// transactions, as lines of what a client observes.
async fn topology_scenarios(uri: &str) -> Vec<String> {
    let mut log = Vec::new();
    let conn = connect(uri).await;
    let ch = conn.create_channel().await.unwrap();
    let declare = |name: &'static str, args: FieldTable| {
        let ch = ch.clone();
        async move {
            ch.queue_declare(name.into(), QueueDeclareOptions::default(), args)
                .await
                .unwrap()
        }
    };
    // 5. src (topic, alternate exchange ae) → mid (fanout) → q.e2e; unmatched → ae → q.lost.
    let mut alternate = FieldTable::default();
    alternate.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString("t.ae".into()),
    );
    for (name, kind, args) in [
        ("t.ae", ExchangeKind::Fanout, FieldTable::default()),
        ("t.src", ExchangeKind::Topic, alternate),
        ("t.mid", ExchangeKind::Fanout, FieldTable::default()),
    ] {
        ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), args)
            .await
            .unwrap();
    }
    ch.exchange_bind(
        "t.mid".into(),
        "t.src".into(),
        "x.#".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    for (queue, exchange) in [("t.e2e", "t.mid"), ("t.lost", "t.ae")] {
        declare(queue, FieldTable::default()).await;
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    for key in ["x.1", "y.1", "x.2.3"] {
        publish(&ch, "t.src", key, key).await;
    }
    log.push(format!("e2e: {:?}", drain(&ch, "t.e2e").await));
    log.push(format!("alternate: {:?}", drain(&ch, "t.lost").await));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "exchange.bind from a missing exchange: {}",
        code(
            c.exchange_bind(
                "t.mid".into(),
                "t.none".into(),
                "".into(),
                ExchangeBindOptions::default(),
                FieldTable::default(),
            )
            .await
        )
    ));

    // 6. An exclusive consumer keeps others out; declare-ok counts consumers; delete
    //    if-unused refuses a queue with consumers.
    declare("t.ex", FieldTable::default()).await;
    let ex_ch = conn.create_channel().await.unwrap();
    let _ex = consume(&ex_ch, "t.ex", "ex", true).await.unwrap();
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "second consumer of an exclusively consumed queue: {}",
        code(consume(&c, "t.ex", "other", false).await)
    ));
    log.push(format!(
        "consumer_count: {}",
        declare("t.ex", FieldTable::default())
            .await
            .consumer_count()
    ));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "delete if-unused with a consumer: {}",
        code(
            c.queue_delete(
                "t.ex".into(),
                QueueDeleteOptions {
                    if_unused: true,
                    ..QueueDeleteOptions::default()
                },
            )
            .await
        )
    ));

    // 7. Single active consumer: the first gets everything until it cancels.
    let mut sac = FieldTable::default();
    sac.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    declare("t.sac", sac).await;
    let (ch_a, ch_b) = (
        conn.create_channel().await.unwrap(),
        conn.create_channel().await.unwrap(),
    );
    let mut a = consume(&ch_a, "t.sac", "a", false).await.unwrap();
    let mut b = consume(&ch_b, "t.sac", "b", false).await.unwrap();
    for i in 0..3 {
        publish(&ch, "", "t.sac", &format!("s{i}")).await;
    }
    log.push(format!(
        "sac: a={:?} b={:?}",
        received(&mut a).await,
        received(&mut b).await
    ));
    ch_a.basic_cancel("a".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    publish(&ch, "", "t.sac", "after cancel").await;
    log.push(format!("sac after cancel: b={:?}", received(&mut b).await));

    // 8. Per-consumer prefetch (global=false): a consumer holds at most 2 unacked.
    declare("t.pf", FieldTable::default()).await;
    for i in 0..5 {
        publish(&ch, "", "t.pf", &format!("p{i}")).await;
    }
    let pf = conn.create_channel().await.unwrap();
    pf.basic_qos(2, BasicQosOptions { global: false })
        .await
        .unwrap();
    let mut held = pf
        .basic_consume(
            "t.pf".into(),
            "pf".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    log.push(format!("prefetch 2: {:?}", received(&mut held).await));

    // 9. Auto-delete queue goes with its last consumer; a deleted queue cancels consumers.
    ch.queue_declare(
        "t.auto".into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let auto_ch = conn.create_channel().await.unwrap();
    consume(&auto_ch, "t.auto", "auto", false).await.unwrap();
    auto_ch
        .basic_cancel("auto".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = conn.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    log.push(format!(
        "auto-delete queue after its consumer: {}",
        code(
            c.queue_declare("t.auto".into(), passive, FieldTable::default())
                .await
        )
    ));
    declare("t.doomed", FieldTable::default()).await;
    let doomed_ch = conn.create_channel().await.unwrap();
    let mut doomed = consume(&doomed_ch, "t.doomed", "doomed", false)
        .await
        .unwrap();
    ch.queue_delete("t.doomed".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), doomed.next()).await;
    log.push(format!(
        "consumer of a deleted queue ends: {}",
        matches!(end, Ok(None))
    ));

    // 10. x-expires: an unused queue is deleted.
    let mut expires = FieldTable::default();
    expires.insert("x-expires".into(), AMQPValue::LongInt(500));
    declare("t.expires", expires).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "x-expires queue after 1.5 s unused: {}",
        code(
            c.queue_declare("t.expires".into(), passive, FieldTable::default())
                .await
        )
    ));

    // 11. Transactions: publishes are routed at commit; rollback discards them.
    declare("t.tx", FieldTable::default()).await;
    let tx = conn.create_channel().await.unwrap();
    tx.tx_select().await.unwrap();
    publish(&tx, "", "t.tx", "rolled back").await;
    tx.tx_rollback().await.unwrap();
    publish(&tx, "", "t.tx", "committed").await;
    log.push(format!("tx before commit: {:?}", drain(&ch, "t.tx").await));
    tx.tx_commit().await.unwrap();
    log.push(format!("tx after commit: {:?}", drain(&ch, "t.tx").await));
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "tx.commit outside a transaction: {}",
        code(c.tx_commit().await)
    ));
    // 12. x-max-length-bytes: drop-head keeps the newest that fit; reject-publish nacks.
    let mut bytes = FieldTable::default();
    bytes.insert("x-max-length-bytes".into(), AMQPValue::LongInt(10));
    declare("t.bytes", bytes.clone()).await;
    bytes.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    declare("t.bytes-reject", bytes).await;
    let confirming = conn.create_channel().await.unwrap();
    confirming
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut acks = Vec::new();
    for queue in ["t.bytes", "t.bytes-reject"] {
        for body in ["aaaa", "bbbb", "cccc"] {
            let confirm = confirming
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            acks.push(confirm.is_ack());
        }
    }
    log.push(format!(
        "max-length-bytes 10: drop-head {:?}, reject-publish {:?}, acks {acks:?}",
        drain(&ch, "t.bytes").await,
        drain(&ch, "t.bytes-reject").await
    ));

    // 13. Redeclaring with other properties or arguments is 406 (frameworks rely on it).
    ch.exchange_declare(
        "t.equiv".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut ttl = FieldTable::default();
    ttl.insert("x-message-ttl".into(), AMQPValue::LongInt(60_000));
    declare("t.equiv-q", ttl).await;
    let redeclares: [(&str, ExchangeKind, ExchangeDeclareOptions, FieldTable); 3] = [
        (
            "type",
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
        (
            "auto_delete",
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                auto_delete: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        ),
        (
            "same",
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ),
    ];
    for (what, kind, options, args) in redeclares {
        let c = conn.create_channel().await.unwrap();
        log.push(format!(
            "exchange redeclare ({what}): {}",
            code(
                c.exchange_declare("t.equiv".into(), kind, options, args)
                    .await
            )
        ));
    }
    let c = conn.create_channel().await.unwrap();
    log.push(format!(
        "queue redeclare with another x-message-ttl: {}",
        code(
            c.queue_declare(
                "t.equiv-q".into(),
                QueueDeclareOptions::default(),
                FieldTable::default()
            )
            .await
        )
    ));
    let c = conn.create_channel().await.unwrap();
    let mut ttl = FieldTable::default();
    ttl.insert("x-message-ttl".into(), AMQPValue::LongInt(60_000));
    log.push(format!(
        "queue redeclare with another auto_delete: {}",
        code(
            c.queue_declare(
                "t.equiv-q".into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                ttl
            )
            .await
        )
    ));

    // 14. channel.flow active=false is not implemented (540, closing the connection).
    let flow_conn = connect(uri).await;
    let c = flow_conn.create_channel().await.unwrap();
    log.push(format!(
        "channel.flow active=false: {}",
        code(c.channel_flow(ChannelFlowOptions { active: false }).await)
    ));
    let _ = conn.close(200, "bye".into()).await;
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo_answers_like_rabbitmq() {
    let Some(rabbit) = RabbitMq::start() else {
        return;
    };
    let neo = TestBroker::start().await;
    let mut expected = scenarios(&rabbit.uri()).await;
    expected.extend(topology_scenarios(&rabbit.uri()).await);
    let mut got = scenarios(&neo.amqp_uri()).await;
    got.extend(topology_scenarios(&neo.amqp_uri()).await);
    println!("RabbitMQ: {expected:#?}");
    assert_eq!(
        expected.len(),
        13 + 22,
        "every scenario ran against RabbitMQ"
    );
    for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(have, want, "step {i}: RabbitMQ said {want:?}, Neo {have:?}");
    }
    assert_eq!(got.len(), expected.len());
    drop(rabbit);
    neo.stop().await;
}

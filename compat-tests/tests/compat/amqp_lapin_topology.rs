//! lapin against Neo's AMQP gateway, for what RabbitMQ users build topologies and consumers
//! with: exchange-to-exchange bindings, alternate and internal exchanges, auto-delete
//! exchanges and queues, `x-expires`, exclusive and single-active consumers, per-consumer
//! prefetch, the basic.cancel a consumer gets when its queue is deleted, delete if-unused,
//! and transactions.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions,
    ExchangeBindOptions, ExchangeDeclareOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use neo_compat_tests::TestBroker;
use neo_compat_tests::amqp::{bind, drain, publish};

const TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(broker: &TestBroker) -> Connection {
    Connection::connect(&broker.amqp_uri(), ConnectionProperties::default())
        .await
        .unwrap()
}

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind, args: FieldTable) {
    ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), args)
        .await
        .unwrap();
}

async fn declare_queue(ch: &Channel, name: &str, options: QueueDeclareOptions, args: FieldTable) {
    ch.queue_declare(name.into(), options, args).await.unwrap();
}

fn text_arg(key: &str, value: &str) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert(key.into(), AMQPValue::LongString(value.into()));
    t
}

/// Checks that a call failed with the reply `code` (by name, as lapin reports it).
fn refused<T: std::fmt::Debug>(result: Result<T, lapin::Error>, code: &str) {
    let err = result.expect_err("the server refuses this").to_string();
    assert!(err.contains(code), "expected {code}, got: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_to_exchange_alternate_internal_and_auto_delete() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    // orders (topic) → eu (fanout, internal) → eu-orders; unmatched → unrouted (fanout AE).
    declare_exchange(&ch, "unrouted", ExchangeKind::Fanout, FieldTable::default()).await;
    declare_exchange(
        &ch,
        "orders",
        ExchangeKind::Topic,
        text_arg("alternate-exchange", "unrouted"),
    )
    .await;
    ch.exchange_declare(
        "eu".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    for q in ["eu-orders", "lost"] {
        declare_queue(
            &ch,
            q,
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    }
    ch.exchange_bind(
        "eu".into(),
        "orders".into(),
        "eu.#".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    bind(&ch, "eu-orders", "eu", "").await;
    bind(&ch, "lost", "unrouted", "").await;
    publish(&ch, "orders", "eu.fr.paris", "to eu").await;
    publish(&ch, "orders", "us.ny", "to nowhere").await;
    assert_eq!(drain(&ch, "eu-orders").await, ["to eu"]);
    assert_eq!(drain(&ch, "lost").await, ["to nowhere"]);
    // Unbinding the exchanges stops the flow through them.
    ch.exchange_unbind(
        "eu".into(),
        "orders".into(),
        "eu.#".into(),
        lapin::options::ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    publish(&ch, "orders", "eu.de", "after unbind").await;
    assert_eq!(drain(&ch, "lost").await, ["after unbind"]);
    // Binding to a missing exchange is 404.
    let ch2 = conn.create_channel().await.unwrap();
    refused(
        ch2.exchange_bind(
            "nope".into(),
            "orders".into(),
            "".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        )
        .await,
        "NOT_FOUND",
    );
    // Publishing to an internal exchange is refused (403) and closes the channel.
    let ch3 = conn.create_channel().await.unwrap();
    publish(&ch3, "eu", "", "direct to internal").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!ch3.status().connected(), "the channel is closed");
    assert!(drain(&ch, "eu-orders").await.is_empty());
    // An auto-delete exchange goes when its last binding does.
    ch.exchange_declare(
        "temp".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    bind(&ch, "lost", "temp", "k").await;
    ch.queue_unbind(
        "lost".into(),
        "temp".into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let ch4 = conn.create_channel().await.unwrap();
    refused(
        ch4.exchange_declare(
            "temp".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await,
        "NOT_FOUND",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_exclusive_single_active_auto_delete_and_cancel_on_delete() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    // Exclusive consumer: a second consumer is refused with 403.
    declare_queue(
        &ch,
        "solo",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    let _solo = ch
        .basic_consume(
            "solo".into(),
            "only".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let other = conn.create_channel().await.unwrap();
    refused(
        other
            .basic_consume(
                "solo".into(),
                "second".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await,
        "ACCESS_REFUSED",
    );
    // queue.declare-ok counts consumers; delete if-unused refuses a queue in use (406).
    let declared = ch
        .queue_declare(
            "solo".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(declared.consumer_count(), 1);
    let other = conn.create_channel().await.unwrap();
    refused(
        other
            .queue_delete(
                "solo".into(),
                QueueDeleteOptions {
                    if_unused: true,
                    ..QueueDeleteOptions::default()
                },
            )
            .await,
        "PRECONDITION_FAILED",
    );

    // Single active consumer: only the first consumer gets messages until it cancels.
    let mut sac = FieldTable::default();
    sac.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    declare_queue(&ch, "sac", QueueDeclareOptions::default(), sac).await;
    let ch_a = conn.create_channel().await.unwrap();
    let ch_b = conn.create_channel().await.unwrap();
    let mut a = ch_a
        .basic_consume(
            "sac".into(),
            "a".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut b = ch_b
        .basic_consume(
            "sac".into(),
            "b".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 0..5 {
        publish(&ch, "", "sac", &format!("m{i}")).await;
    }
    for i in 0..5 {
        let d = tokio::time::timeout(TIMEOUT, a.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(d.data, format!("m{i}").as_bytes());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.next())
            .await
            .is_err(),
        "the second consumer stays idle while the first is active"
    );
    ch_a.basic_cancel("a".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    publish(&ch, "", "sac", "after a").await;
    let d = tokio::time::timeout(TIMEOUT, b.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(d.data, b"after a");

    // An auto-delete queue goes with its last consumer.
    declare_queue(
        &ch,
        "fleeting",
        QueueDeclareOptions {
            auto_delete: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await;
    ch.basic_consume(
        "fleeting".into(),
        "f".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.basic_cancel("f".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = conn.create_channel().await.unwrap();
    refused(
        probe
            .queue_declare(
                "fleeting".into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await,
        "NOT_FOUND",
    );

    // Deleting a queue cancels its consumers: the client's consumer stream ends.
    declare_queue(
        &ch,
        "doomed",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    let watcher = conn.create_channel().await.unwrap();
    let mut doomed = watcher
        .basic_consume(
            "doomed".into(),
            "w".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_delete("doomed".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let end = tokio::time::timeout(TIMEOUT, doomed.next()).await.unwrap();
    assert!(end.is_none(), "the consumer is cancelled: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_expires_per_consumer_prefetch_and_transactions() {
    let broker = TestBroker::start().await;
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    // x-expires: an unused queue is deleted after it.
    let mut expires = FieldTable::default();
    expires.insert("x-expires".into(), AMQPValue::LongInt(600));
    declare_queue(&ch, "short-lived", QueueDeclareOptions::default(), expires).await;
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    refused(
        ch.queue_declare(
            "short-lived".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await,
        "NOT_FOUND",
    );

    // Per-consumer prefetch (global=false): each of two consumers holds at most 2.
    let ch = conn.create_channel().await.unwrap();
    declare_queue(
        &ch,
        "pf",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    for i in 0..10 {
        publish(&ch, "", "pf", &format!("p{i}")).await;
    }
    ch.basic_qos(2, BasicQosOptions { global: false })
        .await
        .unwrap();
    let mut c1 = ch
        .basic_consume(
            "pf".into(),
            "c1".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut c2 = ch
        .basic_consume(
            "pf".into(),
            "c2".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut held = Vec::new();
    for consumer in [&mut c1, &mut c2] {
        for _ in 0..2 {
            held.push(
                tokio::time::timeout(TIMEOUT, consumer.next())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap(),
            );
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(300), consumer.next())
                .await
                .is_err(),
            "a consumer gets no more than its prefetch"
        );
    }
    for d in &held {
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert!(tokio::time::timeout(TIMEOUT, c1.next()).await.is_ok());

    // Transactions: nothing is routed before tx.commit; tx.rollback discards.
    let tx = conn.create_channel().await.unwrap();
    declare_queue(
        &tx,
        "txq",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await;
    tx.tx_select().await.unwrap();
    publish(&tx, "", "txq", "rolled back").await;
    tx.tx_rollback().await.unwrap();
    publish(&tx, "", "txq", "committed").await;
    let reader = conn.create_channel().await.unwrap();
    assert!(
        reader
            .basic_get("txq".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .is_none(),
        "not visible before commit"
    );
    tx.tx_commit().await.unwrap();
    assert_eq!(drain(&reader, "txq").await, ["committed"]);
    // An ack inside a transaction takes effect at commit.
    publish(&tx, "", "txq", "acked in tx").await;
    tx.tx_commit().await.unwrap();
    let got = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Some(m) = tx
                .basic_get("txq".into(), BasicGetOptions { no_ack: false })
                .await
                .unwrap()
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    got.ack(BasicAckOptions::default()).await.unwrap();
    tx.tx_rollback().await.unwrap();
    tx.close(200, "bye".into()).await.unwrap();
    // The ack was rolled back, so closing the channel requeued the message.
    assert_eq!(drain(&reader, "txq").await, ["acked in tx"]);
}

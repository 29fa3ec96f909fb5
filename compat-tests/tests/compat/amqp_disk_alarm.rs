//! The disk alarm with lapin: when the data directory has less free space than
//! `disk_free_limit_bytes` (here: an impossible amount), a publishing connection is told
//! connection.blocked and its publishes wait; nothing is confirmed meanwhile, and a consuming
//! connection is not blocked.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use neo_amqp::{AmqpConfig, AmqpServer};
use neo_broker::{Broker, BrokerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_are_blocked_while_disk_is_low() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig {
        data_dir: dir.path().into(),
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    let server = AmqpServer::bind(AmqpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        disk_free_limit_bytes: u64::MAX,
        ..AmqpConfig::default()
    })
    .await
    .unwrap();
    let uri = format!("amqp://guest:guest@{}/%2f", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server.run(broker, stopped));

    let publisher = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = publisher.create_channel().await.unwrap();
    ch.queue_declare(
        "alarmed".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            "".into(),
            "alarmed".into(),
            BasicPublishOptions::default(),
            b"held back",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !publisher.status().blocked() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection.blocked within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(1), confirm)
            .await
            .is_err(),
        "no confirm while blocked"
    );
    // Another connection that only reads is served.
    let reader = Connection::connect(&uri, ConnectionProperties::default())
        .await
        .unwrap();
    let rc = reader.create_channel().await.unwrap();
    let got = rc
        .basic_get("alarmed".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    assert!(got.is_none(), "the blocked publish was not taken in");
    assert!(!reader.status().blocked());
    stop.send_replace(true);
    let _ = serving.await;
}

//! lapin helpers the AMQP tests share.

use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// Connects to `uri`, retrying for up to a minute while the server starts.
pub async fn connect(uri: &str) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Connection::connect(uri, ConnectionProperties::default()).await {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("cannot connect to {uri}: {e}"),
        }
    }
}

/// Declares the durable queue `name` (no arguments).
pub async fn declare_durable(ch: &Channel, name: &str) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(
        name.into(),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
}

/// Binds `queue` to `exchange` with `key`.
pub async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
}

/// Publishes `body` to `exchange` with `key` (no confirm awaited).
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &str) {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body.as_bytes(),
        BasicProperties::default(),
    )
    .await
    .unwrap();
}

/// The bodies basic.get (no-ack) takes from `queue`: waits up to a second for the first,
/// then takes what is there.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => got.push(String::from_utf8(m.delivery.data).unwrap()),
            None if got.is_empty() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            None => return got,
        }
    }
}

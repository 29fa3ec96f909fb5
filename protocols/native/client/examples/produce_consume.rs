//! Produce a few records and read them back with a push consumer.
//!
//! `neo serve` in one terminal, then `cargo run -p neo-client --example produce_consume`
//! (`NEO_ADDR` overrides `127.0.0.1:7070`).

use futures_util::StreamExt;
use neo_client::{Client, ErrorCode, ProducerConfig, StartAt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("NEO_ADDR").unwrap_or_else(|_| "127.0.0.1:7070".into());
    let client = Client::connect(&addr).await?;
    match client.create_topic("greetings", 1).await {
        Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
        other => other?,
    }
    let producer = client.producer(ProducerConfig::default());
    let mut acks = Vec::new();
    for i in 0..10 {
        let value = format!("hello #{i}").into();
        acks.push(producer.send("greetings", 0, None, value).await?);
    }
    for ack in acks {
        println!("stored at offset {}", ack.await?.offset);
    }
    let mut consumer = client.subscribe("greetings", 0, StartAt::Earliest).await?;
    for _ in 0..10 {
        let Some(record) = consumer.next().await else {
            break;
        };
        let record = record?;
        let value = record.value.unwrap_or_default();
        println!("{}: {}", record.offset, String::from_utf8_lossy(&value));
    }
    Ok(())
}

//! A work queue: jobs are acked when done, nacked (requeued) when they fail.
//!
//! `neo serve`, then `cargo run -p neo-client --example queue_worker`.

use std::time::Duration;

use futures_util::StreamExt;
use neo_client::{Client, ErrorCode, ProducerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("NEO_ADDR").unwrap_or_else(|_| "127.0.0.1:7070".into());
    let client = Client::connect(&addr).await?;
    match client.create_topic("jobs", 1).await {
        Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
        other => other?,
    }
    let producer = client.producer(ProducerConfig::default());
    for i in 0..5 {
        let _ack = producer
            .send("jobs", 0, None, format!("job {i}").into())
            .await?;
    }
    producer.flush().await?;
    let mut jobs = client
        .queue_consumer("jobs", 10, Duration::from_secs(30))
        .await?;
    let mut done = 0;
    while done < 5 {
        let Ok(Some(job)) = tokio::time::timeout(Duration::from_secs(5), jobs.next()).await else {
            break;
        };
        let job = job?;
        let text = String::from_utf8_lossy(&job.value.clone().unwrap_or_default()).into_owned();
        if job.offset % 2 == 1 && job.deliveries == 1 {
            println!("{text}: failed on delivery {}, requeued", job.deliveries);
            job.nack(true).await?;
        } else {
            println!("{text}: done (delivery {})", job.deliveries);
            job.ack().await?;
            done += 1;
        }
    }
    Ok(())
}

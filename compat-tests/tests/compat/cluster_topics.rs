//! Creating topics on a cluster with rdkafka's admin client, and the producer that rides out
//! failovers, for the cluster tests.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;

/// Creates each `(name, partitions, replication factor)`; every one must succeed.
pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|&(name, partitions, factor)| {
            NewTopic::new(name, partitions, TopicReplication::Fixed(factor))
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let created = admin.create_topics(&new, &options).await.unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

/// An idempotent `acks=all` producer that retries through leader changes (up to 90 s a
/// record), reconnecting quickly to brokers that come back.
pub fn idempotent_producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "90000")
        .set("retry.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .unwrap()
}

//! Credit-based flow control: a million records pushed to a consumer that reads slowly.
//! The broker pushes no further than the consumer's credit, so memory stays bounded while
//! the log holds far more than that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Acks, Client, ProducerConfig, StartAt};
use neo_compat_tests::TestBroker;

const RECORDS: i64 = 1_000_000;
const VALUE_BYTES: usize = 100;

/// Anonymous resident memory of this process (broker and client share it), in bytes: heap
/// and buffers, not the page cache behind the log's files.
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_records_to_a_slow_consumer_keep_memory_bounded() {
    let broker = TestBroker::start().await;
    let client = Client::connect(&broker.native_addr.to_string())
        .await
        .unwrap();
    client.create_topic("firehose", 1).await.unwrap();
    let producer = client.producer(ProducerConfig {
        acks: Acks::Leader,
        linger: Duration::from_millis(5),
        ..ProducerConfig::default()
    });
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    for _ in 0..RECORDS {
        let _ack = producer
            .send("firehose", 0, None, value.clone())
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(120), producer.flush())
        .await
        .unwrap()
        .unwrap();
    drop(producer);
    let log_bytes = broker.broker.partition("firehose", 0).unwrap().size_bytes();
    assert!(log_bytes > 100_000_000, "log holds {log_bytes} bytes");

    let baseline = rss_anon();
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler_peak = Arc::clone(&peak);
    let sampler = tokio::spawn(async move {
        loop {
            sampler_peak.fetch_max(rss_anon(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut consumer = client
        .subscribe("firehose", 0, StartAt::Earliest)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut next = 0i64;
    while next < RECORDS {
        let record = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .expect("all records within the deadline")
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, next);
        next += 1;
        // Slow: a pause every 10,000 records, during which the broker could push everything.
        if next % 10_000 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    sampler.abort();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!("log {log_bytes} bytes; memory growth while consuming {growth} bytes");
    assert!(
        growth < 48 * 1024 * 1024,
        "memory grew by {growth} bytes while consuming a {log_bytes}-byte log"
    );
}

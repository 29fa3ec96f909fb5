//! The native protocol and `neo-client` on a cluster of three `neo serve` processes: a queue
//! consumer connected to a broker that does not lead its queue (its operations are sent to
//! the leader) keeps consuming across a SIGKILL of the queue's leader, and no record it
//! acknowledged comes back; a producer given one broker sends each partition's batches to
//! its leader (learnt from the native Metadata), and when a leader is SIGKILLed mid-stream
//! every record is acknowledged, and read back once, at its acknowledged offset; a service
//! served through two brokers is called through a third, and the instances of a broker that
//! dies stop being called.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use neo_client::{Client, ProducerConfig, StartAt};
use neo_compat_tests::cluster::Cluster;

use crate::cluster_queues::leader_of;
use crate::cluster_topics::create_topics;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_consumer_on_a_non_leader_keeps_consuming_across_a_failover() {
    const QUEUE: &str = "native-jobs";
    const COUNT: u32 = 200;
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(QUEUE, 1, 3)]).await;
    let leader = leader_of(&bootstrap, QUEUE, None);
    let other = (1..=3).find(|id| *id != leader).unwrap();

    let to_leader = connect(&cluster, leader).await;
    let producer = to_leader.producer(ProducerConfig::default());
    let mut acks = Vec::new();
    for i in 0..COUNT {
        let ack = producer
            .send(QUEUE, 0, None, Bytes::from(i.to_string()))
            .await
            .unwrap();
        acks.push(ack);
    }
    for ack in acks {
        ack.await.unwrap();
    }
    drop(producer);
    to_leader.close().await;

    let client = connect(&cluster, other).await;
    let mut jobs = client
        .queue_consumer(QUEUE, 20, Duration::from_secs(2))
        .await
        .unwrap();
    let mut acked = BTreeSet::new();
    // Records whose ack failed (in flight while the leader died): settled or not, as far as
    // the new leader's cursor goes.
    let mut uncertain = BTreeSet::new();
    let mut stale = 0;
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.union(&uncertain).count() < COUNT as usize {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, jobs.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {COUNT} acknowledged in time", acked.len()))
            .unwrap()
            .unwrap();
        let index: u32 = std::str::from_utf8(message.value.as_deref().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        if acked.contains(&index) {
            // A copy pushed before the ack (the old leader's delivery of it not yet in the
            // cursor log when it died): settled already, so not held again.
            assert!(
                message.ack().await.is_err(),
                "record {index} delivered again after its ack"
            );
            stale += 1;
            continue;
        }
        // An ack in flight while the leader dies may fail: the record comes back then, or
        // not if the change was committed before.
        if message.ack().await.is_ok() {
            acked.insert(index);
            uncertain.remove(&index);
        } else {
            uncertain.insert(index);
        }
        if acked.len() == COUNT as usize / 2 && !killed {
            cluster.kill(leader);
            killed = true;
        }
    }
    assert!(killed);
    assert!(uncertain.len() < 20, "{} acks failed", uncertain.len());
    assert!(stale <= 20, "{stale} copies of acknowledged records");
}

async fn connect(cluster: &Cluster, id: u64) -> Client {
    Client::connect(&cluster.native_addr(id).to_string())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_through_one_broker_keeps_every_ack_once_when_a_leader_is_killed() {
    const TOPIC: &str = "native-events";
    const PARTITIONS: i32 = 3;
    const COUNT: usize = 3000;
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, PARTITIONS, 3)]).await;
    for partition in 0..PARTITIONS {
        crate::cluster_queues::leader_of_partition(&bootstrap, TOPIC, partition, None);
    }
    // Through broker 1; the broker killed leads a partition and is not broker 1.
    let client = connect(&cluster, 1).await;
    // Each broker registers its native address as it starts serving.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metadata = loop {
        let metadata = client.metadata().await.unwrap();
        if metadata.brokers.len() == 3 {
            break metadata;
        }
        assert!(Instant::now() < deadline, "{metadata:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let leaders = &metadata
        .topics
        .iter()
        .find(|t| t.name == TOPIC)
        .unwrap()
        .leaders;
    let victim = leaders
        .iter()
        .copied()
        .find(|l| *l > 1)
        .unwrap_or_else(|| panic!("broker 1 leads every partition: {leaders:?}"));
    let victim = u64::try_from(victim).unwrap();

    let producer = client.producer(ProducerConfig::default());
    let acked = Arc::new(AtomicUsize::new(0));
    let mut waiting = Vec::new();
    for i in 0..COUNT {
        let partition = (i % PARTITIONS as usize) as i32;
        let ack = producer
            .send(TOPIC, partition, None, Bytes::from(i.to_string()))
            .await
            .unwrap();
        let counted = Arc::clone(&acked);
        waiting.push(tokio::spawn(async move {
            let result = ack.await;
            counted.fetch_add(1, Ordering::Relaxed);
            (i, result)
        }));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Half sent, a third acknowledged: the rest goes while a leader is gone.
        if i == COUNT / 2 {
            let deadline = Instant::now() + Duration::from_secs(20);
            while acked.load(Ordering::Relaxed) < COUNT / 3 {
                assert!(Instant::now() < deadline, "records not acknowledged");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cluster.kill(victim);
        }
    }
    // offset of each acknowledged record by partition, -1 where the broker did not say.
    let mut expected: BTreeMap<i32, BTreeMap<usize, i64>> = BTreeMap::new();
    for task in waiting {
        let (i, result) = task.await.unwrap();
        let metadata = result.unwrap_or_else(|e| panic!("record {i} failed: {e}"));
        expected
            .entry(metadata.partition)
            .or_default()
            .insert(i, metadata.offset);
    }

    for (partition, records) in expected {
        let last = records.values().copied().max().unwrap();
        let mut consumer = client
            .subscribe(TOPIC, partition, StartAt::Earliest)
            .await
            .unwrap();
        let mut seen: BTreeMap<usize, i64> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.len() < records.len() || seen.values().max() < Some(&last) {
            let left = deadline.saturating_duration_since(Instant::now());
            let record = tokio::time::timeout(left, consumer.next())
                .await
                .unwrap_or_else(|_| {
                    let missing: Vec<_> = records
                        .iter()
                        .filter(|(i, _)| !seen.contains_key(i))
                        .take(10)
                        .collect();
                    panic!(
                        "partition {partition}: {} read, up to offset {:?}; missing {missing:?}",
                        seen.len(),
                        seen.values().max()
                    )
                })
                .unwrap()
                .unwrap();
            let index: usize = std::str::from_utf8(record.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            if let Some(first) = seen.insert(index, record.offset) {
                panic!(
                    "record {index} twice in partition {partition}: at {first} and {}",
                    record.offset
                );
            }
        }
        for (index, offset) in &records {
            let found = seen.get(index).copied();
            assert!(found.is_some(), "acknowledged record {index} lost");
            if *offset >= 0 {
                assert_eq!(
                    found,
                    Some(*offset),
                    "record {index} not at its acknowledged offset"
                );
            }
        }
        assert_eq!(
            seen.len(),
            records.len(),
            "partition {partition}: records never acknowledged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_callable_through_any_broker_until_its_broker_dies() {
    let mut cluster = Cluster::start(3);
    let two = connect(&cluster, 2).await;
    two.serve("greeter", "hello", |name| async move {
        Ok(Bytes::from(format!(
            "two greets {}",
            String::from_utf8_lossy(&name)
        )))
    })
    .await
    .unwrap();
    let three = connect(&cluster, 3).await;
    three
        .serve("greeter", "hello", |name| async move {
            Ok(Bytes::from(format!(
                "three greets {}",
                String::from_utf8_lossy(&name)
            )))
        })
        .await
        .unwrap();

    // Through broker 1, which has no instance: both brokers' instances answer.
    let caller = connect(&cluster, 1).await;
    let mut answered_by = BTreeSet::new();
    for _ in 0..6 {
        let reply = caller
            .call("greeter", "hello", "neo".into(), Duration::from_secs(5))
            .await
            .unwrap();
        let reply = String::from_utf8(reply.to_vec()).unwrap();
        assert!(reply.ends_with("greets neo"), "{reply}");
        answered_by.insert(reply.split(' ').next().unwrap().to_string());
    }
    assert_eq!(answered_by, BTreeSet::from(["three".into(), "two".into()]));

    // Broker 2 dies: within its session timeout only broker 3's instance answers.
    cluster.kill(2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut in_a_row = 0;
    while in_a_row < 4 {
        assert!(
            Instant::now() < deadline,
            "calls still reach the dead broker"
        );
        match caller
            .call("greeter", "hello", "neo".into(), Duration::from_secs(1))
            .await
        {
            Ok(reply) if reply.starts_with(b"three") => in_a_row += 1,
            _ => in_a_row = 0,
        }
    }

    // And when the last instance goes, calls say there is none.
    three.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match caller
            .call("greeter", "hello", "neo".into(), Duration::from_secs(1))
            .await
        {
            Err(neo_client::RpcError::NoInstance(_)) => break,
            other => assert!(Instant::now() < deadline, "still answered: {other:?}"),
        }
    }
}

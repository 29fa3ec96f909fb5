//! A three-broker cluster of `neo serve` processes (release build) on 127.0.0.1/2/3, driven by
//! librdkafka, 100-byte records; each figure beside its baseline from the same run:
//! - produce `acks=all` to a topic replicated 3 times vs one with a single replica (the three
//!   brokers share this machine's cores and disk);
//! - end-to-end latency (send to consumer) at 1,000 records/s on the 3-replica topic;
//! - failover: SIGKILL the leader of a partition under a producer sending `acks=all` one
//!   record at a time, and time from the kill to the first acknowledged record sent after it
//!   (`NEO_BENCH_KILLS` times, default 20);
//! - idle cost: CPU of the three processes over 30 s and their resident memory, without and
//!   with 1,000 idle 3-replica partitions.
//!
//! `cargo bench -p neo-benches --bench cluster` (`NEO_BENCH_RECORDS` changes the record count).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neo_compat_tests::cluster::Cluster;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const RECORD: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn create_topics(runtime: &tokio::runtime::Runtime, bootstrap: &str, topics: &[NewTopic<'_>]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(120)));
    // A broker restarted a moment ago counts as live once the others heard from it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let created = runtime
            .block_on(admin.create_topics(topics, &options))
            .unwrap();
        let too_few = |r: &Result<String, (String, RDKafkaErrorCode)>| {
            matches!(r, Err((_, RDKafkaErrorCode::InvalidReplicationFactor)))
        };
        if created.iter().any(too_few) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        for result in created {
            // Created by an earlier try of this loop.
            if !matches!(result, Err((_, RDKafkaErrorCode::TopicAlreadyExists))) {
                result.unwrap();
            }
        }
        return;
    }
}

fn producer(bootstrap: &str, linger_ms: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "60000")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "100")
        .set("reconnect.backoff.max.ms", "100")
        .create()
        .unwrap()
}

/// Sends `count` records to partition 0 of `topic` as fast as the client takes them;
/// records/s once all are acknowledged.
fn produce_throughput(bootstrap: &str, topic: &str, count: u64) -> f64 {
    let producer = producer(bootstrap, "5");
    let payload = [b'x'; RECORD];
    let started = Instant::now();
    for _ in 0..count {
        let mut record = BaseRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    count as f64 / started.elapsed().as_secs_f64()
}

/// Waits for `due`, serving the client meanwhile, sleeping rather than spinning.
fn wait_until(due: Instant, mut serve: impl FnMut()) {
    loop {
        serve();
        let now = Instant::now();
        if now >= due {
            return;
        }
        std::thread::sleep((due - now).min(Duration::from_micros(200)));
    }
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Send-to-consume latencies (µs, sorted) at `rate` records/s for `seconds` on partition 0.
fn end_to_end(bootstrap: &str, topic: &str, rate: u64, seconds: u64) -> Vec<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-e2e")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::End)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(2) {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    let origin = Instant::now();
    let total = rate * seconds;
    let sender = {
        let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
        std::thread::spawn(move || {
            let producer = producer(&bootstrap, "0");
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            for i in 0..total {
                wait_until(origin + interval * i as u32, || {
                    producer.poll(Duration::ZERO);
                });
                let mut payload = (origin.elapsed().as_micros() as u64).to_be_bytes().to_vec();
                payload.resize(RECORD, b'x');
                producer
                    .send(
                        BaseRecord::<(), _>::to(&topic)
                            .partition(0)
                            .payload(&payload),
                    )
                    .map_err(|(e, _)| e)
                    .unwrap();
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let mut latencies = Vec::with_capacity(total as usize);
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let sent = u64::from_be_bytes(m.payload().unwrap()[..8].try_into().unwrap());
            latencies.push(origin.elapsed().as_micros() as u64 - sent);
        }
    }
    sender.join().unwrap();
    latencies.sort_unstable();
    latencies
}

/// The broker leading `partition` of `topic`.
fn leader_of(producer: &BaseProducer, topic: &str, partition: i32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(metadata) = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            && let Some(found) = metadata.topics()[0]
                .partitions()
                .iter()
                .find(|p| p.id() == partition)
            && found.leader() > 0
            && found.isr().len() == 3
        {
            return found.leader() as u64;
        }
        assert!(
            Instant::now() < deadline,
            "no leader with 3 in-sync replicas"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the leader of partition 0 of `topic` `kills` times under a producer sending one
/// record at a time; the times (ms, sorted) from each kill to the first acknowledgement of a
/// record sent after it.
fn failovers(cluster: &mut Cluster, topic: &str, kills: u64) -> Vec<u64> {
    let bootstrap = cluster.bootstrap_servers();
    let mut times = Vec::new();
    for _ in 0..kills {
        let producer = producer(&bootstrap, "0");
        let leader = leader_of(&producer, topic, 0);
        let killed_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let first_after = Arc::new(Mutex::new(None::<Duration>));
        let running = Arc::new(AtomicBool::new(true));
        let sender = {
            let (killed_at, first_after, running) =
                (killed_at.clone(), first_after.clone(), running.clone());
            let topic = topic.to_string();
            std::thread::spawn(move || {
                while running.load(Ordering::Relaxed) {
                    let kill = *killed_at.lock().unwrap();
                    let record = BaseRecord::<(), _>::to(&topic).partition(0).payload("f");
                    if producer.send(record).is_err() {
                        producer.poll(Duration::from_millis(1));
                        continue;
                    }
                    if producer.flush(Duration::from_secs(30)).is_ok()
                        && let Some(kill) = kill
                    {
                        first_after.lock().unwrap().get_or_insert(kill.elapsed());
                        return;
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        *killed_at.lock().unwrap() = Some(Instant::now());
        cluster.kill(leader);
        sender.join().unwrap();
        running.store(false, Ordering::Relaxed);
        let elapsed = first_after.lock().unwrap().expect("a write after the kill");
        times.push(elapsed.as_millis() as u64);
        cluster.start_nodes(&[leader]);
    }
    times.sort_unstable();
    times
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Resident memory of a process in MiB, from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// The three processes' CPU use over `seconds` (in cores) and their summed RSS (MiB).
fn idle_cost(cluster: &Cluster, seconds: u64) -> (f64, f64) {
    let pids: Vec<u32> = (1..=3).map(|id| cluster.pid(id).unwrap()).collect();
    let before: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    std::thread::sleep(Duration::from_secs(seconds));
    let after: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let rss = pids.iter().map(|p| rss_mib(*p)).sum();
    ((after - before) / seconds as f64, rss)
}

fn main() {
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let records = env_or("NEO_BENCH_RECORDS", 300_000);
    let kills = env_or("NEO_BENCH_KILLS", 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(
        &runtime,
        &bootstrap,
        &[
            NewTopic::new("rf1", 1, TopicReplication::Fixed(1)),
            NewTopic::new("rf3", 1, TopicReplication::Fixed(3)),
            NewTopic::new("e2e", 1, TopicReplication::Fixed(3)),
            NewTopic::new("failover", 1, TopicReplication::Fixed(3)),
        ],
    );

    let (idle_cpu, idle_rss) = idle_cost(&cluster, 30);

    let mut rf1 = Vec::new();
    let mut rf3 = Vec::new();
    for _ in 0..3 {
        rf1.push(produce_throughput(&bootstrap, "rf1", records));
        rf3.push(produce_throughput(&bootstrap, "rf3", records));
    }
    // Right after the throughput runs the disk is still writing back what they wrote (the
    // brokers share it); measured again once it is quiet.
    let e2e_busy = end_to_end(&bootstrap, "e2e", 1_000, 10);
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(5));
    let e2e = end_to_end(&bootstrap, "e2e", 1_000, 10);
    let failover = failovers(&mut cluster, "failover", kills);

    let many: Vec<String> = (0..10).map(|t| format!("idle-{t}")).collect();
    let topics: Vec<NewTopic<'_>> = many
        .iter()
        .map(|name| NewTopic::new(name, 100, TopicReplication::Fixed(3)))
        .collect();
    create_topics(&runtime, &bootstrap, &topics);
    std::thread::sleep(Duration::from_secs(10));
    let (many_cpu, many_rss) = idle_cost(&cluster, 30);

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (rf1, rf3) = (median(rf1), median(rf3));
    println!("| figure | value | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| produce acks=all, 3 replicas | {rf3:.0} rec/s | 1 replica: {rf1:.0} rec/s | {:.2} |",
        rf3 / rf1
    );
    println!(
        "| end-to-end at 1,000 rec/s, 3 replicas, disk quiet | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | right after the throughput runs: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | |",
        percentile_ms(&e2e, 0.5),
        percentile_ms(&e2e, 0.99),
        percentile_ms(&e2e, 1.0),
        percentile_ms(&e2e_busy, 0.5),
        percentile_ms(&e2e_busy, 0.99),
        percentile_ms(&e2e_busy, 1.0)
    );
    let ms = |p: f64| {
        let index = ((failover.len() as f64 - 1.0) * p).round() as usize;
        failover[index]
    };
    println!(
        "| SIGKILL of a leader to the first acks=all write acknowledged ({} kills) | p50 {} ms, p99 {} ms, max {} ms | | |",
        failover.len(),
        ms(0.5),
        ms(0.99),
        ms(1.0),
    );
    println!(
        "| idle CPU of the 3 brokers, 1,000 3-replica partitions | {:.1}% of a core | 4 partitions: {:.1}% | |",
        many_cpu * 100.0,
        idle_cpu * 100.0
    );
    println!(
        "| resident memory of the 3 brokers, 1,000 3-replica partitions | {many_rss:.0} MiB | 4 partitions: {idle_rss:.0} MiB | {:.0} KiB per replica |",
        (many_rss - idle_rss) * 1024.0 / 3_000.0
    );
}

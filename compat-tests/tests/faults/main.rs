//! The fault-injection suite: `neo serve` processes in network namespaces of their own,
//! Kafka, AMQP and SQS workloads with real clients running throughout, faults injected and
//! healed one after another (SIGKILL, SIGSTOP, partitions, one-way loss, clock skew, a full
//! disk), and a checker over each workload's history at the end. After every heal, every
//! workload must make progress again within [`PROGRESS_WAIT`].
//!
//! By default (CI) each fault runs once on 3 brokers, a few minutes in all.
//! `tests/faults/run.sh --minutes N [--brokers 5]` runs random faults for N minutes.
//! Needs root (namespaces, iptables, tmpfs mounts); skipped elsewhere unless CI is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amqp_load;
mod brokers;
mod kafka_load;
mod nemesis;
mod net;
mod progress;
mod sqs_load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brokers::{AMQP_PORT, Brokers, FAKETIME_LIB, SQS_PORT};
use nemesis::{Fault, HOLD};
use neo_record::now_ms;
use progress::Progress;

/// Violations the suite found that are not fixed yet: an SQS message received again after
/// its DeleteMessage succeeded, seen after OneWayLoss, ClockSkew and DiskFull faults in some
/// runs (issue 14). Reported as KNOWN, OPEN; they do not fail the run.
const KNOWN_OPEN: &[&str] = &["by a receive begun at"];

/// How soon after a heal every workload must make progress again.
const PROGRESS_WAIT: Duration = Duration::from_secs(10);
/// How long the workloads run before the first fault, and after the last heal.
const SETTLE: Duration = Duration::from_secs(5);

#[test]
fn no_acknowledged_write_is_lost_under_faults() {
    if !can_run() {
        assert!(
            std::env::var("CI").is_err(),
            "the fault suite needs root, iproute2, iptables and libfaketime"
        );
        eprintln!("skipped: the fault suite needs root, iproute2, iptables and libfaketime");
        return;
    }
    let minutes: u64 = env_or("NEO_FAULT_MINUTES", 0);
    let size: u8 = env_or("NEO_FAULT_BROKERS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(size, minutes));
}

async fn run(size: u8, minutes: u64) {
    let mut brokers = Brokers::start(size);
    let bootstrap = brokers.bootstrap();
    let amqp: Vec<_> = (1..=size).map(|id| brokers.addr(id, AMQP_PORT)).collect();
    let sqs: Vec<_> = (1..=size).map(|id| brokers.addr(id, SQS_PORT)).collect();
    kafka_load::create_topic(&bootstrap).await;
    let url = sqs_load::create_queue(&sqs).await;

    let running = Arc::new(AtomicBool::new(true));
    let progress = |name| Progress::new(name, Arc::clone(&running));
    let watched = [
        progress("kafka produce"),
        progress("kafka consume"),
        progress("amqp publish"),
        progress("amqp consume"),
        progress("sqs send"),
        progress("sqs receive"),
    ];
    let [kp, kc, ap, ac, ss, sr] = watched.clone();
    let first_partition = progress("kafka partition 0");
    let kafka = kafka_load::KafkaLoad::start(&bootstrap, kp, Arc::clone(&first_partition), kc);
    let amqp = amqp_load::AmqpLoad::start(amqp, ap, ac);
    let sqs = sqs_load::SqsLoad::start(sqs, url, ss, sr);

    wait_progress(&watched, now_ms(), Duration::from_secs(60))
        .await
        .unwrap_or_else(|stuck| panic!("{stuck} never started"));
    // Every queue is replicated on three brokers, with its cursor.
    for topic in [
        "faults",
        "amqp.faults",
        "sqs.faults",
        "__cursor.amqp.faults",
        "__cursor.sqs.faults",
    ] {
        let replicas = kafka_load::replicas(&bootstrap, topic);
        assert_eq!(
            replicas,
            usize::from(size.min(3)),
            "{topic} has {replicas} replicas"
        );
    }
    tokio::time::sleep(SETTLE).await;

    let seed: u64 = env_or("NEO_FAULT_SEED", now_ms() as u64);
    let mut rng = Rng(seed | 1);
    let schedule: Vec<Fault> = if minutes == 0 {
        nemesis::ALL.to_vec()
    } else {
        Vec::new()
    };
    let until = Instant::now() + Duration::from_secs(minutes * 60);
    let mut problems = Vec::new();
    let mut failovers = Vec::new();
    let mut injected_count = std::collections::BTreeMap::new();
    let mut step = 0;
    loop {
        let fault = match schedule.get(step) {
            Some(fault) => *fault,
            None if minutes > 0 && Instant::now() < until => {
                nemesis::ALL[rng.below(nemesis::ALL.len() as u64) as usize]
            }
            None => break,
        };
        step += 1;
        let mut pick = || rng.below(u64::from(size)) as u8 + 1;
        let started = now_ms();
        let injected = nemesis::inject(&mut brokers, fault, &mut pick);
        eprintln!("faults: {fault:?} on broker {}", injected.target);
        *injected_count.entry(format!("{fault:?}")).or_insert(0) += 1;
        tokio::time::sleep(HOLD).await;
        nemesis::heal(&mut brokers, &injected);
        let healed = now_ms();
        if let Err(stuck) = wait_progress(&watched, healed, PROGRESS_WAIT).await {
            problems.push(format!(
                "{stuck} made no progress within {PROGRESS_WAIT:?} of healing {fault:?}"
            ));
            // Give it longer before the next fault, so one stall does not hide the rest.
            let _ = wait_progress(&watched, healed, Duration::from_secs(60)).await;
        }
        // Fault to the first acknowledged write to the partition whose leader the faults
        // aim at (during the fault, if it stayed available).
        let first_ack = first_partition.first_ok_after(started);
        failovers.push((fault, first_ack.map(|t| t - started)));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(SETTLE).await;
    running.store(false, Ordering::Relaxed);

    let (kafka_acked, kafka_problems) = kafka.check(&bootstrap).await;
    let (amqp_confirmed, amqp_problems) = amqp.check().await;
    let (sqs_sent, sqs_problems) = sqs.check().await;
    problems.extend(kafka_problems);
    problems.extend(amqp_problems);
    problems.extend(sqs_problems);

    let mut times: Vec<i64> = failovers.iter().filter_map(|(_, t)| *t).collect();
    times.sort_unstable();
    let pct = |p: usize| times.get((times.len() * p / 100).min(times.len().saturating_sub(1)));
    eprintln!("faults: seed {seed}, {size} brokers, faults injected {injected_count:?}");
    eprintln!(
        "faults: acknowledged kafka {kafka_acked}, amqp confirmed {amqp_confirmed}, sqs sent {sqs_sent}; problems {}",
        problems.len()
    );
    eprintln!(
        "faults: fault to first acknowledged write to its partition (ms): p50 {:?}, p99 {:?}, each {failovers:?}",
        pct(50),
        pct(99)
    );
    for progress in &watched {
        eprintln!(
            "faults: {} succeeded {} times",
            progress.name,
            progress.oks()
        );
    }
    // Violations found and not fixed yet, reported but not failing the run (README, "The
    // fault-injection suite"): every other kind fails it.
    let (known, problems): (Vec<String>, Vec<String>) = problems
        .into_iter()
        .partition(|p| KNOWN_OPEN.iter().any(|k| p.contains(k)));
    for p in &known {
        eprintln!("faults: KNOWN, OPEN: {p}");
    }
    if !problems.is_empty() || !known.is_empty() {
        for id in 1..=size {
            eprintln!("--- broker {id} log tail ---\n{}", brokers.log_tail(id));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Waits until every workload succeeded after `since`; the name of one that did not.
async fn wait_progress(
    watched: &[Arc<Progress>],
    since: i64,
    within: Duration,
) -> Result<(), &'static str> {
    let until = Instant::now() + within;
    loop {
        match watched.iter().find(|p| p.last_ok() <= since) {
            None => return Ok(()),
            Some(p) if Instant::now() >= until => return Err(p.name),
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Whether this machine can run the suite: root, `ip`, `iptables`, libfaketime.
fn can_run() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let has = |tool: &str, flag: &str| {
        std::process::Command::new(tool)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    root && has("ip", "-V")
        && has("iptables", "--version")
        && std::path::Path::new(FAKETIME_LIB).exists()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small xorshift generator: the schedule is replayable from its printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

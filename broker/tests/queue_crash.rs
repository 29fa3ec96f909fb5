//! A queue's acknowledgements survive SIGKILL of a real process: after a restart no
//! acknowledged record is delivered again and no unacknowledged one is lost.
//!
//! The test re-runs its own binary as the worker: with `NEO_QUEUE_CRASH_DIR` set,
//! `queue_crash_child` enqueues records durably, receives them, acknowledges the even offsets
//! (saying so before, and again once the cursor log is fsynced); the parent kills it with
//! SIGKILL after a while, twice per data directory, then reopens the broker and drains the
//! queue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use neo_broker::queues::{QueueConfig, SESSION_HOLD_MS};
use neo_broker::{Acks, Broker, BrokerConfig};
use neo_record::codec::{BatchBuilder, Compression};
use neo_record::now_ms;

const CHILD_ENV: &str = "NEO_QUEUE_CRASH_DIR";
/// Held for the worker's session (as AMQP holds): such holds end with the process.
const HOLD_MS: i64 = SESSION_HOLD_MS + 1;

async fn open(dir: &Path) -> Arc<Broker> {
    let broker = Broker::open(BrokerConfig {
        data_dir: dir.to_path_buf(),
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    if broker.topic("q").is_none() {
        broker
            .create_topic("q", 1, -1, BTreeMap::new(), false)
            .await
            .unwrap();
    }
    broker
}

#[test]
#[ignore = "run as a child process by the other test of this file"]
fn queue_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let broker = open(Path::new(&dir)).await;
        let queue = broker.queue("q", QueueConfig::default()).await.unwrap();
        let mut out = std::io::stdout().lock();
        for round in 0..5_000 {
            let now = now_ms();
            let mut batch = BatchBuilder::new(Compression::None, now);
            for i in 0..10 {
                batch.push(now, None, Some(format!("{round}-{i}").as_bytes()), &[]);
            }
            let appended = queue
                .enqueue(batch.build().unwrap().freeze())
                .await
                .unwrap();
            let outcome = appended.acknowledged(Acks::All).await.unwrap();
            let (base, last) = (outcome.base_offset, outcome.last_offset);
            writeln!(out, "ENQ {base} {last}").unwrap();
            let got = queue.receive(now_ms(), 20, now_ms() + HOLD_MS, 1).unwrap();
            let even: Vec<i64> = got
                .delivered
                .iter()
                .map(|r| r.offset)
                .filter(|o| o % 2 == 0)
                .collect();
            // Said before and after: a kill in between leaves these perhaps settled.
            let list: Vec<String> = even.iter().map(i64::to_string).collect();
            writeln!(out, "ACKING {}", list.join(" ")).unwrap();
            queue.ack(&even, Some(1)).unwrap();
            queue.sync().await.unwrap();
            writeln!(out, "ACK {}", list.join(" ")).unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn acknowledged_records_stay_settled_and_none_is_lost_after_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for kill_after_lines in [7usize, 60, 300] {
        let dir = tempfile::tempdir().unwrap();
        let mut enqueued = BTreeSet::new();
        let mut acked = BTreeSet::new();
        let mut acking = BTreeSet::new();
        for _ in 0..2 {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "--include-ignored",
                    "queue_crash_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Every whole line the worker wrote before it died is read, those after the kill
            // too; a line cut by the kill (no newline) is not.
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            let mut seen: Vec<String> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut killed = false;
            loop {
                if !killed && (seen.len() >= kill_after_lines || Instant::now() > deadline) {
                    child.kill().unwrap(); // SIGKILL
                    killed = true;
                }
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line.ends_with('\n') {
                    seen.push(line);
                }
            }
            child.wait().unwrap();
            for line in &seen {
                let mut parts = line.split_whitespace();
                match parts.next() {
                    Some("ENQ") => {
                        let base: i64 = parts.next().unwrap().parse().unwrap();
                        let last: i64 = parts.next().unwrap().parse().unwrap();
                        enqueued.extend(base..=last);
                    }
                    Some("ACK") => acked.extend(parts.map(|o| o.parse::<i64>().unwrap())),
                    Some("ACKING") => acking.extend(parts.map(|o| o.parse::<i64>().unwrap())),
                    _ => {}
                }
            }
        }
        assert!(!acked.is_empty(), "the worker acknowledged nothing");

        let runtime = tokio::runtime::Runtime::new().unwrap();
        let delivered = runtime.block_on(async {
            let broker = open(dir.path()).await;
            let queue = broker.queue("q", QueueConfig::default()).await.unwrap();
            let mut delivered = BTreeSet::new();
            loop {
                let got = queue
                    .receive(now_ms(), 1_000, now_ms() + HOLD_MS, 2)
                    .unwrap();
                if got.delivered.is_empty() {
                    break;
                }
                delivered.extend(got.delivered.iter().map(|r| r.offset));
            }
            broker.shutdown().await.unwrap();
            delivered
        });
        let again: Vec<&i64> = delivered.intersection(&acked).collect();
        assert!(
            again.is_empty(),
            "acknowledged records delivered again: {again:?}"
        );
        let lost: Vec<&i64> = enqueued
            .iter()
            .filter(|o| !acking.contains(o) && !delivered.contains(o))
            .collect();
        assert!(lost.is_empty(), "unacknowledged records lost: {lost:?}");
    }
}

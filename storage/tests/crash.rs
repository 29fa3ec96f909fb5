//! Acknowledged writes survive SIGKILL of a real process.
//!
//! The test re-runs its own binary as the writer: with `NEO_CRASH_CHILD_DIR` set, the
//! `crash_child_writer` test appends with `flush.messages=1` from several threads and prints
//! each acknowledged batch; the parent kills it with SIGKILL at a random moment, reopens the
//! log and checks that every acknowledged batch is there, intact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use neo_storage::{LogConfig, PartitionLog};
use rand::Rng;

const CHILD_ENV: &str = "NEO_CRASH_CHILD_DIR";

fn config() -> LogConfig {
    // Small segments so kills also land around rolls.
    LogConfig {
        segment_bytes: 256 * 1024,
        ..LogConfig::default()
    }
}

#[test]
#[ignore = "run as a child process by the other test of this file"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = PartitionLog::open(std::path::Path::new(&dir), config(), flusher()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for writer in 0..4u64 {
        let log = log.clone();
        let tx = tx.clone();
        runtime.spawn(async move {
            for n in 0..u64::MAX {
                let tag = writer << 32 | n;
                let bytes = sized_batch(tag, 1 + (n % 7) as usize, 100, 0);
                let info = log.append_durable(&mut bytes.clone()).await.unwrap();
                let _ = tx.send(format!(
                    "ACK {} {} {}\n",
                    info.base_offset,
                    tag,
                    bytes.len()
                ));
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    for line in rx {
        out.write_all(line.as_bytes()).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_batches_survive_sigkill_at_random_moments() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acked: BTreeMap<i64, (u64, usize)> = BTreeMap::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "--include-ignored",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kill_after = rng.random_range(20..2000);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        while seen < kill_after && Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ACK") {
                continue;
            }
            let base: i64 = parts.next().unwrap().parse().unwrap();
            let tag: u64 = parts.next().unwrap().parse().unwrap();
            let len: usize = parts.next().unwrap().parse().unwrap();
            acked.insert(base, (tag, len));
            seen += 1;
        }
        assert!(seen > 0, "round {round}: the writer acknowledged nothing");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let log = PartitionLog::open(dir.path(), config(), flusher()).unwrap();
        let stored: BTreeMap<i64, Vec<u8>> = read_all(&log, 0).into_iter().collect();
        for (base, (tag, len)) in &acked {
            let batch = stored
                .get(base)
                .unwrap_or_else(|| panic!("round {round}: acked batch at {base} lost"));
            assert_eq!(
                batch.len(),
                *len,
                "round {round}: batch at {base} changed size"
            );
            let count = 1 + ((tag & 0xffff_ffff) % 7) as usize;
            assert_eq!(
                batch,
                &sized_batch(*tag, count, 100, 0).tap_zero(),
                "round {round}: batch at {base} differs"
            );
        }
        // Offsets stay dense: every batch starts where the previous one ended.
        let mut next = 0;
        for (base, bytes) in &stored {
            assert_eq!(*base, next);
            next = base + i64::from(i32::from_be_bytes(bytes[57..61].try_into().unwrap()));
        }
        log.close().unwrap();
        // Next round starts from a clean shutdown half of the time.
        if round % 2 == 1 {
            let _ = std::fs::remove_file(dir.path().join(".clean_shutdown"));
        }
    }
}

trait TapZero {
    fn tap_zero(self) -> Self;
}

impl TapZero for Vec<u8> {
    fn tap_zero(mut self) -> Self {
        self[..8].fill(0);
        self[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        self
    }
}

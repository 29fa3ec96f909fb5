//! Sealed segments open their files on demand through a bounded cache: a process holding many
//! partitions of many segments keeps about one descriptor per partition, and still reads every
//! old segment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use neo_storage::{FlushPolicy, Flusher, LogConfig, PartitionLog};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

const PARTITIONS: usize = 64;
const CACHED: usize = 8;
/// Descriptors the test itself may hold at a moment (directory listings, checkpoint files),
/// and the flusher's two threads while they finish rolls (a checkpoint file and its directory
/// each, briefly): under load they lag behind the appends.
const SLACK: usize = 12;

#[test]
fn many_partitions_of_many_segments_stay_within_the_open_file_bound() {
    let dir = tempfile::tempdir().unwrap();
    let flusher = Flusher::start(2, CACHED, None);
    let config = LogConfig {
        retention_ms: None,
        // Only rolls ask for a sync: the test is about files, not fsync.
        flush: FlushPolicy {
            messages: u64::MAX,
            ms: None,
        },
        ..small_segments()
    };
    let before = open_fds();
    let open = |p: usize| {
        PartitionLog::open(
            &dir.path().join(p.to_string()),
            config.clone(),
            flusher.clone(),
        )
        .unwrap()
    };
    let logs: Vec<PartitionLog> = (0..PARTITIONS).map(open).collect();
    let mut written = vec![Vec::new(); PARTITIONS];
    for round in 0..24u64 {
        for (p, log) in logs.iter().enumerate() {
            let bytes = sized_batch(round << 16 | p as u64, 4, 250, 1000);
            let info = log.append(&mut bytes.clone()).unwrap();
            written[p].push((info.base_offset, bytes));
        }
    }
    let bound = PARTITIONS + CACHED + SLACK;
    assert!(logs.iter().all(|l| l.segment_count() >= 5));
    // Rolled segments stay open until the flusher has synced and sealed them.
    let deadline = Instant::now() + Duration::from_secs(60);
    while open_fds() - before > bound {
        assert!(
            Instant::now() < deadline,
            "{} descriptors after appends",
            open_fds() - before
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let expected = |p: usize| -> Vec<(i64, Vec<u8>)> {
        written[p]
            .iter()
            .map(|(o, b)| (*o, zero(b.clone())))
            .collect()
    };
    // Every old segment is read (each partition's through a cache far smaller than them all).
    for (p, log) in logs.iter().enumerate() {
        assert_eq!(read_all(log, 0), expected(p), "partition {p}");
        let in_use = open_fds() - before;
        assert!(in_use <= bound, "{in_use} descriptors while reading");
    }
    assert!(flusher.segment_cache().open_segments() <= CACHED);

    // Retention removes segments the cache may hold open; reads start at the new log start.
    let retained = LogConfig {
        retention_bytes: Some(8192),
        ..config.clone()
    };
    for (p, log) in logs.iter().enumerate().step_by(7) {
        log.set_config(retained.clone());
        assert!(log.apply_retention(neo_record::now_ms()).unwrap() > 0);
        let start = log.log_start_offset();
        let kept: Vec<_> = expected(p)
            .into_iter()
            .filter(|(o, _)| *o >= start)
            .collect();
        assert_eq!(read_all(log, start), kept);
        assert!(log.read(0, 1024, i64::MAX).is_err());
    }

    // After a clean close and reopen, the same bound and the same contents.
    for log in &logs {
        log.close().unwrap();
    }
    drop(logs);
    let logs: Vec<PartitionLog> = (0..PARTITIONS).map(open).collect();
    assert!(open_fds() - before <= bound);
    for (p, log) in logs.iter().enumerate().filter(|(p, _)| p % 7 != 0) {
        assert_eq!(read_all(log, 0), expected(p), "partition {p} after reopen");
    }
    assert!(open_fds() - before <= bound);
}

fn zero(mut b: Vec<u8>) -> Vec<u8> {
    b[..8].fill(0);
    b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    b
}
